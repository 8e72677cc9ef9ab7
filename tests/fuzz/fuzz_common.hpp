#pragma once
/// Shared by the libFuzzer targets: every parser must either succeed or throw certenroll::Error;
/// any other exception escaping is a bug, and libFuzzer reports it as a crash (abort).

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace certenroll::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

}  // namespace certenroll::fuzz
