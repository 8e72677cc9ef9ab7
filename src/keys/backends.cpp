#include "keys/backends.hpp"

#include <fstream>
#include <sstream>

#include "error.hpp"
#include "keys/pkcs11_uri.hpp"
#include "keys/software_key.hpp"

namespace certenroll::keys {

namespace {

// A TPM key file is recognised by its PEM label; only the first bytes are read.
bool is_tpm_key_file(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    std::string head(64, '\0');
    file.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(file.gcount()));
    return is_tpm_key_pem(head);
}

}  // namespace

std::string_view checked_backend_name(std::string_view name) {
    if (name == "software" || name == "pkcs11" || name == "tpm")
        return name;
    throw Error(ErrorKind::Usage, "unknown key backend '" + std::string(name) + "'",
                "use --key-backend software, pkcs11 or tpm");
}

bool is_hardware_backend(std::string_view name) {
    return name == "pkcs11" || name == "tpm";
}

KeyBackends::KeyBackends(DeviceSettings devices) : devices_(std::move(devices)) {}

KeyBackends::~KeyBackends() = default;

Pkcs11KeyBackend& KeyBackends::pkcs11() {
    if (!pkcs11_)
        pkcs11_ = std::make_unique<Pkcs11KeyBackend>(devices_.pkcs11);
    return *pkcs11_;
}

TpmKeyBackend& KeyBackends::tpm() {
    if (!tpm_)
        tpm_ = std::make_unique<TpmKeyBackend>(devices_.tpm);
    return *tpm_;
}

Key KeyBackends::generate(std::string_view backend, const KeySpec& spec) {
    const std::string_view name = checked_backend_name(backend);
    if (name == "pkcs11")
        return pkcs11().generate(spec);
    if (name == "tpm")
        return tpm().generate(spec);
    return SoftwareKeyBackend().generate(spec);
}

Key KeyBackends::load(const std::string& reference, const std::string& passphrase) {
    if (is_pkcs11_uri(reference))
        return pkcs11().load(reference);
    if (is_tpm_key_file(reference))
        return tpm().load(reference);
    return SoftwareKeyBackend(passphrase).load(reference);
}

std::optional<std::string> KeyBackends::key_file_content(const Key& key,
                                                         const std::string& passphrase) {
    if (key.backend() == "pkcs11")
        return std::nullopt;
    if (key.backend() == "tpm")
        return tpm_key_to_pem(key.get());
    return private_key_to_pem(key.get(), passphrase);
}

TokenProbe KeyBackends::probe_token(const KeySpec& spec) {
    return pkcs11().probe(spec);
}

std::string KeyBackends::tpm_tcti() const {
    return TpmKeyBackend(devices_.tpm).tcti();
}

void KeyBackends::store_on_token(const Key& key, x509_st* certificate) {
    if (key.backend() != "pkcs11") {
        throw Error(ErrorKind::Usage, "--store-on-token needs a key on a PKCS#11 token",
                    "use --key-backend pkcs11");
    }
    pkcs11().store_certificate(key.reference(), certificate);
}

}  // namespace certenroll::keys
