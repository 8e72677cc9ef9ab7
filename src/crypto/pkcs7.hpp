#pragma once
/// Certificates carried in a PKCS#7 / CMS SignedData: CES responses and certificate bundles.

#include <vector>

#include "crypto/certificate.hpp"
#include "encoding/base64.hpp"

namespace certenroll::crypto {

/// The `certificates` of a DER SignedData, in their stored order. Works for a certs-only
/// (degenerate) PKCS#7 and for a CMC Full PKI Response, whose eContent and signerInfos are
/// ignored. Anything that is not a SignedData throws a protocol Error.
std::vector<Certificate> certificates_from_pkcs7(const encoding::Bytes& der);

}  // namespace certenroll::crypto
