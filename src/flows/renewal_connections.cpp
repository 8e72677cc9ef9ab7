#include "flows/renewal_connections.hpp"

#include <algorithm>

#include "flows/connection_settings.hpp"
#include "xcep/endpoints.hpp"

namespace certenroll::flows {

namespace fs = std::filesystem;

fs::path certificate_file(const store::OutputPaths& outputs) {
    return !outputs.certificate.empty()       ? outputs.certificate
           : !outputs.certificate_der.empty() ? outputs.certificate_der
                                              : outputs.pfx;
}

bool renews_key_based(const store::ManagedCertificate& record, const RenewOptions& options) {
    return options.key_based || record.endpoint.key_based ||
           xcep::is_key_based_renewal_cep_url(record.endpoint.cep_url);
}

namespace {

// The certificate being renewed as the TLS client credential, from whichever file holds it (a
// PFX brings its own key, opened with the PFX password); the key may be a file, a PKCS#11 URI or
// a TPM key.
void present_current_certificate(Credentials& credentials, const store::ManagedCertificate& record,
                                 const RenewOptions& options) {
    const fs::path file = certificate_file(record.outputs);
    credentials.client_certificate = file.string();
    credentials.client_key = record.key_reference;
    credentials.client_key_passphrase =
        file == record.outputs.pfx ? options.pfx_password : options.key_passphrase;
}

// Key-based renewal as AD CS serves it: the CES (certificate authentication, installed with
// -AllowKeyBasedRenewal) sees the certificate being renewed as the TLS client certificate, and
// the renewal is signed with its key. The key-based renewal CEP (-KeyBasedRenewal) is read with
// whatever authentication its URL names: the same certificate for a _Certificate endpoint, the
// recorded user's password or Kerberos otherwise.
RenewalConnections key_based_connections(const store::ManagedCertificate& record,
                                         const RenewOptions& options,
                                         const store::Endpoint& settings) {
    const Connection base =
        with_transport_settings(options.connection, settings, options.read_secret);
    RenewalConnections connections{base, base, true};
    auto& submit = connections.submit;
    submit.cep_url.clear();
    if (submit.ca_name.empty())
        submit.ca_name = record.endpoint.ca_name;
    submit.credentials = Credentials{};
    submit.credentials.mode = xcep::AuthMode::Certificate;
    present_current_certificate(submit.credentials, record, options);

    auto& policy = connections.policy;
    policy.ces_url.clear();
    if (policy.ca_name.empty())
        policy.ca_name = record.endpoint.ca_name;
    if (options.connection.ces_url.empty() && policy.cep_url.empty()) {
        // The recorded CEP when it serves key-based renewal (or served the last one); else the
        // key-based renewal CES recorded from the enrollment policy, without a policy.
        if (record.endpoint.key_based ||
            xcep::is_key_based_renewal_cep_url(record.endpoint.cep_url))
            policy.cep_url = record.endpoint.cep_url;
        if (policy.cep_url.empty())
            submit.ces_url = record.endpoint.renewal_url;
    }
    if (policy.cep_url.empty())
        return connections;
    auto& credentials = policy.credentials;
    // No --auth given (anonymous stands for that): the URL, else the certificate, decides.
    if (options.auth_from_record || credentials.mode == xcep::AuthMode::Anonymous) {
        credentials = Credentials{};
        const auto from_url = xcep::auth_mode_from_url(policy.cep_url);
        if (from_url == xcep::AuthMode::UsernamePassword || from_url == xcep::AuthMode::Kerberos) {
            apply_recorded_auth(credentials, record.endpoint);
            credentials.mode = *from_url;
            if (!options.connection.credentials.username.empty())
                credentials.username = options.connection.credentials.username;
        } else {
            credentials.mode = xcep::AuthMode::Certificate;
        }
    }
    if (credentials.mode == xcep::AuthMode::Certificate && credentials.client_certificate.empty())
        present_current_certificate(credentials, record, options);
    read_password(credentials, settings.password, options.read_secret);
    return connections;
}

}  // namespace

RenewalConnections connections_for(const store::ManagedCertificate& record,
                                   const RenewOptions& options) {
    const store::Endpoint settings =
        merge_settings(options.settings.command_line, record.endpoint, options.settings.defaults);
    if (renews_key_based(record, options))
        return key_based_connections(record, options, settings);
    Connection connection = with_settings(options.connection, settings, options.read_secret);
    // From the record: the policy names the CES URLs, the recorded one is the fallback
    // (renewal_targets). Typed on the command line: both as given.
    const auto& typed = options.settings.command_line;
    if (typed.cep_url.empty() && typed.ces_url.empty() && !connection.cep_url.empty())
        connection.ces_url.clear();
    if (connection.credentials.mode == xcep::AuthMode::Anonymous)
        present_current_certificate(connection.credentials, record, options);
    return {connection, connection, false};
}

std::vector<CesTarget> renewal_targets(const RenewalConnections& connections,
                                       const xcep::Policy* policy, const xcep::Template* tmpl,
                                       const std::string& recorded_url) {
    const Connection& connection = connections.submit;
    if (!connection.ces_url.empty()) {
        CesTarget given{connection.ces_url, connection.ca_name};
        given.key_based_renewal = connections.key_based;
        return {given};
    }
    std::vector<CesTarget> targets;
    if (policy != nullptr && tmpl != nullptr) {
        const auto endpoints =
            connections.key_based
                ? xcep::select_key_based_renewal_endpoints(*policy, *tmpl)
                : xcep::select_ces_endpoints(*policy, *tmpl, connection.credentials.mode, true);
        for (const auto& endpoint : endpoints) {
            if (connection.ca_name.empty() || endpoint.ca_name == connection.ca_name) {
                targets.push_back({endpoint.uri, endpoint.ca_name});
                targets.back().policy_lists_template_at_ca = true;
                targets.back().key_based_renewal = connections.key_based;
                targets.back().template_name = tmpl->common_name;
                if (!connections.key_based)
                    targets.back().policy_grants_enroll = tmpl->permission_enroll;
                targets.back().renewal_only = endpoint.renewal_only;
            }
        }
        // A renewal with an account's client certificate: a renewal-only certificate CES is the
        // key-based renewal one (AD CS installs it -RenewalOnly -AllowKeyBasedRenewal), which
        // wants the certificate being renewed at the TLS layer; the account's own CES first.
        if (!connections.key_based && connection.credentials.mode == xcep::AuthMode::Certificate)
            std::stable_partition(targets.begin(), targets.end(),
                                  [](const CesTarget& target) { return !target.renewal_only; });
    }
    // An anonymous endpoint is used only when a policy advertises it.
    if (targets.empty() && !recorded_url.empty() && !connections.key_based &&
        connection.credentials.mode != xcep::AuthMode::Anonymous) {
        targets.push_back({recorded_url, connection.ca_name, false});
    }
    return targets;
}

}  // namespace certenroll::flows
