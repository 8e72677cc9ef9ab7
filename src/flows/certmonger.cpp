#include "flows/certmonger.hpp"

#include <openssl/evp.h>

#include <map>

#include "crypto/cms.hpp"
#include "crypto/external_csr.hpp"
#include "error.hpp"
#include "flows/audit_events.hpp"
#include "flows/certmonger_submit.hpp"
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
    std::string key_storage_type;  ///< FILE or NSSDB
    fs::path key;
    fs::path certificate;
    std::string key_pin;  ///< the key file's passphrase (key_pin or the file key_pin_file names)
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

// The request file that tracks `certificate` (its `cert` field holds the same certificate).
std::optional<TrackedFiles> find_tracked(const fs::path& requests_dir,
                                         const crypto::Certificate& certificate) {
    std::error_code ec;
    const std::string wanted = certificate.sha256_thumbprint();
    for (fs::directory_iterator it(requests_dir, ec), end; !ec && it != end; it.increment(ec)) {
        const auto text = store::read_file(it->path());
        if (!text)
            continue;
        auto fields = parse_request_file(*text);
        const auto cert = fields.find("cert");
        if (cert == fields.end() || cert->second.empty())
            continue;
        try {
            if (crypto::Certificate::from_pem(cert->second).sha256_thumbprint() != wanted)
                continue;
        } catch (const Error&) {
            continue;
        }
        TrackedFiles files{fields["key_storage_type"], fields["key_storage_location"],
                           fields["cert_storage_location"], fields["key_pin"]};
        if (files.key_pin.empty() && !fields["key_pin_file"].empty()) {
            if (const auto pin = store::read_file(fields["key_pin_file"]))
                files.key_pin = pin->substr(0, pin->find_first_of("\r\n"));
        }
        return files;
    }
    return std::nullopt;
}

// The signed renewal AD CS expects, when certmonger's key for the old certificate can be read
// and the new CSR is for that same key (`getcert resubmit`): the CSR signed again with the
// renewal-certificate attribute, wrapped in CMS signed with the old key. Otherwise nothing, and
// a warning saying why the renewal goes as a new request.
void prepare_signed_renewal(const Context& context, const HelperSettings& settings,
                            const HelperInput& input, ExternalCsrRequest& request,
                            std::vector<std::string>& warnings) {
    const auto old = crypto::Certificate::from_pem(input.certificate, "CERTMONGER_CERTIFICATE");
    const std::string fallback = "; the renewal is sent as a new request";
    const auto tracked = find_tracked(settings.requests_dir, old);
    if (!tracked) {
        warnings.push_back("no certmonger request file in " + settings.requests_dir.string() +
                           " tracks the certificate being renewed (serial " + old.serial_hex() +
                           ")" + fallback);
        return;
    }
    if (tracked->key_storage_type != "FILE" || tracked->key.empty()) {
        warnings.push_back("certmonger keeps the key of serial " + old.serial_hex() +
                           " in an NSS database, which this helper does not read" + fallback);
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
    const auto csr = crypto::read_external_csr(request.csr, "CERTMONGER_CSR");
    if (EVP_PKEY_eq(csr.public_key.get(), key->get()) != 1) {
        // `getcert rekey`: the new key's CSR cannot be signed again here to carry the
        // renewal-certificate attribute that AD CS reads from the PKCS#10.
        warnings.push_back("certmonger made a new key for this renewal (rekey)" + fallback);
        return;
    }
    const std::string hash = "SHA256";
    const auto renewal_csr = crypto::add_renewal_certificate(csr.der, old, key->get(), hash);
    request.csr.assign(renewal_csr.begin(), renewal_csr.end());
    request.signed_renewal = crypto::sign_renewal_request(renewal_csr, old, key->get(), hash);
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
                             (settings.key_based_renewal ? " key-based" : " signed with its key"));
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

SubmitAnswer submit(const Context& context, const HelperSettings& settings,
                    const HelperInput& input) {
    if (input.csr.empty()) {
        throw Error(ErrorKind::Usage, "CERTMONGER_CSR is empty",
                    "the helper is run by certmonger, which passes the request");
    }
    SubmitAnswer answer;
    ExternalCsrRequest request;
    request.connection = settings.connection;
    request.template_name = template_or_default(context, settings, input.template_name);
    request.csr = input.csr;
    request.name = "certmonger:" + request.template_name;
    request.refresh_policy = settings.refresh_policy;
    // certmonger records the CA's own refusal (reason and HRESULT) better than a guess from the
    // policy, which may be stale.
    request.force = true;
    if (!input.certificate.empty())
        prepare_signed_renewal(context, settings, input, request, answer.warnings);
    auto outcome = submit_external_csr(context, request);
    answer.warnings.insert(answer.warnings.end(), outcome.warnings.begin(), outcome.warnings.end());
    if (outcome.status == ExternalCsrOutcome::Status::Pending) {
        answer.cookie = {outcome.request_id, outcome.ces_url};
        return answer;
    }
    answer.status = SubmitAnswer::Status::Issued;
    answer.certificate_pem = outcome.issued->leaf.to_pem();
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
        if (input.csr.empty() && result.mismatched_request_id) {
            throw Error(
                ErrorKind::Protocol,
                "the CES answered request " + cookie->request_id + " with request " +
                    *result.mismatched_request_id +
                    ", and without the CSR this helper "
                    "cannot tell whether the certificate is ours",
                "ask the CA admins which certificate request " + cookie->request_id + " got");
        }
        const auto leaf =
            input.csr.empty()
                ? crypto::Certificate::from_der(result.certificate_der)
                : verify_issued(
                      result,
                      crypto::read_external_csr(input.csr, "CERTMONGER_CSR").public_key.get(), {})
                      .leaf;
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
