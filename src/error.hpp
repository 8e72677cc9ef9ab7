#pragma once
/// The one error type of certenroll, and the exit-code table that maps its kinds to process exit
/// codes. Everything in src/ reports failure by throwing certenroll::Error; only cmd/main.cpp
/// turns it into an exit code.

#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace certenroll {

/// What went wrong, at the granularity scripts branch on. Each kind has one exit code.
enum class ErrorKind {
    Usage,     ///< bad or conflicting flags, bad configuration
    Pending,   ///< the request awaits CA manager approval (an outcome more than a failure)
    Denied,    ///< the CA or the template refused the request
    Auth,      ///< the server did not accept our credentials
    Tls,       ///< TLS handshake or server certificate verification failed
    Network,   ///< DNS, connect, timeout, proxy, HTTP error without a SOAP body
    Protocol,  ///< malformed or unexpected response, unknown SOAP fault
    Local,     ///< files, permissions, key backend, state directory, lock
    Internal,  ///< a bug
};

/// One row of the exit-code table: the only place the numbers are written.
struct ExitCodeRow {
    ErrorKind kind;
    int code;
    std::string_view name;         ///< stable name used in --json ("usage", "denied", ...)
    std::string_view description;  ///< one line for README and man page
};

/// The table, in exit-code order. Success (0) is not a kind and is not listed.
std::span<const ExitCodeRow> exit_code_table();
int exit_code(ErrorKind kind);
std::string_view kind_name(ErrorKind kind);

/// The single exception type thrown by the library.
class Error : public std::exception {
  public:
    Error(ErrorKind kind, std::string message, std::string hint = {});

    ErrorKind kind() const { return kind_; }
    /// The cause, one line, e.g. "the server certificate is not trusted".
    const std::string& message() const { return message_; }
    /// The fix, one line, e.g. "pass the issuing CA with --ca-bundle FILE"; may be empty.
    const std::string& hint() const { return hint_; }
    std::optional<std::uint32_t> hresult() const { return hresult_; }
    const std::string& request_id() const { return request_id_; }
    /// What a server's fault was found to mean (wstep::explain_ces_fault), as a stable id such
    /// as "ces-cannot-reach-ca", and its likely causes, most likely first; empty otherwise.
    const std::string& diagnosis() const { return diagnosis_; }
    const std::vector<std::string>& likely_causes() const { return likely_causes_; }

    Error& with_hresult(std::uint32_t hresult);
    Error& with_request_id(std::string request_id);
    Error& with_diagnosis(std::string id, std::vector<std::string> likely_causes);

    const char* what() const noexcept override { return message_.c_str(); }

  private:
    ErrorKind kind_;
    std::string message_;
    std::string hint_;
    std::optional<std::uint32_t> hresult_;
    std::string request_id_;
    std::string diagnosis_;
    std::vector<std::string> likely_causes_;
};

/// "0x80094012": how HRESULTs are shown to users and in --json.
std::string format_hresult(std::uint32_t hresult);

}  // namespace certenroll
