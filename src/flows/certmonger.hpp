#pragma once
/// certmonger's external CA helper interface (its doc/submit.txt; the exit codes are chosen in
/// cmd/certmonger_helper.cpp): what each operation asks of AD CS, answered from the enrollment
/// policy and CES. Every call is one short process's work; nothing is kept between calls except
/// the policy cache and what certmonger stores (the pending cookie).

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/certificate.hpp"
#include "flows/context.hpp"
#include "flows/external_csr.hpp"

namespace certenroll::flows::certmonger {

/// How the helper was configured: the arguments of `getcert add-ca -e '...'` (certmonger gives
/// helpers a scrubbed environment), or a profile of the configuration file.
struct HelperSettings {
    Connection connection;
    std::string default_template;  ///< used when certmonger names none (`getcert request` w/o -T)
    /// certmonger's request files: where a renewal finds the key file of the certificate being
    /// renewed (key_storage_location) and, after getcert rekey, the new key, to sign the renewal
    /// with them; where POLL finds the CSR whose key the certificate must carry.
    std::filesystem::path requests_dir = "/var/lib/certmonger/requests";
    std::chrono::seconds poll_delay{300};  ///< how long certmonger waits before a POLL
    bool key_based_renewal = false;  ///< renew at the key-based renewal CES, as the old certificate
    bool refresh_policy = false;
};

/// What certmonger passed, from its CERTMONGER_* variables.
struct HelperInput {
    std::string csr;            ///< CERTMONGER_CSR
    std::string template_name;  ///< CERTMONGER_CA_PROFILE (`getcert request -T`)
    std::string cookie;         ///< CERTMONGER_CA_COOKIE (POLL)
    std::string certificate;    ///< CERTMONGER_CERTIFICATE: set when renewing
};

/// Where a pending request is asked about: its ID and the CES URL that took it. One line, "ID
/// URL", as certmonger keeps it.
struct PendingCookie {
    std::string request_id;
    std::string ces_url;
};
std::string format_cookie(const PendingCookie& cookie);
/// nullopt for text that is not a cookie this helper wrote.
std::optional<PendingCookie> parse_cookie(std::string_view text);

struct SubmitAnswer {
    enum class Status { Issued, Pending };
    Status status = Status::Pending;
    std::string certificate_pem;  ///< Issued: the leaf
    PendingCookie cookie;         ///< Pending
    std::vector<std::string> warnings;
};

/// A renewal (CERTMONGER_CERTIFICATE is `old`): finds certmonger's request file for `old` in
/// settings.requests_dir and, when its key file is readable and is `old`'s key, makes `request`
/// a signed renewal (MS-WCCE 3.1.1.4.3.2.1): with that key when the CSR is for it (getcert
/// resubmit), or with certmonger's new key file "<key file>.<key_next_marker>.key" when the CSR
/// is for that one (getcert rekey); key-based (request.key_based_submit) when configured.
/// Otherwise `request` stays a new request and `warnings` says why, in one line. A key in an
/// NSS database (key_storage_type=NSSDB) cannot be read: a signed renewal then goes as a new
/// request, and a key-based one, which has no other credential, is a usage Error.
void prepare_renewal(const Context& context, const HelperSettings& settings,
                     const crypto::Certificate& old, CsrSubmitRequest& request,
                     std::vector<std::string>& warnings);

/// SUBMIT: the CSR for the template (the default template when certmonger names none), through
/// submit_csr. With CERTMONGER_CERTIFICATE set, a renewal: see prepare_renewal.
SubmitAnswer submit(const Context& context, const HelperSettings& settings,
                    const HelperInput& input);

/// POLL: QueryTokenStatus for the cookie's request at the cookie's CES URL. Asking changes
/// nothing at the CA, so certmonger may poll as often as it likes. An issued certificate must be
/// for CERTMONGER_CSR's key or, without it, for the key of the CSR certmonger keeps in the
/// request file holding the cookie (else a protocol Error); with neither, it is not checked (a
/// warning says so).
SubmitAnswer poll(const Context& context, const HelperSettings& settings, const HelperInput& input);

/// FETCH-ROOTS: the certificates of the policy's CAs, each with a nickname (the CA's name).
struct CaCertificate {
    std::string nickname;
    std::string pem;
};
std::vector<CaCertificate> fetch_roots(const Context& context, const HelperSettings& settings);

/// GET-SUPPORTED-TEMPLATES: the templates this identity may enroll in and can use with its auth.
std::vector<std::string> supported_templates(const Context& context,
                                             const HelperSettings& settings);

/// GET-DEFAULT-TEMPLATE: the configured default when the identity may use it, else the first
/// usable computer template, else the first usable template; empty when there is none.
std::string default_template(const Context& context, const HelperSettings& settings);

/// GET-NEW-REQUEST-REQUIREMENTS / GET-RENEW-REQUEST-REQUIREMENTS: the CERTMONGER_* variables a
/// request for the template needs (the subject and host name where the template wants the
/// request to supply them; the template itself when there is no default).
std::vector<std::string> request_requirements(const Context& context,
                                              const HelperSettings& settings,
                                              const std::string& template_name, bool renewal);

}  // namespace certenroll::flows::certmonger
