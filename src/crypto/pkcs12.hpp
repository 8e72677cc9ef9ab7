#pragma once
/// PKCS#12 (PFX) files: what Windows and most servers import a key with its chain from.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/certificate.hpp"
#include "encoding/base64.hpp"

struct evp_pkey_st;

namespace certenroll::crypto {

/// How a PFX is protected.
enum class PfxEncryption {
    /// AES-256-CBC under PBKDF2-HMAC-SHA256, HMAC-SHA256 MAC (OpenSSL 3 defaults, set
    /// explicitly).
    Aes256,
    /// pbeWithSHAAnd3-KeyTripleDES-CBC for key and certificates, HMAC-SHA1 MAC: weaker, for
    /// importers that cannot read the above (Windows Server 2016 and older, older Java and
    /// appliances). Opt-in only (--pfx-legacy).
    Legacy3Des,
};

/// A DER PFX holding `key`, `cert` (with `friendly_name`) and `chain`, protected as
/// `encryption` says. The key must be exportable: provider keys on a token or TPM are a local
/// Error.
encoding::Bytes build_pfx(evp_pkey_st* key, const Certificate& cert,
                          const std::vector<Certificate>& chain, std::string_view password,
                          std::string_view friendly_name,
                          PfxEncryption encryption = PfxEncryption::Aes256);

/// What a PFX holds.
struct PfxContents {
    std::shared_ptr<evp_pkey_st> key;
    std::optional<Certificate> certificate;
    std::vector<Certificate> chain;
    std::string friendly_name;  ///< of the certificate, "" when none
};

/// Opens a DER PFX; a wrong password is a usage Error, a malformed file a local Error.
PfxContents read_pfx(const encoding::Bytes& der, std::string_view password);

}  // namespace certenroll::crypto
