#pragma once
/// A PKCS#10 request made elsewhere (an appliance, a load balancer, another team): read, its
/// signature checked, and the facts a template decides on taken out of it.

#include <memory>
#include <string>
#include <string_view>

#include "crypto/certificate.hpp"
#include "crypto/csr.hpp"
#include "encoding/base64.hpp"

struct evp_pkey_st;

namespace certenroll::crypto {

/// What a request asks for.
struct CsrFile {
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
/// Error naming `what` (the file name, or "the CSR on standard input").
CsrFile read_csr(const Bytes& data, std::string_view what);

/// The subjectPublicKeyInfo of `key` as PEM ("-----BEGIN PUBLIC KEY-----"), and back; a
/// malformed one is a local Error naming `what`.
std::string public_key_pem(evp_pkey_st* key);
std::shared_ptr<evp_pkey_st> public_key_from_pem(std::string_view pem, std::string_view what);

}  // namespace certenroll::crypto
