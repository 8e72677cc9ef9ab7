#include "flows/context.hpp"

#include <openssl/evp.h>

#include "crypto/certificate.hpp"
#include "error.hpp"
#include "http/curl_transport.hpp"
#include "keys/software_key.hpp"
#include "store/atomic_file.hpp"

namespace certenroll::flows {

soap::CallOptions call_options(const Context& context, const Credentials& credentials) {
    soap::CallOptions options;
    if (credentials.mode == xcep::AuthMode::UsernamePassword) {
        options.username_token = soap::UsernameToken{credentials.username, credentials.password};
    }
    options.trace = [&context](std::string_view text) { context.diagnostics.traffic(text); };
    return options;
}

TransportFactory curl_transport_factory() {
    return [](const http::Settings& settings) -> std::unique_ptr<http::Transport> {
        return std::make_unique<http::CurlTransport>(settings);
    };
}

std::unique_ptr<http::Transport> open_transport(const Context& context,
                                                const Connection& connection) {
    http::Settings settings = connection.http;
    const auto& credentials = connection.credentials;
    if (credentials.mode == xcep::AuthMode::Kerberos) {
        settings.negotiate = true;
        settings.negotiate_service = credentials.negotiate_service;
        settings.delegate_credentials = credentials.delegate_credentials;
    }
    if (!credentials.client_certificate.empty()) {
        const auto pem = store::read_file(credentials.client_certificate);
        if (!pem) {
            throw Error(ErrorKind::Usage,
                        "client certificate " + credentials.client_certificate + " does not exist",
                        "pass the PEM file of your certificate to --client-cert");
        }
        const auto certificates = crypto::Certificate::all_from_pem(*pem);
        if (certificates.empty()) {
            throw Error(ErrorKind::Usage, "no certificate in " + credentials.client_certificate,
                        "pass a PEM certificate to --client-cert");
        }
        keys::SoftwareKeyBackend backend(credentials.client_key_passphrase);
        const keys::Key key = backend.load(credentials.client_key);
        if (!certificates.front().matches_key(key.get())) {
            throw Error(
                ErrorKind::Usage,
                credentials.client_key + " is not the key of " + credentials.client_certificate,
                "pass the key that belongs to the client certificate");
        }
        http::ClientCertificate client;
        client.certificate_der = certificates.front().to_der();
        for (std::size_t i = 1; i < certificates.size(); ++i) {
            client.chain_der.push_back(certificates[i].to_der());
        }
        client.key = key.shared();
        settings.client_certificate = std::move(client);
    }
    settings.trace = [&context](std::string_view line) { context.diagnostics.step(line); };
    return context.make_transport(settings);
}

}  // namespace certenroll::flows
