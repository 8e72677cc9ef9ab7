#include "soap/fault.hpp"

#include <array>
#include <cstdio>

#include "encoding/base64.hpp"
#include "soap/namespaces.hpp"

namespace certenroll::soap {
namespace {

// protocol.md §2.5; the kind decides the exit code that scripts branch on.
constexpr std::array kHresults = {
    HresultInfo{0x80094012, "CERTSRV_E_TEMPLATE_DENIED", ErrorKind::Denied,
                "ask the CA administrator for Enroll permission on the template"},
    HresultInfo{0x80094011, "CERTSRV_E_ENROLL_DENIED", ErrorKind::Denied,
                "ask the CA administrator why enrollment was denied"},
    HresultInfo{0x80094014, "CERTSRV_E_ADMIN_DENIED_REQUEST", ErrorKind::Denied,
                "a CA manager denied the request; submit a new one if appropriate"},
    // The CA refuses the request's key: the key is below the template's msPKI-Minimal-Key-Size
    // (MS-WCCE §3.1.2.4.2.2.2.1) or of another algorithm or curve than msPKI-Asymmetric-Algorithm
    // names (§3.1.2.4.2.2.2.5). A final refusal of this request, not a protocol fault.
    HresultInfo{0x80094811, "CERTSRV_E_KEY_LENGTH", ErrorKind::Denied,
                "the CA wants a larger key; check 'certenroll-cli policy --template NAME' and "
                "pass a --key-type it allows"},
    HresultInfo{0x80090008, "NTE_BAD_ALGID", ErrorKind::Denied,
                "the CA refused the key's algorithm or curve; check 'certenroll-cli policy "
                "--template NAME' and pass a --key-type it allows"},
    HresultInfo{0x80094800, "CERTSRV_E_UNSUPPORTED_CERT_TYPE", ErrorKind::Usage,
                "this CA does not issue the template; pick another CA or template (see `policy`)"},
    HresultInfo{0x80094802, "CERTSRV_E_TEMPLATE_CONFLICT", ErrorKind::Usage,
                "the request conflicts with the template; re-run with --refresh-policy"},
    HresultInfo{0x80094001, "CERTSRV_E_BAD_REQUESTSUBJECT", ErrorKind::Usage,
                "fix the subject (--subject/--cn) to what the template requires"},
    HresultInfo{0x8009480F, "CERTSRV_E_SUBJECT_DNS_REQUIRED", ErrorKind::Usage,
                "the account's directory object lacks a DNS host name; ask the AD administrator"},
    HresultInfo{0x80094804, "CERTSRV_E_ARCHIVED_KEY_REQUIRED", ErrorKind::Usage,
                "the template requires key archival, which certenroll-cli does not support"},
    HresultInfo{0x80094809, "CERTSRV_E_SIGNATURE_POLICY_REQUIRED", ErrorKind::Usage,
                "the template requires enrollment-agent signatures, which are not supported"},
    HresultInfo{0x8009480A, "CERTSRV_E_SIGNATURE_COUNT", ErrorKind::Usage,
                "the template requires enrollment-agent signatures, which are not supported"},
    HresultInfo{0x8009480B, "CERTSRV_E_SIGNATURE_REJECTED", ErrorKind::Usage,
                "the template requires enrollment-agent signatures, which are not supported"},
    HresultInfo{0x8009400E, "CERTSRV_E_BAD_RENEWAL_CERT_ATTRIBUTE", ErrorKind::Usage,
                "the certificate being renewed does not fit the template; enroll anew instead"},
    HresultInfo{0x80094816, "CERTSRV_E_RENEWAL_BAD_PUBLIC_KEY", ErrorKind::Usage,
                "the template requires renewal with the same key; renew with --reuse-key"},
    HresultInfo{0x80094004, "CERTSRV_E_PROPERTY_EMPTY", ErrorKind::Usage,
                "the CA has no such request; check the request ID"},
    HresultInfo{0x8009200E, "CRYPT_E_NO_SIGNER", ErrorKind::Protocol,
                "the CA could not verify the request signature; report this as a bug"},
    HresultInfo{0x80091004, "CRYPT_E_INVALID_MSG_TYPE", ErrorKind::Protocol,
                "the CA could not decode the request; report this as a bug"},
    HresultInfo{0x80070057, "E_INVALIDARG", ErrorKind::Protocol,
                "the service rejected the message format; report this with --verbose output"},
    // CES could not reach the CA's RPC interface or authenticate to it (wstep/server_fault.hpp
    // tells the causes apart where the flow knows more).
    HresultInfo{0x800706BA, "RPC_S_SERVER_UNAVAILABLE", ErrorKind::Network,
                "the enrollment service could not reach the CA; ask the CES and CA "
                "administrators to check the CES account's delegation to the CA and the CA "
                "service"},
    HresultInfo{0x80070005, "E_ACCESSDENIED", ErrorKind::Auth,
                "check the credentials and that the account may use this service"},
    HresultInfo{0x800B0101, "CERT_E_EXPIRED", ErrorKind::Auth,
                "the certificate presented has expired; enroll anew instead of renewing"},
    HresultInfo{0x800B010C, "CERT_E_REVOKED", ErrorKind::Auth,
                "the certificate presented is revoked; enroll anew instead of renewing"},
    HresultInfo{0x800B010A, "CERT_E_UNTRUSTEDROOT", ErrorKind::Auth,
                "the CA does not trust the certificate presented; enroll anew"},
};

std::string text_of(const xml::Element* element) {
    return element != nullptr ? std::string(element->trimmed_text()) : std::string();
}

// The server's reason goes into the error message and so to the terminal: control characters
// (escape sequences) become '?', and a reason longer than kMaxReason is cut.
constexpr std::size_t kMaxReason = 1024;

std::string printable(std::string_view text) {
    std::string out;
    for (const char c : text.substr(0, kMaxReason)) {
        const auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 && c != '\t') || u == 0x7f ? '?' : c;
    }
    if (text.size() > kMaxReason)
        out += "...";
    return out;
}

std::string reason_text(const xml::Element& fault) {
    const auto* reason = fault.find(ns::soap12, "Reason");
    if (reason == nullptr)
        return {};
    const auto texts = reason->find_all(ns::soap12, "Text");
    for (const auto* text : texts) {
        auto lang = text->attribute(ns::xml, "lang");
        if (lang && lang->starts_with("en"))
            return printable(text->trimmed_text());
    }
    return texts.empty() ? std::string() : printable(texts.front()->trimmed_text());
}

// The fault's RequestID ends up in messages, --json output and state records: an id no CA
// could have issued (longer than 64 characters, spaces, control characters) is refused.
void check_request_id(std::string_view id) {
    bool plausible = id.size() <= 64;
    for (const char c : id) {
        plausible = plausible && c > 0x20 && c < 0x7f;
    }
    if (!plausible) {
        std::string shown;
        for (const char c : id.substr(0, 40)) {
            shown += (c > 0x20 && c < 0x7f) ? c : '?';
        }
        throw Error(ErrorKind::Protocol,
                    "the SOAP fault's RequestID '" + shown + (id.size() > 40 ? "..." : "") +
                        "' is not a plausible request id (1-64 printable characters)",
                    "the server sent a fault this client cannot use; retry with --verbose and "
                    "report it");
    }
}

// AD CS ends a fault's reason with the HRESULT ("... 0x80094811 (-2146875375 CERTSRV_E_...)").
// The error names it once itself, so the reason's copies (with their parenthesised decimal form)
// are taken out.
std::string without_hresult(std::string reason, std::uint32_t hresult) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08x", static_cast<unsigned>(hresult));
    const std::string lower_hex = hex;
    for (;;) {
        std::string lower = reason;
        for (auto& c : lower)
            c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        auto at = lower.find(lower_hex);
        if (at == std::string::npos)
            break;
        auto end = at + lower_hex.size();
        const auto paren = reason.find_first_not_of(' ', end);
        if (paren != std::string::npos && reason[paren] == '(') {
            const auto close = reason.find(')', paren);
            if (close != std::string::npos)
                end = close + 1;
        }
        while (at > 0 && (reason[at - 1] == ' ' || reason[at - 1] == ','))
            --at;
        reason.erase(at, end - at);
    }
    while (!reason.empty() && (reason.back() == ' ' || reason.back() == ','))
        reason.pop_back();
    return reason;
}

}  // namespace

Fault parse_fault(const xml::Element& fault) {
    Fault result;
    if (const auto* code = fault.find(ns::soap12, "Code")) {
        result.code = text_of(code->find(ns::soap12, "Value"));
        if (const auto* subcode = code->find(ns::soap12, "Subcode")) {
            result.subcode = text_of(subcode->find(ns::soap12, "Value"));
        }
    }
    result.reason = reason_text(fault);
    const auto* detail = fault.find(ns::soap12, "Detail");
    const auto* ws_detail =
        detail != nullptr ? detail->find(ns::wstep, "CertificateEnrollmentWSDetail") : nullptr;
    if (ws_detail != nullptr) {
        EnrollmentFaultDetail d;
        if (const auto* code = ws_detail->find_non_nil(ns::wstep, "ErrorCode")) {
            // xs:int on the wire: HRESULTs with the high bit set arrive negative.
            d.hresult = static_cast<std::uint32_t>(code->as_int32());
        }
        if (const auto* invalid = ws_detail->find_non_nil(ns::wstep, "InvalidRequest")) {
            d.invalid_request = invalid->as_bool();
        }
        d.request_id = text_of(ws_detail->find_non_nil(ns::wstep, "RequestID"));
        check_request_id(d.request_id);
        if (const auto* binary = ws_detail->find_non_nil(ns::wstep, "BinaryResponse")) {
            d.binary_response = encoding::base64_decode(binary->text(), "BinaryResponse");
        }
        result.detail = std::move(d);
    }
    return result;
}

const HresultInfo* find_hresult(std::uint32_t value) {
    for (const auto& info : kHresults) {
        if (info.value == value)
            return &info;
    }
    return nullptr;
}

bool refuses_the_key(std::uint32_t hresult) {
    return hresult == 0x80094811 || hresult == 0x80090008;
}

Error to_error(const Fault& fault) {
    std::string message = fault.reason.empty() ? "the service returned a SOAP fault" : fault.reason;
    ErrorKind kind = ErrorKind::Protocol;
    std::string hint = "run with --verbose and report the fault to the server's administrator";
    std::optional<std::uint32_t> hresult;
    if (fault.detail && fault.detail->hresult) {
        hresult = *fault.detail->hresult;
        if (!fault.reason.empty()) {
            message = without_hresult(fault.reason, *hresult);
            if (message.empty())
                message = "the service returned a SOAP fault";
        }
        char hex[16];
        std::snprintf(hex, sizeof hex, "0x%08X", *hresult);
        const auto* info = find_hresult(*hresult);
        if (info != nullptr) {
            kind = info->kind;
            hint = std::string(info->hint);
            message += " (" + std::string(info->name) + " " + hex + ")";
        } else {
            message += std::string(" (") + hex + ")";
        }
    } else if (!fault.subcode.empty()) {
        message += " (" + fault.subcode + ")";
    }
    Error error(kind, std::move(message), std::move(hint));
    if (hresult)
        error.with_hresult(*hresult);
    if (fault.detail && !fault.detail->request_id.empty()) {
        error.with_request_id(fault.detail->request_id);
    }
    return error;
}

}  // namespace certenroll::soap
