#pragma once
/// PKCS#11 URIs (RFC 7512), the references of keys kept on tokens:
/// "pkcs11:token=HSM;object=web1;id=%01%a2;type=private?module-path=/usr/lib/opensc-pkcs11.so".
/// Parsed and written by p11-kit (p11-kit/uri.h); this is the part of them the key backend uses.

#include <optional>
#include <string>
#include <string_view>

#include "encoding/base64.hpp"

namespace certenroll::keys {

struct Pkcs11Uri {
    std::string token;                  ///< token label
    std::string manufacturer;           ///< token manufacturer
    std::string serial;                 ///< token serial number
    std::string model;                  ///< token model
    std::string object;                 ///< object label (CKA_LABEL)
    std::optional<encoding::Bytes> id;  ///< CKA_ID
    std::string type;                   ///< "private", "public", "cert", ... or ""
    std::string module_path;            ///< query attribute module-path
    std::string pin_source;             ///< query attribute pin-source (a file path)

    /// The canonical text (p11-kit's): attributes percent-encoded where needed, empty ones and
    /// pin-source left out.
    std::string to_string() const;
};

/// True when `text` is a PKCS#11 URI (starts with "pkcs11:").
bool is_pkcs11_uri(std::string_view text);

/// Parses a PKCS#11 URI. Malformed text, unknown percent escapes, an empty attribute, an
/// attribute or type RFC 7512 does not define in the path, a value longer than its PKCS#11 field,
/// or a pin-value attribute (a PIN must never be written into a reference or argv) are usage
/// Errors. Unencoded whitespace in a value is kept as written.
Pkcs11Uri parse_pkcs11_uri(std::string_view text);

}  // namespace certenroll::keys
