#pragma once
/// The enroll use case: template name in, key and issued certificate on disk out.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "crypto/csr.hpp"
#include "flows/context.hpp"
#include "keys/key_backend.hpp"
#include "secret.hpp"
#include "store/state.hpp"

namespace certenroll::flows {

/// Which files to write besides the key.
struct OutputFormats {
    bool pem = true;       ///< certificate, chain and fullchain PEM
    bool der = false;      ///< certificate DER
    bool pfx = false;      ///< PKCS#12 with key, certificate and chain
    bool p7b = false;      ///< certificate and chain as a certs-only PKCS#7, PEM (cert.p7b)
    bool p7b_der = false;  ///< the same in DER (cert.der.p7b)
};

struct EnrollRequest {
    Connection connection;
    std::string template_name;
    std::string name;  ///< managed-certificate name; defaults to the template name
    std::optional<keys::KeySpec> key_spec;  ///< default: what the template asks for
    std::string
        existing_key;  ///< reuse this key file (retry after a failure) instead of generating
    SecretString key_passphrase;           ///< encrypts the key file when non-empty
    std::string key_backend = "software";  ///< where a new key is generated: software, pkcs11, tpm
    bool store_on_token = false;  ///< also put the issued certificate on the token beside the key
    std::string subject;
    crypto::SubjectAltNames sans;
    store::OutputPaths outputs;     ///< empty paths get defaults (see default_outputs)
    std::filesystem::path out_dir;  ///< where default files go instead of the state directory
    OutputFormats formats;
    SecretString pfx_password;
    bool refresh_policy = false;
    bool force = false;    ///< submit even when the policy says we may not enroll
    bool dry_run = false;  ///< build the key (in memory), CSR and request; send and write nothing
    /// Kept with the record: where the secrets used came from (files, environment variables),
    /// the client certificate, CA bundle and proxy, so that renew and retrieve-pending need no
    /// options. References only, never a secret.
    store::Endpoint settings;
    bool rsa_pss = false;  ///< --signature rsa-pss: sign the request with RSASSA-PSS (RSA keys)
};

/// Facts about an issued certificate, for rendering.
struct IssuedCertificate {
    std::string subject;
    std::string issuer;
    std::string serial;
    std::string sha256_thumbprint;
    TimePoint not_before{};
    TimePoint not_after{};
};

struct EnrollOutcome {
    enum class Status { Issued, Pending, DryRun };
    Status status = Status::Issued;
    std::string name;
    std::string template_name;
    std::string request_id;
    std::string ces_url;
    std::string ca_name;
    std::string key_description;  ///< "RSA 2048", "EC P-256"
    std::string key_reference;    ///< key file path or pkcs11: URI
    store::OutputPaths files;
    std::optional<IssuedCertificate> certificate;
    std::vector<std::string> warnings;
    // --dry-run: what would have been sent.
    std::string csr_pem;
    std::string request_xml;  ///< the SOAP request, secrets redacted
    std::vector<std::string> ces_urls;
};

EnrollOutcome enroll(const Context& context, const EnrollRequest& request);

}  // namespace certenroll::flows
