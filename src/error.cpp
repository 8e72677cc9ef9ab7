#include "error.hpp"

#include <array>
#include <cstdio>
#include <utility>

namespace certenroll {

namespace {

// Codes avoid 126-255 (shell and signals) and CLI11's own 100-127.
constexpr std::array<ExitCodeRow, 9> kExitCodes{{
    {ErrorKind::Internal, 1, "internal", "internal error (a bug): please report it"},
    {ErrorKind::Usage, 2, "usage", "bad or conflicting arguments or configuration"},
    {ErrorKind::Pending, 3, "pending",
     "request accepted but pending CA manager approval; retrieve it later"},
    {ErrorKind::Denied, 4, "denied", "the CA or the template denied the request"},
    {ErrorKind::Auth, 5, "auth", "authentication failed (Kerberos, password, client certificate)"},
    {ErrorKind::Tls, 6, "tls", "TLS failed: server certificate untrusted, expired or wrong host"},
    {ErrorKind::Network, 7, "network",
     "DNS, connection, timeout, proxy or HTTP error, or CES cannot reach or act at the CA"},
    {ErrorKind::Protocol, 8, "protocol", "malformed or unexpected response from CEP/CES"},
    {ErrorKind::Local, 9, "local",
     "local files, permissions, key backend, state directory or lock"},
}};

const ExitCodeRow& row_for(ErrorKind kind) {
    for (const auto& row : kExitCodes) {
        if (row.kind == kind) {
            return row;
        }
    }
    return kExitCodes.front();  // unreachable: every kind has a row (checked by a unit test)
}

}  // namespace

std::span<const ExitCodeRow> exit_code_table() {
    return kExitCodes;
}

int exit_code(ErrorKind kind) {
    return row_for(kind).code;
}

std::string_view kind_name(ErrorKind kind) {
    return row_for(kind).name;
}

Error::Error(ErrorKind kind, std::string message, std::string hint)
    : kind_(kind), message_(std::move(message)), hint_(std::move(hint)) {}

Error& Error::with_hresult(std::uint32_t hresult) {
    hresult_ = hresult;
    return *this;
}

Error& Error::with_request_id(std::string request_id) {
    request_id_ = std::move(request_id);
    return *this;
}

Error& Error::with_diagnosis(std::string id, std::vector<std::string> likely_causes) {
    diagnosis_ = std::move(id);
    likely_causes_ = std::move(likely_causes);
    return *this;
}

std::string format_hresult(std::uint32_t hresult) {
    char buffer[16];
    std::snprintf(buffer, sizeof buffer, "0x%08X", static_cast<unsigned>(hresult));
    return buffer;
}

}  // namespace certenroll
