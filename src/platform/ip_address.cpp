// IP address text: the same socket API (inet_ntop, inet_pton) on POSIX systems and on Windows.

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <sys/socket.h>
#endif

#include "platform/platform.hpp"

namespace certenroll::platform {

std::string ip_address_text(const std::vector<std::uint8_t>& bytes) {
    char text[INET6_ADDRSTRLEN] = {};
    const int family = bytes.size() == 4 ? AF_INET : bytes.size() == 16 ? AF_INET6 : 0;
    if (family == 0 || ::inet_ntop(family, bytes.data(), text, sizeof text) == nullptr)
        return {};
    return text;
}

std::optional<std::vector<std::uint8_t>> parse_ip_address(const std::string& text) {
    std::vector<std::uint8_t> bytes(16);
    if (::inet_pton(AF_INET, text.c_str(), bytes.data()) == 1) {
        bytes.resize(4);
        return bytes;
    }
    if (::inet_pton(AF_INET6, text.c_str(), bytes.data()) == 1)
        return bytes;
    return std::nullopt;
}

}  // namespace certenroll::platform
