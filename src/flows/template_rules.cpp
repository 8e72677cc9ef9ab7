#include "flows/template_rules.hpp"

#include <algorithm>
#include <cctype>

#include "crypto/features.hpp"
#include "error.hpp"
#include "xcep/endpoints.hpp"

namespace certenroll::flows {

namespace {

int curve_bits(const std::string& curve) {
    if (curve == "P-384")
        return 384;
    if (curve == "P-521")
        return 521;
    return 256;
}

std::string curve_for(std::uint32_t minimal_bits) {
    if (minimal_bits > 384)
        return "P-521";
    if (minimal_bits > 256)
        return "P-384";
    return "P-256";
}

keys::KeyAlgorithm template_algorithm(const xcep::Template& tmpl) {
    const auto algorithm = xcep::key_algorithm(tmpl);
    switch (algorithm.kind) {
        case xcep::TemplateKeyAlgorithm::Kind::Rsa:
            return keys::KeyAlgorithm::Rsa;
        case xcep::TemplateKeyAlgorithm::Kind::Ec:
            return keys::KeyAlgorithm::Ec;
        case xcep::TemplateKeyAlgorithm::Kind::MlDsa:
            if (crypto::kHaveMlDsa)
                return keys::KeyAlgorithm::MlDsa;
            throw Error(ErrorKind::Usage,
                        "template '" + tmpl.common_name + "' requires " + algorithm.name +
                            " keys, which need " + crypto::kMlDsaMinimumOpenssl +
                            " or later; this certenroll-cli was built with " +
                            crypto::built_openssl_version(),
                        "use a certenroll-cli built against OpenSSL 3.5 or later (Debian 13, "
                        "Ubuntu 25.04, RHEL 10), or ask for an RSA or ECDSA template");
        case xcep::TemplateKeyAlgorithm::Kind::Unsupported:
            break;
    }
    throw Error(ErrorKind::Usage,
                "template '" + tmpl.common_name + "' requires " + algorithm.name +
                    " keys, which certenroll-cli cannot generate",
                "ask the CA administrators for an RSA or ECDSA template");
}

keys::KeySpec default_key_spec(const xcep::Template& tmpl) {
    keys::KeySpec spec;
    spec.algorithm = template_algorithm(tmpl);
    if (spec.algorithm == keys::KeyAlgorithm::Ec) {
        const auto curve = xcep::key_algorithm(tmpl).curve;
        spec.ec_curve = curve.empty() ? curve_for(tmpl.key.minimal_key_length) : curve;
    } else if (spec.algorithm == keys::KeyAlgorithm::MlDsa) {
        spec.ml_dsa_level = xcep::key_algorithm(tmpl).ml_dsa_level;
    } else {
        spec.rsa_bits = std::max(2048, static_cast<int>(tmpl.key.minimal_key_length));
        spec.rsa_bits = (spec.rsa_bits + 7) / 8 * 8;
    }
    return spec;
}

std::string key_type_option(const keys::KeySpec& spec) {
    if (spec.algorithm == keys::KeyAlgorithm::MlDsa)
        return "ml-dsa-" + std::to_string(spec.ml_dsa_level);
    return spec.algorithm == keys::KeyAlgorithm::Ec ? "ec:" + spec.ec_curve
                                                    : "rsa:" + std::to_string(spec.rsa_bits);
}

std::string algorithm_article(keys::KeyAlgorithm algorithm) {
    switch (algorithm) {
        case keys::KeyAlgorithm::Ec:
            return "an EC";
        case keys::KeyAlgorithm::MlDsa:
            return "an ML-DSA";
        case keys::KeyAlgorithm::Rsa:
            break;
    }
    return "an RSA";
}

// A key the template would refuse is refused here, before anything is sent (MS-WCCE
// §3.1.2.4.2.2.2.1: at least msPKI-Minimal-Key-Size bits; §3.1.2.4.2.2.2.5: the algorithm, and
// with ECDSA_P256-style names the curve, that the template names).
void check_spec(const keys::KeySpec& spec, const xcep::Template& tmpl, const std::string& what) {
    const auto wanted = template_algorithm(tmpl);
    const auto suggested = default_key_spec(tmpl);
    const std::string fix = "use --key-type " + key_type_option(suggested) + " (or leave it out)";
    if (spec.algorithm != wanted) {
        throw Error(ErrorKind::Usage,
                    "template '" + tmpl.common_name + "' requires " + algorithm_article(wanted) +
                        " key (" + xcep::key_requirement(tmpl) + "), not " + what + " " +
                        keys::describe(spec),
                    fix);
    }
    const auto curve = xcep::key_algorithm(tmpl).curve;
    if (spec.algorithm == keys::KeyAlgorithm::Ec && !curve.empty() && spec.ec_curve != curve) {
        throw Error(ErrorKind::Usage,
                    "template '" + tmpl.common_name + "' requires curve " + curve + " (" +
                        xcep::key_requirement(tmpl) + "), not " + what + " " + keys::describe(spec),
                    fix);
    }
    // ML-DSA: the OID fixes the parameter set, and minimalKeyLength has no bits to compare.
    if (spec.algorithm == keys::KeyAlgorithm::MlDsa) {
        if (spec.ml_dsa_level != suggested.ml_dsa_level) {
            throw Error(ErrorKind::Usage,
                        "template '" + tmpl.common_name + "' requires " +
                            xcep::key_requirement(tmpl) + ", not " + what + " " +
                            keys::describe(spec),
                        fix);
        }
        return;
    }
    const int bits =
        spec.algorithm == keys::KeyAlgorithm::Ec ? curve_bits(spec.ec_curve) : spec.rsa_bits;
    if (bits < static_cast<int>(tmpl.key.minimal_key_length)) {
        throw Error(ErrorKind::Usage,
                    "template '" + tmpl.common_name + "' requires keys of at least " +
                        std::to_string(tmpl.key.minimal_key_length) + " bits; " + what + " " +
                        keys::describe(spec) + " is too small",
                    fix);
    }
}

// What the policy response itself got wrong about this template or all of its CAs.
std::vector<std::string> policy_faults(const xcep::Policy& policy, const xcep::Template& tmpl) {
    std::vector<std::string> faults = tmpl.policy_errors;
    if (!tmpl.ca_indexes.empty()) {
        std::vector<std::string> broken;
        for (const auto index : tmpl.ca_indexes) {
            if (index < policy.cas.size() && !policy.cas[index].policy_error.empty()) {
                broken.push_back("CA '" + policy.cas[index].name +
                                 "': " + policy.cas[index].policy_error);
            }
        }
        if (broken.size() == tmpl.ca_indexes.size())
            faults.insert(faults.end(), broken.begin(), broken.end());
    }
    return faults;
}

}  // namespace

std::string csr_hash_name(const xcep::Template* tmpl) {
    if (tmpl == nullptr)
        return "SHA256";
    const std::string name = xcep::hash_algorithm_name(*tmpl);
    if (name == "sha1" || name == "sha256" || name == "sha384" || name == "sha512") {
        std::string upper = name;
        std::transform(upper.begin(), upper.end(), upper.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        return upper;
    }
    throw Error(ErrorKind::Usage,
                "template '" + tmpl->common_name + "' requires hash algorithm " + name +
                    ", which certenroll-cli does not support",
                "ask the CA administrators for a template using SHA-2");
}

namespace {

// A template the policy describes inconsistently cannot be requested: what it demands is unknown.
void refuse_broken(const xcep::Policy& policy, const xcep::Template& tmpl) {
    const auto faults = policy_faults(policy, tmpl);
    if (faults.empty())
        return;
    std::string joined;
    for (const auto& fault : faults)
        joined += (joined.empty() ? "" : "; ") + fault;
    throw Error(ErrorKind::Protocol,
                "template '" + tmpl.common_name +
                    "' cannot be used: the policy is broken for it (" + joined + ")",
                "report it to the CEP server's administrator; the policy's other templates work "
                "(see 'certenroll-cli policy')");
}

void refuse_unsupported(const xcep::Template& tmpl) {
    if (xcep::requires_key_archival(tmpl) || tmpl.key_archival) {
        throw Error(ErrorKind::Usage,
                    "template '" + tmpl.common_name +
                        "' requires key archival at the CA, which certenroll-cli does not support",
                    "use a template without key archival");
    }
    if (xcep::requires_attestation(tmpl)) {
        throw Error(ErrorKind::Usage,
                    "template '" + tmpl.common_name +
                        "' requires TPM key attestation, which a PKCS#10 request cannot carry",
                    "use a template that does not require attestation");
    }
    if (tmpl.ra_requirements && tmpl.ra_requirements->signatures > 0) {
        throw Error(ErrorKind::Usage,
                    "template '" + tmpl.common_name + "' requires " +
                        std::to_string(tmpl.ra_requirements->signatures) +
                        " enrollment-agent signature(s), which certenroll-cli does not support",
                    "use a template without issuance requirements");
    }
}

}  // namespace

const xcep::Template* find_template_or_throw(const xcep::Policy& policy, const std::string& name) {
    if (const auto* tmpl = policy.find_template(name)) {
        refuse_broken(policy, *tmpl);
        return tmpl;
    }
    std::string offered;
    for (std::size_t i = 0; i < policy.templates.size() && i < 12; ++i) {
        offered += (i ? ", " : "") + policy.templates[i].common_name;
    }
    if (policy.templates.size() > 12)
        offered += ", ...";
    // A CEP lists only the templates the identity may read: none at all is a permission
    // problem (denied, exit 4); one missing among others is as likely a typo (usage, exit 2).
    if (policy.templates.empty()) {
        throw Error(
            ErrorKind::Denied,
            "the policy offers no template at all to this identity, '" + name + "' included",
            "ask the CA administrators for Read and Enroll permission on the template, "
            "or check the user");
    }
    throw Error(ErrorKind::Usage, "the policy offers no template '" + name + "' to this identity",
                "offered: " + offered +
                    " (see 'certenroll-cli policy'); a template this identity may not read is "
                    "not offered either");
}

void check_enroll_permission(const xcep::Template& tmpl, bool force,
                             std::vector<std::string>& warnings) {
    if (tmpl.permission_enroll)
        return;
    if (force) {
        warnings.push_back("the policy says this identity may not enroll in '" + tmpl.common_name +
                           "'; submitting anyway (--force)");
        return;
    }
    throw Error(
        ErrorKind::Denied,
        "the policy says this identity may not enroll in template '" + tmpl.common_name + "'",
        "ask the CA administrators for Enroll permission, or pass --force to submit anyway");
}

RequestPlan plan_request(const xcep::Template* tmpl, const std::string& template_name,
                         const std::optional<keys::KeySpec>& requested_key,
                         const std::string& subject, const crypto::SubjectAltNames& sans,
                         std::vector<std::string>& warnings) {
    RequestPlan plan;
    if (tmpl != nullptr) {
        refuse_unsupported(*tmpl);
        if (requested_key) {
            check_spec(*requested_key, *tmpl, "--key-type");
            plan.key_spec = *requested_key;
        } else {
            plan.key_spec = default_key_spec(*tmpl);
        }
    } else if (requested_key) {
        plan.key_spec = *requested_key;
    }

    auto& csr = plan.csr;
    csr.subject = subject;
    csr.sans = sans;
    // ML-DSA signs without a separate digest: the template's hash algorithm does not apply.
    csr.hash =
        plan.key_spec.algorithm == keys::KeyAlgorithm::MlDsa ? "SHA512" : csr_hash_name(tmpl);
    csr.template_name = template_name;
    if (tmpl != nullptr) {
        // Nil subjectNameFlags: the policy does not say who builds the subject; send what was
        // given and let the CA decide, without a warning either way.
        const bool flags_known = xcep::subject_name_flags(*tmpl).has_value();
        if (flags_known && xcep::enrollee_supplies_subject(*tmpl)) {
            if (subject.empty() && sans.empty()) {
                throw Error(
                    ErrorKind::Usage,
                    "template '" + tmpl->common_name + "' takes the subject from the request",
                    "pass --cn NAME or --subject DN (and SANs with --dns/--ip/...)");
            }
        } else if (flags_known && !subject.empty()) {
            warnings.push_back("template '" + tmpl->common_name +
                               "' has the CA build the subject from the directory; the CA will "
                               "ignore --subject/--cn");
        }
        if (flags_known && !sans.empty() && !xcep::enrollee_supplies_subject_alt_name(*tmpl) &&
            !xcep::enrollee_supplies_subject(*tmpl)) {
            warnings.push_back("template '" + tmpl->common_name +
                               "' has the CA build the subject alternative names; the CA will "
                               "ignore --dns/--ip/--email/--upn/--uri");
        }
        csr.template_name = tmpl->common_name;
        if (tmpl->schema >= 2 && !xcep::template_oid(*tmpl).empty()) {
            csr.template_oid = xcep::template_oid(*tmpl);
            csr.template_major = static_cast<int>(tmpl->revision_major);
            csr.template_minor = static_cast<int>(tmpl->revision_minor);
        }
        csr.key_usage_signature_only = tmpl->key.key_spec && *tmpl->key.key_spec == 2;
        // Ignored by keys that are not RSA (MS-WCCE §3.1.2.4.2.2.2.8).
        csr.rsa_pss = xcep::requires_alternate_signature(*tmpl);
    }
    return plan;
}

void check_signature_request(bool rsa_pss_requested, const keys::Key& key) {
    if (rsa_pss_requested && key.algorithm() != keys::KeyAlgorithm::Rsa) {
        throw Error(ErrorKind::Usage,
                    "--signature rsa-pss needs an RSA key, not " + keys::describe(key.spec()),
                    "leave out --signature, or use an RSA key (--key-type rsa)");
    }
}

void check_key_against_template(const keys::Key& key, const xcep::Template* tmpl) {
    if (tmpl == nullptr)
        return;
    check_spec(keys::spec_of(key.get()), *tmpl, "the key given with --key,");
}

void check_csr_against_template(const crypto::ExternalCsr& csr, const xcep::Template& tmpl,
                                std::vector<std::string>& warnings) {
    refuse_unsupported(tmpl);
    const std::string fix_csr = "make the request again with ";
    keys::KeySpec spec;
    try {
        spec = keys::spec_of(csr.public_key.get());
    } catch (const Error& error) {
        throw Error(ErrorKind::Usage,
                    "template '" + tmpl.common_name + "' requires " + xcep::key_requirement(tmpl) +
                        "; the CSR's key is not one (" + error.message() + ")",
                    fix_csr + "a " + keys::describe(default_key_spec(tmpl)) + " key");
    }
    try {
        check_spec(spec, tmpl, "the CSR's key,");
    } catch (const Error& error) {
        // The key is not ours to change: the fix is a new request, not --key-type.
        throw Error(ErrorKind::Usage, error.message(),
                    fix_csr + "a " + keys::describe(default_key_spec(tmpl)) + " key (" +
                        xcep::key_requirement(tmpl) + ")");
    }
    // A template extension cannot be added (the request is signed with a key that is not ours),
    // so one naming another template is refused here rather than by the CA (0x80094802).
    const auto same_name = [](const std::string& a, const std::string& b) {
        return a.size() == b.size() &&
               std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
                   return std::tolower(static_cast<unsigned char>(x)) ==
                          std::tolower(static_cast<unsigned char>(y));
               });
    };
    if (!csr.template_name.empty() && !same_name(csr.template_name, tmpl.common_name)) {
        throw Error(
            ErrorKind::Usage,
            "the CSR names template '" + csr.template_name + "', not '" + tmpl.common_name + "'",
            "pass --template " + csr.template_name +
                ", or make the request again without a template extension");
    }
    const std::string oid = xcep::template_oid(tmpl);
    if (!csr.template_id.oid.empty() && !oid.empty() && csr.template_id.oid != oid) {
        throw Error(ErrorKind::Usage,
                    "the CSR's template extension names template OID " + csr.template_id.oid +
                        ", not the OID " + oid + " of '" + tmpl.common_name + "'",
                    "pass the --template that OID belongs to (see 'certenroll-cli policy'), or "
                    "make the request again without a template extension");
    }
    const bool flags_known = xcep::subject_name_flags(tmpl).has_value();
    if (!flags_known)
        return;  // the policy does not say who builds the subject: the CA decides
    if (xcep::enrollee_supplies_subject(tmpl)) {
        if (csr.subject.empty() && csr.sans.empty()) {
            throw Error(ErrorKind::Usage,
                        "template '" + tmpl.common_name +
                            "' takes the subject from the request, and the CSR has neither a "
                            "subject nor subject alternative names",
                        fix_csr + "a subject (e.g. openssl req -subj '/CN=NAME') and SANs");
        }
        return;
    }
    if (!csr.subject.empty()) {
        warnings.push_back("template '" + tmpl.common_name +
                           "' has the CA build the subject from the directory; the CA will "
                           "ignore the CSR's subject '" +
                           csr.subject + "'");
    }
    if (!csr.sans.empty() && !xcep::enrollee_supplies_subject_alt_name(tmpl)) {
        warnings.push_back("template '" + tmpl.common_name +
                           "' has the CA build the subject alternative names; the CA will "
                           "ignore those in the CSR");
    }
}

std::vector<std::string> why_unusable(const xcep::Policy& policy, const xcep::Template& tmpl,
                                      xcep::AuthMode mode) {
    std::vector<std::string> reasons = policy_faults(policy, tmpl);
    if (!reasons.empty())
        return reasons;  // everything else about it is guesswork
    if (!tmpl.permission_enroll)
        reasons.push_back("no Enroll permission for this identity");
    if (xcep::select_ces_endpoints(policy, tmpl, mode, false).empty()) {
        std::string offered;
        for (const auto other : {xcep::AuthMode::Kerberos, xcep::AuthMode::UsernamePassword,
                                 xcep::AuthMode::Certificate}) {
            if (!xcep::select_ces_endpoints(policy, tmpl, other, false).empty()) {
                offered += (offered.empty() ? "" : ", ") + std::string(xcep::auth_mode_name(other));
            }
        }
        reasons.push_back("no CES URL for --auth " + std::string(xcep::auth_mode_name(mode)) +
                          (offered.empty() ? " (no CA with enroll permission offers it)"
                                           : " (offered: " + offered + ")"));
    }
    try {
        refuse_unsupported(tmpl);
        if (template_algorithm(tmpl) != keys::KeyAlgorithm::MlDsa)
            (void)csr_hash_name(&tmpl);
    } catch (const Error& error) {
        reasons.push_back(error.message());
    }
    return reasons;
}

std::vector<crypto::Certificate> policy_ca_certificates(const xcep::Policy& policy,
                                                        const xcep::Template& tmpl) {
    std::vector<crypto::Certificate> certificates;
    for (const auto index : tmpl.ca_indexes) {
        if (index < policy.cas.size() && policy.cas[index].policy_error.empty() &&
            !policy.cas[index].certificate_der.empty()) {
            certificates.push_back(
                crypto::Certificate::from_der(policy.cas[index].certificate_der));
        }
    }
    return certificates;
}

}  // namespace certenroll::flows
