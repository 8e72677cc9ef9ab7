#pragma once
/// SOAP 1.2 faults and the MS-WSTEP CertificateEnrollmentWSDetail they may carry.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "xml/xml.hpp"

namespace certenroll::soap {

/// MS-WSTEP fault detail; every member is optional on the wire.
struct EnrollmentFaultDetail {
    std::optional<std::uint32_t> hresult;
    std::optional<bool> invalid_request;
    std::string request_id;
    std::vector<std::uint8_t> binary_response;
};

/// A decoded s:Fault.
struct Fault {
    std::string code;     ///< e.g. "s:Receiver" as written (prefix not resolved)
    std::string subcode;  ///< e.g. "a:InternalServiceFault"
    std::string reason;
    std::optional<EnrollmentFaultDetail> detail;
};

/// Decodes an s:Fault element.
Fault parse_fault(const xml::Element& fault);

/// What we know about a well-known HRESULT.
struct HresultInfo {
    std::uint32_t value;
    std::string_view name;
    ErrorKind kind;
    std::string_view hint;
};

/// The HRESULT table entry, or nullptr for an unknown value.
const HresultInfo* find_hresult(std::uint32_t value);

/// The CA refused the request's public key itself (CERTSRV_E_KEY_LENGTH, NTE_BAD_ALGID): that key
/// can never be used for the template, unlike a refusal of the requester.
bool refuses_the_key(std::uint32_t hresult);

/// The Error a fault stands for: kind and hint from the HRESULT table, request id attached.
Error to_error(const Fault& fault);

}  // namespace certenroll::soap
