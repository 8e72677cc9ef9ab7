#pragma once
/// Keys on PKCS#11 tokens (smart cards, HSMs, SoftHSM) through libp11. A key is generated on the
/// token, never leaves it, and is referenced by its PKCS#11 URI; signing happens on the token.

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "keys/key_backend.hpp"
#include "secret.hpp"

struct x509_st;

namespace certenroll::keys {

struct Pkcs11Settings {
    /// The PKCS#11 module (.so). Empty: the URI's module-path, else p11-kit's proxy module, which
    /// offers every token p11-kit knows (OpenSC, SoftHSM, ...).
    std::string module;
    /// Where generate() creates keys: a URI naming the token, e.g. "pkcs11:token=HSM". Empty: the
    /// only initialised token, if there is exactly one.
    std::string token_uri;
    /// The user PIN of a token (by label), asked for only when a login is needed; cleansed from
    /// memory once the login is done (libp11's and the module's copies are outside our reach).
    std::function<SecretString(const std::string& token_label)> pin;
};

/// What probe() found: the token that new keys would be generated on.
struct TokenProbe {
    std::string module;  ///< the module loaded
    std::string label;
    std::string manufacturer;
    std::string model;
    std::string serial;
    /// Free memory for private and public objects, in bytes, when the token tells.
    std::optional<unsigned long> free_private_memory;
    std::optional<unsigned long> free_public_memory;
    enum class Login {
        NotRequired,  ///< the token needs no login
        LoggedIn,     ///< the PIN was available without asking, and the token accepted it
        NoPin,        ///< a login is needed but no PIN is available without a prompt
    };
    Login login = Login::NotRequired;
};

class Pkcs11KeyBackend : public KeyBackend {
  public:
    explicit Pkcs11KeyBackend(Pkcs11Settings settings);
    ~Pkcs11KeyBackend() override;
    Pkcs11KeyBackend(const Pkcs11KeyBackend&) = delete;
    Pkcs11KeyBackend& operator=(const Pkcs11KeyBackend&) = delete;

    std::string_view name() const override { return "pkcs11"; }
    /// Generates a non-extractable key pair on the token, labelled spec.label with a random
    /// CKA_ID; the returned Key's reference is its URI.
    Key generate(const KeySpec& spec) override;
    /// Loads the private key a pkcs11: URI names (object label and/or id on the token).
    Key load(const std::string& reference) override;
    /// Stores `certificate` on the token beside the key `key_uri` names (same label and id).
    void store_certificate(const std::string& key_uri, x509_st* certificate);
    /// Checks, without creating anything on the token, what generate(spec) needs: the module
    /// loads, the token is present, it offers the mechanism for `spec`, and the PIN (from the
    /// URI's pin-source or `settings.pin`, which must not prompt here; leave it empty when no PIN
    /// is at hand) is accepted. Throws the Error generate() would throw.
    TokenProbe probe(const KeySpec& spec);

  private:
    struct Module;
    Pkcs11Settings settings_;
    std::shared_ptr<Module> module_;  // kept alive by every key loaded from it

    Module& open(const std::string& module_path);
};

}  // namespace certenroll::keys
