#pragma once
/// Base64 (RFC 4648, xs:base64Binary) for the DER blobs that travel inside SOAP messages, on
/// OpenSSL's EVP encoder and decoder.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace certenroll::encoding {

using Bytes = std::vector<std::uint8_t>;

/// Encodes without line breaks.
std::string base64_encode(const std::uint8_t* data, std::size_t size);
inline std::string base64_encode(const Bytes& data) {
    return base64_encode(data.data(), data.size());
}

/// Decodes xs:base64Binary: XML whitespace (space, tab, CR, LF) anywhere is ignored, because
/// Windows servers wrap base64 with CRLF. Anything else that is not base64, wrong padding or a
/// wrong length (or padding bits that are not zero: a non-canonical encoding) throws a protocol
/// Error naming `what` (e.g. "BinarySecurityToken").
Bytes base64_decode(std::string_view text, std::string_view what = "base64 data");

}  // namespace certenroll::encoding
