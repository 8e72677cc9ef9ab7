#pragma once
/// Certificates carried in a PKCS#7 / CMS SignedData: CES responses and certificate bundles.

#include <string>
#include <vector>

#include "crypto/certificate.hpp"
#include "encoding/base64.hpp"

namespace certenroll::crypto {

/// The `certificates` of a DER SignedData, in their stored order. Works for a certs-only
/// (degenerate) PKCS#7 and for a CMC Full PKI Response, whose eContent and signerInfos are
/// ignored. Anything that is not a SignedData throws a protocol Error.
std::vector<Certificate> certificates_from_pkcs7(const encoding::Bytes& der);

/// A certs-only ("degenerate") PKCS#7 SignedData holding `certificates` in this order, no
/// content and no signers: the .p7b/.p7c chain file Windows, Java keytool and appliances import.
encoding::Bytes certs_only_pkcs7_der(const std::vector<Certificate>& certificates);
/// The same as PEM ("-----BEGIN PKCS7-----", the label OpenSSL and Windows read).
std::string certs_only_pkcs7_pem(const std::vector<Certificate>& certificates);

}  // namespace certenroll::crypto
