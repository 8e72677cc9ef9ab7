#include "wstep/server_fault.hpp"

#include <cstdio>
#include <utility>

namespace certenroll::wstep {

namespace {

using Causes = std::vector<std::string_view>;

// What the administrators check for each cause, in the words of the fix.
std::string check_for(std::string_view id, const FaultContext& context) {
    const std::string ca = context.ca_name.empty() ? "the CA" : "the CA " + context.ca_name;
    const std::string tmpl =
        context.template_name.empty() ? "the template" : "template " + context.template_name;
    if (id == cause::ces_delegation)
        return "the CES account's Kerberos constrained delegation to " + ca +
               "'s HOST and RPCSS SPNs (with protocol transition for password and certificate "
               "clients)";
    if (id == cause::ca_service_or_firewall)
        return "that " + ca +
               "'s service (certsvc) runs and that the firewall between CES and it lets RPC "
               "through "
               "(TCP 135 and the dynamic RPC ports)";
    if (id == cause::ces_permissions)
        return "the CES application pool identity's rights (Impersonate a client after "
               "authentication on CES, Access this computer from the network on the CA, Enroll "
               "on " +
               tmpl + ")";
    if (id == cause::client_ca_permission)
        return "that this identity has Request Certificates on " + ca;
    if (id == cause::other_requester)
        return "that request " +
               (context.request_id.empty() ? std::string() : context.request_id + " ") +
               "was submitted by this identity (retrieve it with the credentials that submitted "
               "it)";
    if (id == cause::template_not_published)
        return "that " + tmpl + " is among " + ca +
               "'s Certificate Templates to Issue (certutil -CATemplates on the CA)";
    if (id == cause::ces_fronts_another_ca)
        return "that this CES is configured for " + ca + " (its CAConfig) as the policy says";
    if (id == cause::template_cache)
        return "whether the CA has yet picked up a template published minutes ago (retry later)";
    if (id == cause::key_based_renewal_flag)
        return "that " + tmpl +
               " allows key-based renewal (msPKI-Enrollment-Flag 0x10000, with CA certificate "
               "manager approval) and that the account the CES runs as may enroll in it";
    if (id == cause::template_acl_changed)
        return "whether " + tmpl +
               "'s permissions changed since the policy was read (re-run with "
               "--refresh-policy)";
    if (id == cause::client_template_permission)
        return "Enroll permission on " + tmpl + " for this identity";
    return std::string(id);
}

std::string checks_in_order(const Causes& causes, const FaultContext& context) {
    std::string text;
    for (std::size_t i = 0; i < causes.size(); ++i) {
        text += (i == 0                   ? ""
                 : i + 1 == causes.size() ? ", then "
                                          : ", ") +
                check_for(causes[i], context);
    }
    return text;
}

std::string seconds_text(std::chrono::milliseconds elapsed) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.1f s", static_cast<double>(elapsed.count()) / 1000.0);
    return buffer;
}

Error explained(const Error& fault, ErrorKind kind, std::string message, std::string hint,
                std::string_view id, const Causes& causes) {
    Error error(kind, std::move(message), std::move(hint));
    if (fault.hresult())
        error.with_hresult(*fault.hresult());
    if (!fault.request_id().empty())
        error.with_request_id(fault.request_id());
    std::vector<std::string> names(causes.begin(), causes.end());
    error.with_diagnosis(std::string(id), std::move(names));
    return error;
}

std::string at_ca(const FaultContext& context) {
    return context.ca_name.empty() ? "the CA" : "the CA " + context.ca_name;
}

// 0x800706BA: CES could not reach the CA's RPC interface, or could not authenticate to it. The
// answer time tells the two apart: a dropped connection makes CES wait, a refused
// authentication is fast.
Error ca_unreachable(const Error& fault, const FaultContext& context) {
    Causes causes;
    std::string timing;
    if (context.answer_time && *context.answer_time >= slow_ca_answer) {
        causes = {cause::ca_service_or_firewall, cause::ces_delegation, cause::ces_permissions};
        timing = " after " + seconds_text(*context.answer_time) +
                 " (a slow answer, as when a firewall drops CES's connection to the CA or the CA "
                 "is down)";
    } else {
        causes = {cause::ces_delegation, cause::ca_service_or_firewall, cause::ces_permissions};
        if (context.answer_time)
            timing = " within " + seconds_text(*context.answer_time) +
                     " (a fast answer, as when the CA refuses CES's authentication for lack of "
                     "delegation)";
    }
    return explained(fault, ErrorKind::Network,
                     "the enrollment service (CES) accepted this client's credentials but could "
                     "not reach " +
                         at_ca(context) + " (RPC_S_SERVER_UNAVAILABLE 0x800706BA)" + timing +
                         ": a server-side failure between CES and the CA",
                     "not your credentials: ask the CES and CA administrators to check " +
                         checks_in_order(causes, context),
                     diagnosis::ces_cannot_reach_ca, causes);
}

Error access_denied_after_authentication(const Error& fault, const FaultContext& context) {
    if (context.call == CesCall::QueryTokenStatus) {
        const Causes causes = {cause::other_requester, cause::ces_delegation,
                               cause::ces_permissions};
        return explained(fault, ErrorKind::Denied,
                         "CES accepted this client's credentials but " + at_ca(context) +
                             " refused to tell about request " + context.request_id +
                             " (E_ACCESSDENIED 0x80070005)",
                         "check " + checks_in_order(causes, context),
                         diagnosis::request_access_denied, causes);
    }
    const Causes causes = {cause::ces_delegation, cause::ces_permissions,
                           cause::client_ca_permission};
    return explained(
        fault, ErrorKind::Network,
        "the enrollment service (CES) accepted this client's credentials, then CES or " +
            at_ca(context) + " refused " +
            (context.call == CesCall::Probe ? std::string("the status query")
                                            : std::string("the request")) +
            " on the server side (E_ACCESSDENIED 0x80070005)",
        "not your password: ask the CES and CA administrators to check " +
            checks_in_order(causes, context),
        diagnosis::server_side_access_denied, causes);
}

Error template_not_on_ca(const Error& fault, const FaultContext& context) {
    const Causes causes = {cause::template_not_published, cause::ces_fronts_another_ca,
                           cause::template_cache};
    return explained(fault, ErrorKind::Denied,
                     at_ca(context) + " does not issue template " + context.template_name +
                         " although the policy lists it there (CERTSRV_E_UNSUPPORTED_CERT_TYPE "
                         "0x80094800)",
                     "ask the CA administrators to check " + checks_in_order(causes, context),
                     diagnosis::template_not_on_ca, causes);
}

Error template_refused(const Error& fault, const FaultContext& context) {
    const std::string tmpl =
        context.template_name.empty() ? "the template" : "template " + context.template_name;
    if (context.key_based_renewal) {
        const Causes causes = {cause::key_based_renewal_flag, cause::ces_permissions};
        return explained(fault, ErrorKind::Denied,
                         at_ca(context) + " refused the key-based renewal for " + tmpl +
                             " (CERTSRV_E_TEMPLATE_DENIED 0x80094012): no account of this "
                             "client's is involved, the template or the CES account is",
                         "ask the CA administrators to check " + checks_in_order(causes, context),
                         diagnosis::template_denied_to_ces, causes);
    }
    if (context.policy_grants_enroll == true) {
        const Causes causes = {cause::ces_delegation, cause::ces_permissions,
                               cause::template_acl_changed};
        return explained(
            fault, ErrorKind::Denied,
            at_ca(context) + " refused " + tmpl +
                " although the policy grants this identity Enroll on it "
                "(CERTSRV_E_TEMPLATE_DENIED 0x80094012): the CA judged another "
                "identity, most likely the CES account submitting as itself",
            "ask the CES and CA administrators to check " + checks_in_order(causes, context),
            diagnosis::template_denied_to_ces, causes);
    }
    const Causes causes = {cause::client_template_permission};
    return explained(fault, ErrorKind::Denied,
                     at_ca(context) + " refused " + tmpl +
                         ": this identity may not enroll in it, as the policy also says "
                         "(CERTSRV_E_TEMPLATE_DENIED 0x80094012)",
                     "ask the CA administrators for " + checks_in_order(causes, context) +
                         ", or use an identity that has it",
                     diagnosis::template_denied_to_client, causes);
}

}  // namespace

Error explain_ces_fault(const Error& fault, const FaultContext& context) {
    if (!fault.hresult())
        return fault;  // not from the CES service code: nothing known about the server side
    switch (*fault.hresult()) {
        case rpc_server_unavailable:
            return ca_unreachable(fault, context);
        case access_denied:
            // On a key-based renewal endpoint the client certificate is the credential, and CES
            // refuses with this when the renewal is not signed with it: the client's side.
            if (context.key_based_renewal)
                return fault;
            return access_denied_after_authentication(fault, context);
        case unsupported_cert_type:
            if (context.call == CesCall::Issue && context.policy_lists_template_at_ca &&
                !context.template_name.empty())
                return template_not_on_ca(fault, context);
            return fault;
        case template_denied:
            if (context.call == CesCall::Issue &&
                (context.key_based_renewal || context.policy_grants_enroll.has_value()))
                return template_refused(fault, context);
            return fault;
        default:
            return fault;
    }
}

}  // namespace certenroll::wstep
