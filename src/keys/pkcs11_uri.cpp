#include "keys/pkcs11_uri.hpp"

// clang-format off
#include <p11-kit/p11-kit.h>  // pkcs11.h, before uri.h
#include <p11-kit/uri.h>
// clang-format on

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "error.hpp"

namespace certenroll::keys {

namespace {

constexpr std::string_view scheme = "pkcs11:";

using UriPtr = std::unique_ptr<P11KitUri, decltype(&p11_kit_uri_free)>;

UriPtr new_uri() {
    UriPtr uri(p11_kit_uri_new(), &p11_kit_uri_free);
    if (!uri)
        throw std::bad_alloc();
    return uri;
}

Error bad_uri(std::string_view text, const std::string& why) {
    return Error(ErrorKind::Usage, "invalid PKCS#11 URI '" + std::string(text) + "': " + why,
                 "write it as pkcs11:token=LABEL;object=LABEL (RFC 7512); p11tool --list-all "
                 "or pkcs11-tool --list-objects show the values");
}

// The attributes of a path (';') or query ('&'), as written; a trailing separator ends the list.
std::vector<std::string_view> attributes(std::string_view list, char separator) {
    std::vector<std::string_view> items;
    for (std::size_t start = 0; start < list.size();) {
        const std::size_t end = std::min(list.find(separator, start), list.size());
        items.push_back(list.substr(start, end - start));
        start = end + 1;
    }
    return items;
}

std::string_view name_of(std::string_view attribute) {
    return attribute.substr(0, attribute.find('='));
}

// p11-kit drops the whitespace it finds in a value (" \n\r\v"), so "token=My HSM" would name
// "MyHSM"; written as escapes, it keeps the meaning this tool has always given it.
std::string escape_whitespace(std::string_view text) {
    std::string out;
    for (const char c : text) {
        if (c == ' ' || c == '\n' || c == '\r' || c == '\v') {
            static constexpr char hex[] = "0123456789abcdef";
            out += '%';
            out += hex[static_cast<unsigned char>(c) >> 4];
            out += hex[static_cast<unsigned char>(c) & 0xf];
        } else {
            out += c;
        }
    }
    return out;
}

// One attribute through p11-kit alone: for naming the one that p11-kit refuses or does not know.
bool accepted_alone(std::string_view attribute, bool in_query) {
    const UriPtr uri = new_uri();
    const std::string alone =
        std::string(scheme) + (in_query ? "?" : "") + escape_whitespace(attribute);
    return p11_kit_uri_parse(alone.c_str(), P11_KIT_URI_FOR_ANY, uri.get()) == P11_KIT_URI_OK &&
           !p11_kit_uri_any_unrecognized(uri.get());
}

// Why p11-kit did not recognise an attribute that it parsed.
std::string unrecognised(std::string_view attribute) {
    struct Field {
        std::string_view name;
        std::size_t size;  // bytes in its PKCS#11 structure
    };
    static constexpr Field fields[] = {{"token", 32},
                                       {"manufacturer", 32},
                                       {"serial", 16},
                                       {"model", 16},
                                       {"library-description", 32},
                                       {"library-manufacturer", 32},
                                       {"slot-description", 64},
                                       {"slot-manufacturer", 32}};
    const std::string_view name = name_of(attribute);
    if (name == "type")
        return "not a type RFC 7512 defines (private, public, cert, secret-key, data)";
    for (const auto& field : fields) {
        if (field.name == name)
            return "longer than the " + std::to_string(field.size) + " bytes PKCS#11 allows";
    }
    return "not an attribute RFC 7512 defines";
}

std::string space_trimmed(const unsigned char* field, std::size_t size) {
    char* text = p11_kit_space_strdup(field, size);
    if (!text)
        throw std::bad_alloc();
    std::string value(text);
    std::free(text);
    return value;
}

// p11-kit writes a field unless it is all zeros, as a new URI's are: an empty one stays so.
void set_space_padded(unsigned char* field, std::size_t size, const std::string& value) {
    if (value.empty())
        return;
    std::memset(field, ' ', size);
    std::memcpy(field, value.data(), std::min(size, value.size()));
}

struct ObjectClass {
    std::string_view type;  // RFC 7512's name
    CK_OBJECT_CLASS value;
};
constexpr ObjectClass object_classes[] = {{"private", CKO_PRIVATE_KEY},
                                          {"public", CKO_PUBLIC_KEY},
                                          {"cert", CKO_CERTIFICATE},
                                          {"secret-key", CKO_SECRET_KEY},
                                          {"data", CKO_DATA}};

}  // namespace

bool is_pkcs11_uri(std::string_view text) {
    return text.substr(0, scheme.size()) == scheme;
}

Pkcs11Uri parse_pkcs11_uri(std::string_view text) {
    if (!is_pkcs11_uri(text))
        throw bad_uri(text, "it does not start with pkcs11:");
    const std::string_view rest = text.substr(scheme.size());
    const std::size_t question = rest.find('?');
    const auto path = attributes(rest.substr(0, question), ';');
    const auto query = attributes(
        question == std::string_view::npos ? std::string_view() : rest.substr(question + 1), '&');

    // Before any message that quotes the URI.
    for (const auto* list : {&path, &query}) {
        for (const auto attribute : *list) {
            if (name_of(attribute) == "pin-value") {
                throw Error(ErrorKind::Usage, "a PKCS#11 URI must not contain the PIN (pin-value)",
                            "put the PIN in a file and pass --pin-file FILE (or set "
                            "CERTENROLL_PKCS11_PIN)");
            }
        }
    }
    // p11-kit skips an empty attribute by dropping the one after it (";object=a" parses as
    // "pkcs11:", "token=a;;object=b" loses the object): refused here, with the attributes that
    // have no '=', so that each is named.
    for (const auto* list : {&path, &query}) {
        for (const auto attribute : *list) {
            if (attribute.empty())
                throw bad_uri(text, "an empty attribute (two separators in a row, or one first)");
            if (attribute.find('=') == std::string_view::npos)
                throw bad_uri(text, "'" + std::string(attribute) + "' has no '='");
        }
    }

    // p11-kit reads a C string: a NUL (from a state record's JSON) would cut the URI short.
    if (text.find('\0') != std::string_view::npos)
        throw bad_uri(text, "a NUL byte (write it %00)");

    const UriPtr parsed = new_uri();
    const std::string escaped = escape_whitespace(text);
    const int status = p11_kit_uri_parse(escaped.c_str(), P11_KIT_URI_FOR_ANY, parsed.get());
    if (status == P11_KIT_URI_BAD_ENCODING)
        throw bad_uri(text, "a '%' must be followed by two hex digits");
    // An unknown path attribute, a type other than RFC 7512's, or a value longer than its
    // PKCS#11 field: p11-kit marks the URI as matching nothing; refused, naming the attribute.
    if (status != P11_KIT_URI_OK || p11_kit_uri_any_unrecognized(parsed.get())) {
        for (const auto* list : {&path, &query}) {
            for (const auto attribute : *list) {
                if (!accepted_alone(attribute, list == &query)) {
                    throw bad_uri(text, "'" + std::string(attribute) + "': " +
                                            (status != P11_KIT_URI_OK
                                                 ? std::string(p11_kit_uri_message(status))
                                                 : unrecognised(attribute)));
                }
            }
        }
        throw bad_uri(text, status != P11_KIT_URI_OK ? p11_kit_uri_message(status)
                                                     : "an attribute p11-kit does not recognise");
    }

    Pkcs11Uri uri;
    const CK_TOKEN_INFO& token = *p11_kit_uri_get_token_info(parsed.get());
    uri.token = space_trimmed(token.label, sizeof(token.label));
    uri.manufacturer = space_trimmed(token.manufacturerID, sizeof(token.manufacturerID));
    uri.serial = space_trimmed(token.serialNumber, sizeof(token.serialNumber));
    uri.model = space_trimmed(token.model, sizeof(token.model));
    if (const CK_ATTRIBUTE* label = p11_kit_uri_get_attribute(parsed.get(), CKA_LABEL))
        uri.object.assign(static_cast<const char*>(label->pValue), label->ulValueLen);
    if (const CK_ATTRIBUTE* id = p11_kit_uri_get_attribute(parsed.get(), CKA_ID)) {
        const auto* bytes = static_cast<const std::uint8_t*>(id->pValue);
        uri.id = encoding::Bytes(bytes, bytes + id->ulValueLen);
    }
    if (const CK_ATTRIBUTE* type = p11_kit_uri_get_attribute(parsed.get(), CKA_CLASS);
        type && type->ulValueLen == sizeof(CK_OBJECT_CLASS)) {
        const CK_OBJECT_CLASS value = *static_cast<const CK_OBJECT_CLASS*>(type->pValue);
        for (const auto& object_class : object_classes) {
            if (object_class.value == value)
                uri.type = object_class.type;
        }
    }
    if (const char* module_path = p11_kit_uri_get_module_path(parsed.get()))
        uri.module_path = module_path;
    if (const char* pin_source = p11_kit_uri_get_pin_source(parsed.get())) {
        const std::string_view source = pin_source;
        uri.pin_source = source.starts_with("file:") ? source.substr(5) : source;
    }
    // Other attributes (library-*, slot-*) narrow the search further; they are accepted and not
    // needed to find a key on the tokens we see.
    return uri;
}

std::string Pkcs11Uri::to_string() const {
    const UriPtr uri = new_uri();
    CK_TOKEN_INFO& info = *p11_kit_uri_get_token_info(uri.get());
    set_space_padded(info.label, sizeof(info.label), token);
    set_space_padded(info.manufacturerID, sizeof(info.manufacturerID), manufacturer);
    set_space_padded(info.serialNumber, sizeof(info.serialNumber), serial);
    set_space_padded(info.model, sizeof(info.model), model);
    std::string label = object;
    if (!label.empty()) {
        CK_ATTRIBUTE attribute{CKA_LABEL, label.data(), label.size()};
        p11_kit_uri_set_attribute(uri.get(), &attribute);
    }
    encoding::Bytes key_id = id.value_or(encoding::Bytes{});
    if (id) {
        CK_ATTRIBUTE attribute{CKA_ID, key_id.data(), key_id.size()};
        p11_kit_uri_set_attribute(uri.get(), &attribute);
    }
    for (const auto& object_class : object_classes) {
        if (object_class.type == type) {
            CK_OBJECT_CLASS value = object_class.value;
            CK_ATTRIBUTE attribute{CKA_CLASS, &value, sizeof(value)};
            p11_kit_uri_set_attribute(uri.get(), &attribute);
        }
    }
    if (!module_path.empty())
        p11_kit_uri_set_module_path(uri.get(), module_path.c_str());
    char* text = nullptr;
    if (p11_kit_uri_format(uri.get(), P11_KIT_URI_FOR_ANY, &text) != P11_KIT_URI_OK || !text)
        throw Error(ErrorKind::Internal, "cannot write a PKCS#11 URI", "");
    std::string formatted(text);
    std::free(text);
    return formatted;
}

}  // namespace certenroll::keys
