#pragma once
/// Every namespace, action and token-type URI that CEP/CES messages use, in one place.

#include <string_view>

namespace certenroll::soap {

namespace ns {
inline constexpr std::string_view soap12 = "http://www.w3.org/2003/05/soap-envelope";
inline constexpr std::string_view soap11 = "http://schemas.xmlsoap.org/soap/envelope/";
inline constexpr std::string_view addressing = "http://www.w3.org/2005/08/addressing";
inline constexpr std::string_view wsse =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
inline constexpr std::string_view wsu =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
inline constexpr std::string_view xsi = "http://www.w3.org/2001/XMLSchema-instance";
inline constexpr std::string_view xml = "http://www.w3.org/XML/1998/namespace";
inline constexpr std::string_view xcep =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy";
inline constexpr std::string_view wst = "http://docs.oasis-open.org/ws-sx/ws-trust/200512";
inline constexpr std::string_view wstep =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollment";
inline constexpr std::string_view auth = "http://schemas.xmlsoap.org/ws/2006/12/authorization";
inline constexpr std::string_view wcf_diagnostics =
    "http://schemas.microsoft.com/2004/09/ServiceModel/Diagnostics";
}  // namespace ns

namespace action {
inline constexpr std::string_view get_policies =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPolicies";
inline constexpr std::string_view get_policies_response =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPoliciesResponse";
inline constexpr std::string_view request_security_token =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RST/wstep";
inline constexpr std::string_view request_security_token_response =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RSTRC/wstep";
inline constexpr std::string_view enrollment_fault =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/"
    "RequestSecurityTokenCertificateEnrollmentWSDetailFault";
inline constexpr std::string_view wcf_fault =
    "http://schemas.microsoft.com/net/2005/12/windowscommunicationfoundation/dispatcher/fault";
}  // namespace action

namespace uri {
inline constexpr std::string_view anonymous = "http://www.w3.org/2005/08/addressing/anonymous";
inline constexpr std::string_view token_x509v3 =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3";
inline constexpr std::string_view value_pkcs10 =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollment#PKCS10";
inline constexpr std::string_view value_pkcs7 =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#PKCS7";
inline constexpr std::string_view encoding_base64 =
    "http://docs.oasis-open.org/wss/2004/01/"
    "oasis-200401-wss-wssecurity-secext-1.0.xsd#base64binary";
inline constexpr std::string_view request_issue =
    "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue";
inline constexpr std::string_view request_query_token_status =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/QueryTokenStatus";
inline constexpr std::string_view password_text =
    "http://docs.oasis-open.org/wss/2004/01/"
    "oasis-200401-wss-username-token-profile-1.0#PasswordText";
}  // namespace uri

}  // namespace certenroll::soap
