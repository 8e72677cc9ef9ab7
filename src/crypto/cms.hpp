#pragma once
/// CMS signing for key-based renewal (MS-WSTEP §3.1.1.1.4, protocol.md §2.3).

#include <string_view>

#include "crypto/certificate.hpp"
#include "encoding/base64.hpp"

struct evp_pkey_st;

namespace certenroll::crypto {

/// A DER CMS SignedData whose eContent (id-data, not detached) is `csr_der`, carrying `old_cert`
/// and one SignerInfo by issuerAndSerialNumber made with `old_key` using digest `hash`
/// ("SHA256", ...), without signed attributes like the MS-WSTEP renewal example. `old_key` may be a
/// provider key. A key that does not belong to `old_cert` is a usage Error.
/// An ML-DSA `old_key` signs as RFC 9882 says: digestAlgorithm SHA-512, signatureAlgorithm
/// id-ml-dsa-* without parameters; with signed attributes (contentType, signingTime,
/// messageDigest), the only form OpenSSL 3.5 signs and verifies for ML-DSA (crypto/cms.cpp).
/// `rsa_pss`: an RSA `old_key` signs with RSASSA-PSS (RFC 4056) instead of PKCS#1 v1.5.
encoding::Bytes sign_renewal_request(const encoding::Bytes& csr_der, const Certificate& old_cert,
                                     evp_pkey_st* old_key, std::string_view hash,
                                     bool rsa_pss = false);

}  // namespace certenroll::crypto
