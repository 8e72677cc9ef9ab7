#include "xcep/policy.hpp"

#include <array>
#include <cstdio>

namespace certenroll::xcep {

namespace {

struct NamedBit {
    std::uint32_t bit;
    std::string_view name;
};

// MS-CRTD §2.27 msPKI-Private-Key-Flag.
constexpr std::array private_key_bits{
    NamedBit{0x00000001, "REQUIRE_PRIVATE_KEY_ARCHIVAL"},
    NamedBit{0x00000010, "EXPORTABLE_KEY"},
    NamedBit{0x00000020, "STRONG_KEY_PROTECTION_REQUIRED"},
    NamedBit{0x00000040, "REQUIRE_ALTERNATE_SIGNATURE_ALGORITHM"},
    NamedBit{0x00000080, "REQUIRE_SAME_KEY_RENEWAL"},
    NamedBit{0x00000100, "USE_LEGACY_PROVIDER"},
    NamedBit{0x00000200, "EK_TRUST_ON_USE"},
    NamedBit{0x00000400, "EK_VALIDATE_CERT"},
    NamedBit{0x00000800, "EK_VALIDATE_KEY"},
    NamedBit{0x00001000, "ATTEST_PREFERRED"},
    NamedBit{0x00002000, "ATTEST_REQUIRED"},
    NamedBit{0x00004000, "ATTESTATION_WITHOUT_POLICY"},
    NamedBit{0x00200000, "HELLO_LOGON_KEY"},
};

// MS-CRTD §2.28 msPKI-Certificate-Name-Flag.
constexpr std::array subject_name_bits{
    NamedBit{0x00000001, "ENROLLEE_SUPPLIES_SUBJECT"},
    NamedBit{0x00000008, "OLD_CERT_SUPPLIES_SUBJECT_AND_ALT_NAME"},
    NamedBit{0x00010000, "ENROLLEE_SUPPLIES_SUBJECT_ALT_NAME"},
    NamedBit{0x00400000, "SUBJECT_ALT_REQUIRE_DOMAIN_DNS"},
    NamedBit{0x00800000, "SUBJECT_ALT_REQUIRE_SPN"},
    NamedBit{0x01000000, "SUBJECT_ALT_REQUIRE_DIRECTORY_GUID"},
    NamedBit{0x02000000, "SUBJECT_ALT_REQUIRE_UPN"},
    NamedBit{0x04000000, "SUBJECT_ALT_REQUIRE_EMAIL"},
    NamedBit{0x08000000, "SUBJECT_ALT_REQUIRE_DNS"},
    NamedBit{0x10000000, "SUBJECT_REQUIRE_DNS_AS_CN"},
    NamedBit{0x20000000, "SUBJECT_REQUIRE_EMAIL"},
    NamedBit{0x40000000, "SUBJECT_REQUIRE_COMMON_NAME"},
    NamedBit{0x80000000, "SUBJECT_REQUIRE_DIRECTORY_PATH"},
};

// MS-CRTD §2.26 msPKI-Enrollment-Flag.
constexpr std::array enrollment_bits{
    NamedBit{0x00000001, "INCLUDE_SYMMETRIC_ALGORITHMS"},
    NamedBit{0x00000002, "PEND_ALL_REQUESTS"},
    NamedBit{0x00000004, "PUBLISH_TO_KRA_CONTAINER"},
    NamedBit{0x00000008, "PUBLISH_TO_DS"},
    NamedBit{0x00000010, "AUTO_ENROLLMENT_CHECK_USER_DS_CERTIFICATE"},
    NamedBit{0x00000020, "AUTO_ENROLLMENT"},
    NamedBit{0x00000040, "PREVIOUS_APPROVAL_VALIDATE_REENROLLMENT"},
    NamedBit{0x00000100, "USER_INTERACTION_REQUIRED"},
    NamedBit{0x00000400, "REMOVE_INVALID_CERTIFICATE_FROM_PERSONAL_STORE"},
    NamedBit{0x00000800, "ALLOW_ENROLL_ON_BEHALF_OF"},
    NamedBit{0x00001000, "ADD_OCSP_NOCHECK"},
    NamedBit{0x00002000, "ENABLE_KEY_REUSE_ON_NT_TOKEN_KEYSET_STORAGE_FULL"},
    NamedBit{0x00004000, "NOREVOCATIONINFOINISSUEDCERTS"},
    NamedBit{0x00008000, "INCLUDE_BASIC_CONSTRAINTS_FOR_EE_CERTS"},
    NamedBit{0x00010000, "ALLOW_PREVIOUS_APPROVAL_KEYBASEDRENEWAL_VALIDATE_REENROLLMENT"},
    NamedBit{0x00020000, "ISSUANCE_POLICIES_FROM_REQUEST"},
    NamedBit{0x00040000, "SKIP_AUTO_RENEWAL"},
    NamedBit{0x00080000, "NO_SECURITY_EXTENSION"},
};

// MS-CRTD §2.4 flags (MS-XCEP generalFlags).
constexpr std::array general_bits{
    NamedBit{0x00000002, "ADD_EMAIL"},         NamedBit{0x00000008, "PUBLISH_TO_DS"},
    NamedBit{0x00000010, "EXPORTABLE_KEY"},    NamedBit{0x00000020, "AUTO_ENROLLMENT"},
    NamedBit{0x00000040, "MACHINE_TYPE"},      NamedBit{0x00000080, "IS_CA"},
    NamedBit{0x00000200, "ADD_TEMPLATE_NAME"}, NamedBit{0x00000400, "DONOTPERSISTINDB"},
    NamedBit{0x00000800, "IS_CROSS_CA"},       NamedBit{0x00010000, "IS_DEFAULT"},
    NamedBit{0x00020000, "IS_MODIFIED"},
};

// Group 3 OIDs that name a curve (certenroll.h ObjectIdGroupId: XCN_OID_ECC_CURVE_P256/384/521).
constexpr std::array<std::pair<std::string_view, std::string_view>, 3> known_curves{{
    {"1.2.840.10045.3.1.7", "P-256"},
    {"1.3.132.0.34", "P-384"},
    {"1.3.132.0.35", "P-521"},
}};

// ML-DSA parameter sets by their NIST CSOR OIDs (FIPS 204; RFC 9881 for X.509).
constexpr std::array<std::pair<std::string_view, int>, 3> ml_dsa_oids{{
    {"2.16.840.1.101.3.4.3.17", 44},
    {"2.16.840.1.101.3.4.3.18", 65},
    {"2.16.840.1.101.3.4.3.19", 87},
}};

// Names for algorithms this client cannot generate, used when the server leaves defaultName nil
// (RFC 8410: Ed25519, Ed448).
constexpr std::array<std::pair<std::string_view, std::string_view>, 2> known_unsupported{{
    {"1.3.101.112", "Ed25519"},
    {"1.3.101.113", "Ed448"},
}};

std::string hex_bit(std::uint32_t bit) {
    char text[11];
    std::snprintf(text, sizeof text, "0x%08X", static_cast<unsigned>(bit));
    return text;
}

// Unnamed bits are listed by value so that nothing the server set is silently hidden.
template <std::size_t N>
std::vector<std::string> names_of(std::uint32_t flags, const std::array<NamedBit, N>& table,
                                  std::uint32_t ignored_mask = 0) {
    std::vector<std::string> names;
    std::uint32_t remaining = flags & ~ignored_mask;
    for (const auto& entry : table) {
        if ((remaining & entry.bit) != 0) {
            names.emplace_back(entry.name);
            remaining &= ~entry.bit;
        }
    }
    for (std::uint32_t bit = 1; remaining != 0; bit <<= 1) {
        if ((remaining & bit) != 0) {
            names.push_back(hex_bit(bit));
            remaining &= ~bit;
        }
    }
    return names;
}

char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i]))
            return false;
    }
    return true;
}

}  // namespace

std::string_view auth_mode_name(AuthMode mode) {
    switch (mode) {
        case AuthMode::Anonymous:
            return "anonymous";
        case AuthMode::Kerberos:
            return "kerberos";
        case AuthMode::UsernamePassword:
            return "password";
        case AuthMode::Certificate:
            return "certificate";
    }
    return "unknown";
}

std::optional<AuthMode> auth_mode_from_name(std::string_view name) {
    for (const auto mode : {AuthMode::Anonymous, AuthMode::Kerberos, AuthMode::UsernamePassword,
                            AuthMode::Certificate}) {
        if (name == auth_mode_name(mode))
            return mode;
    }
    return std::nullopt;
}

const Template* Policy::find_template(std::string_view name) const {
    for (const auto& tmpl : templates) {
        if (tmpl.common_name == name)
            return &tmpl;
    }
    for (const auto& tmpl : templates) {
        if (equals_ignoring_case(tmpl.common_name, name))
            return &tmpl;
    }
    return nullptr;
}

std::vector<std::string> private_key_flag_names(std::uint32_t flags) {
    return names_of(flags, private_key_bits,
                    flag::private_key_server_version_mask | flag::private_key_client_version_mask);
}

std::vector<std::string> subject_name_flag_names(std::uint32_t flags) {
    return names_of(flags, subject_name_bits);
}

std::vector<std::string> enrollment_flag_names(std::uint32_t flags) {
    return names_of(flags, enrollment_bits);
}

std::vector<std::string> general_flag_names(std::uint32_t flags) {
    return names_of(flags, general_bits);
}

std::optional<std::uint32_t> private_key_flags(const Template& tmpl) {
    return tmpl.nil_flags.private_key ? std::nullopt : std::optional(tmpl.private_key_flags);
}

std::optional<std::uint32_t> subject_name_flags(const Template& tmpl) {
    return tmpl.nil_flags.subject_name ? std::nullopt : std::optional(tmpl.subject_name_flags);
}

std::optional<std::uint32_t> enrollment_flags(const Template& tmpl) {
    return tmpl.nil_flags.enrollment ? std::nullopt : std::optional(tmpl.enrollment_flags);
}

std::optional<std::uint32_t> general_flags(const Template& tmpl) {
    return tmpl.nil_flags.general ? std::nullopt : std::optional(tmpl.general_flags);
}

std::vector<std::pair<std::string, std::optional<std::vector<std::string>>>> decoded_flags(
    const Template& tmpl) {
    const auto names = [](std::optional<std::uint32_t> word, auto decode) {
        return word ? std::optional(decode(*word)) : std::nullopt;
    };
    return {
        {"private_key_flags", names(private_key_flags(tmpl), private_key_flag_names)},
        {"subject_name_flags", names(subject_name_flags(tmpl), subject_name_flag_names)},
        {"enrollment_flags", names(enrollment_flags(tmpl), enrollment_flag_names)},
        {"general_flags", names(general_flags(tmpl), general_flag_names)},
    };
}

bool enrollee_supplies_subject(const Template& tmpl) {
    return (tmpl.subject_name_flags & flag::subject_enrollee_supplies) != 0;
}

bool enrollee_supplies_subject_alt_name(const Template& tmpl) {
    return (tmpl.subject_name_flags & flag::subject_enrollee_supplies_alt_name) != 0;
}

bool old_cert_supplies_subject(const Template& tmpl) {
    return (tmpl.subject_name_flags & flag::subject_old_cert_supplies) != 0;
}

bool requires_alternate_signature(const Template& tmpl) {
    return (tmpl.private_key_flags & flag::private_key_alternate_signature) != 0;
}

bool requires_same_key_renewal(const Template& tmpl) {
    return (tmpl.private_key_flags & flag::private_key_same_key_renewal) != 0;
}

bool requires_signed_renewal(const Template& tmpl) {
    return (tmpl.enrollment_flags & flag::enrollment_previous_approval_validate_reenrollment) != 0;
}

bool allows_key_based_renewal(const Template& tmpl) {
    return (tmpl.enrollment_flags & flag::enrollment_allow_key_based_renewal) != 0;
}

bool is_pending_all(const Template& tmpl) {
    return (tmpl.enrollment_flags & flag::enrollment_pend_all_requests) != 0;
}

bool requires_key_archival(const Template& tmpl) {
    return (tmpl.private_key_flags & flag::private_key_archival) != 0;
}

bool requires_attestation(const Template& tmpl) {
    return (tmpl.private_key_flags & flag::private_key_attest_required) != 0;
}

bool is_machine_template(const Template& tmpl) {
    return (tmpl.general_flags & flag::general_machine_type) != 0;
}

std::uint32_t minimum_client_version(const Template& tmpl) {
    return (tmpl.private_key_flags & flag::private_key_client_version_mask) >> 24;
}

std::uint32_t minimum_server_version(const Template& tmpl) {
    return (tmpl.private_key_flags & flag::private_key_server_version_mask) >> 16;
}

std::string template_oid(const Template& tmpl) {
    return tmpl.template_oid.value;
}

TemplateKeyAlgorithm key_algorithm(const Template& tmpl) {
    using Kind = TemplateKeyAlgorithm::Kind;
    if (!tmpl.key.algorithm_oid)
        return {Kind::Rsa, "", "RSA"};
    const auto& oid = *tmpl.key.algorithm_oid;
    if (oid.value == "1.2.840.113549.1.1.1")
        return {Kind::Rsa, "", "RSA"};
    // Windows writes ECDH_P256 for key-agreement templates and ECDSA_P256 for signing ones, both
    // with the curve's OID; the key pair is the same.
    const std::string ec_name = oid.default_name.rfind("ECDH", 0) == 0 ? "ECDH" : "ECDSA";
    if (oid.value == "1.2.840.10045.2.1")
        return {Kind::Ec, "", ec_name};
    for (const auto& [value, curve] : known_curves) {
        if (oid.value == value)
            return {Kind::Ec, std::string(curve), ec_name};
    }
    // Named by parameter set whatever defaultName says: the OID fixes it.
    for (const auto& [value, level] : ml_dsa_oids) {
        if (oid.value == value)
            return {Kind::MlDsa, "", "ML-DSA-" + std::to_string(level), level};
    }
    if (!oid.default_name.empty())
        return {Kind::Unsupported, "", oid.default_name};
    for (const auto& [value, name] : known_unsupported) {
        if (oid.value == value)
            return {Kind::Unsupported, "", std::string(name)};
    }
    return {Kind::Unsupported, "", "unknown algorithm (OID " + oid.value + ")"};
}

std::string key_algorithm_name(const Template& tmpl) {
    return key_algorithm(tmpl).name;
}

std::string key_requirement(const Template& tmpl) {
    const auto algorithm = key_algorithm(tmpl);
    switch (algorithm.kind) {
        case TemplateKeyAlgorithm::Kind::Rsa:
            return algorithm.name + " " + std::to_string(tmpl.key.minimal_key_length);
        case TemplateKeyAlgorithm::Kind::Ec:
            return algorithm.name + " " +
                   (algorithm.curve.empty() ? std::to_string(tmpl.key.minimal_key_length)
                                            : algorithm.curve);
        case TemplateKeyAlgorithm::Kind::MlDsa:
        case TemplateKeyAlgorithm::Kind::Unsupported:
            break;
    }
    return algorithm.name;
}

std::string hash_algorithm_name(const Template& tmpl) {
    if (!tmpl.hash_algorithm)
        return "sha256";
    const auto& value = tmpl.hash_algorithm->value;
    if (value == "1.3.14.3.2.26")
        return "sha1";
    if (value == "2.16.840.1.101.3.4.2.1")
        return "sha256";
    if (value == "2.16.840.1.101.3.4.2.2")
        return "sha384";
    if (value == "2.16.840.1.101.3.4.2.3")
        return "sha512";
    return tmpl.hash_algorithm->default_name.empty() ? "unknown hash (OID " + value + ")"
                                                     : tmpl.hash_algorithm->default_name;
}

std::vector<std::string> template_ca_names(const Policy& policy, const Template& tmpl) {
    std::vector<std::string> names;
    for (const auto index : tmpl.ca_indexes) {
        if (index < policy.cas.size())
            names.push_back(policy.cas[index].name);
    }
    return names;
}

}  // namespace certenroll::xcep
