#include "flows/audit_events.hpp"

#include "auth/kerberos_inspect.hpp"
#include "crypto/pkcs12.hpp"
#include "store/atomic_file.hpp"

namespace certenroll::flows {

namespace {

void add_sans(std::vector<std::string>& out, const char* kind,
              const std::vector<std::string>& values) {
    for (const auto& value : values)
        out.push_back(std::string(kind) + ":" + value);
}

std::vector<std::string> san_list(const crypto::SubjectAltNames& sans) {
    std::vector<std::string> out;
    add_sans(out, "dns", sans.dns);
    add_sans(out, "ip", sans.ip);
    add_sans(out, "email", sans.email);
    add_sans(out, "upn", sans.upn);
    add_sans(out, "uri", sans.uri);
    return out;
}

// The subject of the client certificate file (PEM or PFX), else the file name: an audit record
// is better with a less precise identity than with none.
std::string certificate_identity(const Credentials& credentials) {
    const std::string& path = credentials.client_certificate;
    try {
        const auto content = store::read_file(path);
        if (content && content->find("-----BEGIN") != std::string::npos)
            return crypto::Certificate::from_pem(*content, path).subject();
        if (content) {
            const auto pfx = crypto::read_pfx(encoding::Bytes(content->begin(), content->end()),
                                              credentials.client_key_passphrase);
            if (pfx.certificate)
                return pfx.certificate->subject();
        }
    } catch (const std::exception&) {
    }
    return "certificate file " + path;
}

}  // namespace

std::string audit_identity(const Credentials& credentials) {
    switch (credentials.mode) {
        case xcep::AuthMode::UsernamePassword:
            return credentials.username;
        case xcep::AuthMode::Kerberos:
            if (!credentials.principal.empty())
                return credentials.principal;
            if (!credentials.keytab.empty())
                return "keytab " + credentials.keytab;  // its first principal; not read here
            try {
                // The credential cache's principal: a local read, no KDC traffic.
                auth::KerberosInspector inspector({credentials.spn, "", "", false});
                return inspector.client_ticket().principal;
            } catch (const std::exception&) {  // no ticket: the request will say so
                return credentials.username;
            }
        case xcep::AuthMode::Certificate:
        case xcep::AuthMode::Anonymous:
            break;
    }
    return credentials.client_certificate.empty() ? "" : certificate_identity(credentials);
}

audit::Event audit_event(const Context& context, const Connection& connection,
                         const std::string& name, const std::string& template_name) {
    audit::Event event;
    if (!context.audit.enabled())
        return event;
    event.name = name;
    event.template_name = template_name;
    event.ca_name = connection.ca_name;
    event.cep_url = connection.cep_url;
    event.ces_url = connection.ces_url;
    event.auth = std::string(xcep::auth_mode_name(connection.credentials.mode));
    event.identity = audit_identity(connection.credentials);
    // Every Kerberos ticket goes bound to its TLS connection (auth::NegotiateTransport).
    if (connection.credentials.mode == xcep::AuthMode::Kerberos)
        event.channel_binding = "tls-server-end-point";
    return event;
}

void audit_key(audit::Event& event, const keys::Key& key) {
    event.key_backend = std::string(key.backend());
    try {
        event.key_algorithm = keys::describe(keys::spec_of(key.get()));
    } catch (const Error&) {
    }
}

void audit_request(audit::Event& event, const crypto::CsrSpec& csr) {
    event.requested_subject = csr.subject;
    event.requested_sans = san_list(csr.sans);
}

audit::CertificateFacts audit_certificate(const crypto::Certificate& certificate) {
    audit::CertificateFacts facts;
    facts.serial = certificate.serial_hex();
    facts.sha1_thumbprint = certificate.sha1_thumbprint();
    facts.sha256_thumbprint = certificate.sha256_thumbprint();
    facts.subject = certificate.subject();
    facts.issuer = certificate.issuer();
    facts.sans = san_list({certificate.dns_names(), certificate.ip_addresses(),
                           certificate.emails(), certificate.upns(), certificate.uris()});
    facts.not_before = certificate.not_before();
    facts.not_after = certificate.not_after();
    return facts;
}

void audit_require(const Context& context, audit::EventType type, audit::Event event) {
    if (!context.audit.enabled())
        return;
    event.type = type;
    event.time = context.clock();
    context.audit.require(std::move(event));
}

void audit_record(const Context& context, audit::EventType type, audit::Event event) {
    if (!context.audit.enabled())
        return;
    event.type = type;
    event.time = context.clock();
    context.audit.record(std::move(event));
}

void audit_error(const Context& context, audit::Event event, const Error& error, bool by_policy) {
    if (!context.audit.enabled())
        return;
    const bool denied = error.kind() == ErrorKind::Denied;
    if (denied)
        event.denied_by = by_policy ? "policy" : "ca";
    if (event.request_id.empty())
        event.request_id = error.request_id();
    event.error_category = std::string(kind_name(error.kind()));
    event.error_message = error.message();
    if (error.hresult())
        event.hresult = format_hresult(*error.hresult());
    audit_record(context, denied ? audit::EventType::Denied : audit::EventType::Failed,
                 std::move(event));
}

void audit_not_installed(const Context& context, audit::Event event, const encoding::Bytes& der,
                         const Error& error) {
    if (!context.audit.enabled())
        return;
    try {
        if (!der.empty())
            event.certificate = audit_certificate(crypto::Certificate::from_der(der));
    } catch (const Error&) {  // an unparsable certificate is named by the error alone
    }
    audit_error(context, std::move(event), error);
}

}  // namespace certenroll::flows
