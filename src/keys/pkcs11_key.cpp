#include "keys/pkcs11_key.hpp"

#include <libp11.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <p11-kit/pkcs11.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

#include "error.hpp"
#include "keys/pkcs11_uri.hpp"
#include "platform/platform.hpp"

namespace certenroll::keys {

namespace {

// Where Debian and others install p11-kit's proxy module, which offers every registered token.
const char* const proxy_modules[] = {"/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so",
                                     "/usr/lib/aarch64-linux-gnu/p11-kit-proxy.so",
                                     "/usr/lib64/p11-kit-proxy.so", "/usr/lib/p11-kit-proxy.so",
                                     "/opt/homebrew/lib/p11-kit-proxy.so"};

std::string module_hint() {
    return "pass the token's module with --pkcs11-module (e.g. /usr/lib/softhsm/libsofthsm2.so, "
           "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so)";
}

std::string trimmed(const char* text) {
    std::string value = text ? text : "";
    while (!value.empty() && value.back() == ' ')
        value.pop_back();
    return value;
}

// libp11 queues CKR_* codes as OpenSSL errors; the last one says what the token answered.
unsigned long last_ckr() {
    const unsigned long code = ERR_peek_last_error();
    ERR_clear_error();
    return code == 0 ? 0 : static_cast<unsigned long>(ERR_GET_REASON(code));
}

// DER OBJECT IDENTIFIERs of the named curves, as CKA_EC_PARAMS wants them.
std::vector<CK_BYTE> ec_params(const std::string& curve) {
    if (curve == "P-256")
        return {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    if (curve == "P-384")
        return {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
    if (curve == "P-521")
        return {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
    throw Error(ErrorKind::Usage, "unsupported EC curve '" + curve + "'",
                "use ec:P-256, ec:P-384 or ec:P-521");
}

SecretString pin_from_file(const std::string& path) {
    std::ifstream in(path);
    SecretString pin;
    pin.reserve(256);  // a PIN grows in place: no shorter buffer left behind uncleansed
    if (!in || !std::getline(in, static_cast<std::string&>(pin))) {
        throw Error(ErrorKind::Usage, "cannot read the PIN file " + path,
                    "check the pin-source of the URI");
    }
    if (!pin.empty() && pin.back() == '\r')
        pin.pop_back();
    return pin;
}

}  // namespace

struct Pkcs11KeyBackend::Module {
    std::string path;
    std::optional<platform::SharedLibrary> library;
    CK_FUNCTION_LIST_PTR functions = nullptr;
    PKCS11_CTX* context = nullptr;
    PKCS11_SLOT* slots = nullptr;
    unsigned int slot_count = 0;

    ~Module() {
        if (slots)
            PKCS11_release_all_slots(context, slots, slot_count);
        if (context) {
            PKCS11_CTX_unload(context);
            PKCS11_CTX_free(context);
        }
    }

    std::string token_list() const {
        std::string list;
        for (unsigned int i = 0; i < slot_count; ++i) {
            if (slots[i].token && slots[i].token->initialized)
                list += (list.empty() ? "" : ", ") + trimmed(slots[i].token->label);
        }
        return list.empty() ? "none" : list;
    }

    PKCS11_SLOT& find_slot(const Pkcs11Uri& uri) const {
        PKCS11_SLOT* found = nullptr;
        int matches = 0;
        for (unsigned int i = 0; i < slot_count; ++i) {
            const PKCS11_TOKEN* token = slots[i].token;
            if (!token || !token->initialized)
                continue;
            if ((!uri.token.empty() && trimmed(token->label) != uri.token) ||
                (!uri.manufacturer.empty() && trimmed(token->manufacturer) != uri.manufacturer) ||
                (!uri.serial.empty() && trimmed(token->serialnr) != uri.serial) ||
                (!uri.model.empty() && trimmed(token->model) != uri.model))
                continue;
            if (!found)
                found = &slots[i];
            ++matches;
        }
        if (!found) {
            throw Error(ErrorKind::Local,
                        "no token " +
                            (uri.token.empty() ? std::string("is present")
                                               : "labelled '" + uri.token + "'") +
                            " in " + path + " (tokens: " + token_list() + ")",
                        "insert the token, or name one with pkcs11:token=LABEL");
        }
        if (matches > 1 && uri.token.empty() && uri.serial.empty()) {
            throw Error(ErrorKind::Usage, "several tokens are present (" + token_list() + ")",
                        "name one: --pkcs11-token pkcs11:token=LABEL");
        }
        return *found;
    }
};

Pkcs11KeyBackend::Pkcs11KeyBackend(Pkcs11Settings settings) : settings_(std::move(settings)) {}

Pkcs11KeyBackend::~Pkcs11KeyBackend() = default;

Pkcs11KeyBackend::Module& Pkcs11KeyBackend::open(const std::string& uri_module) {
    std::string path = !settings_.module.empty() ? settings_.module : uri_module;
    if (path.empty()) {
        for (const char* candidate : proxy_modules) {
            if (std::filesystem::exists(candidate)) {
                path = candidate;
                break;
            }
        }
    }
    if (path.empty()) {
        throw Error(ErrorKind::Usage,
                    "no PKCS#11 module given and p11-kit's proxy is not installed", module_hint());
    }
    if (module_) {
        if (module_->path != path) {
            throw Error(ErrorKind::Usage,
                        "keys from two PKCS#11 modules (" + module_->path + ", " + path + ")",
                        "use one module per run");
        }
        return *module_;
    }
    auto module = std::make_shared<Module>();
    module->path = path;
    module->library = platform::SharedLibrary::open(path);
    CK_C_GetFunctionList get_functions =
        module->library
            ? reinterpret_cast<CK_C_GetFunctionList>(module->library->function("C_GetFunctionList"))
            : nullptr;
    if (!get_functions || get_functions(&module->functions) != CKR_OK) {
        throw Error(ErrorKind::Local, "cannot load the PKCS#11 module " + path, module_hint());
    }
    module->context = PKCS11_CTX_new();
    if (!module->context || PKCS11_CTX_load(module->context, path.c_str()) != 0 ||
        PKCS11_enumerate_slots(module->context, &module->slots, &module->slot_count) != 0) {
        ERR_clear_error();
        throw Error(ErrorKind::Local, "the PKCS#11 module " + path + " does not start",
                    "check the module's own configuration (e.g. SOFTHSM2_CONF) and the token");
    }
    module_ = std::move(module);
    return *module_;
}

namespace {

void login(PKCS11_SLOT& slot, const Pkcs11Uri& uri,
           const std::function<SecretString(const std::string&)>& ask_pin) {
    const std::string label = trimmed(slot.token->label);
    int logged_in = 0;
    if (!slot.token->loginRequired ||
        (PKCS11_is_logged_in(&slot, 0, &logged_in) == 0 && logged_in)) {
        return;
    }
    if (uri.pin_source.empty() && !ask_pin) {
        throw Error(ErrorKind::Usage, "token '" + label + "' needs its PIN",
                    "pass --pin-file FILE or set CERTENROLL_PKCS11_PIN");
    }
    const SecretString pin =
        uri.pin_source.empty() ? ask_pin(label) : pin_from_file(uri.pin_source);
    if (PKCS11_open_session(&slot, 1) != 0 && PKCS11_open_session(&slot, 0) != 0) {
        ERR_clear_error();
        throw Error(ErrorKind::Local, "cannot open a session on token '" + label + "'",
                    "check that the token is present and not in use exclusively");
    }
    if (PKCS11_login(&slot, 0, pin.c_str()) == 0)
        return;
    switch (last_ckr()) {
        case CKR_PIN_INCORRECT:
            throw Error(ErrorKind::Auth, "the PIN for token '" + label + "' is wrong",
                        "check --pin-file / CERTENROLL_PKCS11_PIN (the token counts failed tries)");
        case CKR_PIN_LOCKED:
            throw Error(ErrorKind::Auth, "the PIN of token '" + label + "' is locked",
                        "unblock it with the security officer PIN");
        default:
            throw Error(ErrorKind::Local, "cannot log in to token '" + label + "'",
                        "check the PIN and the token");
    }
}

// ML-DSA mechanisms arrive with PKCS#11 3.2; libp11 (0.4.12/0.4.13) turns no such token key
// into an EVP_PKEY, so nothing could sign with one. Refused before the token is opened.
void refuse_ml_dsa(const KeySpec& spec) {
    if (spec.algorithm == KeyAlgorithm::MlDsa) {
        throw Error(ErrorKind::Usage,
                    describe(spec) +
                        " keys on a PKCS#11 token are not supported (libp11 has no "
                        "ML-DSA keys)",
                    "use --key-backend software for ML-DSA, or an RSA or ECDSA template");
    }
}

// The key size in bits that generating `spec` asks of the token; a usage Error when the token
// has no mechanism for it or refuses that size.
CK_ULONG require_mechanism(CK_FUNCTION_LIST_PTR functions, CK_SLOT_ID slot_id, const KeySpec& spec,
                           const std::string& token_label) {
    refuse_ml_dsa(spec);
    const bool rsa = spec.algorithm == KeyAlgorithm::Rsa;
    const CK_MECHANISM_TYPE mechanism = rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN;
    CK_MECHANISM_INFO info{};
    const CK_ULONG bits = rsa ? static_cast<CK_ULONG>(spec.rsa_bits)
                              : (spec.ec_curve == "P-256"   ? 256
                                 : spec.ec_curve == "P-384" ? 384
                                                            : 521);
    if (functions->C_GetMechanismInfo(slot_id, mechanism, &info) != CKR_OK) {
        throw Error(ErrorKind::Usage,
                    "token '" + token_label + "' cannot generate " + describe(spec) + " keys",
                    "choose a key type the token supports (pkcs11-tool --list-mechanisms)");
    }
    if ((info.ulMinKeySize != 0 && bits < info.ulMinKeySize) ||
        (info.ulMaxKeySize != 0 && bits > info.ulMaxKeySize)) {
        throw Error(ErrorKind::Usage,
                    "token '" + token_label + "' cannot generate " + describe(spec) +
                        " keys (it supports " + std::to_string(info.ulMinKeySize) + " to " +
                        std::to_string(info.ulMaxKeySize) + " bits)",
                    "choose a key size the token supports, or another token");
    }
    return bits;
}

// A memory figure worth reporting: not "unavailable", and not 0, which PKCS#11 defines as
// CK_EFFECTIVELY_INFINITE (SoftHSM reports it), not as a full token.
std::optional<unsigned long> known_size(CK_ULONG value) {
    if (value == CK_UNAVAILABLE_INFORMATION || value == 0)
        return std::nullopt;
    return static_cast<unsigned long>(value);
}

bool same_id(const PKCS11_KEY& key, const encoding::Bytes& id) {
    return key.id_len == id.size() && std::equal(id.begin(), id.end(), key.id);
}

}  // namespace

Key Pkcs11KeyBackend::generate(const KeySpec& spec) {
    refuse_ml_dsa(spec);
    const Pkcs11Uri where =
        settings_.token_uri.empty() ? Pkcs11Uri{} : parse_pkcs11_uri(settings_.token_uri);
    Module& module = open(where.module_path);
    PKCS11_SLOT& slot = module.find_slot(where);
    const std::string token_label = trimmed(slot.token->label);
    login(slot, where, settings_.pin);

    const bool rsa = spec.algorithm == KeyAlgorithm::Rsa;
    const CK_SLOT_ID slot_id = PKCS11_get_slotid_from_slot(&slot);
    CK_MECHANISM mechanism{rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, nullptr, 0};
    // Refuse before generating (and before any request) what the token cannot make.
    const CK_ULONG bits = require_mechanism(module.functions, slot_id, spec, token_label);

    encoding::Bytes id(16);
    if (RAND_bytes(id.data(), static_cast<int>(id.size())) != 1)
        throw Error(ErrorKind::Internal, "no randomness for a key ID", "");
    std::string label = spec.label.empty() ? "certenroll" : spec.label;
    CK_BBOOL yes = CK_TRUE;
    CK_BBOOL no = CK_FALSE;
    CK_ULONG modulus_bits = bits;
    CK_BYTE exponent[] = {0x01, 0x00, 0x01};
    std::vector<CK_BYTE> params = rsa ? std::vector<CK_BYTE>() : ec_params(spec.ec_curve);
    std::vector<CK_ATTRIBUTE> public_template = {
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_VERIFY, &yes, sizeof(yes)},
        {CKA_LABEL, label.data(), label.size()},
        {CKA_ID, id.data(), id.size()},
    };
    if (rsa) {
        public_template.push_back({CKA_MODULUS_BITS, &modulus_bits, sizeof(modulus_bits)});
        public_template.push_back({CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent)});
    } else {
        public_template.push_back({CKA_EC_PARAMS, params.data(), params.size()});
    }
    // Sensitive and not extractable: the private key can never be read off the token.
    std::vector<CK_ATTRIBUTE> private_template = {
        {CKA_TOKEN, &yes, sizeof(yes)},     {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)}, {CKA_EXTRACTABLE, &no, sizeof(no)},
        {CKA_SIGN, &yes, sizeof(yes)},      {CKA_LABEL, label.data(), label.size()},
        {CKA_ID, id.data(), id.size()},
    };
    CK_SESSION_HANDLE session = 0;
    CK_RV rv = module.functions->C_OpenSession(slot_id, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                               nullptr, nullptr, &session);
    CK_OBJECT_HANDLE public_key = 0;
    CK_OBJECT_HANDLE private_key = 0;
    if (rv == CKR_OK) {
        rv = module.functions->C_GenerateKeyPair(
            session, &mechanism, public_template.data(),
            static_cast<CK_ULONG>(public_template.size()), private_template.data(),
            static_cast<CK_ULONG>(private_template.size()), &public_key, &private_key);
        module.functions->C_CloseSession(session);
    }
    if (rv != CKR_OK) {
        throw Error(
            ErrorKind::Local,
            "token '" + token_label + "' failed to generate a " + describe(spec) + " key (CKR 0x" +
                [rv] {
                    char hex[17];
                    std::snprintf(hex, sizeof(hex), "%lx", static_cast<unsigned long>(rv));
                    return std::string(hex);
                }() +
                ")",
            "check that the token is writable and has room; pkcs11-tool --list-objects");
    }
    Pkcs11Uri key_uri;
    key_uri.token = token_label;
    key_uri.object = label;
    key_uri.id = id;
    key_uri.type = "private";
    key_uri.module_path = where.module_path;
    key_uri.pin_source = where.pin_source;
    return load(key_uri.to_string());
}

Key Pkcs11KeyBackend::load(const std::string& reference) {
    const Pkcs11Uri uri = parse_pkcs11_uri(reference);
    if (uri.object.empty() && !uri.id) {
        throw Error(ErrorKind::Usage, "the PKCS#11 URI " + reference + " names no key",
                    "add object=LABEL and/or id=%.. (pkcs11-tool --list-objects)");
    }
    Module& module = open(uri.module_path);
    PKCS11_SLOT& slot = module.find_slot(uri);
    login(slot, uri, settings_.pin);
    PKCS11_KEY* keys = nullptr;
    unsigned int count = 0;
    if (PKCS11_enumerate_keys(slot.token, &keys, &count) != 0) {
        ERR_clear_error();
        throw Error(ErrorKind::Local,
                    "cannot list the keys on token '" + trimmed(slot.token->label) + "'",
                    "check the token and the PIN");
    }
    for (unsigned int i = 0; i < count; ++i) {
        PKCS11_KEY& key = keys[i];
        if (!key.isPrivate || (!uri.object.empty() && trimmed(key.label) != uri.object) ||
            (uri.id && !same_id(key, *uri.id)))
            continue;
        EVP_PKEY* pkey = PKCS11_get_private_key(&key);
        if (!pkey)
            break;
        // The key object is only valid while the module is loaded: every Key keeps it alive.
        std::shared_ptr<Module> keep = module_;
        std::shared_ptr<EVP_PKEY> owned(pkey, [keep](EVP_PKEY* p) { EVP_PKEY_free(p); });
        Pkcs11Uri canonical = uri;
        canonical.object = trimmed(key.label);
        canonical.id = encoding::Bytes(key.id, key.id + key.id_len);
        canonical.token = trimmed(slot.token->label);
        canonical.type = "private";
        return Key(std::move(owned), std::string(name()), canonical.to_string());
    }
    ERR_clear_error();
    throw Error(
        ErrorKind::Local,
        "no private key matching " + reference + " on token '" + trimmed(slot.token->label) + "'",
        "check object= and id= against pkcs11-tool --list-objects --login");
}

TokenProbe Pkcs11KeyBackend::probe(const KeySpec& spec) {
    const Pkcs11Uri where =
        settings_.token_uri.empty() ? Pkcs11Uri{} : parse_pkcs11_uri(settings_.token_uri);
    Module& module = open(where.module_path);
    PKCS11_SLOT& slot = module.find_slot(where);
    TokenProbe found;
    found.module = module.path;
    found.label = trimmed(slot.token->label);
    found.manufacturer = trimmed(slot.token->manufacturer);
    found.model = trimmed(slot.token->model);
    found.serial = trimmed(slot.token->serialnr);
    const CK_SLOT_ID slot_id = PKCS11_get_slotid_from_slot(&slot);
    CK_TOKEN_INFO info{};
    if (module.functions->C_GetTokenInfo(slot_id, &info) == CKR_OK) {
        found.free_private_memory = known_size(info.ulFreePrivateMemory);
        found.free_public_memory = known_size(info.ulFreePublicMemory);
    }
    require_mechanism(module.functions, slot_id, spec, found.label);
    if (!slot.token->loginRequired) {
        found.login = TokenProbe::Login::NotRequired;
    } else if (where.pin_source.empty() && !settings_.pin) {
        found.login = TokenProbe::Login::NoPin;
    } else {
        login(slot, where, settings_.pin);
        found.login = TokenProbe::Login::LoggedIn;
    }
    return found;
}

void Pkcs11KeyBackend::store_certificate(const std::string& key_uri, x509_st* certificate) {
    const Pkcs11Uri uri = parse_pkcs11_uri(key_uri);
    Module& module = open(uri.module_path);
    PKCS11_SLOT& slot = module.find_slot(uri);
    login(slot, uri, settings_.pin);
    std::string label = uri.object;
    encoding::Bytes id = uri.id.value_or(encoding::Bytes{});
    if (PKCS11_store_certificate(slot.token, certificate, label.empty() ? nullptr : label.data(),
                                 id.empty() ? nullptr : id.data(), id.size(), nullptr) != 0) {
        ERR_clear_error();
        throw Error(ErrorKind::Local,
                    "cannot store the certificate on token '" + trimmed(slot.token->label) + "'",
                    "the certificate files were written; check that the token has room");
    }
}

}  // namespace certenroll::keys
