#pragma once
/// Submitting certmonger's certificate request (CERTMONGER_CSR), new or a signed or key-based
/// renewal of it: the policy's permission and CES URLs for the template, the usual submission with
/// failover, and the answer, issued (checked to be for the request's key) or pending. A denial
/// is a thrown Error, as everywhere. Nothing is written but the audit trail: the caller owns
/// the key and decides where the certificate goes.

#include <optional>
#include <string>
#include <vector>

#include "encoding/base64.hpp"
#include "flows/context.hpp"
#include "flows/issuance.hpp"

namespace certenroll::flows {

struct ExternalCsrRequest {
    Connection connection;      ///< where the policy is read and (unless below) where to submit
    std::string template_name;  ///< required; also sent as the CertificateTemplate attribute
    std::string csr;            ///< the PKCS#10, PEM or DER
    /// Set for a signed renewal: the CMS SignedData sent instead of `csr` (which it wraps, with
    /// the renewal-certificate attribute); the policy's renewal CES URLs are used.
    encoding::Bytes signed_renewal;
    /// Key-based renewal: submit `signed_renewal` with these settings (the certificate being
    /// renewed as TLS client credential) to the template's key-based renewal CES URLs.
    std::optional<Connection> key_based_submit;
    std::string name;  ///< names the request in the audit trail; default: the template
    bool refresh_policy = false;
    /// Submit even when the policy gives no Enroll permission (then a warning): the CA decides,
    /// and its refusal carries its reason and HRESULT.
    bool force = false;
};

struct ExternalCsrOutcome {
    enum class Status { Issued, Pending };
    Status status = Status::Pending;
    std::string request_id;
    std::string ces_url;  ///< pending: where to ask about it later (QueryTokenStatus)
    std::string ca_name;
    std::optional<IssuedChain> issued;  ///< set when Issued
    std::vector<std::string> warnings;
};

/// Sends `request.csr` (or its signed renewal) for `request.template_name`. Throws the usual
/// Errors: usage for a bad CSR, a missing template or no CES URL; denied when the policy gives
/// no Enroll permission or the CA refuses; network, auth, tls, protocol as they come.
ExternalCsrOutcome submit_external_csr(const Context& context, const ExternalCsrRequest& request);

}  // namespace certenroll::flows
