#pragma once
/// PKCS#10 requests made by another program (certmonger, an HSM tool, a user's openssl): read
/// and checked before they are sent, and, for an AD CS renewal, given the renewal-certificate
/// attribute and signed again with the key they are for.

#include <memory>
#include <string>
#include <string_view>

#include "crypto/certificate.hpp"
#include "encoding/base64.hpp"

struct evp_pkey_st;

namespace certenroll::crypto {

/// A request made elsewhere, decoded.
struct ExternalCsr {
    encoding::Bytes der;
    std::shared_ptr<evp_pkey_st> public_key;  ///< the key the certificate will be for
    std::string subject;                      ///< RFC 4514; empty when the request has none
};

/// Reads a PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST") or DER PKCS#10 and checks
/// its self-signature; anything else is a usage Error naming `what`.
ExternalCsr read_external_csr(std::string_view pem_or_der, std::string_view what);

/// The request `csr_der` again, with attribute 1.3.6.1.4.1.311.13.1 (the DER of
/// `renewal_certificate`, which AD CS looks for inside the PKCS#10 of a signed renewal) added
/// and signed with `key`, which must be the request's own key (else a usage Error), using
/// digest `hash` ("SHA256", ...).
encoding::Bytes add_renewal_certificate(const encoding::Bytes& csr_der,
                                        const Certificate& renewal_certificate, evp_pkey_st* key,
                                        std::string_view hash);

}  // namespace certenroll::crypto
