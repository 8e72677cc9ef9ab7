#include "keys/tpm_key.hpp"

#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>

#include "crypto/ossl.hpp"
#include "error.hpp"

namespace certenroll::keys {

namespace {

constexpr std::string_view tss2_pem_header = "-----BEGIN TSS2 PRIVATE KEY-----";
constexpr const char* tpm_only = "provider=tpm2";

std::string tcti_hint() {
    return "check that the TPM is reachable: --tpm-tcti (else TPM2OPENSSL_TCTI) "
           "device:/dev/tpmrm0 (the kernel's resource manager; needs membership of the tss "
           "group), tabrmd (the tpm2-abrmd resource manager) or swtpm:host=...,port=...; "
           "tpm2_getcap properties-fixed tests it";
}

// Loaded once, and only when a TPM key is used: software keys never see the provider. Loading
// any provider explicitly disables the implicit default one, so "default" is loaded too, and
// preferred for everything that does not ask for the TPM (hashing, TLS key exchange).
struct LoadedProviders {
    OSSL_PROVIDER* base = nullptr;
    OSSL_PROVIDER* tpm = nullptr;
};

LoadedProviders& loaded_providers() {
    static LoadedProviders providers;
    return providers;
}

// OSSL_PROVIDER_load() hands out a reference that OpenSSL's own clean-up at exit does not drop:
// without this the providers are never torn down and the TPM's ESYS context is never finalised.
void unload_providers() {
    auto& providers = loaded_providers();
    if (providers.tpm != nullptr)
        OSSL_PROVIDER_unload(providers.tpm);
    if (providers.base != nullptr)
        OSSL_PROVIDER_unload(providers.base);
    providers = {};
}

void load_provider(const std::string& tcti) {
    static std::once_flag once;
    static std::string failure;
    std::call_once(once, [&] {
        if (!tcti.empty())
            setenv("TPM2OPENSSL_TCTI", tcti.c_str(), 1);
        auto& providers = loaded_providers();
        providers.base = OSSL_PROVIDER_load(nullptr, "default");
        providers.tpm = providers.base ? OSSL_PROVIDER_load(nullptr, "tpm2") : nullptr;
        if (providers.tpm == nullptr) {
            unload_providers();
            ERR_clear_error();
            failure = "the tpm2 OpenSSL provider cannot be loaded";
            return;
        }
        // Registered after OpenSSL's own exit handler, so it runs before it (atexit order).
        std::atexit(unload_providers);
        EVP_set_default_properties(nullptr, "?provider=default");
    });
    if (!failure.empty()) {
        throw Error(ErrorKind::Local, failure,
                    "install tpm2-openssl (Debian: apt install tpm2-openssl) and " + tcti_hint());
    }
}

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* key) {
    return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
}

}  // namespace

TpmKeyBackend::TpmKeyBackend(TpmSettings settings) : settings_(std::move(settings)) {}

Key TpmKeyBackend::generate(const KeySpec& spec) {
    if (spec.algorithm == KeyAlgorithm::MlDsa) {
        throw Error(ErrorKind::Usage, "a TPM 2.0 cannot hold " + describe(spec) + " keys",
                    "use --key-backend software for ML-DSA, or an RSA or ECDSA template");
    }
    load_provider(settings_.tcti);
    const bool rsa = spec.algorithm == KeyAlgorithm::Rsa;
    crypto::PkeyCtxPtr context(EVP_PKEY_CTX_new_from_name(nullptr, rsa ? "RSA" : "EC", tpm_only));
    if (!context || EVP_PKEY_keygen_init(context.get()) != 1) {
        crypto::throw_openssl(ErrorKind::Local,
                              "the TPM cannot start " + describe(spec) + " key generation",
                              tcti_hint());
    }
    const bool configured =
        rsa ? EVP_PKEY_CTX_set_rsa_keygen_bits(context.get(), spec.rsa_bits) == 1
            : EVP_PKEY_CTX_set_group_name(context.get(), spec.ec_curve.c_str()) == 1;
    EVP_PKEY* key = nullptr;
    if (!configured || EVP_PKEY_generate(context.get(), &key) != 1) {
        // TPMs commonly offer RSA 2048 (some 3072) and P-256/P-384 only.
        crypto::throw_openssl(ErrorKind::Usage,
                              "the TPM cannot generate a " + describe(spec) + " key",
                              "TPMs usually support rsa:2048 and ec:P-256 (tpm2_getcap "
                              "ecc-curves); choose one of those");
    }
    return Key(own(key), std::string(name()), {});
}

std::string TpmKeyBackend::tcti() const {
    if (!settings_.tcti.empty())
        return settings_.tcti;
    const char* from_environment = std::getenv("TPM2OPENSSL_TCTI");
    return from_environment ? from_environment : "";
}

Key TpmKeyBackend::load(const std::string& reference) {
    load_provider(settings_.tcti);
    std::ifstream file(reference, std::ios::binary);
    std::ostringstream text;
    text << file.rdbuf();
    if (!file) {
        throw Error(ErrorKind::Local, "cannot read the TPM key file " + reference,
                    "check the path and that this user may read it");
    }
    const std::string pem = text.str();
    if (!is_tpm_key_pem(pem)) {
        throw Error(ErrorKind::Usage, reference + " is not a TPM key (TSS2 PRIVATE KEY)",
                    "pass the file written when the key was generated with --key-backend tpm");
    }
    EVP_PKEY* key = nullptr;
    crypto::DecoderCtxPtr decoder(OSSL_DECODER_CTX_new_for_pkey(
        &key, "PEM", nullptr, nullptr, OSSL_KEYMGMT_SELECT_KEYPAIR, nullptr, tpm_only));
    const auto* data = reinterpret_cast<const unsigned char*>(pem.data());
    std::size_t length = pem.size();
    if (!decoder || OSSL_DECODER_from_data(decoder.get(), &data, &length) != 1 || !key) {
        crypto::throw_openssl(ErrorKind::Local,
                              "the TPM cannot load the key " + reference +
                                  " (a TPM key only loads into the TPM that made it)",
                              tcti_hint());
    }
    return Key(own(key), std::string(name()), reference);
}

void route_tls_to_tpm() {
    // libssl (OpenSSL 3.0) fetches its handshake signature with no property query and cannot
    // pass a TPM key to another provider, so the TPM must be the preferred provider for the
    // whole process. Its operations then duplicate contexts in the TPM: that needs a resource
    // manager (the kernel's /dev/tpmrm0 or tpm2-abrmd), which a bare TPM socket does not have.
    // The random generators are instantiated first, from the default provider: the TPM's own
    // is slow and refuses the seeding libssl asks of it.
    unsigned char warm_up[1];
    if (RAND_bytes(warm_up, sizeof warm_up) != 1 || RAND_priv_bytes(warm_up, sizeof warm_up) != 1 ||
        EVP_set_default_properties(nullptr, "?provider=tpm2") != 1)
        crypto::throw_openssl(ErrorKind::Internal, "cannot prefer the TPM for TLS signing");
}

std::string tpm_key_to_pem(EVP_PKEY* key) {
    crypto::EncoderCtxPtr encoder(
        OSSL_ENCODER_CTX_new_for_pkey(key, OSSL_KEYMGMT_SELECT_KEYPAIR, "PEM", nullptr, tpm_only));
    unsigned char* data = nullptr;
    std::size_t size = 0;
    if (!encoder || OSSL_ENCODER_CTX_get_num_encoders(encoder.get()) == 0 ||
        OSSL_ENCODER_to_data(encoder.get(), &data, &size) != 1) {
        crypto::throw_openssl(ErrorKind::Local, "cannot write the TPM key blob");
    }
    std::string pem(reinterpret_cast<const char*>(data), size);
    OPENSSL_free(data);
    return pem;
}

bool is_tpm_key_pem(std::string_view pem) {
    return pem.find(tss2_pem_header) != std::string_view::npos;
}

}  // namespace certenroll::keys
