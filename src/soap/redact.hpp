#pragma once
/// Hiding secrets in SOAP messages before they are shown (--verbose) or logged.

#include <string>
#include <string_view>

namespace certenroll::soap {

/// Replaces the content of every Password element (any prefix) with "***". Works on partial or
/// malformed text too, because it must never be the reason a secret leaks.
std::string redact(std::string_view soap_message);

}  // namespace certenroll::soap
