#pragma once
/// Chooses the key backend: by name for new keys (--key-backend), and by the form of the
/// reference for existing ones (a pkcs11: URI, a TSS2 key file, else a software key file).

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "keys/key_backend.hpp"
#include "keys/pkcs11_key.hpp"
#include "keys/tpm_key.hpp"

struct x509_st;

namespace certenroll::keys {

/// How the hardware backends are reached.
struct DeviceSettings {
    Pkcs11Settings pkcs11;
    TpmSettings tpm;
};

class KeyBackends {
  public:
    explicit KeyBackends(DeviceSettings devices = {});
    ~KeyBackends();
    KeyBackends(const KeyBackends&) = delete;
    KeyBackends& operator=(const KeyBackends&) = delete;

    /// Generates a key in the backend `backend` names ("software", "pkcs11", "tpm").
    Key generate(std::string_view backend, const KeySpec& spec);
    /// Loads the key `reference` names, from the backend its form implies. `passphrase` decrypts
    /// software key files.
    Key load(const std::string& reference, const std::string& passphrase = {});
    /// What the key file holds for `key`: PEM (encrypted when `passphrase` is set) for software
    /// keys, the wrapped blob for TPM keys; nullopt for keys that live on a token.
    std::optional<std::string> key_file_content(const Key& key, const std::string& passphrase);
    /// Stores the certificate next to a token key (same label and ID).
    void store_on_token(const Key& key, x509_st* certificate);
    /// For diagnose: the token generate("pkcs11", spec) would use, checked without creating
    /// anything on it (see Pkcs11KeyBackend::probe).
    TokenProbe probe_token(const KeySpec& spec);
    /// The TCTI the TPM backend uses; empty for the provider's default.
    std::string tpm_tcti() const;

  private:
    DeviceSettings devices_;
    std::unique_ptr<Pkcs11KeyBackend> pkcs11_;
    std::unique_ptr<TpmKeyBackend> tpm_;
    Pkcs11KeyBackend& pkcs11();
    TpmKeyBackend& tpm();
};

/// "software", "pkcs11" or "tpm"; anything else is a usage Error.
std::string_view checked_backend_name(std::string_view name);

/// True for backends whose keys can never be exported (PFX output is impossible with them).
bool is_hardware_backend(std::string_view name);

}  // namespace certenroll::keys
