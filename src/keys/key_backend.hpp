#pragma once
/// Where private keys live: the KeyBackend interface (software files today; PKCS#11 tokens and
/// TPMs fit behind it), key specifications, and the Key handle that signing code uses.

#include <memory>
#include <string>
#include <string_view>

// OpenSSL's key type, forward-declared so this header stays free of OpenSSL includes.
struct evp_pkey_st;

namespace certenroll::keys {

/// Public-key algorithm families that AD CS templates ask for. ML-DSA (FIPS 204) needs a build
/// against OpenSSL 3.5 or later (crypto/features.hpp).
enum class KeyAlgorithm { Rsa, Ec, MlDsa };

/// The key to create: algorithm, size or curve, and a backend-specific label (token object
/// label, for instance).
struct KeySpec {
    KeyAlgorithm algorithm = KeyAlgorithm::Rsa;
    int rsa_bits = 2048;
    std::string ec_curve = "P-256";  ///< "P-256", "P-384" or "P-521"
    int ml_dsa_level = 65;           ///< ML-DSA parameter set: 44, 65 or 87
    std::string label;
};

/// Parses "rsa", "rsa:3072", "rsa4096", "ec", "ec:P-384", "ecdsa-p256", "p521", "ml-dsa-65"...
/// RSA must be 2048..8192 bits (a multiple of 8), EC one of P-256/P-384/P-521, ML-DSA one of
/// 44/65/87; anything else is a usage Error. (Whether this build can make ML-DSA keys is decided
/// where keys are made, so that the refusal names the OpenSSL version needed.)
KeySpec parse_key_type(std::string_view text);

/// "RSA 3072", "EC P-256", "ML-DSA-65".
std::string describe(const KeySpec& spec);

/// OpenSSL's algorithm name of an ML-DSA spec: "ML-DSA-65".
std::string ml_dsa_name(int level);

/// A usage Error when this build cannot make or use `spec`'s keys (ML-DSA before OpenSSL 3.5),
/// naming the algorithm and the OpenSSL version it needs.
void require_buildable(const KeySpec& spec);

/// The algorithm and size/curve of an existing key, for policy checks (label left empty).
/// Throws a local Error for algorithms other than RSA and EC.
KeySpec spec_of(evp_pkey_st* key);

/// A private key held by a backend; copies share the key.
class Key {
  public:
    /// `key` must not be null; `backend` is the backend's name(); `reference` may be empty.
    Key(std::shared_ptr<evp_pkey_st> key, std::string backend, std::string reference);

    /// For signing, TLS and PFX; owned by this Key.
    evp_pkey_st* get() const { return key_.get(); }
    std::shared_ptr<evp_pkey_st> shared() const { return key_; }
    /// Where the key lives: file path, pkcs11: URI or TPM blob path; "" until it is stored.
    const std::string& reference() const { return reference_; }
    std::string_view backend() const { return backend_; }
    /// The same key with its storage reference set (after the caller has stored it).
    Key with_reference(std::string reference) const;

    KeyAlgorithm algorithm() const { return spec_.algorithm; }
    /// Modulus bits for RSA, field bits for EC (256, 384, 521), OpenSSL's figure for ML-DSA.
    int bits() const { return bits_; }
    /// "P-256" ... for EC keys, "" for RSA.
    std::string curve() const;
    /// The whole spec (algorithm and size, curve or parameter set).
    const KeySpec& spec() const { return spec_; }

  private:
    std::shared_ptr<evp_pkey_st> key_;
    std::string backend_;
    std::string reference_;
    KeySpec spec_;
    int bits_ = 0;
};

/// A place keys are created in and loaded from.
class KeyBackend {
  public:
    virtual ~KeyBackend();
    /// Stable name stored in state files: "software", "pkcs11", "tpm".
    virtual std::string_view name() const = 0;
    /// Creates a key. Backends that store keys themselves (tokens) set the reference; the
    /// software backend returns an in-memory key with an empty reference.
    virtual Key generate(const KeySpec& spec) = 0;
    /// Loads the key a reference names (file path, pkcs11: URI, TPM blob path).
    virtual Key load(const std::string& reference) = 0;
};

}  // namespace certenroll::keys
