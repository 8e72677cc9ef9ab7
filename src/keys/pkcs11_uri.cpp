#include "keys/pkcs11_uri.hpp"

#include <cctype>

#include "error.hpp"

namespace certenroll::keys {

namespace {

constexpr std::string_view scheme = "pkcs11:";

Error bad_uri(std::string_view text, const std::string& why) {
    return Error(ErrorKind::Usage, "invalid PKCS#11 URI '" + std::string(text) + "': " + why,
                 "write it as pkcs11:token=LABEL;object=LABEL (RFC 7512); p11tool --list-all "
                 "or pkcs11-tool --list-objects show the values");
}

int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    const int lower = std::tolower(static_cast<unsigned char>(c));
    if (lower >= 'a' && lower <= 'f')
        return lower - 'a' + 10;
    return -1;
}

std::string percent_decode(std::string_view value, std::string_view uri) {
    std::string out;
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] != '%') {
            out += value[i];
            continue;
        }
        if (i + 2 >= value.size())
            throw bad_uri(uri, "a '%' must be followed by two hex digits");
        const int high = hex_value(value[i + 1]);
        const int low = hex_value(value[i + 2]);
        if (high < 0 || low < 0)
            throw bad_uri(uri, "a '%' must be followed by two hex digits");
        out += static_cast<char>(high * 16 + low);
        i += 2;
    }
    return out;
}

// RFC 7512 pchar minus the attribute separators: everything else is percent-encoded.
std::string percent_encode(std::string_view value) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (const char c : value) {
        const auto byte = static_cast<unsigned char>(c);
        if (std::isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':' ||
            c == '[' || c == ']' || c == '@' || c == '!' || c == '$' || c == '\'' || c == '(' ||
            c == ')' || c == '*' || c == '+' || c == ',' || c == '=' || c == '/') {
            out += c;
        } else {
            out += '%';
            out += hex[byte >> 4];
            out += hex[byte & 0xf];
        }
    }
    return out;
}

template <typename Visit>
void for_each_attribute(std::string_view list, char separator, std::string_view uri,
                        Visit&& visit) {
    std::size_t pos = 0;
    while (pos <= list.size() && !list.empty()) {
        std::size_t end = list.find(separator, pos);
        if (end == std::string_view::npos)
            end = list.size();
        const std::string_view item = list.substr(pos, end - pos);
        if (!item.empty()) {
            const std::size_t equals = item.find('=');
            if (equals == std::string_view::npos)
                throw bad_uri(uri, "'" + std::string(item) + "' has no '='");
            visit(item.substr(0, equals), percent_decode(item.substr(equals + 1), uri));
        }
        pos = end + 1;
    }
}

}  // namespace

bool is_pkcs11_uri(std::string_view text) {
    return text.substr(0, scheme.size()) == scheme;
}

Pkcs11Uri parse_pkcs11_uri(std::string_view text) {
    if (!is_pkcs11_uri(text))
        throw bad_uri(text, "it does not start with pkcs11:");
    std::string_view rest = text.substr(scheme.size());
    const std::size_t question = rest.find('?');
    const std::string_view path = rest.substr(0, question);
    const std::string_view query =
        question == std::string_view::npos ? std::string_view() : rest.substr(question + 1);

    Pkcs11Uri uri;
    for_each_attribute(path, ';', text, [&](std::string_view name, std::string value) {
        if (name == "token")
            uri.token = std::move(value);
        else if (name == "manufacturer")
            uri.manufacturer = std::move(value);
        else if (name == "serial")
            uri.serial = std::move(value);
        else if (name == "model")
            uri.model = std::move(value);
        else if (name == "object")
            uri.object = std::move(value);
        else if (name == "id")
            uri.id = encoding::Bytes(value.begin(), value.end());
        else if (name == "type")
            uri.type = std::move(value);
        // Other path attributes (library-*, slot-*) narrow the search further; they are
        // accepted and not needed to find a key on the tokens we see.
    });
    for_each_attribute(query, '&', text, [&](std::string_view name, std::string value) {
        if (name == "pin-value") {
            throw Error(ErrorKind::Usage, "a PKCS#11 URI must not contain the PIN (pin-value)",
                        "put the PIN in a file and pass --pin-file FILE (or set "
                        "CERTENROLL_PKCS11_PIN)");
        }
        if (name == "module-path")
            uri.module_path = std::move(value);
        else if (name == "pin-source")
            uri.pin_source = value.starts_with("file:") ? value.substr(5) : std::move(value);
    });
    return uri;
}

std::string Pkcs11Uri::to_string() const {
    std::string path;
    const auto add = [&path](std::string_view name, std::string_view value) {
        if (!value.empty())
            path += (path.empty() ? "" : ";") + std::string(name) + "=" + percent_encode(value);
    };
    add("token", token);
    add("manufacturer", manufacturer);
    add("serial", serial);
    add("model", model);
    add("object", object);
    if (id) {
        static constexpr char hex[] = "0123456789abcdef";
        std::string encoded;
        for (const auto byte : *id) {
            encoded += '%';
            encoded += hex[byte >> 4];
            encoded += hex[byte & 0xf];
        }
        path += (path.empty() ? "" : ";") + std::string("id=") + encoded;
    }
    add("type", type);
    std::string query;
    if (!module_path.empty())
        query = "module-path=" + percent_encode(module_path);
    return std::string(scheme) + path + (query.empty() ? "" : "?" + query);
}

}  // namespace certenroll::keys
