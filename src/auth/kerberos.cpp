#include "auth/kerberos.hpp"

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5/krb5.h>

#include <cctype>
#include <fstream>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "auth/channel_binding.hpp"
#include "encoding/base64.hpp"

namespace certenroll::auth {

namespace {

// SPNEGO (RFC 4178), what browsers and libcurl send for "Negotiate" and what IIS expects.
gss_OID_desc spnego_oid{6, const_cast<char*>("\x2b\x06\x01\x05\x05\x02")};

struct Buffer {
    gss_buffer_desc value{0, nullptr};
    Buffer() = default;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    ~Buffer() {
        OM_uint32 minor = 0;
        gss_release_buffer(&minor, &value);
    }
    std::string_view text() const { return {static_cast<const char*>(value.value), value.length}; }
};

struct Name {
    gss_name_t value = GSS_C_NO_NAME;
    Name() = default;
    Name(const Name&) = delete;
    Name& operator=(const Name&) = delete;
    ~Name() {
        OM_uint32 minor = 0;
        gss_release_name(&minor, &value);
    }
};

struct SecurityContext {
    gss_ctx_id_t value = GSS_C_NO_CONTEXT;
    SecurityContext() = default;
    SecurityContext(const SecurityContext&) = delete;
    SecurityContext& operator=(const SecurityContext&) = delete;
    ~SecurityContext() {
        OM_uint32 minor = 0;
        gss_delete_sec_context(&minor, &value, GSS_C_NO_BUFFER);
    }
};

// The mechanism's own text ("Cannot contact any KDC for realm 'X'"), which names the details.
std::string status_text(OM_uint32 code, int type) {
    std::string text;
    OM_uint32 context = 0;
    do {
        OM_uint32 minor = 0;
        Buffer part;
        if (GSS_ERROR(gss_display_status(&minor, code, type, GSS_C_NO_OID, &context, &part.value)))
            break;
        text += (text.empty() ? "" : "; ") + std::string(part.text());
    } while (context != 0);
    return text;
}

std::string gss_failure_text(OM_uint32 major, OM_uint32 minor) {
    const std::string mech = minor != 0 ? status_text(minor, GSS_C_MECH_CODE) : "";
    return mech.empty() ? status_text(major, GSS_C_GSS_CODE) : mech;
}

// "HTTP/host@REALM" names a Kerberos principal; "HTTP@host" a host-based service (RFC 2743).
void import_name(const std::string& text, gss_OID type, Name& name) {
    gss_buffer_desc buffer{text.size(), const_cast<char*>(text.data())};
    OM_uint32 minor = 0;
    const OM_uint32 major = gss_import_name(&minor, &buffer, type, &name.value);
    if (GSS_ERROR(major)) {
        throw Error(
            ErrorKind::Usage,
            "'" + text + "' is not a valid Kerberos name: " + gss_failure_text(major, minor),
            "write the SPN as HTTP@host or HTTP/host@REALM, a principal as user@REALM");
    }
}

void import_spn(const std::string& spn, Name& name) {
    import_name(spn,
                spn.find('/') != std::string::npos ? const_cast<gss_OID>(GSS_KRB5_NT_PRINCIPAL_NAME)
                                                   : GSS_C_NT_HOSTBASED_SERVICE,
                name);
}

std::string private_cache_name() {
    std::random_device random;
    return "MEMORY:certenroll-" + std::to_string(random()) + std::to_string(random());
}

std::string credentials_source(const KerberosSettings& settings) {
    if (!settings.keytab.empty())
        return "the keytab " + settings.keytab;
    return "the credential cache";
}

}  // namespace

std::string default_spn(std::string_view url) {
    std::string host = http::url_host(url);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    return "HTTP@" + host;
}

Error kerberos_failure(std::uint32_t major, std::int32_t minor, std::string_view gss_text,
                       const std::string& spn, const KerberosSettings& settings) {
    const std::string detail = " (" + std::string(gss_text) + ")";
    const std::string get_ticket =
        settings.keytab.empty()
            ? "run kinit user@REALM (klist shows the tickets), or pass --keytab FILE --principal "
              "NAME"
            : "check that --keytab holds a current key for --principal (klist -k FILE)";
    switch (minor) {
        case KRB5_FCC_NOFILE:
        case KRB5_CC_NOTFOUND:
        case KRB5_CC_NOSUPP:
            return Error(ErrorKind::Auth,
                         "no Kerberos ticket in " + credentials_source(settings) + detail,
                         get_ticket);
        case KRB5KRB_AP_ERR_TKT_EXPIRED:
            return Error(ErrorKind::Auth, "the Kerberos ticket has expired" + detail,
                         settings.keytab.empty() ? "run kinit again (or kinit -R to renew)"
                                                 : "check the machine's clock");
        case KRB5_KDC_UNREACH:
        case KRB5_REALM_CANT_RESOLVE:
            return Error(ErrorKind::Auth, "cannot reach a Kerberos KDC" + detail,
                         "check the network path to the KDC (port 88) and the realm's kdc entries "
                         "in krb5.conf (KRB5_CONFIG)");
        case KRB5_REALM_UNKNOWN:
        case KRB5_CONFIG_NODEFREALM:
        case KRB5_CONFIG_CANTOPEN:
            return Error(ErrorKind::Auth, "Kerberos is not configured for this realm" + detail,
                         "set default_realm and the realm's kdc in krb5.conf (or KRB5_CONFIG)");
        case KRB5KRB_AP_ERR_SKEW:
        case KRB5_KDCREP_SKEW:
            return Error(ErrorKind::Auth,
                         "this machine's clock differs too much from the KDC's" + detail,
                         "synchronise the clock (NTP with the domain controllers); Kerberos "
                         "allows 5 minutes");
        case KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN:
            return Error(ErrorKind::Auth,
                         "the KDC does not know the service principal " + spn +
                             ": no account has this SPN" + detail,
                         "use the host name the SPN is registered for, register it (setspn -S "
                         "HTTP/<host> <app-pool account>), or pass --spn");
        case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
            return Error(ErrorKind::Auth, "the KDC does not know the client principal" + detail,
                         "check --principal (user@REALM, the realm in upper case)");
        case KRB5KDC_ERR_PREAUTH_FAILED:
        case KRB5KRB_AP_ERR_BAD_INTEGRITY:
        case KRB5KDC_ERR_KEY_EXP:
            return Error(
                ErrorKind::Auth,
                "the KDC rejected the client's key (wrong password or outdated keytab)" + detail,
                settings.keytab.empty() ? "run kinit again with the current password"
                                        : "export a fresh keytab for --principal");
        case KRB5_KT_NOTFOUND:
        case KRB5_KT_END:
            return Error(ErrorKind::Auth,
                         "the keytab " + settings.keytab + " has no key for the principal" + detail,
                         "check --principal against klist -k " + settings.keytab);
        default:
            break;
    }
    if ((major & 0xffff0000u) == GSS_S_NO_CRED ||
        (major & 0xffff0000u) == GSS_S_CREDENTIALS_EXPIRED) {
        return Error(ErrorKind::Auth,
                     "no usable Kerberos credentials in " + credentials_source(settings) + detail,
                     get_ticket);
    }
    return Error(ErrorKind::Auth, "Kerberos authentication for " + spn + " failed" + detail,
                 "check klist, the SPN (--spn) and krb5.conf; run with -v for details");
}

struct NegotiateTransport::Credentials {
    gss_cred_id_t value = GSS_C_NO_CREDENTIAL;
    ~Credentials() {
        OM_uint32 minor = 0;
        gss_release_cred(&minor, &value);
    }
};

NegotiateTransport::NegotiateTransport(std::unique_ptr<http::Transport> inner,
                                       KerberosSettings settings,
                                       std::function<void(std::string_view)> trace)
    : inner_(std::move(inner)),
      settings_(std::move(settings)),
      trace_(std::move(trace)),
      credentials_(std::make_unique<Credentials>()) {
    if (settings_.keytab.empty() && settings_.principal.empty())
        return;  // GSS_C_NO_CREDENTIAL: the default cache, exactly as kinit left it
    Name principal;
    if (!settings_.principal.empty())
        import_name(settings_.principal, const_cast<gss_OID>(GSS_KRB5_NT_PRINCIPAL_NAME),
                    principal);
    OM_uint32 minor = 0;
    OM_uint32 major = 0;
    if (!settings_.keytab.empty()) {
        if (!std::ifstream(settings_.keytab)) {
            throw Error(ErrorKind::Auth, "cannot read the keytab " + settings_.keytab,
                        "check the path given to --keytab and that this user may read it");
        }
        // The ticket goes into a cache private to this process, never the user's.
        const std::string cache = private_cache_name();
        gss_key_value_element_desc elements[] = {{"client_keytab", settings_.keytab.c_str()},
                                                 {"ccache", cache.c_str()}};
        gss_key_value_set_desc store{2, elements};
        major =
            gss_acquire_cred_from(&minor, principal.value, GSS_C_INDEFINITE, GSS_C_NO_OID_SET,
                                  GSS_C_INITIATE, &store, &credentials_->value, nullptr, nullptr);
    } else {
        major = gss_acquire_cred(&minor, principal.value, GSS_C_INDEFINITE, GSS_C_NO_OID_SET,
                                 GSS_C_INITIATE, &credentials_->value, nullptr, nullptr);
    }
    if (GSS_ERROR(major)) {
        throw kerberos_failure(major, static_cast<std::int32_t>(minor),
                               gss_failure_text(major, minor), "the client", settings_);
    }
}

NegotiateTransport::~NegotiateTransport() = default;

namespace {

// The token of the server's "WWW-Authenticate: Negotiate <base64>", empty when there is none.
std::string negotiate_answer(const http::Response& response) {
    const auto value = response.header("WWW-Authenticate");
    constexpr std::string_view scheme = "negotiate ";
    if (!value || value->size() <= scheme.size())
        return {};
    for (std::size_t i = 0; i < scheme.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>((*value)[i])) != scheme[i])
            return {};
    }
    return std::string(value->substr(scheme.size()));
}

}  // namespace

http::Response NegotiateTransport::post(const http::Request& request) {
    const std::string spn = settings_.spn.empty() ? default_spn(request.url) : settings_.spn;
    Name target;
    import_spn(spn, target);
    OM_uint32 flags = GSS_C_MUTUAL_FLAG | GSS_C_SEQUENCE_FLAG;
    if (settings_.delegate)
        flags |= GSS_C_DELEG_FLAG;
    const auto first_token = [&](gss_OID mechanism, gss_channel_bindings_t bindings,
                                 SecurityContext& context, Buffer& token, OM_uint32& minor) {
        return gss_init_sec_context(&minor, credentials_->value, &context.value, target.value,
                                    mechanism, flags, 0, bindings, GSS_C_NO_BUFFER, nullptr,
                                    &token.value, nullptr, nullptr);
    };
    const auto failure = [&](OM_uint32 major, OM_uint32 minor) {
        if (GSS_ERROR(major)) {
            // SPNEGO reports only "no mechanism"; the Kerberos mechanism itself says why.
            SecurityContext unused_context;
            Buffer unused;
            OM_uint32 krb5_minor = 0;
            const OM_uint32 krb5_major =
                first_token(const_cast<gss_OID>(gss_mech_krb5), GSS_C_NO_CHANNEL_BINDINGS,
                            unused_context, unused, krb5_minor);
            if (GSS_ERROR(krb5_major)) {
                major = krb5_major;
                minor = krb5_minor;
            }
        }
        const std::string text = gss_failure_text(major, minor);
        if (trace_)
            trace_("! Kerberos: no token for " + spn + ": " + text);
        return kerberos_failure(major, static_cast<std::int32_t>(minor), text, spn, settings_);
    };
    {
        // Before anything is sent: no ticket, an unreachable KDC or an unknown SPN fail here. The
        // token itself is dropped (the real one needs the connection); the service ticket stays
        // in the cache for it.
        SecurityContext context;
        Buffer token;
        OM_uint32 minor = 0;
        const OM_uint32 major =
            first_token(&spnego_oid, GSS_C_NO_CHANNEL_BINDINGS, context, token, minor);
        if (GSS_ERROR(major))
            throw failure(major, minor);
    }

    // What the token of the connection in use was made with: the answer is checked against it.
    std::optional<SecurityContext> context;
    std::optional<ChannelBinding> binding;
    gss_channel_bindings_struct bindings{};
    bool token_sent = false;
    http::Request authenticated = request;
    authenticated.credential = http::Credential::Negotiate;
    authenticated.credential_detail = spn;
    authenticated.connection_headers = [&](const http::Connection& connection) {
        context.emplace();
        binding.reset();
        bindings = gss_channel_bindings_struct{};  // addresses GSS_C_AF_UNSPEC, as Windows sends
        if (settings_.channel_binding) {
            if (connection.server_certificate_der.empty()) {
                throw Error(ErrorKind::Tls,
                            "no server certificate to bind the Kerberos authentication to",
                            "use an https:// URL");
            }
            binding = tls_server_end_point(connection.server_certificate_der);
            bindings.application_data = {binding->application_data.size(),
                                         binding->application_data.data()};
        }
        Buffer token;
        OM_uint32 minor = 0;
        const OM_uint32 major = first_token(
            &spnego_oid, binding ? &bindings : GSS_C_NO_CHANNEL_BINDINGS, *context, token, minor);
        if (GSS_ERROR(major))
            throw failure(major, minor);
        if (trace_) {  // never the token itself
            trace_("* Kerberos: sending a Negotiate token for " + spn +
                   (binding ? ", bound to this TLS connection (tls-server-end-point, " +
                                  binding->hash + " of the server certificate)"
                            : ", without channel binding"));
        }
        token_sent = true;
        return std::vector<http::Header>{
            {"Authorization",
             "Negotiate " +
                 encoding::base64_encode(static_cast<const std::uint8_t*>(token.value.value),
                                         token.value.length)}};
    };
    http::Response response;
    try {
        response = inner_->post(authenticated);
    } catch (const Error& error) {
        // The server's 401 to a bound ticket: say that it was bound, and what breaks a binding.
        if (error.kind() != ErrorKind::Auth || !token_sent || !binding)
            throw;
        throw Error(ErrorKind::Auth,
                    error.message() +
                        "; the ticket was bound to this TLS connection (channel "
                        "binding tls-server-end-point, " +
                        binding->hash + " of the server certificate)",
                    error.hint() +
                        "; with Extended Protection on, the server must see the TLS connection "
                        "this client sees: no TLS-inspecting proxy or TLS-terminating load "
                        "balancer in between ('certenroll-cli diagnose' checks this)");
    }
    if (response.status == 401 || !context)
        return response;  // a 401 the caller asked for; or a transport without connections

    // Mutual authentication: the server's answer token (the Kerberos AP-REP inside SPNEGO) proves
    // that the service SPN names answered, on this connection.
    const std::string answer = negotiate_answer(response);
    if (answer.empty()) {
        if (trace_)
            trace_("* Kerberos: the server sent no mutual-authentication token");
        return response;
    }
    std::vector<std::uint8_t> answer_bytes;
    try {
        answer_bytes = encoding::base64_decode(answer);
    } catch (const Error&) {
    }
    gss_buffer_desc input{answer_bytes.size(), answer_bytes.data()};
    Buffer unused;
    OM_uint32 minor = 0;
    const OM_uint32 major =
        answer_bytes.empty()
            ? OM_uint32{GSS_S_DEFECTIVE_TOKEN}
            : gss_init_sec_context(&minor, credentials_->value, &context->value, target.value,
                                   &spnego_oid, flags, 0,
                                   binding ? &bindings : GSS_C_NO_CHANNEL_BINDINGS, &input, nullptr,
                                   &unused.value, nullptr, nullptr);
    if (major != GSS_S_COMPLETE) {
        const std::string text =
            GSS_ERROR(major) ? gss_failure_text(major, minor) : "the exchange did not complete";
        if (trace_)
            trace_("! Kerberos: the server's mutual-authentication token does not verify: " + text);
        throw Error(ErrorKind::Auth,
                    "the server's Kerberos mutual-authentication token for " + spn +
                        " does not verify (" + text + ")",
                    "the answer does not come from the holder of " + spn +
                        "'s key: check that the URL reaches the CEP/CES server itself, and the "
                        "SPN (--spn); run with -v");
    }
    if (trace_)
        trace_("* Kerberos: the server's mutual-authentication token verified");
    return response;
}

}  // namespace certenroll::auth
