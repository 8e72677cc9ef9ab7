#include "keys/software_key.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "crypto/ossl.hpp"
#include "error.hpp"

namespace certenroll::keys {

namespace {

// Tells the PEM reader's outcome apart: never asked, asked without a passphrase, or asked.
struct PassphraseRequest {
    std::string_view passphrase;
    bool asked = false;
};

int passphrase_callback(char* buffer, int size, int /*rwflag*/, void* user_data) {
    auto* request = static_cast<PassphraseRequest*>(user_data);
    request->asked = true;
    if (request->passphrase.empty() ||
        request->passphrase.size() > static_cast<std::size_t>(size)) {
        return -1;
    }
    std::memcpy(buffer, request->passphrase.data(), request->passphrase.size());
    return static_cast<int>(request->passphrase.size());
}

std::shared_ptr<EVP_PKEY> generate_key(const KeySpec& spec) {
    const bool rsa = spec.algorithm == KeyAlgorithm::Rsa;
    const bool ml_dsa = spec.algorithm == KeyAlgorithm::MlDsa;
    // ML-DSA's parameter set is part of the algorithm name: nothing to configure.
    const std::string algorithm = ml_dsa ? ml_dsa_name(spec.ml_dsa_level) : rsa ? "RSA" : "EC";
    crypto::PkeyCtxPtr context(EVP_PKEY_CTX_new_from_name(nullptr, algorithm.c_str(), nullptr));
    if (!context || EVP_PKEY_keygen_init(context.get()) != 1) {
        crypto::throw_openssl(ErrorKind::Local,
                              "cannot start " + describe(spec) + " key generation");
    }
    const bool configured =
        ml_dsa || (rsa ? EVP_PKEY_CTX_set_rsa_keygen_bits(context.get(), spec.rsa_bits) == 1
                       : EVP_PKEY_CTX_set_group_name(context.get(), spec.ec_curve.c_str()) == 1);
    if (!configured) {
        crypto::throw_openssl(ErrorKind::Usage, "cannot generate a " + describe(spec) + " key",
                              "use rsa:2048..8192 or ec:P-256/P-384/P-521");
    }
    EVP_PKEY* key = nullptr;
    if (EVP_PKEY_generate(context.get(), &key) != 1) {
        crypto::throw_openssl(ErrorKind::Local, describe(spec) + " key generation failed");
    }
    return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
}

}  // namespace

SoftwareKeyBackend::SoftwareKeyBackend(SecretString passphrase)
    : passphrase_(std::move(passphrase)) {}

Key SoftwareKeyBackend::generate(const KeySpec& spec) {
    require_buildable(spec);
    if (spec.algorithm == KeyAlgorithm::Rsa && (spec.rsa_bits < 2048 || spec.rsa_bits > 8192)) {
        throw Error(ErrorKind::Usage,
                    "RSA keys must have 2048 to 8192 bits, not " + std::to_string(spec.rsa_bits),
                    "use rsa:2048, rsa:3072 or rsa:4096");
    }
    if (spec.algorithm == KeyAlgorithm::Ec && spec.ec_curve != "P-256" &&
        spec.ec_curve != "P-384" && spec.ec_curve != "P-521") {
        throw Error(ErrorKind::Usage, "unsupported EC curve '" + spec.ec_curve + "'",
                    "use ec:P-256, ec:P-384 or ec:P-521");
    }
    return Key(generate_key(spec), std::string(name()), {});
}

Key SoftwareKeyBackend::load(const std::string& reference) {
    std::ifstream file(reference, std::ios::binary);
    if (!file) {
        throw Error(ErrorKind::Local,
                    "cannot read key file " + reference + ": " + std::strerror(errno),
                    "check the key path and that this user may read it");
    }
    std::ostringstream pem;
    pem << file.rdbuf();
    if (file.bad()) {
        throw Error(ErrorKind::Local, "cannot read key file " + reference,
                    "check the key path and that this user may read it");
    }
    return Key(private_key_from_pem(pem.str(), passphrase_, "key file " + reference),
               std::string(name()), reference);
}

std::string private_key_to_pem(EVP_PKEY* key, std::string_view passphrase) {
    crypto::EncoderCtxPtr encoder(OSSL_ENCODER_CTX_new_for_pkey(key, OSSL_KEYMGMT_SELECT_KEYPAIR,
                                                                "PEM", "PrivateKeyInfo", nullptr));
    if (!encoder || OSSL_ENCODER_CTX_get_num_encoders(encoder.get()) == 0) {
        crypto::throw_openssl(ErrorKind::Local, "this key cannot be written to a PEM file",
                              "keys on a token or TPM stay there; use their reference instead");
    }
    if (!passphrase.empty() &&
        (OSSL_ENCODER_CTX_set_cipher(encoder.get(), "AES-256-CBC", nullptr) != 1 ||
         OSSL_ENCODER_CTX_set_passphrase(encoder.get(),
                                         reinterpret_cast<const unsigned char*>(passphrase.data()),
                                         passphrase.size()) != 1)) {
        crypto::throw_openssl(ErrorKind::Internal, "cannot set up key encryption");
    }
    unsigned char* data = nullptr;
    std::size_t size = 0;
    if (OSSL_ENCODER_to_data(encoder.get(), &data, &size) != 1) {
        crypto::throw_openssl(ErrorKind::Local, "cannot encode the private key");
    }
    std::string pem(reinterpret_cast<const char*>(data), size);
    OPENSSL_clear_free(data, size);
    return pem;
}

std::shared_ptr<EVP_PKEY> private_key_from_pem(std::string_view pem, std::string_view passphrase,
                                               std::string_view what) {
    const crypto::BioPtr bio = crypto::memory_bio(pem.data(), pem.size());
    PassphraseRequest request{passphrase};
    ERR_clear_error();
    EVP_PKEY* key = PEM_read_bio_PrivateKey_ex(bio.get(), nullptr, passphrase_callback, &request,
                                               nullptr, nullptr);
    if (key != nullptr) {
        ERR_clear_error();
        return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
    }
    ERR_clear_error();
    const std::string name(what);
    if (request.asked && passphrase.empty()) {
        throw Error(
            ErrorKind::Usage, name + " is encrypted and no passphrase was given",
            "give the key's passphrase (--key-passphrase-file, --client-key-passphrase-file)");
    }
    if (request.asked) {
        throw Error(ErrorKind::Usage, "wrong passphrase for " + name,
                    "give the passphrase the key was encrypted with");
    }
    // OpenSSL's reason here ("unsupported") misleads more than it helps.
    throw Error(ErrorKind::Usage, name + " holds no PEM private key",
                "give a PEM file with a -----BEGIN PRIVATE KEY----- block");
}

}  // namespace certenroll::keys
