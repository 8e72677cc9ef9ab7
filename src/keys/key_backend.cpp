#include "keys/key_backend.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <utility>

#include "crypto/features.hpp"
#include "crypto/ossl.hpp"
#include "error.hpp"

namespace certenroll::keys {

namespace {

constexpr const char* kKeyTypeHint =
    "use rsa, rsa:3072, rsa:4096, ec (P-256), ec:P-384, ec:P-521 or ml-dsa-44/65/87";

// Every spelling of the three NIST curves seen in OpenSSL, Windows and user input.
constexpr std::array<std::pair<std::string_view, std::string_view>, 12> kCurves{{
    {"p256", "P-256"},
    {"secp256r1", "P-256"},
    {"prime256v1", "P-256"},
    {"nistp256", "P-256"},
    {"p384", "P-384"},
    {"secp384r1", "P-384"},
    {"nistp384", "P-384"},
    {"ansip384r1", "P-384"},
    {"p521", "P-521"},
    {"secp521r1", "P-521"},
    {"nistp521", "P-521"},
    {"ansip521r1", "P-521"},
}};

std::string lower_without_dashes(std::string_view text) {
    std::string out;
    for (const char c : text) {
        if (c != '-' && c != '_') {
            out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
    }
    return out;
}

// "P-384" for any spelling of a supported curve, "" otherwise.
std::string canonical_curve(std::string_view name) {
    const std::string key = lower_without_dashes(name);
    for (const auto& [spelling, canonical] : kCurves) {
        if (spelling == key) {
            return std::string(canonical);
        }
    }
    return {};
}

[[noreturn]] void bad_key_type(std::string_view text, const std::string& why) {
    throw Error(ErrorKind::Usage, "bad key type '" + std::string(text) + "': " + why, kKeyTypeHint);
}

std::string_view strip_separator(std::string_view rest) {
    if (!rest.empty() && (rest.front() == ':' || rest.front() == '-' || rest.front() == '_')) {
        rest.remove_prefix(1);
    }
    return rest;
}

}  // namespace

KeySpec parse_key_type(std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string_view rest = lower;
    if (!rest.empty() && (rest.back() == ':' || rest.back() == '-')) {
        bad_key_type(text, "nothing after '" + std::string(1, rest.back()) + "'");
    }
    KeySpec spec;
    if (rest.starts_with("ml-dsa") || rest.starts_with("mldsa") || rest.starts_with("ml_dsa")) {
        rest = strip_separator(rest.substr(rest.starts_with("mldsa") ? 5 : 6));
        spec.algorithm = KeyAlgorithm::MlDsa;
        if (rest == "44" || rest == "65" || rest == "87") {
            spec.ml_dsa_level = rest == "44" ? 44 : rest == "65" ? 65 : 87;
            return spec;
        }
        bad_key_type(text, "ML-DSA comes as ml-dsa-44, ml-dsa-65 or ml-dsa-87");
    }
    if (rest.starts_with("rsa")) {
        rest = strip_separator(rest.substr(3));
        if (rest.empty()) {
            return spec;
        }
        int bits = 0;
        const auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), bits);
        if (error != std::errc() || end != rest.data() + rest.size()) {
            bad_key_type(text, "'" + std::string(rest) + "' is not a number of bits");
        }
        if (bits < 2048 || bits > 8192 || bits % 8 != 0) {
            bad_key_type(text, "RSA keys must have 2048 to 8192 bits, a multiple of 8");
        }
        spec.rsa_bits = bits;
        return spec;
    }
    if (rest.starts_with("ecdsa")) {
        rest = strip_separator(rest.substr(5));
    } else if (rest.starts_with("ec")) {
        rest = strip_separator(rest.substr(2));
    } else if (canonical_curve(rest).empty()) {
        bad_key_type(text, "unknown algorithm");
    }
    spec.algorithm = KeyAlgorithm::Ec;
    if (!rest.empty()) {
        spec.ec_curve = canonical_curve(rest);
        if (spec.ec_curve.empty()) {
            bad_key_type(text, "unsupported curve '" + std::string(rest) + "'");
        }
    }
    return spec;
}

std::string describe(const KeySpec& spec) {
    if (spec.algorithm == KeyAlgorithm::Ec) {
        return "EC " + spec.ec_curve;
    }
    if (spec.algorithm == KeyAlgorithm::MlDsa) {
        return ml_dsa_name(spec.ml_dsa_level);
    }
    return "RSA " + std::to_string(spec.rsa_bits);
}

std::string ml_dsa_name(int level) {
    return "ML-DSA-" + std::to_string(level);
}

void require_buildable(const KeySpec& spec) {
    if (spec.algorithm == KeyAlgorithm::MlDsa && !crypto::kHaveMlDsa) {
        throw Error(ErrorKind::Usage,
                    describe(spec) + " keys need " + crypto::kMlDsaMinimumOpenssl +
                        " or later; this certenroll-cli was built with " +
                        crypto::built_openssl_version(),
                    "use a certenroll-cli built against OpenSSL 3.5 or later (Debian 13, Ubuntu "
                    "25.04, RHEL 10), or an RSA or ECDSA template");
    }
}

KeySpec spec_of(EVP_PKEY* key) {
    if (key == nullptr) {
        throw Error(ErrorKind::Internal, "spec_of without a key");
    }
    KeySpec spec;
    if (EVP_PKEY_is_a(key, "RSA")) {
        spec.rsa_bits = EVP_PKEY_get_bits(key);
        return spec;
    }
    if (EVP_PKEY_is_a(key, "EC")) {
        spec.algorithm = KeyAlgorithm::Ec;
        std::array<char, 80> group{};
        std::size_t length = 0;
        if (EVP_PKEY_get_group_name(key, group.data(), group.size(), &length) != 1) {
            crypto::throw_openssl(ErrorKind::Local, "cannot tell the curve of an EC key");
        }
        const std::string name(group.data(), length);
        const std::string canonical = canonical_curve(name);
        spec.ec_curve = canonical.empty() ? name : canonical;
        return spec;
    }
    for (const int level : {44, 65, 87}) {
        if (EVP_PKEY_is_a(key, ml_dsa_name(level).c_str())) {
            spec.algorithm = KeyAlgorithm::MlDsa;
            spec.ml_dsa_level = level;
            return spec;
        }
    }
    const char* type = EVP_PKEY_get0_type_name(key);
    throw Error(ErrorKind::Local,
                "unsupported key algorithm " + std::string(type != nullptr ? type : "(unknown)"),
                "use an RSA, EC (P-256, P-384, P-521) or ML-DSA key");
}

Key::Key(std::shared_ptr<evp_pkey_st> key, std::string backend, std::string reference)
    : key_(std::move(key)), backend_(std::move(backend)), reference_(std::move(reference)) {
    if (!key_) {
        throw Error(ErrorKind::Internal, "a Key without a key");
    }
    spec_ = spec_of(key_.get());
    bits_ = EVP_PKEY_get_bits(key_.get());
}

Key Key::with_reference(std::string reference) const {
    Key copy = *this;
    copy.reference_ = std::move(reference);
    return copy;
}

std::string Key::curve() const {
    return spec_.algorithm == KeyAlgorithm::Ec ? spec_.ec_curve : std::string();
}

KeyBackend::~KeyBackend() = default;

}  // namespace certenroll::keys
