#pragma once
/// Keys in a TPM 2.0 through the tpm2-openssl provider. The private key is created inside the
/// TPM under its storage hierarchy and only ever leaves it wrapped (a "TSS2 PRIVATE KEY" blob
/// that only this TPM can load); that blob is what the key file holds.

#include <string>
#include <string_view>

#include "keys/key_backend.hpp"

namespace certenroll::keys {

struct TpmSettings {
    /// TPM Command Transmission Interface, e.g. "device:/dev/tpmrm0" or
    /// "swtpm:host=127.0.0.1,port=2321". Empty: $TPM2OPENSSL_TCTI, else the provider's default.
    std::string tcti;
};

class TpmKeyBackend : public KeyBackend {
  public:
    explicit TpmKeyBackend(TpmSettings settings);
    std::string_view name() const override { return "tpm"; }
    /// Creates the key in the TPM; the reference stays empty until the caller has written
    /// tpm_key_to_pem(key) to a file.
    Key generate(const KeySpec& spec) override;
    /// Loads a TSS2 PRIVATE KEY file into the TPM it was made in.
    Key load(const std::string& reference) override;
    /// The TCTI used: the settings', else $TPM2OPENSSL_TCTI; empty for the provider's default.
    std::string tcti() const;

  private:
    TpmSettings settings_;
};

/// Makes the TPM sign TLS handshakes with a TPM client key (call after loading it). The whole
/// process then prefers the TPM; the TCTI must go through a resource manager.
void route_tls_to_tpm();

/// The wrapped key blob as PEM ("-----BEGIN TSS2 PRIVATE KEY-----").
std::string tpm_key_to_pem(evp_pkey_st* key);

/// True when `pem` holds a TSS2 PRIVATE KEY.
bool is_tpm_key_pem(std::string_view pem);

}  // namespace certenroll::keys
