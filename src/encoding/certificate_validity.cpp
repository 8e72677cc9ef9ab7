#include "encoding/certificate_validity.hpp"

#include "encoding/base64.hpp"
#include "encoding/time_text.hpp"
#include "error.hpp"

namespace certenroll::encoding {

namespace {

// The unread part of a DER value.
struct DerReader {
    const std::uint8_t* data;
    std::size_t size;

    bool empty() const { return size == 0; }

    // The next element if it has `tag` (a definite, minimal length; at most 4 length bytes).
    std::optional<DerReader> take(std::uint8_t tag) {
        if (size < 2 || data[0] != tag)
            return std::nullopt;
        std::size_t length = data[1];
        std::size_t header = 2;
        if (length >= 0x80) {
            const std::size_t count = length & 0x7F;
            if (count == 0 || count > 4 || size < 2 + count || data[2] == 0)
                return std::nullopt;  // indefinite, too long, or not minimal
            length = 0;
            for (std::size_t i = 0; i < count; ++i)
                length = (length << 8) | data[2 + i];
            if (length < 0x80)
                return std::nullopt;  // the short form was required
            header += count;
        }
        if (length > size - header)
            return std::nullopt;
        DerReader element{data + header, length};
        data += header + length;
        size -= header + length;
        return element;
    }

    bool skip(std::uint8_t tag) { return take(tag).has_value(); }
};

constexpr std::uint8_t kSequence = 0x30;
constexpr std::uint8_t kInteger = 0x02;
constexpr std::uint8_t kExplicitVersion = 0xA0;  // [0] EXPLICIT, constructed
constexpr std::uint8_t kUtcTime = 0x17;
constexpr std::uint8_t kGeneralizedTime = 0x18;

std::optional<int> digits(const std::uint8_t* text, std::size_t count) {
    int value = 0;
    for (std::size_t i = 0; i < count; ++i) {
        if (text[i] < '0' || text[i] > '9')
            return std::nullopt;
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

// UTCTime YYMMDDHHMMSSZ (years 1950-2049) or GeneralizedTime YYYYMMDDHHMMSSZ, as RFC 5280
// requires them; other forms (offsets, fractions, no seconds) are left to the full parse.
std::optional<std::chrono::system_clock::time_point> read_time(DerReader& reader) {
    int year = 0;
    const std::uint8_t* rest = nullptr;
    if (auto utc = reader.take(kUtcTime)) {
        if (utc->size != 13)
            return std::nullopt;
        const auto yy = digits(utc->data, 2);
        if (!yy)
            return std::nullopt;
        year = *yy >= 50 ? 1900 + *yy : 2000 + *yy;
        rest = utc->data + 2;
    } else if (auto generalized = reader.take(kGeneralizedTime)) {
        if (generalized->size != 15)
            return std::nullopt;
        const auto yyyy = digits(generalized->data, 4);
        if (!yyyy)
            return std::nullopt;
        year = *yyyy;
        rest = generalized->data + 4;
    } else {
        return std::nullopt;
    }
    // rest: MMDDHHMMSSZ
    const auto month = digits(rest, 2), day = digits(rest + 2, 2), hour = digits(rest + 4, 2),
               minute = digits(rest + 6, 2), second = digits(rest + 8, 2);
    if (!month || !day || !hour || !minute || !second || rest[10] != 'Z')
        return std::nullopt;
    const std::chrono::year_month_day date{std::chrono::year{year},
                                           std::chrono::month{unsigned(*month)},
                                           std::chrono::day{unsigned(*day)}};
    if (!date.ok() || *hour > 23 || *minute > 59 || *second > 59)
        return std::nullopt;
    return utc_time_point(date, *hour, *minute, *second);
}

}  // namespace

std::optional<CertificateValidity> certificate_validity_from_der(const std::uint8_t* der,
                                                                 std::size_t size) {
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    // TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
    //                               validity SEQUENCE { notBefore, notAfter }, ... }
    DerReader input{der, size};
    auto certificate = input.take(kSequence);
    if (!certificate || !input.empty())
        return std::nullopt;
    auto tbs = certificate->take(kSequence);
    if (!tbs)
        return std::nullopt;
    if (tbs->size > 0 && tbs->data[0] == kExplicitVersion && !tbs->skip(kExplicitVersion))
        return std::nullopt;
    if (!tbs->skip(kInteger) || !tbs->skip(kSequence) || !tbs->skip(kSequence))
        return std::nullopt;
    auto validity = tbs->take(kSequence);
    if (!validity)
        return std::nullopt;
    const auto not_before = read_time(*validity);
    const auto not_after = read_time(*validity);
    if (!not_before || !not_after || !validity->empty())
        return std::nullopt;
    return CertificateValidity{*not_before, *not_after};
}

std::optional<CertificateValidity> certificate_validity_from_pem(std::string_view pem) {
    // The first block labelled CERTIFICATE, where OpenSSL's PEM_read_bio_X509 would stop; a
    // block it would also read ("X509 CERTIFICATE"), or a BEGIN line not exactly as written
    // here, makes the answer "cannot tell" rather than a guess at which block OpenSSL reads.
    constexpr std::string_view begin = "-----BEGIN ";
    constexpr std::string_view end_line = "-----END CERTIFICATE-----";
    for (std::size_t at = pem.find(begin); at != std::string_view::npos;
         at = pem.find(begin, at + 1)) {
        if (at != 0 && pem[at - 1] != '\n')
            continue;
        const std::string_view label = pem.substr(at + begin.size());
        if (label.starts_with("X509 CERTIFICATE"))
            return std::nullopt;
        if (!label.starts_with("CERTIFICATE-----"))
            continue;  // another kind of block (a key, a request): OpenSSL skips it too
        const std::string_view after = label.substr(std::string_view("CERTIFICATE-----").size());
        if (!after.starts_with("\n") && !after.starts_with("\r\n"))
            return std::nullopt;
        const std::size_t body = pem.find('\n', at);
        const std::size_t end = pem.find(end_line, at);
        if (body == std::string_view::npos || end == std::string_view::npos || end < body)
            return std::nullopt;
        try {
            const Bytes der = base64_decode(pem.substr(body + 1, end - body - 1));
            return certificate_validity_from_der(der.data(), der.size());
        } catch (const Error&) {
            return std::nullopt;  // headers, or damage: the full parse says which
        }
    }
    return std::nullopt;
}

}  // namespace certenroll::encoding
