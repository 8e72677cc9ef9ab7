#include "flows/connection_settings.hpp"

#include <cstdlib>

#include "http/url.hpp"
#include "xcep/endpoints.hpp"

namespace certenroll::flows {

namespace {

const std::string& first(const std::string& a, const std::string& b, const std::string& c) {
    return !a.empty() ? a : !b.empty() ? b : c;
}

const store::SecretSource& first(const store::SecretSource& a, const store::SecretSource& b,
                                 const store::SecretSource& c) {
    return !a.empty() ? a : !b.empty() ? b : c;
}

// The layer that says something about a group of fields, command line first.
template <typename Says>
const store::Endpoint& layer_for(const store::Endpoint& command_line, const store::Endpoint& record,
                                 const store::Endpoint& defaults, Says says) {
    return says(command_line) ? command_line : says(record) ? record : defaults;
}

}  // namespace

store::Endpoint merge_settings(const store::Endpoint& command_line, const store::Endpoint& record,
                               const store::Endpoint& defaults) {
    // What only the record knows (the CA's answers, how it was last renewed) stays.
    store::Endpoint merged = record;
    const auto& urls = layer_for(command_line, record, defaults, [](const store::Endpoint& e) {
        return !e.cep_url.empty() || !e.ces_url.empty();
    });
    merged.cep_url = urls.cep_url;
    merged.ces_url = urls.ces_url;
    merged.ca_name = first(command_line.ca_name, record.ca_name, defaults.ca_name);
    merged.auth = first(command_line.auth, record.auth, defaults.auth);
    merged.username = first(command_line.username, record.username, defaults.username);
    // A password goes with its user: another layer's user name is never given this one's.
    merged.password = {};
    for (const auto* layer : {&command_line, &record, &defaults}) {
        if (!layer->password.empty() &&
            (layer->username.empty() || layer->username == merged.username)) {
            merged.password = layer->password;
            break;
        }
    }
    merged.spn = first(command_line.spn, record.spn, defaults.spn);
    merged.keytab = first(command_line.keytab, record.keytab, defaults.keytab);
    merged.principal = first(command_line.principal, record.principal, defaults.principal);
    const auto& client = layer_for(command_line, record, defaults, [](const store::Endpoint& e) {
        return !e.client_certificate.empty();
    });
    merged.client_certificate = client.client_certificate;
    merged.client_key = client.client_key;
    merged.client_key_passphrase = client.client_key_passphrase;
    merged.ca_bundle = first(command_line.ca_bundle, record.ca_bundle, defaults.ca_bundle);
    const auto& proxy = layer_for(command_line, record, defaults, [](const store::Endpoint& e) {
        return !e.proxy.empty() || !e.proxy_user.empty();
    });
    merged.proxy = proxy.proxy;
    merged.proxy_user = proxy.proxy_user;
    merged.proxy_auth = proxy.proxy_auth;
    merged.proxy_password = proxy.proxy_password;
    merged.pfx_password =
        first(command_line.pfx_password, record.pfx_password, defaults.pfx_password);
    merged.key_passphrase =
        first(command_line.key_passphrase, record.key_passphrase, defaults.key_passphrase);
    return merged;
}

Connection with_transport_settings(Connection base, const store::Endpoint& settings,
                                   const SecretReader& read) {
    if (!settings.ca_bundle.empty())
        base.http.ca_bundle = settings.ca_bundle;
    if (!settings.proxy.empty() || !settings.proxy_user.empty()) {
        std::string user = settings.proxy_user;
        base.http.proxy = http::checked_proxy_option(settings.proxy, user);
        base.http.proxy_user = user;
        base.http.proxy_auth = settings.proxy_auth == "ntlm"        ? http::ProxyAuth::Ntlm
                               : settings.proxy_auth == "negotiate" ? http::ProxyAuth::Negotiate
                               : settings.proxy_auth == "any"       ? http::ProxyAuth::Any
                                                                    : http::ProxyAuth::Basic;
        base.http.proxy_password = SecretString{};
    }
    if (!base.http.proxy_user.empty() && base.http.proxy_password.empty() &&
        base.http.proxy_auth != http::ProxyAuth::Negotiate && read) {
        base.http.proxy_password =
            read(settings.proxy_password, "CERTENROLL_PROXY_PASSWORD",
                 "Proxy password for " + base.http.proxy_user + ": ", "--proxy-password-file");
    }
    return base;
}

void read_password(Credentials& credentials, const store::SecretSource& source,
                   const SecretReader& read) {
    if (credentials.mode == xcep::AuthMode::UsernamePassword && credentials.password.empty() &&
        read) {
        credentials.password =
            read(source, "CERTENROLL_PASSWORD", "Password for " + credentials.username + ": ",
                 "--password-file");
    }
}

Connection with_settings(Connection base, const store::Endpoint& settings,
                         const SecretReader& read) {
    base = with_transport_settings(std::move(base), settings, read);
    base.cep_url = settings.cep_url;
    base.ces_url = settings.ces_url;
    base.ca_name = settings.ca_name;
    auto& credentials = base.credentials;
    if (const auto mode = xcep::auth_mode_from_name(settings.auth))
        credentials.mode = *mode;
    credentials.username = settings.username;
    const bool kerberos = credentials.mode == xcep::AuthMode::Kerberos;
    credentials.spn = kerberos ? settings.spn : "";
    credentials.keytab = kerberos ? settings.keytab : "";
    credentials.principal = kerberos ? settings.principal : "";
    if (credentials.mode == xcep::AuthMode::Certificate) {
        credentials.client_certificate = settings.client_certificate;
        credentials.client_key = settings.client_key;
        if (credentials.client_key_passphrase.empty())
            credentials.client_key_passphrase = optional_secret(
                read, settings.client_key_passphrase, nullptr, "--client-key-passphrase-file");
    }
    read_password(credentials, settings.password, read);
    return base;
}

std::string optional_secret(const SecretReader& read, const store::SecretSource& source,
                            const char* fallback_variable, const std::string& flag) {
    const char* fallback = fallback_variable ? std::getenv(fallback_variable) : nullptr;
    if (!read || (source.empty() && !(fallback && *fallback)))
        return {};
    return read(source, fallback_variable, "", flag);
}

}  // namespace certenroll::flows
