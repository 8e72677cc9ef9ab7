#pragma once
/// The enrollment policy a CEP server returns (MS-XCEP GetPoliciesResponse), as typed values with
/// every reference already resolved, and the questions callers ask of a template.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace certenroll::xcep {

/// How a CES endpoint authenticates the client (MS-XCEP clientAuthentication values).
enum class AuthMode : std::uint32_t {
    Anonymous = 1,         ///< only for key-based renewal: the old key's signature authenticates
    Kerberos = 2,          ///< HTTP Negotiate
    UsernamePassword = 4,  ///< WS-Security UsernameToken
    Certificate = 8,       ///< TLS client certificate
};

/// "anonymous", "kerberos", "password", "certificate": the names used on the command line and in
/// JSON.
std::string_view auth_mode_name(AuthMode mode);
/// The inverse of auth_mode_name ("kerberos" → Kerberos); nullopt for anything else.
std::optional<AuthMode> auth_mode_from_name(std::string_view name);

/// An object identifier from the response's oIDs collection.
struct Oid {
    std::string value;        ///< dotted, e.g. "2.16.840.1.101.3.4.2.1"
    std::uint32_t group = 0;  ///< 1 hash, 2 encryption, 3 public key, 4 signing, 5 RDN, 6
                              ///< extension, 7 EKU, 8 policy, 9 template
    std::int32_t reference_id = 0;
    std::string default_name;  ///< empty when nil
};

/// One CES URL of a CA.
struct CaUri {
    AuthMode client_authentication = AuthMode::Kerberos;
    std::string uri;
    std::optional<std::uint32_t> priority;  ///< lower is preferred; nil sorts last
    bool renewal_only = false;
};

/// An issuing CA and the CES URLs that reach it.
struct CertificateAuthority {
    std::int32_t reference_id = 0;
    std::string name;  ///< CN of the CA certificate's subject (the whole subject if it has no CN)
    std::vector<std::uint8_t> certificate_der;  ///< empty when it did not decode
    bool enroll_permission = false;
    std::vector<CaUri> uris;
    /// Why this cA entry cannot be used (e.g. its certificate does not decode); empty when it can.
    /// Such a CA is listed but never chosen: the rest of the policy stays usable.
    std::string policy_error;
};

/// privateKeyAttributes of a template.
struct KeyAttributes {
    std::uint32_t minimal_key_length = 0;
    std::optional<std::uint32_t> key_spec;            ///< 1 AT_KEYEXCHANGE, 2 AT_SIGNATURE
    std::optional<std::uint32_t> key_usage_property;  ///< CNG key-usage bits
    std::optional<std::string> permissions;           ///< SDDL for the key container
    std::optional<Oid> algorithm_oid;                 ///< schema 3 only; nil means RSA
    std::vector<std::string> crypto_providers;        ///< Windows CSP/KSP names, informational
};

/// Registration-authority signatures the CA demands on requests for this template.
struct RaRequirements {
    std::uint32_t signatures = 0;
    std::vector<Oid> ekus;
    std::vector<Oid> policies;
};

/// The template requires the private key to be archived at the CA, encrypted with this algorithm.
struct KeyArchival {
    Oid symmetric_algorithm;
    std::uint32_t symmetric_key_length = 0;
};

/// An extension the CA puts in certificates issued from this template.
struct Extension {
    Oid oid;
    bool critical = false;
    std::vector<std::uint8_t> value;  ///< DER extnValue contents; empty when nil or empty
};

/// One certificate template (an MS-XCEP CertificateEnrollmentPolicy).
struct Template {
    std::string common_name;   ///< the template name to request
    std::uint32_t schema = 0;  ///< 1, 2 or 3
    std::int64_t validity_seconds = 0;
    std::int64_t renewal_seconds = 0;
    bool permission_enroll = false;
    bool permission_autoenroll = false;
    KeyAttributes key;
    std::uint32_t revision_major = 0;
    std::uint32_t revision_minor = 0;
    std::vector<std::string> superseded;  ///< common names of templates this one supersedes
    // The four flag words as sent (nil = 0); see decoded_flags() for their names.
    std::uint32_t private_key_flags = 0;
    std::uint32_t subject_name_flags = 0;
    std::uint32_t enrollment_flags = 0;
    std::uint32_t general_flags = 0;
    /// Which flag words the server sent as xsi:nil (MS-XCEP §3.1.4.1.3.1 allows it): unknown, not
    /// 0; the word above then reads 0 so that no flag is assumed set.
    struct NilFlags {
        bool private_key = false;
        bool subject_name = false;
        bool enrollment = false;
        bool general = false;
    } nil_flags;
    std::optional<Oid> hash_algorithm;  ///< nil for schema 1/2 templates
    std::optional<RaRequirements> ra_requirements;
    std::optional<KeyArchival> key_archival;
    std::vector<Extension> extensions;
    Oid template_oid;  ///< from policyOIDReference (group 9): the v2 template extension's OID
    std::vector<std::size_t> ca_indexes;  ///< indexes into Policy::cas, in the response's order
    /// What in the response makes this template unusable (a reference to no oID or cA, a
    /// malformed element), one line each; empty when it is whole. The rest of the policy is
    /// unaffected.
    std::vector<std::string> policy_errors;
};

/// A whole GetPoliciesResponse.
struct Policy {
    std::string policy_id;  ///< identifies the policy server's policy, not human-readable
    std::string friendly_name;
    std::optional<std::uint32_t> next_update_hours;  ///< nil: the client's default (8)
    bool policies_not_changed = false;               ///< true: keep the cached policy
    std::vector<Template> templates;
    std::vector<CertificateAuthority> cas;
    std::vector<Oid> oids;

    /// The template with this common name (exact match first, then ASCII case-insensitive, as
    /// AD treats template names), or nullptr.
    const Template* find_template(std::string_view name) const;
};

// Flag bits this client acts on (MS-XCEP §3.1.4.1.3.1, MS-CRTD §2.4, §2.26-§2.28).
namespace flag {
inline constexpr std::uint32_t private_key_archival = 0x00000001;
inline constexpr std::uint32_t private_key_exportable = 0x00000010;
inline constexpr std::uint32_t private_key_alternate_signature = 0x00000040;
inline constexpr std::uint32_t private_key_same_key_renewal = 0x00000080;
inline constexpr std::uint32_t private_key_attest_preferred = 0x00001000;
inline constexpr std::uint32_t private_key_attest_required = 0x00002000;
inline constexpr std::uint32_t private_key_server_version_mask = 0x000F0000;
inline constexpr std::uint32_t private_key_client_version_mask = 0x0F000000;
inline constexpr std::uint32_t subject_enrollee_supplies = 0x00000001;
inline constexpr std::uint32_t subject_old_cert_supplies = 0x00000008;
inline constexpr std::uint32_t subject_enrollee_supplies_alt_name = 0x00010000;
inline constexpr std::uint32_t enrollment_pend_all_requests = 0x00000002;
inline constexpr std::uint32_t enrollment_previous_approval_validate_reenrollment = 0x00000040;
inline constexpr std::uint32_t enrollment_user_interaction_required = 0x00000100;
inline constexpr std::uint32_t enrollment_allow_key_based_renewal = 0x00010000;
inline constexpr std::uint32_t general_machine_type = 0x00000040;
}  // namespace flag

/// Names of the set bits of each flag word (MS-CRTD names without "CT_FLAG_"); an unnamed bit
/// appears as "0x00400000". The version fields of privateKeyFlags are not bits and are left out.
std::vector<std::string> private_key_flag_names(std::uint32_t flags);
std::vector<std::string> subject_name_flag_names(std::uint32_t flags);
std::vector<std::string> enrollment_flag_names(std::uint32_t flags);
std::vector<std::string> general_flag_names(std::uint32_t flags);
/// {"private_key_flags", names}, {"subject_name_flags", ...}, {"enrollment_flags", ...},
/// {"general_flags", ...}; nullopt for a word the server sent as nil (unknown).
std::vector<std::pair<std::string, std::optional<std::vector<std::string>>>> decoded_flags(
    const Template& tmpl);
/// The flag word as sent; nullopt when nil.
std::optional<std::uint32_t> private_key_flags(const Template& tmpl);
std::optional<std::uint32_t> subject_name_flags(const Template& tmpl);
std::optional<std::uint32_t> enrollment_flags(const Template& tmpl);
std::optional<std::uint32_t> general_flags(const Template& tmpl);

/// The CSR's subject is used (otherwise the CA builds it from the directory).
bool enrollee_supplies_subject(const Template& tmpl);
/// The CSR's subject alternative names are used.
bool enrollee_supplies_subject_alt_name(const Template& tmpl);
/// A renewal reuses the old certificate's subject and SANs.
bool old_cert_supplies_subject(const Template& tmpl);
/// Requests are to be signed with the "alternate signature format", RSASSA-PSS for RSA keys
/// (MS-CRTD §2.27 CT_FLAG_REQUIRE_ALTERNATE_SIGNATURE_ALGORITHM 0x40 in privateKeyFlags, MS-XCEP
/// §3.1.4.1.3.1; MS-WCCE §3.1.2.4.2.2.2.8: other algorithms ignore it).
bool requires_alternate_signature(const Template& tmpl);
/// A renewal must keep the same key pair.
bool requires_same_key_renewal(const Template& tmpl);
/// A renewal must be signed with the existing certificate's key.
bool requires_signed_renewal(const Template& tmpl);
/// Certificates of this template may be renewed key-based (MS-CRTD 2.26
/// CT_FLAG_ALLOW_PREVIOUS_APPROVAL_KEYBASEDRENEWAL_VALIDATE_REENROLLMENT, 0x00010000).
bool allows_key_based_renewal(const Template& tmpl);
/// Every request waits for CA manager approval.
bool is_pending_all(const Template& tmpl);
/// The CA wants the private key archived (needs a CMC request with the key encrypted to the CA).
bool requires_key_archival(const Template& tmpl);
/// The CA demands TPM key attestation.
bool requires_attestation(const Template& tmpl);
/// A computer template (CT_FLAG_MACHINE_TYPE).
bool is_machine_template(const Template& tmpl);
/// Minimum client and CA versions encoded in privateKeyFlags (0 when unset).
std::uint32_t minimum_client_version(const Template& tmpl);
std::uint32_t minimum_server_version(const Template& tmpl);

/// The template OID's dotted value (for the v2 template extension).
std::string template_oid(const Template& tmpl);
/// What kind of key a template asks for (its algorithmOIDReference, MS-XCEP §3.1.4.1.3.20).
/// Windows names CNG algorithms by an oID of group 3 whose value is the curve
/// (ECDSA_P256/ECDH_P256 → 1.2.840.10045.3.1.7, _P384 → 1.3.132.0.34, _P521 → 1.3.132.0.35;
/// certenroll.h ObjectIdGroupId, MS-WCCE §3.1.2.4.2.2.2.5); id-ecPublicKey 1.2.840.10045.2.1
/// leaves the curve to minimalKeyLength.
/// ML-DSA (FIPS 204) is named by its NIST OID 2.16.840.1.101.3.4.3.17/18/19 (ML-DSA-44/65/87,
/// the algorithm OIDs Windows Server 2025's ML-DSA templates use); `ml_dsa_level` is then 44/65/87.
struct TemplateKeyAlgorithm {
    enum class Kind { Rsa, Ec, MlDsa, Unsupported };
    Kind kind = Kind::Rsa;
    /// "P-256", "P-384", "P-521" when the OID names the curve; empty otherwise.
    std::string curve;
    /// For people: "RSA", "ECDSA", "ECDH", or the oID's defaultName ("ML-DSA-65") for others,
    /// never a bare OID (an unnamed one reads "unknown algorithm (OID x)").
    std::string name;
    int ml_dsa_level = 0;
};
TemplateKeyAlgorithm key_algorithm(const Template& tmpl);
/// key_algorithm(tmpl).name.
std::string key_algorithm_name(const Template& tmpl);
/// The key requirement in a few words: "RSA 2048", "ECDSA P-256" (curve OID), "ECDSA 256"
/// (id-ecPublicKey: at least 256 bits), "ML-DSA-65".
std::string key_requirement(const Template& tmpl);
/// "sha1", "sha256", "sha384", "sha512", else the oID's defaultName ("unknown hash (OID x)" when
/// it has none); "sha256" when the policy names none.
std::string hash_algorithm_name(const Template& tmpl);
/// Names of the CAs that issue this template, in the response's order.
std::vector<std::string> template_ca_names(const Policy& policy, const Template& tmpl);

}  // namespace certenroll::xcep
