#include "auth/kerberos_inspect.hpp"

#include <gssapi/gssapi.h>
#include <krb5/krb5.h>
#include <profile.h>

#include <array>
#include <cstdlib>
#include <fstream>
#include <utility>

namespace certenroll::auth {

namespace {

TimePoint from_krb5(krb5_timestamp time) {
    // krb5_timestamp is a signed 32-bit count of seconds that MIT treats as unsigned (y2038).
    return TimePoint(std::chrono::seconds(static_cast<std::uint32_t>(time)));
}

std::string data_text(const krb5_data& data) {
    return data.length == 0 ? std::string() : std::string(data.data, data.length);
}

}  // namespace

struct KerberosInspector::State {
    KerberosSettings settings;
    krb5_context context = nullptr;
    krb5_ccache source = nullptr;  // holds the ticket-granting ticket once client_ticket() ran
    bool source_is_private = false;
    krb5_principal client = nullptr;
    mutable krb5_error_code last_error = 0;

    ~State() {
        if (client != nullptr)
            krb5_free_principal(context, client);
        if (source != nullptr) {
            if (source_is_private)
                krb5_cc_destroy(context, source);
            else
                krb5_cc_close(context, source);
        }
        if (context != nullptr)
            krb5_free_context(context);
    }

    std::string message(krb5_error_code code) const {
        const char* text = krb5_get_error_message(context, code);
        std::string result = text ? text : "Kerberos error " + std::to_string(code);
        krb5_free_error_message(context, text);
        return result;
    }

    Error failure(OM_uint32 major, krb5_error_code code, const std::string& spn,
                  const std::string& text = {}) const {
        last_error = code;
        return kerberos_failure(major, code, text.empty() ? message(code) : text, spn, settings);
    }

    std::string unparse(krb5_const_principal principal) const {
        char* name = nullptr;
        if (krb5_unparse_name(context, principal, &name) != 0)
            return "?";
        std::string text = name;
        krb5_free_unparsed_name(context, name);
        return text;
    }

    krb5_principal parse(const std::string& name) const {
        krb5_principal principal = nullptr;
        if (const krb5_error_code code = krb5_parse_name(context, name.c_str(), &principal)) {
            throw Error(ErrorKind::Usage,
                        "'" + name + "' is not a valid Kerberos principal: " + message(code),
                        "write a principal as user@REALM");
        }
        return principal;
    }

    bool is_tgt(krb5_const_principal server) const {
        return server->length == 2 && data_text(server->data[0]) == "krbtgt" &&
               !krb5_is_config_principal(context, server);
    }
};

KerberosInspector::KerberosInspector(KerberosSettings settings)
    : state_(std::make_unique<State>()) {
    state_->settings = std::move(settings);
    if (const krb5_error_code code = krb5_init_context(&state_->context)) {
        state_->context = nullptr;
        throw Error(ErrorKind::Auth,
                    "the Kerberos library cannot start (error " + std::to_string(code) + ")",
                    "check krb5.conf (or KRB5_CONFIG)");
    }
}

KerberosInspector::~KerberosInspector() = default;

std::int32_t KerberosInspector::last_error() const {
    return state_->last_error;
}

bool is_clock_skew(std::int32_t code) {
    return code == KRB5KRB_AP_ERR_SKEW || code == KRB5_KDCREP_SKEW;
}

std::string KerberosInspector::default_realm() const {
    char* realm = nullptr;
    if (krb5_get_default_realm(state_->context, &realm) != 0)
        return "";
    std::string text = realm;
    krb5_free_default_realm(state_->context, realm);
    return text;
}

std::string KerberosInspector::configuration() const {
    const char* configured = std::getenv("KRB5_CONFIG");
    return configured && *configured ? "KRB5_CONFIG=" + std::string(configured)
                                     : std::string("/etc/krb5.conf");
}

ClientTicket KerberosInspector::client_ticket() {
    State& s = *state_;
    krb5_context ctx = s.context;
    ClientTicket ticket;
    if (!s.settings.keytab.empty()) {
        if (!std::ifstream(s.settings.keytab)) {
            throw Error(ErrorKind::Auth, "cannot read the keytab " + s.settings.keytab,
                        "check the path given to --keytab and that this user may read it");
        }
        krb5_keytab keytab = nullptr;
        if (const krb5_error_code code = krb5_kt_resolve(ctx, s.settings.keytab.c_str(), &keytab))
            throw s.failure(GSS_S_FAILURE, code, "the client");
        struct KeytabCloser {
            krb5_context ctx;
            krb5_keytab keytab;
            ~KeytabCloser() { krb5_kt_close(ctx, keytab); }
        } closer{ctx, keytab};
        if (!s.settings.principal.empty()) {
            s.client = s.parse(s.settings.principal);
        } else {
            // The keytab's first principal, as gss_acquire_cred does.
            krb5_kt_cursor cursor;
            krb5_keytab_entry entry;
            krb5_error_code code = krb5_kt_start_seq_get(ctx, keytab, &cursor);
            if (code == 0) {
                code = krb5_kt_next_entry(ctx, keytab, &entry, &cursor);
                if (code == 0) {
                    code = krb5_copy_principal(ctx, entry.principal, &s.client);
                    krb5_free_keytab_entry_contents(ctx, &entry);
                }
                krb5_kt_end_seq_get(ctx, keytab, &cursor);
            }
            if (code != 0)
                throw s.failure(GSS_S_FAILURE, code, "the client");
        }
        krb5_get_init_creds_opt* options = nullptr;
        if (const krb5_error_code code = krb5_get_init_creds_opt_alloc(ctx, &options))
            throw s.failure(GSS_S_FAILURE, code, "the client");
        krb5_creds creds{};
        const krb5_error_code code =
            krb5_get_init_creds_keytab(ctx, &creds, s.client, keytab, 0, nullptr, options);
        krb5_get_init_creds_opt_free(ctx, options);
        if (code != 0)
            throw s.failure(GSS_S_FAILURE, code, "the client");
        // Kept in a private in-memory cache, exactly like the real requests do.
        krb5_error_code stored = krb5_cc_new_unique(ctx, "MEMORY", nullptr, &s.source);
        if (stored == 0) {
            s.source_is_private = true;
            stored = krb5_cc_initialize(ctx, s.source, s.client);
        }
        if (stored == 0)
            stored = krb5_cc_store_cred(ctx, s.source, &creds);
        ticket.auth_time = from_krb5(creds.times.authtime);
        ticket.end_time = from_krb5(creds.times.endtime);
        if (creds.times.renew_till != 0)
            ticket.renew_until = from_krb5(creds.times.renew_till);
        krb5_free_cred_contents(ctx, &creds);
        if (stored != 0)
            throw s.failure(GSS_S_FAILURE, stored, "the client");
        ticket.fresh = true;
        ticket.source = "keytab " + s.settings.keytab;
    } else {
        krb5_error_code code = 0;
        if (!s.settings.principal.empty()) {
            krb5_principal wanted = s.parse(s.settings.principal);
            code = krb5_cc_cache_match(ctx, wanted, &s.source);
            krb5_free_principal(ctx, wanted);
        } else {
            code = krb5_cc_default(ctx, &s.source);
        }
        if (code != 0) {
            s.source = nullptr;
            throw s.failure(GSS_S_NO_CRED, code, "the client");
        }
        ticket.source = std::string("credential cache ") + krb5_cc_get_type(ctx, s.source) + ":" +
                        krb5_cc_get_name(ctx, s.source);
        if ((code = krb5_cc_get_principal(ctx, s.source, &s.client)) != 0) {
            s.client = nullptr;
            throw s.failure(GSS_S_NO_CRED, code, "the client");
        }
        const std::string realm = data_text(s.client->realm);
        krb5_cc_cursor cursor;
        bool found = false;
        if (krb5_cc_start_seq_get(ctx, s.source, &cursor) == 0) {
            krb5_creds creds;
            while (krb5_cc_next_cred(ctx, s.source, &cursor, &creds) == 0) {
                // The TGT of the client's own realm (cross-realm TGTs may sit beside it).
                if (!found && s.is_tgt(creds.server) && data_text(creds.server->data[1]) == realm) {
                    found = true;
                    ticket.auth_time = from_krb5(creds.times.authtime);
                    ticket.end_time = from_krb5(creds.times.endtime);
                    if (creds.times.renew_till != 0)
                        ticket.renew_until = from_krb5(creds.times.renew_till);
                }
                krb5_free_cred_contents(ctx, &creds);
            }
            krb5_cc_end_seq_get(ctx, s.source, &cursor);
        }
        if (!found) {
            throw s.failure(GSS_S_NO_CRED, KRB5_CC_NOTFOUND, "the client",
                            "no ticket-granting ticket for " + realm + " in " + ticket.source);
        }
        if (ticket.end_time <= std::chrono::system_clock::now()) {
            throw s.failure(GSS_S_CREDENTIALS_EXPIRED, KRB5KRB_AP_ERR_TKT_EXPIRED, "the client",
                            "the ticket-granting ticket of " + s.unparse(s.client) + " in " +
                                ticket.source + " has expired");
        }
    }
    ticket.principal = s.unparse(s.client);
    ticket.realm = data_text(s.client->realm);
    return ticket;
}

namespace {

// Called once the KDC has answered and the library wants a password: refuse, and remember that
// the KDC was reached.
krb5_error_code KRB5_CALLCONV refuse_prompt(krb5_context, void* data, const char*, const char*, int,
                                            krb5_prompt[]) {
    *static_cast<bool*>(data) = true;
    return KRB5_LIBOS_CANTREADPWD;
}

}  // namespace

KdcProbe KerberosInspector::probe_kdc(const std::string& principal_name) {
    State& s = *state_;
    krb5_context ctx = s.context;
    KdcProbe probe;
    krb5_principal principal = nullptr;
    try {
        principal = s.parse(principal_name);
    } catch (const Error& e) {
        probe.error = e;
        return probe;
    }
    probe.realm = data_text(principal->realm);

    profile_t profile = nullptr;
    if (krb5_get_profile(ctx, &profile) == 0) {
        const char* names[] = {"realms", probe.realm.c_str(), "kdc", nullptr};
        char** values = nullptr;
        if (profile_get_values(profile, names, &values) == 0) {
            for (char** value = values; value && *value; ++value)
                probe.configured.emplace_back(*value);
            profile_free_list(values);
        }
        profile_release(profile);
    }

    krb5_get_init_creds_opt* options = nullptr;
    krb5_error_code code = krb5_get_init_creds_opt_alloc(ctx, &options);
    bool prompted = false;
    const auto start = std::chrono::steady_clock::now();
    if (code == 0) {
        krb5_creds creds{};
        code = krb5_get_init_creds_password(ctx, &creds, principal, nullptr, &refuse_prompt,
                                            &prompted, 0, nullptr, options);
        if (code == 0)
            krb5_free_cred_contents(ctx, &creds);
        krb5_get_init_creds_opt_free(ctx, options);
    }
    probe.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    krb5_free_principal(ctx, principal);
    switch (code) {
        case 0:
            probe.answered = true;
            break;
        case KRB5_KDC_UNREACH:
        case KRB5_REALM_CANT_RESOLVE:
        case KRB5_REALM_UNKNOWN:
        case KRB5_CONFIG_NODEFREALM:
        case KRB5_CONFIG_CANTOPEN:
            probe.error = s.failure(GSS_S_FAILURE, code, "the client");
            break;
        default:
            // The library only prompts after the KDC answered; any KDC error code is an answer.
            probe.answered = prompted || (code >= KRB5KDC_ERR_NONE && code <= KRB5_ERR_RCSID);
            if (!prompted)
                probe.error = s.failure(GSS_S_FAILURE, code, "the client");
    }
    return probe;
}

ServiceTicket KerberosInspector::service_ticket(const std::string& spn) {
    State& s = *state_;
    krb5_context ctx = s.context;
    if (s.source == nullptr || s.client == nullptr)
        client_ticket();
    ServiceTicket ticket;
    ticket.spn = spn;

    krb5_principal server = nullptr;
    krb5_error_code code = 0;
    if (spn.find('/') != std::string::npos) {
        code = krb5_parse_name(ctx, spn.c_str(), &server);
    } else {
        // "HTTP@host": a host-based service, resolved to a principal as GSS-API does.
        const std::size_t at = spn.find('@');
        const std::string service = at == std::string::npos ? spn : spn.substr(0, at);
        const std::string host = at == std::string::npos ? "" : spn.substr(at + 1);
        code = krb5_sname_to_principal(ctx, host.empty() ? nullptr : host.c_str(), service.c_str(),
                                       KRB5_NT_SRV_HST, &server);
    }
    if (code != 0) {
        throw Error(ErrorKind::Usage,
                    "'" + spn + "' is not a valid service principal: " + s.message(code),
                    "write the SPN as HTTP@host or HTTP/host@REALM");
    }
    struct PrincipalFree {
        krb5_context ctx;
        krb5_principal principal;
        ~PrincipalFree() { krb5_free_principal(ctx, principal); }
    } server_free{ctx, server};

    // A private cache holding only the ticket-granting tickets, so the KDC is really asked.
    krb5_ccache scratch = nullptr;
    if ((code = krb5_cc_new_unique(ctx, "MEMORY", nullptr, &scratch)) != 0)
        throw s.failure(GSS_S_FAILURE, code, spn);
    struct CacheDestroy {
        krb5_context ctx;
        krb5_ccache cache;
        ~CacheDestroy() { krb5_cc_destroy(ctx, cache); }
    } scratch_destroy{ctx, scratch};
    if ((code = krb5_cc_initialize(ctx, scratch, s.client)) != 0)
        throw s.failure(GSS_S_FAILURE, code, spn);
    krb5_cc_cursor cursor;
    if (krb5_cc_start_seq_get(ctx, s.source, &cursor) == 0) {
        krb5_creds creds;
        while (krb5_cc_next_cred(ctx, s.source, &cursor, &creds) == 0) {
            if (s.is_tgt(creds.server))
                krb5_cc_store_cred(ctx, scratch, &creds);
            krb5_free_cred_contents(ctx, &creds);
        }
        krb5_cc_end_seq_get(ctx, s.source, &cursor);
    }

    krb5_creds wanted{};
    wanted.client = s.client;
    wanted.server = server;
    krb5_creds* issued = nullptr;
    if ((code = krb5_get_credentials(ctx, 0, scratch, &wanted, &issued)) != 0)
        throw s.failure(GSS_S_FAILURE, code, spn);
    ticket.principal = s.unparse(issued->server);
    if (issued->times.starttime != 0)
        ticket.start_time = from_krb5(issued->times.starttime);
    ticket.end_time = from_krb5(issued->times.endtime);
    std::array<char, 64> enctype{};
    if (krb5_enctype_to_name(issued->keyblock.enctype, FALSE, enctype.data(), enctype.size()) == 0)
        ticket.enctype = enctype.data();
    krb5_free_creds(ctx, issued);
    return ticket;
}

}  // namespace certenroll::auth
