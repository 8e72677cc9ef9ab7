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
encoding::Bytes sign_renewal_request(const encoding::Bytes& csr_der, const Certificate& old_cert,
                                     evp_pkey_st* old_key, std::string_view hash);

}  // namespace certenroll::crypto
