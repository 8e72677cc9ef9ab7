#pragma once
/// What a template demands of a request, decided before anything is sent: a request the CA would
/// refuse is refused here, with the reason and the fix.

#include <optional>
#include <string>
#include <vector>

#include "crypto/certificate.hpp"
#include "crypto/csr.hpp"
#include "crypto/external_csr.hpp"
#include "keys/key_backend.hpp"
#include "xcep/policy.hpp"

namespace certenroll::flows {

/// The key to make and the CSR to build for one request.
struct RequestPlan {
    keys::KeySpec key_spec;
    crypto::CsrSpec csr;
};

/// The template to request. One the policy response describes inconsistently (a reference to no
/// oID or cA, or only CAs whose entries are broken) is refused with what is wrong (protocol
/// error); the policy's other templates stay usable.
const xcep::Template* find_template_or_throw(const xcep::Policy& policy, const std::string& name);

/// No Enroll permission: a denied error unless `force`, then a warning.
void check_enroll_permission(const xcep::Template& tmpl, bool force,
                             std::vector<std::string>& warnings);

/// The hash `tmpl` asks requests to be signed with ("SHA256", "SHA384", ...; SHA256 when `tmpl`
/// is null); a usage Error for one certenroll-cli does not support.
std::string csr_hash_name(const xcep::Template* tmpl);

/// Key, hash, subject and template identification for the request. `tmpl` is null when the
/// user gave a CES URL without a policy; then only the user's choices and defaults apply.
RequestPlan plan_request(const xcep::Template* tmpl, const std::string& template_name,
                         const std::optional<keys::KeySpec>& requested_key,
                         const std::string& subject, const crypto::SubjectAltNames& sans,
                         std::vector<std::string>& warnings);

/// --signature rsa-pss with a key that is not RSA: a usage Error. (The template's own request for
/// the alternate signature format is ignored by such keys instead, MS-WCCE §3.1.2.4.2.2.2.8.)
void check_signature_request(bool rsa_pss_requested, const keys::Key& key);

/// An existing key (--key) must meet the template's algorithm and size too.
void check_key_against_template(const keys::Key& key, const xcep::Template* tmpl);

/// A request made elsewhere (enroll --csr), checked against `tmpl` before anything is sent
/// (usage Errors): the template is one a PKCS#10 request can be made for, the CSR's key has the
/// template's algorithm, curve and minimum size, a template extension in it names this template,
/// and the subject or SANs a template that takes them from the request needs are there. What the
/// CA will ignore (a subject it builds itself) goes to `warnings`.
void check_csr_against_template(const crypto::ExternalCsr& csr, const xcep::Template& tmpl,
                                std::vector<std::string>& warnings);

/// Why this identity cannot use `tmpl` with auth `mode` (empty when it can): what the policy
/// response got wrong about it (alone, when anything), no permission, no CES URL for the mode
/// (naming the modes offered), or requirements this client cannot meet.
std::vector<std::string> why_unusable(const xcep::Policy& policy, const xcep::Template& tmpl,
                                      xcep::AuthMode mode);

/// The certificates of the CAs that issue this template, per the policy.
std::vector<crypto::Certificate> policy_ca_certificates(const xcep::Policy& policy,
                                                        const xcep::Template& tmpl);

}  // namespace certenroll::flows
