// RFC 4514 distinguished names for CSR subjects (declared in crypto/csr.hpp).
#include <openssl/err.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

#include "crypto/csr.hpp"
#include "crypto/ossl.hpp"

namespace certenroll::crypto {

namespace {

constexpr const char* kSubjectHint =
    "write the subject as RFC 4514 text, e.g. CN=web1.example.com,O=Example,C=US "
    "(escape a comma in a value as \\,)";

[[noreturn]] void bad_subject(std::string_view text, const std::string& why) {
    throw Error(ErrorKind::Usage, "bad subject '" + std::string(text) + "': " + why, kSubjectHint);
}

// Windows and OpenSSL spellings of attribute types, mapped to OpenSSL's short names.
constexpr std::array<std::pair<std::string_view, const char*>, 24> kAttributeTypes{{
    {"CN", "CN"},
    {"O", "O"},
    {"OU", "OU"},
    {"C", "C"},
    {"L", "L"},
    {"ST", "ST"},
    {"S", "ST"},
    {"STREET", "street"},
    {"DC", "DC"},
    {"E", "emailAddress"},
    {"EMAIL", "emailAddress"},
    {"EMAILADDRESS", "emailAddress"},
    {"SERIALNUMBER", "serialNumber"},
    {"UID", "UID"},
    {"T", "title"},
    {"TITLE", "title"},
    {"G", "GN"},
    {"GN", "GN"},
    {"GIVENNAME", "GN"},
    {"SN", "SN"},
    {"SURNAME", "SN"},
    {"POSTALCODE", "postalCode"},
    {"DESCRIPTION", "description"},
    {"INITIALS", "initials"},
}};

Asn1ObjectPtr attribute_type(std::string_view subject, const std::string& type) {
    std::string upper = type;
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    for (const auto& [alias, name] : kAttributeTypes) {
        if (alias == upper) {
            return Asn1ObjectPtr(OBJ_txt2obj(name, 0));
        }
    }
    if (std::isdigit(static_cast<unsigned char>(type.front()))) {
        Asn1ObjectPtr object(OBJ_txt2obj(type.c_str(), 1));
        if (object) {
            return object;
        }
        ERR_clear_error();
    }
    bad_subject(subject, "unknown attribute type '" + type +
                             "' (use CN, O, OU, C, L, ST, DC, E, SERIALNUMBER... or a dotted OID)");
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

std::string trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos) {
        return {};
    }
    const auto last = text.find_last_not_of(" \t");
    return std::string(text.substr(first, last - first + 1));
}

// Reads a value starting at `pos` up to an unescaped ',' or '+' (left at `pos`).
std::string read_value(std::string_view text, std::size_t& pos) {
    std::string value;
    std::size_t significant = 0;  // length without trailing unescaped spaces
    while (pos < text.size() && text[pos] == ' ') {
        ++pos;
    }
    const bool quoted = pos < text.size() && text[pos] == '"';
    if (quoted) {
        ++pos;
    }
    while (pos < text.size()) {
        const char c = text[pos];
        if (quoted ? c == '"' : (c == ',' || c == '+')) {
            break;
        }
        if (c == '\\') {
            if (pos + 1 >= text.size()) {
                bad_subject(text, "a trailing backslash");
            }
            const char next = text[pos + 1];
            const int high = hex_digit(next);
            const int low = pos + 2 < text.size() ? hex_digit(text[pos + 2]) : -1;
            if (high >= 0 && low >= 0) {
                value += static_cast<char>(high * 16 + low);
                pos += 3;
            } else if (std::string_view(",+\"\\<>;= #").find(next) != std::string_view::npos) {
                value += next;
                pos += 2;
            } else {
                bad_subject(text, std::string("unknown escape \\") + next);
            }
            significant = value.size();
            continue;
        }
        value += c;
        if (c != ' ') {
            significant = value.size();
        }
        ++pos;
    }
    if (quoted) {
        if (pos >= text.size()) {
            bad_subject(text, "an unterminated quoted value");
        }
        ++pos;
        while (pos < text.size() && text[pos] == ' ') {
            ++pos;
        }
        if (pos < text.size() && text[pos] != ',' && text[pos] != '+') {
            bad_subject(text, "text after a quoted value");
        }
        return value;
    }
    value.resize(significant);
    return value;
}

}  // namespace

std::vector<NameAttribute> parse_subject(std::string_view text) {
    std::vector<NameAttribute> attributes;
    if (trim(text).empty()) {
        return attributes;
    }
    if (trim(text).front() == '/') {
        bad_subject(text, "this is OpenSSL's /CN=.../O=... form");
    }
    std::size_t pos = 0;
    bool joined = false;
    while (true) {
        const auto equals = text.find('=', pos);
        if (equals == std::string_view::npos) {
            bad_subject(text, "'" + trim(text.substr(pos)) + "' has no '='");
        }
        NameAttribute attribute;
        attribute.type = trim(text.substr(pos, equals - pos));
        if (attribute.type.empty() || attribute.type.find_first_of(",+\\\"") != std::string::npos) {
            bad_subject(text, "a missing or malformed attribute type before '='");
        }
        pos = equals + 1;
        attribute.value = read_value(text, pos);
        if (attribute.value.empty()) {
            bad_subject(text, "an empty value for " + attribute.type);
        }
        attribute.joined_to_previous = joined;
        attributes.push_back(std::move(attribute));
        if (pos >= text.size()) {
            break;
        }
        joined = text[pos] == '+';
        ++pos;
    }
    return attributes;
}

X509_NAME* make_x509_name(std::string_view text) {
    const auto attributes = parse_subject(text);
    // Group into RDNs, then encode them in reverse: RFC 4514 writes the most specific first.
    std::vector<std::vector<const NameAttribute*>> rdns;
    for (const auto& attribute : attributes) {
        if (!attribute.joined_to_previous || rdns.empty()) {
            rdns.emplace_back();
        }
        rdns.back().push_back(&attribute);
    }
    X509NamePtr name(X509_NAME_new());
    if (!name) {
        throw_openssl(ErrorKind::Internal, "cannot allocate a name");
    }
    for (auto rdn = rdns.rbegin(); rdn != rdns.rend(); ++rdn) {
        int set = 0;  // 0 opens a new RDN, -1 adds to the RDN just opened
        for (const NameAttribute* attribute : *rdn) {
            const Asn1ObjectPtr type = attribute_type(text, attribute->type);
            const auto* bytes = reinterpret_cast<const unsigned char*>(attribute->value.data());
            if (X509_NAME_add_entry_by_OBJ(name.get(), type.get(), MBSTRING_UTF8, bytes,
                                           static_cast<int>(attribute->value.size()), -1,
                                           set) != 1) {
                const std::string reason = take_openssl_error();
                bad_subject(text, "bad value '" + attribute->value + "' for " + attribute->type +
                                      (reason.empty() ? "" : " (" + reason + ")"));
            }
            set = -1;
        }
    }
    return name.release();
}

}  // namespace certenroll::crypto
