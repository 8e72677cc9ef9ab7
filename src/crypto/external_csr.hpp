#pragma once
/// A PKCS#10 request made elsewhere (certmonger, an appliance, a load balancer, another team's
/// openssl): read, its signature checked, the facts a template decides on taken out of it, and,
/// for an AD CS renewal, given the renewal-certificate attribute and signed again with its key.

#include <memory>
#include <string>
#include <string_view>

#include "crypto/certificate.hpp"
#include "crypto/csr.hpp"
#include "encoding/base64.hpp"

struct evp_pkey_st;

namespace certenroll::crypto {

/// What a request asks for.
struct ExternalCsr {
    Bytes der;                                ///< the request exactly as signed, DER
    std::shared_ptr<evp_pkey_st> public_key;  ///< its subjectPublicKeyInfo
    std::string subject;                      ///< RFC 4514 text, "" when the subject is empty
    SubjectAltNames sans;                     ///< from its extensionRequest
    std::string template_name;                ///< v1 template name extension, "" when absent
    TemplateId template_id;                   ///< v2 template extension, oid "" when absent
    std::string signature_algorithm;          ///< "sha256WithRSAEncryption", ...
    std::string pem() const;                  ///< "-----BEGIN CERTIFICATE REQUEST-----..."
};

/// Parses a PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST") or DER PKCS#10 and checks
/// its self-signature. Anything that is not one, or whose signature does not verify, is a usage
/// Error naming `what` (the file name, "the CSR on standard input", "CERTMONGER_CSR").
ExternalCsr read_external_csr(const Bytes& data, std::string_view what);

/// The request `csr_der` again, with attribute 1.3.6.1.4.1.311.13.1 (the DER of
/// `renewal_certificate`, which AD CS looks for inside the PKCS#10 of a signed renewal,
/// MS-WCCE 3.1.1.4.3.2.1) added and signed with `key`, which must be the request's own key (else
/// a usage Error), using digest `hash` ("SHA256", ...), RSASSA-PSS when `rsa_pss`.
Bytes add_renewal_certificate(const Bytes& csr_der, const Certificate& renewal_certificate,
                              evp_pkey_st* key, std::string_view hash, bool rsa_pss = false);

/// The subjectPublicKeyInfo of `key` as PEM ("-----BEGIN PUBLIC KEY-----"), and back; a
/// malformed one is a local Error naming `what`.
std::string public_key_pem(evp_pkey_st* key);
std::shared_ptr<evp_pkey_st> public_key_from_pem(std::string_view pem, std::string_view what);

}  // namespace certenroll::crypto
