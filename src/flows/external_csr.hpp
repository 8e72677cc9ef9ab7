#pragma once
/// A certificate request made elsewhere (an appliance, a load balancer, a Java keystore, an HSM
/// the tool cannot drive, certmonger): checked against the template before anything is sent,
/// submitted as a new request or as a signed renewal (CMS, MS-WCCE 3.1.1.4.3.2.1), and the issued
/// certificate checked against the request's public key. submit_csr does only that (no files, no
/// records: what the certmonger helper needs); enroll_csr, `enroll --csr`, also writes the
/// certificate files and the pending or managed record.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "audit/event.hpp"
#include "crypto/external_csr.hpp"
#include "flows/context.hpp"
#include "flows/enroll.hpp"
#include "flows/issuance.hpp"
#include "flows/policy.hpp"
#include "keys/key_backend.hpp"
#include "secret.hpp"
#include "store/state.hpp"

namespace certenroll::flows {

/// What turns a CSR into a signed renewal of a certificate: the PKCS#10 gets the
/// renewal-certificate attribute and is signed again with its own key, then goes in a CMS signed
/// with the key of the certificate being renewed.
struct SignedRenewal {
    crypto::Certificate certificate;  ///< the certificate being renewed
    keys::Key certificate_key;        ///< its private key: signs the CMS
    /// The CSR's private key: the same key for a same-key renewal (getcert resubmit), a new one
    /// for a renewal with a new key (getcert rekey).
    keys::Key request_key;
};

struct CsrSubmitRequest {
    Connection connection;  ///< where the policy is read and (unless key-based) where to submit
    std::string template_name;
    crypto::ExternalCsr csr;  ///< crypto::read_external_csr (signature already verified)
    /// Set: sent as a signed renewal to the policy's renewal CES URLs, in the template's hash.
    std::optional<SignedRenewal> renewal;
    /// Set (with `renewal`): a key-based renewal, submitted with these settings (the certificate
    /// being renewed as TLS client credential) to the template's key-based renewal CES URLs; the
    /// policy's Enroll permission is not asked for.
    std::optional<Connection> key_based_submit;
    bool refresh_policy = false;
    bool force = false;  ///< submit even when the policy says we may not enroll
};

/// The CA's answer to a CSR.
struct CsrSubmission {
    /// Where it went and what the CA answered: submission.result.disposition is Issued or
    /// Pending (with request_id and reference_uri, see pending_query_url).
    Submission submission;
    /// When issued: the certificate, checked to carry the CSR's public key, and its chain
    /// (ending at one of the template's CAs when a policy was read).
    std::optional<IssuedChain> issued;
    /// The policy read (none with --ces-url alone) and the template in it; moving this struct
    /// keeps `tmpl` valid (it points into the policy's template vector).
    std::optional<PolicyResult> policy;
    const xcep::Template* tmpl = nullptr;
    std::vector<std::string> warnings;
};

/// Checks `request.csr` against the template (check_csr_against_template: a usage Error, exit 2,
/// with nothing sent), submits it (or its signed renewal) with failover (when the CSR carries no
/// template extension, the template is named by the CertificateTemplate request attribute, as
/// `certreq -attrib` does: the request itself is signed with a key that is not ours and cannot be
/// changed) and, when issued, verifies the certificate. A denial is an Error (ErrorKind::Denied,
/// exit 4). `event` (audit_event) is recorded as request_submitted, and denied/failed on an
/// error; recording the answer (pending, issued, renewed) is the caller's.
CsrSubmission submit_csr(const Context& context, const CsrSubmitRequest& request,
                         audit::Event& event);

/// The CMS of a signed renewal of `csr` (see SignedRenewal), signed in the template's hash
/// algorithm (SHA-256 without a template) and, where the template asks for the alternate
/// signature format, RSASSA-PSS for RSA keys.
encoding::Bytes signed_renewal_request(const crypto::ExternalCsr& csr, const SignedRenewal& renewal,
                                       const xcep::Template* tmpl);

/// `enroll --csr FILE`.
struct CsrEnrollRequest {
    CsrSubmitRequest submit;
    std::string name;  ///< managed-certificate name; defaults to the template name
    /// The CSR's private key as a key reference (file, TPM key file, pkcs11: URI), optional: with
    /// it the certificate is managed for renew like an enrolled one; without it the record says
    /// renewable=false.
    std::string key_reference;
    SecretString key_passphrase;
    store::OutputPaths outputs;  ///< no key and no PFX: certificate, chain, fullchain, DER, p7b
    std::filesystem::path out_dir;
    OutputFormats formats;
};

/// Submits (submit_csr) and completes the request like enroll: pending → a pending record
/// (with the CSR's public key when there is no key reference) for retrieve-pending; issued →
/// the files written and the certificate recorded. Never writes a key.
EnrollOutcome enroll_csr(const Context& context, const CsrEnrollRequest& request);

}  // namespace certenroll::flows
