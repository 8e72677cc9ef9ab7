#include "flows/context.hpp"

#include <openssl/evp.h>

#include "auth/kerberos.hpp"
#include "crypto/certificate.hpp"
#include "crypto/pkcs12.hpp"
#include "error.hpp"
#include "http/curl_transport.hpp"
#include "keys/software_key.hpp"
#include "keys/tpm_key.hpp"
#include "store/atomic_file.hpp"

namespace certenroll::flows {

soap::CallOptions call_options(const Context& context, const Credentials& credentials) {
    soap::CallOptions options;
    if (credentials.mode == xcep::AuthMode::UsernamePassword) {
        options.username_token = soap::UsernameToken{credentials.username, credentials.password};
    }
    // Only when shown: the trace text is a redacted copy of each message, up to 2 x 16 MB.
    if (context.diagnostics.verbosity >= 2)
        options.trace = [&context](std::string_view text) { context.diagnostics.traffic(text); };
    return options;
}

void apply_recorded_auth(Credentials& credentials, const store::Endpoint& endpoint) {
    if (const auto mode = xcep::auth_mode_from_name(endpoint.auth))
        credentials.mode = *mode;
    if (credentials.username.empty())
        credentials.username = endpoint.username;
    if (credentials.mode == xcep::AuthMode::Kerberos) {
        if (credentials.spn.empty())
            credentials.spn = endpoint.spn;
        if (credentials.keytab.empty())
            credentials.keytab = endpoint.keytab;
        if (credentials.principal.empty())
            credentials.principal = endpoint.principal;
    }
}

void record_auth(const Credentials& credentials, store::Endpoint& endpoint) {
    endpoint.auth = std::string(xcep::auth_mode_name(credentials.mode));
    endpoint.username = credentials.username;
    const bool kerberos = credentials.mode == xcep::AuthMode::Kerberos;
    endpoint.spn = kerberos ? credentials.spn : "";
    endpoint.keytab = kerberos ? credentials.keytab : "";
    endpoint.principal = kerberos ? credentials.principal : "";
}

TransportFactory https_transport_factory() {
    // One pool per factory, i.e. per command: the connection (and TLS session) of the policy
    // fetch carries the submission too.
    auto pool = std::make_shared<http::ConnectionPool>();
    return [pool](const http::Settings& settings) -> std::unique_ptr<http::Transport> {
        return std::make_unique<http::CurlTransport>(settings, pool);
    };
}

namespace {

bool is_pfx_file(const std::string& path) {
    const auto dot = path.rfind('.');
    const std::string extension = dot == std::string::npos ? "" : path.substr(dot);
    return extension == ".pfx" || extension == ".p12" || extension == ".PFX" || extension == ".P12";
}

// The TLS client credential: a PEM certificate (+ chain) with a key reference, or a PFX that
// holds both. The key is handed to the transport as a key object, never re-exported.
http::ClientCertificate load_client_certificate(keys::KeyBackends& backends,
                                                const Credentials& credentials) {
    const std::string& path = credentials.client_certificate;
    const auto content = store::read_file(path);
    if (!content) {
        throw Error(ErrorKind::Usage, "client certificate " + path + " does not exist",
                    "pass the PEM or PFX file of your certificate to --client-cert");
    }
    std::vector<crypto::Certificate> certificates;
    std::optional<keys::Key> key;
    if (is_pfx_file(path)) {
        auto pfx = crypto::read_pfx(encoding::Bytes(content->begin(), content->end()),
                                    credentials.client_key_passphrase);
        if (!pfx.certificate || !pfx.key) {
            throw Error(ErrorKind::Usage, "the PFX " + path + " holds no certificate with its key",
                        "export the certificate together with its private key");
        }
        certificates.push_back(std::move(*pfx.certificate));
        for (auto& extra : pfx.chain)
            certificates.push_back(std::move(extra));
        key.emplace(std::move(pfx.key), "software", path);
    } else {
        certificates = crypto::Certificate::all_from_pem(*content);
        // A DER certificate (e.g. one enrolled with --format der, renewed key-based).
        if (certificates.empty() && content->find("-----BEGIN") == std::string::npos) {
            try {
                certificates.push_back(crypto::Certificate::from_der(
                    encoding::Bytes(content->begin(), content->end())));
            } catch (const Error&) {
                // Neither PEM nor DER: reported below.
            }
        }
        if (certificates.empty()) {
            throw Error(ErrorKind::Usage, "no certificate in " + path,
                        "pass a PEM or DER certificate (or a .pfx/.p12 file) to --client-cert");
        }
        if (credentials.client_key.empty()) {
            throw Error(ErrorKind::Usage, "--client-cert " + path + " needs --client-key",
                        "pass the key file of the certificate, or a PFX holding both");
        }
        // A key file, a TPM key blob or a pkcs11: URI: the handshake is signed where it lives.
        key.emplace(backends.load(credentials.client_key, credentials.client_key_passphrase));
    }
    if (!certificates.front().matches_key(key->get())) {
        throw Error(ErrorKind::Usage,
                    (credentials.client_key.empty() ? path : credentials.client_key) +
                        " is not the key of the certificate in " + path,
                    "pass the key that belongs to the client certificate");
    }
    http::ClientCertificate client;
    client.certificate_der = certificates.front().to_der();
    for (std::size_t i = 1; i < certificates.size(); ++i)
        client.chain_der.push_back(certificates[i].to_der());
    if (key->backend() == "tpm")
        keys::route_tls_to_tpm();
    client.key = key->shared();
    return client;
}

}  // namespace

std::unique_ptr<http::Transport> open_transport(const Context& context,
                                                const Connection& connection) {
    http::Settings settings = connection.http;
    const auto& credentials = connection.credentials;
    if (!credentials.client_certificate.empty())
        settings.client_certificate = load_client_certificate(*context.keys, credentials);
    auto trace = [&context](std::string_view line) { context.diagnostics.step(line); };
    settings.trace = trace;
    auto transport = context.make_transport(settings);
    if (credentials.mode == xcep::AuthMode::Kerberos) {
        auth::KerberosSettings kerberos{credentials.spn, credentials.keytab, credentials.principal,
                                        credentials.delegate_credentials};
        transport = std::make_unique<auth::NegotiateTransport>(std::move(transport),
                                                               std::move(kerberos), trace);
    }
    // Outermost, so that a repeated request gets a fresh Kerberos token; only idempotent calls
    // (GetPolicies, QueryTokenStatus) are repeated.
    return std::make_unique<http::RetryTransport>(std::move(transport), http::RetryPolicy{},
                                                  context.sleep, trace);
}

}  // namespace certenroll::flows
