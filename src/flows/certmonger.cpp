#include "flows/certmonger.hpp"

#include <openssl/evp.h>

#include <map>

#include "crypto/external_csr.hpp"
#include "error.hpp"
#include "flows/audit_events.hpp"
#include "flows/external_csr.hpp"
#include "flows/issuance.hpp"
#include "flows/policy.hpp"
#include "flows/template_rules.hpp"
#include "store/atomic_file.hpp"
#include "wstep/messages.hpp"

namespace certenroll::flows::certmonger {

namespace fs = std::filesystem;

std::string format_cookie(const PendingCookie& cookie) {
    return cookie.request_id + " " + cookie.ces_url;
}

std::optional<PendingCookie> parse_cookie(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
        text.remove_suffix(1);
    const auto space = text.find(' ');
    if (space == std::string_view::npos)
        return std::nullopt;
    PendingCookie cookie{std::string(text.substr(0, space)), std::string(text.substr(space + 1))};
    if (!wstep::valid_request_id(cookie.request_id) || !cookie.ces_url.starts_with("https://") ||
        cookie.ces_url.find_first_of(" \t\r\n") != std::string::npos)
        return std::nullopt;
    return cookie;
}

namespace {

// The files certmonger keeps a tracked certificate and its key in, from its request file.
struct TrackedFiles {
    fs::path request_file;
    std::string key_storage_type;  ///< FILE or NSSDB
    fs::path key;                  ///< FILE: the key file; NSSDB: the database directory
    fs::path certificate;
    SecretString key_pin;  ///< the key file's passphrase (key_pin or the file key_pin_file names)
    /// Set while certmonger has made a new key for the request (getcert rekey): the new key is
    /// then in "<key file>.<marker>.key" until the certificate is issued (certmonger 0.79.17).
    std::string key_next_marker;
    std::string csr;  ///< the request certmonger sent (PEM)
};

// certmonger's request files: one "name=value" per line; a value continues on the following
// lines that start with a space (a PEM certificate, a CSR).
std::map<std::string, std::string> parse_request_file(std::string_view text) {
    std::map<std::string, std::string> fields;
    std::string* last = nullptr;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string_view::npos)
            end = text.size();
        const std::string_view line = text.substr(start, end - start);
        start = end + 1;
        if (line.starts_with(' ') && last != nullptr) {
            *last += "\n";
            *last += line.substr(1);
        } else if (const auto equals = line.find('='); equals != std::string_view::npos) {
            last = &(fields[std::string(line.substr(0, equals))] =
                         std::string(line.substr(equals + 1)));
        } else {
            last = nullptr;
        }
    }
    return fields;
}

// The first request file in `requests_dir` for which `wanted` holds.
template <typename Predicate>
std::optional<TrackedFiles> find_request_file(const fs::path& requests_dir, Predicate wanted) {
    std::error_code ec;
    for (fs::directory_iterator it(requests_dir, ec), end; !ec && it != end; it.increment(ec)) {
        const auto text = store::read_file(it->path());
        if (!text)
            continue;
        auto fields = parse_request_file(*text);
        if (!wanted(fields))
            continue;
        TrackedFiles files{it->path(),
                           fields["key_storage_type"],
                           fields["key_storage_location"],
                           fields["cert_storage_location"],
                           fields["key_pin"],
                           fields["key_next_marker"],
                           fields["csr"]};
        if (files.key_pin.empty() && !fields["key_pin_file"].empty()) {
            if (const auto pin = store::read_file(fields["key_pin_file"]))
                files.key_pin = pin->substr(0, pin->find_first_of("\r\n"));
        }
        return files;
    }
    return std::nullopt;
}

// The request file that tracks `certificate` (its `cert` field holds the same certificate).
std::optional<TrackedFiles> find_tracked(const fs::path& requests_dir,
                                         const crypto::Certificate& certificate) {
    const std::string wanted = certificate.sha256_thumbprint();
    return find_request_file(requests_dir, [&](const std::map<std::string, std::string>& fields) {
        const auto cert = fields.find("cert");
        if (cert == fields.end() || cert->second.empty())
            return false;
        try {
            return crypto::Certificate::from_pem(cert->second).sha256_thumbprint() == wanted;
        } catch (const Error&) {
            return false;
        }
    });
}

encoding::Bytes bytes_of(std::string_view text) {
    return {text.begin(), text.end()};
}

// certmonger's key for the renewal's CSR, when it is not the old key (getcert rekey): its next
// key file, which must be the CSR's key. nullopt, with `why` set, when it cannot be used.
std::optional<keys::Key> next_key(const Context& context, const TrackedFiles& tracked,
                                  const crypto::ExternalCsr& csr, std::string& why) {
    if (tracked.key_next_marker.empty()) {
        why = tracked.request_file.string() + " names no next key (key_next_marker)";
        return std::nullopt;
    }
    const std::string file = tracked.key.string() + "." + tracked.key_next_marker + ".key";
    try {
        auto key = context.keys->load(file, tracked.key_pin);
        if (EVP_PKEY_eq(csr.public_key.get(), key.get()) == 1)
            return key;
        why = file + " is not the key of CERTMONGER_CSR";
    } catch (const Error& error) {
        why = "its new key " + file + " cannot be read: " + error.message();
    }
    return std::nullopt;
}

// The public key certmonger asked for in the request `cookie` answers, for a POLL without
// CERTMONGER_CSR: the CSR certmonger keeps in the request file that holds the cookie.
std::optional<crypto::ExternalCsr> requested_csr(const fs::path& requests_dir,
                                                 const PendingCookie& cookie) {
    const auto tracked =
        find_request_file(requests_dir, [&](const std::map<std::string, std::string>& fields) {
            const auto stored = fields.find("ca_cookie");
            const auto parsed =
                stored == fields.end() ? std::nullopt : parse_cookie(stored->second);
            return parsed && parsed->request_id == cookie.request_id &&
                   parsed->ces_url == cookie.ces_url;
        });
    if (!tracked || tracked->csr.empty())
        return std::nullopt;
    return crypto::read_external_csr(bytes_of(tracked->csr), tracked->request_file.string());
}

const xcep::Template* usable_template(const xcep::Policy& policy, const std::string& name,
                                      xcep::AuthMode mode) {
    const auto* tmpl = policy.find_template(name);
    return tmpl != nullptr && why_unusable(policy, *tmpl, mode).empty() ? tmpl : nullptr;
}

std::string template_or_default(const Context& context, const HelperSettings& settings,
                                const std::string& given) {
    if (!given.empty())
        return given;
    const auto name = default_template(context, settings);
    if (name.empty()) {
        throw Error(ErrorKind::Usage, "certmonger named no template and there is no default",
                    "request with 'getcert request -T TEMPLATE', or add --template NAME to the "
                    "helper's arguments in 'getcert add-ca -e'");
    }
    return name;
}

}  // namespace

void prepare_renewal(const Context& context, const HelperSettings& settings,
                     const crypto::Certificate& old, CsrSubmitRequest& request,
                     std::vector<std::string>& warnings) {
    const std::string fallback = "; the renewal is sent as a new request";
    const auto tracked = find_tracked(settings.requests_dir, old);
    if (!tracked) {
        warnings.push_back("no certmonger request file in " + settings.requests_dir.string() +
                           " tracks the certificate being renewed (serial " + old.serial_hex() +
                           ")" + fallback);
        return;
    }
    if (tracked->key_storage_type == "NSSDB") {
        // NSS's key database is not a format OpenSSL, libp11 or the TPM provider read.
        const std::string why = "certmonger keeps the key of serial " + old.serial_hex() +
                                " in the NSS database " + tracked->key.string() +
                                ", which certenroll-cli cannot read";
        if (settings.key_based_renewal) {
            throw Error(ErrorKind::Usage, why + ": no key-based renewal",
                        "track the certificate in files (getcert request -k KEY.pem -f "
                        "CERT.pem), or drop --key-based-renewal to renew as a new request");
        }
        warnings.push_back(why + ": no signed renewal" + fallback);
        return;
    }
    if (tracked->key_storage_type != "FILE" || tracked->key.empty()) {
        warnings.push_back("certmonger's request file " + tracked->request_file.string() +
                           " names no key file (key_storage_type=" + tracked->key_storage_type +
                           ")" + fallback);
        return;
    }
    std::optional<keys::Key> key;
    try {
        key = context.keys->load(tracked->key.string(), tracked->key_pin);
    } catch (const Error& error) {
        warnings.push_back("cannot read certmonger's key " + tracked->key.string() + ": " +
                           error.message() + fallback);
        return;
    }
    if (!old.matches_key(key->get())) {
        warnings.push_back(tracked->key.string() + " is not the key of the certificate being " +
                           "renewed" + fallback);
        return;
    }
    std::optional<keys::Key> request_key = key;
    const bool rekey = EVP_PKEY_eq(request.csr.public_key.get(), key->get()) != 1;
    if (rekey) {
        std::string why;
        request_key = next_key(context, *tracked, request.csr, why);
        if (!request_key) {
            warnings.push_back("certmonger made a new key for this renewal (rekey), and " + why +
                               fallback);
            return;
        }
    }
    request.renewal = SignedRenewal{old, *key, *request_key};
    if (settings.key_based_renewal) {
        Connection submit = settings.connection;
        submit.ces_url.clear();  // the policy's key-based renewal CES, not the enrollment one
        submit.credentials = Credentials{};
        submit.credentials.mode = xcep::AuthMode::Certificate;
        submit.credentials.client_certificate = tracked->certificate.string();
        submit.credentials.client_key = tracked->key.string();
        submit.credentials.client_key_passphrase = tracked->key_pin;
        request.key_based_submit = std::move(submit);
    }
    context.diagnostics.step(std::string("renewing serial ") + old.serial_hex() +
                             (settings.key_based_renewal ? " key-based" : " signed with its key") +
                             (rekey ? ", with certmonger's new key" : ""));
}

SubmitAnswer submit(const Context& context, const HelperSettings& settings,
                    const HelperInput& input) {
    if (input.csr.empty()) {
        throw Error(ErrorKind::Usage, "CERTMONGER_CSR is empty",
                    "the helper is run by certmonger, which passes the request");
    }
    SubmitAnswer answer;
    CsrSubmitRequest request;
    request.connection = settings.connection;
    request.template_name = template_or_default(context, settings, input.template_name);
    request.csr = crypto::read_external_csr(bytes_of(input.csr), "CERTMONGER_CSR");
    request.refresh_policy = settings.refresh_policy;
    // certmonger records the CA's own refusal (reason and HRESULT) better than a guess from the
    // policy, which may be stale.
    request.force = true;
    std::string previous_serial;
    if (!input.certificate.empty()) {
        const auto old = crypto::Certificate::from_pem(input.certificate, "CERTMONGER_CERTIFICATE");
        previous_serial = old.serial_hex();
        prepare_renewal(context, settings, old, request, answer.warnings);
    }
    auto event = audit_event(
        context, request.key_based_submit ? *request.key_based_submit : request.connection,
        "certmonger:" + request.template_name, request.template_name);
    // With renewal=false, a renewal that went as a new request (the warning says why).
    event.previous_serial = previous_serial;
    auto submitted = submit_csr(context, request, event);
    answer.warnings.insert(answer.warnings.end(), submitted.warnings.begin(),
                           submitted.warnings.end());
    const auto& submission = submitted.submission;
    if (submission.result.disposition == wstep::Disposition::Pending) {
        answer.cookie = {
            submission.result.request_id,
            pending_query_url(submission.result, submission.target.url, &answer.warnings)};
        audit_record(context, audit::EventType::Pending, std::move(event));
        return answer;
    }
    answer.status = SubmitAnswer::Status::Issued;
    answer.certificate_pem = submitted.issued->leaf.to_pem();
    event.certificate = audit_certificate(submitted.issued->leaf);
    audit_record(context, request.renewal ? audit::EventType::Renewed : audit::EventType::Issued,
                 std::move(event));
    return answer;
}

SubmitAnswer poll(const Context& context, const HelperSettings& settings,
                  const HelperInput& input) {
    const auto cookie = parse_cookie(input.cookie);
    if (!cookie) {
        throw Error(
            ErrorKind::Usage,
            "the pending cookie '" + input.cookie.substr(0, 200) + "' is not one this helper wrote",
            "resubmit the request: getcert resubmit -i ID");
    }
    auto event = audit_event(context, settings.connection, "certmonger:" + input.template_name,
                             input.template_name);
    event.ces_url = cookie->ces_url;
    event.request_id = cookie->request_id;
    SubmitAnswer answer;
    try {
        const auto result =
            query_pending(context, settings.connection, cookie->ces_url, cookie->request_id);
        if (result.disposition == wstep::Disposition::Pending) {
            answer.cookie = *cookie;
            return answer;
        }
        // The key the certificate must be for: CERTMONGER_CSR's, else the CSR certmonger keeps in
        // the request file that holds this cookie (found as SUBMIT finds the key file).
        const auto csr =
            input.csr.empty()
                ? requested_csr(settings.requests_dir, *cookie)
                : std::optional(crypto::read_external_csr(bytes_of(input.csr), "CERTMONGER_CSR"));
        if (!csr) {
            if (result.mismatched_request_id) {
                throw Error(
                    ErrorKind::Protocol,
                    "the CES answered request " + cookie->request_id + " with request " +
                        *result.mismatched_request_id +
                        ", and without the CSR this helper cannot tell whether the "
                        "certificate is ours",
                    "ask the CA admins which certificate request " + cookie->request_id + " got");
            }
            answer.warnings.push_back("no CERTMONGER_CSR and no certmonger request file in " +
                                      settings.requests_dir.string() + " holds cookie '" +
                                      format_cookie(*cookie) +
                                      "': the certificate's key is not checked");
        }
        const auto leaf = csr ? verify_issued(result, csr->public_key.get(), {}).leaf
                              : crypto::Certificate::from_der(result.certificate_der);
        answer.status = SubmitAnswer::Status::Issued;
        answer.certificate_pem = leaf.to_pem();
        event.certificate = audit_certificate(leaf);
    } catch (const Error& error) {
        audit_error(context, event, error);
        throw;
    }
    audit_record(context, audit::EventType::Retrieved, std::move(event));
    return answer;
}

std::vector<CaCertificate> fetch_roots(const Context& context, const HelperSettings& settings) {
    const auto policy = load_policy(context, settings.connection, settings.refresh_policy);
    std::vector<CaCertificate> certificates;
    for (const auto& ca : policy.policy.cas) {
        if (!ca.policy_error.empty() || ca.certificate_der.empty())
            continue;
        certificates.push_back(
            {ca.name, crypto::Certificate::from_der(ca.certificate_der).to_pem()});
    }
    return certificates;
}

std::vector<std::string> supported_templates(const Context& context,
                                             const HelperSettings& settings) {
    const auto policy = load_policy(context, settings.connection, settings.refresh_policy);
    std::vector<std::string> names;
    for (const auto& tmpl : policy.policy.templates) {
        if (why_unusable(policy.policy, tmpl, settings.connection.credentials.mode).empty())
            names.push_back(tmpl.common_name);
    }
    return names;
}

std::string default_template(const Context& context, const HelperSettings& settings) {
    if (settings.connection.cep_url.empty())
        return settings.default_template;
    const auto policy = load_policy(context, settings.connection, settings.refresh_policy);
    const auto mode = settings.connection.credentials.mode;
    if (!settings.default_template.empty()) {
        const auto* tmpl = usable_template(policy.policy, settings.default_template, mode);
        return tmpl != nullptr ? tmpl->common_name : std::string();
    }
    const xcep::Template* first = nullptr;
    for (const auto& tmpl : policy.policy.templates) {
        if (!why_unusable(policy.policy, tmpl, mode).empty())
            continue;
        if (xcep::is_machine_template(tmpl))
            return tmpl.common_name;
        if (first == nullptr)
            first = &tmpl;
    }
    return first != nullptr ? first->common_name : std::string();
}

std::vector<std::string> request_requirements(const Context& context,
                                              const HelperSettings& settings,
                                              const std::string& template_name, bool renewal) {
    std::vector<std::string> variables;
    const std::string name =
        template_name.empty() ? default_template(context, settings) : template_name;
    if (name.empty()) {
        variables.push_back("CERTMONGER_CA_PROFILE");
        return variables;
    }
    if (settings.connection.cep_url.empty() || renewal)
        return variables;  // a renewal keeps the subject certmonger has
    const auto policy = load_policy(context, settings.connection, settings.refresh_policy);
    const auto* tmpl = policy.policy.find_template(name);
    if (tmpl == nullptr)
        return variables;
    if (xcep::enrollee_supplies_subject(*tmpl))
        variables.push_back("CERTMONGER_REQ_SUBJECT");
    if (xcep::enrollee_supplies_subject_alt_name(*tmpl))
        variables.push_back("CERTMONGER_REQ_HOSTNAME");
    return variables;
}

}  // namespace certenroll::flows::certmonger
