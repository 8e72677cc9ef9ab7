#pragma once
/// X.509 certificates: the facts that decisions and output need, and chain building.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "encoding/base64.hpp"

// OpenSSL's types, forward-declared so this header stays free of OpenSSL includes.
struct x509_st;
struct evp_pkey_st;

namespace certenroll::crypto {

using encoding::Bytes;

/// The template named by a certificate's v2 template extension (1.3.6.1.4.1.311.21.7).
struct TemplateId {
    std::string oid;  ///< empty when the extension is absent
    int major = 0;
    int minor = 0;
};

/// One X.509 certificate; copies share the same immutable OpenSSL object.
class Certificate {
  public:
    using TimePoint = std::chrono::system_clock::time_point;

    /// Takes ownership of `x509` (must not be null).
    explicit Certificate(x509_st* x509);

    /// Parses one DER certificate; anything else (trailing bytes included) is a protocol Error.
    static Certificate from_der(const Bytes& der);
    /// Parses the first PEM certificate in `pem`; none or a corrupt one is a usage Error naming
    /// `what` (e.g. the file name).
    static Certificate from_pem(std::string_view pem, std::string_view what = "PEM data");
    /// Every PEM certificate in `pem`, in order; empty when there is none, corrupt → usage Error.
    static std::vector<Certificate> all_from_pem(std::string_view pem,
                                                 std::string_view what = "PEM data");

    Bytes to_der() const;
    std::string to_pem() const;

    /// "CN=web1,O=Example" (RFC 4514 order and escaping, UTF-8).
    std::string subject() const;
    std::string issuer() const;
    /// The most specific commonName of the subject, or "" when there is none.
    std::string common_name() const;
    /// Lower-case hex of the serial number's bytes ("1a00000004...").
    std::string serial_hex() const;
    TimePoint not_before() const;
    TimePoint not_after() const;
    /// Lower-case hex digests of the DER.
    std::string sha1_thumbprint() const;
    std::string sha256_thumbprint() const;

    /// Subject alternative names by kind, in certificate order.
    std::vector<std::string> dns_names() const;
    std::vector<std::string> ip_addresses() const;  ///< "192.0.2.1", "2001:db8::1"
    std::vector<std::string> emails() const;
    std::vector<std::string> upns() const;  ///< otherName 1.3.6.1.4.1.311.20.2.3
    std::vector<std::string> uris() const;

    /// The v1 template name extension (1.3.6.1.4.1.311.20.2), or "" when absent.
    std::string template_name() const;
    /// The v2 template extension (1.3.6.1.4.1.311.21.7); oid is "" when absent.
    TemplateId template_id() const;
    std::string template_oid() const { return template_id().oid; }

    /// True when `key` is the private (or public) half of this certificate's public key.
    bool matches_key(evp_pkey_st* key) const;
    /// True when `issuer`'s subject is our issuer name and its key verifies our signature.
    bool is_issued_by(const Certificate& issuer) const;
    /// True when the certificate names itself as its issuer (subject and issuer, and the key
    /// identifiers where present: X509_check_issued). Its self-signature is not verified: it
    /// proves nothing about trust, which comes from the anchors a chain is checked against.
    bool is_self_issued() const;
    /// Same DER encoding.
    bool operator==(const Certificate& other) const;

    /// The raw OpenSSL object, still owned by this Certificate.
    x509_st* x509() const { return x509_.get(); }

  private:
    std::shared_ptr<x509_st> x509_;
};

/// The chain of `leaf` ordered leaf → ... → root, picked from `pool` by issuer name and
/// signature (never by position). Stops at a self-signed certificate or when no issuer is found.
/// The first element is always `leaf`; duplicates in the pool are ignored.
std::vector<Certificate> build_chain(const Certificate& leaf, const std::vector<Certificate>& pool);

/// Verifies that `leaf` chains to one of `anchors` through `intermediates`, valid at `now`.
/// Throws a protocol Error with OpenSSL's verification reason when it does not.
void verify_chain(const Certificate& leaf, const std::vector<Certificate>& intermediates,
                  const std::vector<Certificate>& anchors, Certificate::TimePoint now);

/// The same against the platform's trust (OpenSSL's default paths, SSL_CERT_FILE/SSL_CERT_DIR).
void verify_chain_to_platform_trust(const Certificate& leaf,
                                    const std::vector<Certificate>& intermediates,
                                    Certificate::TimePoint now);

}  // namespace certenroll::crypto
