#pragma once
/// The validity period of an X.509 certificate, read from its DER without decoding the rest.
///
/// renew's due check needs nothing else, and a full parse costs what a cron run of `renew --all`
/// with nothing due otherwise spends most of its time on: OpenSSL decodes the public key while
/// parsing, and its first decode builds the decoder chain of every provider, some 6 M
/// instructions, after loading its configuration (tests/bench/README.md). Only the RFC 5280
/// forms are read (DER lengths; UTCTime YYMMDDHHMMSSZ, GeneralizedTime YYYYMMDDHHMMSSZ); for
/// anything else the answer is "cannot tell" and the caller parses the certificate in full,
/// which also gives the proper error for a damaged file.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace certenroll::encoding {

struct CertificateValidity {
    std::chrono::system_clock::time_point not_before;
    std::chrono::system_clock::time_point not_after;
};

/// From one DER-encoded certificate, which must be the whole input (no trailing bytes).
std::optional<CertificateValidity> certificate_validity_from_der(const std::uint8_t* der,
                                                                 std::size_t size);

/// From the first CERTIFICATE block of PEM text (text before it is ignored, as OpenSSL does).
std::optional<CertificateValidity> certificate_validity_from_pem(std::string_view pem);

}  // namespace certenroll::encoding
