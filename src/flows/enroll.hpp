#pragma once
/// The enroll use case: template name in, key and issued certificate on disk out.

#include <optional>
#include <string>
#include <vector>

#include "crypto/csr.hpp"
#include "flows/context.hpp"
#include "keys/key_backend.hpp"
#include "store/state.hpp"

namespace certenroll::flows {

struct EnrollRequest {
    Connection connection;
    std::string template_name;
    std::string name;  ///< managed-certificate name; defaults to the template name
    std::optional<keys::KeySpec> key_spec;  ///< default: what the template asks for
    std::string
        existing_key;  ///< reuse this key file (retry after a failure) instead of generating
    std::string key_passphrase;  ///< encrypts the key file when non-empty
    std::string subject;
    crypto::SubjectAltNames sans;
    store::OutputPaths outputs;  ///< empty paths get defaults under the state directory
    std::string pfx_password;
    bool refresh_policy = false;
    bool force = false;  ///< submit even when the policy says we may not enroll
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
    enum class Status { Issued, Pending };
    Status status = Status::Issued;
    std::string name;
    std::string template_name;
    std::string request_id;
    std::string ces_url;
    std::string ca_name;
    std::string key_description;  ///< "RSA 2048", "EC P-256"
    store::OutputPaths files;
    std::optional<IssuedCertificate> certificate;
    std::vector<std::string> warnings;
};

EnrollOutcome enroll(const Context& context, const EnrollRequest& request);

}  // namespace certenroll::flows
