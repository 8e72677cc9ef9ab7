#include "xml/xml.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include "error.hpp"

namespace certenroll::xml {
namespace {

constexpr std::string_view kXmlNamespace = "http://www.w3.org/XML/1998/namespace";
constexpr std::string_view kXsiNamespace = "http://www.w3.org/2001/XMLSchema-instance";

Error protocol_error(std::string message) {
    return Error(ErrorKind::Protocol, std::move(message),
                 "the server sent a malformed response; run with --verbose to see it and report it "
                 "to the server's administrator");
}

bool is_xml_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/// Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF) and no C0 control
/// character but tab, LF and CR, which XML 1.0 does not allow in a document at all.
void check_characters(std::string_view text) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t size = text.size();
    std::size_t i = 0;
    while (i < size) {
        // Fast path: eight printable ASCII bytes at a time (SOAP documents are almost entirely
        // that); the second test is "some byte below 0x20", valid once no byte is above 0x7F.
        if (std::uint64_t word = 0; i + sizeof word <= size) {
            std::memcpy(&word, bytes + i, sizeof word);
            if ((word & 0x8080808080808080ull) == 0 &&
                ((word - 0x2020202020202020ull) & ~word & 0x8080808080808080ull) == 0) {
                i += sizeof word;
                continue;
            }
        }
        const unsigned char lead = bytes[i];
        std::size_t length = 0;
        std::uint32_t code = 0;
        std::uint32_t minimum = 0;
        if (lead < 0x80) {
            if (lead < 0x20 && lead != '\t' && lead != '\n' && lead != '\r') {
                char hex[8];
                std::snprintf(hex, sizeof hex, "%02X", lead);
                throw protocol_error("malformed XML: " +
                                     std::string(lead == 0
                                                     ? "NUL character"
                                                     : std::string("control character 0x") + hex) +
                                     " at byte " + std::to_string(i));
            }
            ++i;
            continue;
        } else if ((lead & 0xE0) == 0xC0) {
            length = 2, code = lead & 0x1Fu, minimum = 0x80;
        } else if ((lead & 0xF0) == 0xE0) {
            length = 3, code = lead & 0x0Fu, minimum = 0x800;
        } else if ((lead & 0xF8) == 0xF0) {
            length = 4, code = lead & 0x07u, minimum = 0x10000;
        } else {
            throw protocol_error("invalid UTF-8 in XML document at byte " + std::to_string(i));
        }
        if (i + length > size) {
            throw protocol_error("truncated UTF-8 sequence at the end of the XML document");
        }
        for (std::size_t k = 1; k < length; ++k) {
            if ((bytes[i + k] & 0xC0) != 0x80) {
                throw protocol_error("invalid UTF-8 in XML document at byte " + std::to_string(i));
            }
            code = (code << 6) | (bytes[i + k] & 0x3Fu);
        }
        if (code < minimum || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
            throw protocol_error("invalid UTF-8 (overlong, surrogate or out of range) at byte " +
                                 std::to_string(i));
        }
        i += length;
    }
}

bool starts_with_keyword(std::string_view text, std::string_view keyword) {
    const std::string_view start = text.substr(0, keyword.size());
    return std::equal(
        start.begin(), start.end(), keyword.begin(), keyword.end(),
        [](char a, char b) { return std::toupper(static_cast<unsigned char>(a)) == b; });
}

// XML name characters, ASCII subset plus every byte of a multi-byte UTF-8 sequence (already
// validated by check_characters): 1 = may start a name, 2 = may continue one.
constexpr auto kNameClass = [] {
    std::array<unsigned char, 256> table{};
    for (int c = 0; c < 256; ++c) {
        const bool start =
            (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':' || c >= 0x80;
        const bool more = start || (c >= '0' && c <= '9') || c == '-' || c == '.';
        table[static_cast<std::size_t>(c)] =
            static_cast<unsigned char>((start ? 1 : 0) | (more ? 2 : 0));
    }
    return table;
}();

bool name_start(char c) {
    return (kNameClass[static_cast<unsigned char>(c)] & 1) != 0;
}
bool name_char(char c) {
    return (kNameClass[static_cast<unsigned char>(c)] & 2) != 0;
}

/// True when character data holds a reference or a CR (attribute values: any whitespace but the
/// space too). One pass: find_first_of would search the set once per character.
bool needs_decoding(std::string_view raw, bool attribute) {
    for (const char c : raw) {
        if (c == '&' || c == '\r' || (attribute && (c == '\n' || c == '\t')))
            return true;
    }
    return false;
}

/// A name from the document as quoted in an error message: at most 64 bytes (a hostile document
/// can hold a name of megabytes), cut at a UTF-8 character boundary.
std::string shown(std::string_view name) {
    constexpr std::size_t kMax = 64;
    if (name.size() <= kMax)
        return std::string(name);
    std::size_t cut = kMax;
    while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80)
        --cut;
    return std::string(name.substr(0, cut)) + "...";
}

void append_utf8(std::string& out, std::uint32_t code) {
    if (code < 0x80) {
        out += static_cast<char>(code);
    } else if (code < 0x800) {
        out += static_cast<char>(0xC0 | (code >> 6));
        out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
        out += static_cast<char>(0xE0 | (code >> 12));
        out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (code >> 18));
        out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code & 0x3F));
    }
}

using SharedNamespace = std::shared_ptr<const std::string>;

/// Prefix bindings in scope: a flat list searched from the back, so inner declarations shadow
/// outer ones and leaving an element pops its own. Namespace names are shared strings (null for
/// "no namespace"), one per distinct URI of the document, which every element in it points at.
class Scope {
  public:
    Scope() {
        bindings_.push_back({"", nullptr});
        bindings_.push_back({"xml", intern(kXmlNamespace)});
    }

    std::size_t mark() const { return bindings_.size(); }
    void pop_to(std::size_t mark) { bindings_.resize(mark); }
    void bind(std::string prefix, std::string_view ns) {
        // xmlns="" undeclares the default namespace.
        bindings_.push_back({std::move(prefix), ns.empty() ? nullptr : intern(ns)});
    }
    /// False for an undeclared prefix; else `ns` is its namespace (null for none).
    bool lookup(std::string_view prefix, SharedNamespace& ns) const {
        for (auto it = bindings_.rbegin(); it != bindings_.rend(); ++it) {
            if (it->first == prefix) {
                ns = it->second;
                return true;
            }
        }
        return false;
    }

  private:
    SharedNamespace intern(std::string_view ns) {
        for (const auto& known : namespaces_) {
            if (*known == ns)
                return known;
        }
        namespaces_.push_back(std::make_shared<const std::string>(ns));
        return namespaces_.back();
    }

    std::vector<std::pair<std::string, SharedNamespace>> bindings_;
    std::vector<SharedNamespace> namespaces_;  // distinct URIs seen in this document
};

}  // namespace

/// One pass over the document that builds the Element tree directly (no intermediate DOM: a
/// 1,000-template GetPolicies response is about 1.7 MB and this is the hot path of `policy`).
/// Non-validating XML 1.0 + Namespaces: elements, attributes, character data, the five predefined
/// entities and character references, CDATA, comments, and the XML declaration. Anything else
/// (DOCTYPE, entity declarations, processing instructions, undefined entities) is refused.
class Parser {
  public:
    Parser(std::string_view document, const Limits& limits) : doc_(document), limits_(limits) {}

    Element parse_document() {
        if (doc_.starts_with("\xEF\xBB\xBF"))
            pos_ = 3;  // UTF-8 byte order mark
        if (doc_.substr(pos_).starts_with("<?xml") && pos_ + 5 < doc_.size() &&
            (is_xml_space(doc_[pos_ + 5]) || doc_[pos_ + 5] == '?')) {
            parse_declaration();
        }
        skip_misc();
        if (pos_ >= doc_.size())
            malformed("no root element");
        if (doc_[pos_] != '<')
            malformed("text outside the root element");
        Element root;
        parse_element(root, 1);
        skip_misc();
        if (pos_ < doc_.size())
            malformed(doc_[pos_] == '<' ? "more than one root element"
                                        : "text after the root element");
        return root;
    }

  private:
    [[noreturn]] void malformed(std::string_view what) const {
        const auto line =
            1 + std::count(doc_.begin(),
                           doc_.begin() + static_cast<std::ptrdiff_t>(std::min(pos_, doc_.size())),
                           '\n');
        throw protocol_error("malformed XML: " + std::string(what) + " (line " +
                             std::to_string(line) + ")");
    }

    /// <?xml version="1.0" encoding="..." standalone="..."?>: pseudo-attributes, read and
    /// dropped (the document is UTF-8 whatever it says: check_characters made sure of that).
    void parse_declaration() {
        pos_ += 5;
        for (;;) {
            skip_space();
            if (at("?>")) {
                pos_ += 2;
                return;
            }
            const auto name = scan_name();
            if (name != "version" && name != "encoding" && name != "standalone")
                malformed("invalid XML declaration");
            skip_space();
            if (pos_ >= doc_.size() || doc_[pos_] != '=')
                malformed("invalid XML declaration");
            ++pos_;
            skip_space();
            if (pos_ >= doc_.size() || (doc_[pos_] != '"' && doc_[pos_] != '\''))
                malformed("invalid XML declaration");
            const auto close = doc_.find(doc_[pos_], pos_ + 1);
            if (close == std::string_view::npos)
                malformed("unterminated XML declaration");
            const auto value = doc_.substr(pos_ + 1, close - pos_ - 1);
            if (value.empty() || !std::all_of(value.begin(), value.end(), name_char))
                malformed("invalid XML declaration");
            pos_ = close + 1;
        }
    }

    bool at(std::string_view token) const { return doc_.substr(pos_).starts_with(token); }

    void skip_space() {
        while (pos_ < doc_.size() && is_xml_space(doc_[pos_]))
            ++pos_;
    }

    /// Whitespace and comments between markup outside the root element.
    void skip_misc() {
        for (;;) {
            skip_space();
            if (at("<!--")) {
                skip_comment();
            } else if (at("<!")) {
                refuse_declaration();
            } else if (at("<?")) {
                malformed("processing instruction refused");
            } else {
                return;
            }
        }
    }

    void skip_comment() {
        const auto end = doc_.find("-->", pos_ + 4);
        if (end == std::string_view::npos)
            malformed("unterminated comment");
        pos_ = end + 3;
    }

    // Any markup declaration is refused: DTDs are how XXE and entity-expansion attacks arrive.
    [[noreturn]] void refuse_declaration() const {
        const std::string_view rest = doc_.substr(pos_ + 2);
        if (starts_with_keyword(rest, "DOCTYPE") || starts_with_keyword(rest, "ENTITY")) {
            throw protocol_error("XML document contains a DOCTYPE or entity declaration, refused");
        }
        malformed("unsupported markup declaration");
    }

    std::string_view scan_name() {
        const std::size_t start = pos_;
        if (pos_ < doc_.size() && name_start(doc_[pos_])) {
            ++pos_;
            while (pos_ < doc_.size() && name_char(doc_[pos_]))
                ++pos_;
        }
        return doc_.substr(start, pos_ - start);
    }

    /// Splits prefix:local; a name with an empty part or a second colon is not namespace-valid.
    std::pair<std::string_view, std::string_view> split(std::string_view qname) {
        const auto colon = qname.find(':');
        if (colon == std::string_view::npos)
            return {{}, qname};
        const auto prefix = qname.substr(0, colon);
        const auto local = qname.substr(colon + 1);
        if (prefix.empty() || local.empty() || local.find(':') != std::string_view::npos ||
            !name_start(local.front())) {
            malformed("invalid qualified name '" + shown(qname) + "'");
        }
        return {prefix, local};
    }

    /// Appends text with entity and character references decoded and line ends normalised;
    /// `attribute` also turns whitespace into spaces (attribute-value normalisation).
    void append_decoded(std::string& out, std::string_view raw, bool attribute) {
        std::size_t i = 0;
        while (i < raw.size()) {
            const char c = raw[i];
            if (c == '&') {
                const auto semicolon = raw.find(';', i + 1);
                if (semicolon == std::string_view::npos || semicolon - i > 12)
                    malformed("'&' that does not start an entity reference (write &amp;)");
                decode_reference(out, raw.substr(i + 1, semicolon - i - 1));
                i = semicolon + 1;
            } else if (c == '\r') {
                out += attribute ? ' ' : '\n';
                i += (i + 1 < raw.size() && raw[i + 1] == '\n') ? 2 : 1;
            } else {
                out += attribute && (c == '\n' || c == '\t') ? ' ' : c;
                ++i;
            }
        }
    }

    void decode_reference(std::string& out, std::string_view name) {
        if (name == "lt")
            out += '<';
        else if (name == "gt")
            out += '>';
        else if (name == "amp")
            out += '&';
        else if (name == "apos")
            out += '\'';
        else if (name == "quot")
            out += '"';
        else if (name.starts_with('#')) {
            const bool hex = name.size() > 1 && name[1] == 'x';
            const std::string_view digits = name.substr(hex ? 2 : 1);
            std::uint32_t code = 0;
            const auto [end, ec] =
                std::from_chars(digits.data(), digits.data() + digits.size(), code, hex ? 16 : 10);
            if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
                code == 0 || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
                malformed("invalid character reference '&" + std::string(name) + ";'");
            }
            append_utf8(out, code);
        } else {
            // Only the predefined entities exist: there is no DTD to declare others.
            malformed("undefined entity '&" + std::string(name) + ";'");
        }
    }

    /// Appends character data, taking the fast path when there is nothing to decode.
    void append_text(std::string& out, std::string_view raw) {
        if (!needs_decoding(raw, false)) {
            out.append(raw);
        } else {
            append_decoded(out, raw, false);
        }
    }

    /// Parses the element starting at pos_ ('<') into `out` (default-constructed).
    void parse_element(Element& out, int depth) {
        if (depth > limits_.max_depth) {
            throw protocol_error("XML document nested deeper than " +
                                 std::to_string(limits_.max_depth) + " elements");
        }
        ++pos_;  // '<'
        const std::string_view qname = scan_name();
        if (qname.empty())
            malformed("expected an element name after '<'");
        const auto mark = scope_.mark();
        const bool empty_element = parse_attributes(qname);
        const auto [prefix, local] = split(qname);
        out.ns_ = resolve(prefix, qname, true);
        out.name_.assign(local);
        for (auto& raw : attributes_) {
            const auto [attr_prefix, attr_local] = split(raw.qname);
            // Unprefixed attributes are in no namespace, whatever the default namespace is.
            const SharedNamespace ns =
                attr_prefix.empty() ? nullptr : resolve(attr_prefix, raw.qname, false);
            for (const auto& earlier : out.attributes_) {
                if (earlier.name == attr_local && earlier.ns == (ns ? *ns : std::string()))
                    malformed("attribute '" + shown(raw.qname) + "' given twice");
            }
            out.attributes_.push_back(
                {ns ? *ns : std::string(), std::string(attr_local), std::move(raw.value)});
        }
        if (!empty_element)
            parse_content(out, depth, qname);
        scope_.pop_to(mark);
    }

    /// Reads the attributes of a start tag up to and including its '>' (or '/>'): namespace
    /// declarations are bound in scope_, the others left in attributes_. True for '/>'.
    bool parse_attributes(std::string_view element_qname) {
        attributes_.clear();
        qnames_.clear();
        for (;;) {
            const std::size_t before = pos_;
            skip_space();
            if (pos_ >= doc_.size())
                malformed("unterminated start tag <" + shown(element_qname) + ">");
            if (doc_[pos_] == '>') {
                ++pos_;
                return false;
            }
            if (doc_[pos_] == '/') {
                if (pos_ + 1 >= doc_.size() || doc_[pos_ + 1] != '>')
                    malformed("expected '/>' in <" + shown(element_qname) + ">");
                pos_ += 2;
                return true;
            }
            if (pos_ == before)
                malformed("expected whitespace before an attribute in <" + shown(element_qname) +
                          ">");
            const std::string_view qname = scan_name();
            if (qname.empty())
                malformed("expected an attribute name in <" + shown(element_qname) + ">");
            skip_space();
            if (pos_ >= doc_.size() || doc_[pos_] != '=')
                malformed("expected '=' after attribute " + shown(qname));
            ++pos_;
            skip_space();
            if (pos_ >= doc_.size() || (doc_[pos_] != '"' && doc_[pos_] != '\''))
                malformed("expected a quoted value for attribute " + shown(qname));
            const char quote = doc_[pos_++];
            const auto close = doc_.find(quote, pos_);
            if (close == std::string_view::npos)
                malformed("unterminated value of attribute " + shown(qname));
            const std::string_view raw = doc_.substr(pos_, close - pos_);
            if (raw.find('<') != std::string_view::npos)
                malformed("'<' in the value of attribute " + shown(qname));
            pos_ = close + 1;
            std::string value;
            if (!needs_decoding(raw, true)) {
                value.assign(raw);
            } else {
                append_decoded(value, raw, true);
            }
            if (std::find(qnames_.begin(), qnames_.end(), qname) != qnames_.end())
                malformed("attribute '" + shown(qname) + "' given twice");
            qnames_.push_back(qname);
            if (qname == "xmlns") {
                scope_.bind("", value);
            } else if (qname.starts_with("xmlns:")) {
                (void)split(qname);  // "xmlns:" and "xmlns:a:b" declare nothing valid
                if (value.empty())
                    malformed("namespace prefix '" + shown(qname.substr(6)) +
                              "' bound to an empty name");
                scope_.bind(std::string(qname.substr(6)), value);
            } else {
                attributes_.push_back({qname, std::move(value)});
            }
        }
    }

    /// Character data, children, CDATA and comments up to the matching end tag.
    void parse_content(Element& out, int depth, std::string_view qname) {
        for (;;) {
            const auto lt = doc_.find('<', pos_);
            if (lt == std::string_view::npos) {
                pos_ = doc_.size();
                malformed("<" + shown(qname) + "> is not closed");
            }
            // A run of whitespace alone between markup is indentation, not data (tinyxml2, the
            // reader's test oracle, drops it too); it would only bloat every container's text.
            if (const auto raw = doc_.substr(pos_, lt - pos_);
                !std::all_of(raw.begin(), raw.end(), is_xml_space))
                append_text(out.text_, raw);
            pos_ = lt;
            const char next = pos_ + 1 < doc_.size() ? doc_[pos_ + 1] : '\0';
            if (next == '/') {
                pos_ += 2;
                if (scan_name() != qname)
                    malformed("end tag does not match <" + shown(qname) + ">");
                skip_space();
                if (pos_ >= doc_.size() || doc_[pos_] != '>')
                    malformed("expected '>' to end </" + shown(qname) + ">");
                ++pos_;
                return;
            }
            if (next == '!') {
                if (at("<!--")) {
                    skip_comment();
                } else if (at("<![CDATA[")) {
                    const auto end = doc_.find("]]>", pos_ + 9);
                    if (end == std::string_view::npos)
                        malformed("unterminated CDATA section");
                    const auto raw = doc_.substr(pos_ + 9, end - pos_ - 9);
                    if (raw.find('\r') == std::string_view::npos) {
                        out.text_.append(raw);
                    } else {
                        for (std::size_t i = 0; i < raw.size(); ++i) {
                            if (raw[i] != '\r')
                                out.text_ += raw[i];
                            else if (i + 1 >= raw.size() || raw[i + 1] != '\n')
                                out.text_ += '\n';
                        }
                    }
                    pos_ = end + 3;
                } else {
                    refuse_declaration();
                }
            } else if (next == '?') {
                malformed("processing instruction refused");
            } else {
                parse_element(out.children_.emplace_back(), depth + 1);
            }
        }
    }

    SharedNamespace resolve(std::string_view prefix, std::string_view qname, bool element) {
        SharedNamespace ns;
        if (!scope_.lookup(prefix, ns)) {
            throw protocol_error("undeclared namespace prefix '" + shown(prefix) + "' on " +
                                 (element ? "element <" : "attribute ") + shown(qname) +
                                 (element ? ">" : ""));
        }
        return ns;
    }

    struct RawAttribute {
        std::string_view qname;
        std::string value;  // decoded
    };

    std::string_view doc_;
    std::size_t pos_ = 0;
    const Limits& limits_;
    Scope scope_;
    std::vector<RawAttribute> attributes_;  // of the start tag being read; reused
    std::vector<std::string_view> qnames_;  // every attribute name of that tag, xmlns included
};

Element::Element(std::string ns, std::string name)
    : ns_(ns.empty() ? nullptr : std::make_shared<const std::string>(std::move(ns))),
      name_(std::move(name)) {}

const std::string& Element::no_namespace() {
    static const std::string empty;
    return empty;
}

Element Element::take_child(std::size_t index) {
    Element child = std::move(children_.at(index));
    children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(index));
    return child;
}

std::string_view Element::trimmed_text() const {
    std::string_view view = text_;
    while (!view.empty() && is_xml_space(view.front()))
        view.remove_prefix(1);
    while (!view.empty() && is_xml_space(view.back()))
        view.remove_suffix(1);
    return view;
}

const Element* Element::find(std::string_view ns, std::string_view name) const {
    for (const auto& child : children_) {
        if (child.name_ == name && child.ns() == ns)
            return &child;
    }
    return nullptr;
}

const Element& Element::get(std::string_view ns, std::string_view name) const {
    if (const auto* child = find(ns, name))
        return *child;
    throw protocol_error("missing <" + std::string(name) + "> in <" + name_ + ">");
}

std::vector<const Element*> Element::find_all(std::string_view ns, std::string_view name) const {
    std::vector<const Element*> found;
    for (const auto& child : children_) {
        if (child.name_ == name && child.ns() == ns)
            found.push_back(&child);
    }
    return found;
}

std::optional<std::string_view> Element::attribute(std::string_view ns,
                                                   std::string_view name) const {
    for (const auto& a : attributes_) {
        if (a.name == name && a.ns == ns)
            return std::string_view(a.value);
    }
    return std::nullopt;
}

bool Element::is_nil() const {
    auto nil = attribute(kXsiNamespace, "nil");
    return nil && (*nil == "true" || *nil == "1");
}

const Element* Element::find_non_nil(std::string_view ns, std::string_view name) const {
    const auto* child = find(ns, name);
    return child != nullptr && !child->is_nil() ? child : nullptr;
}

bool Element::as_bool() const {
    const auto value = trimmed_text();
    if (value == "true" || value == "1")
        return true;
    if (value == "false" || value == "0")
        return false;
    throw protocol_error("<" + name_ + "> is not a boolean: '" + std::string(value) + "'");
}

namespace {
template <typename T>
T parse_integer(std::string_view value, const std::string& element) {
    T result{};
    if (!value.empty() && value.front() == '+')
        value.remove_prefix(1);
    const auto* end = value.data() + value.size();
    auto [ptr, ec] = std::from_chars(value.data(), end, result);
    if (value.empty() || ec != std::errc() || ptr != end) {
        throw protocol_error("<" + element + "> is not a valid integer: '" + std::string(value) +
                             "'");
    }
    return result;
}
}  // namespace

std::int64_t Element::as_int() const {
    return parse_integer<std::int64_t>(trimmed_text(), name_);
}
std::uint32_t Element::as_uint32() const {
    return parse_integer<std::uint32_t>(trimmed_text(), name_);
}
std::int32_t Element::as_int32() const {
    return parse_integer<std::int32_t>(trimmed_text(), name_);
}

Element& Element::add(std::string ns, std::string name) {
    children_.emplace_back(std::move(ns), std::move(name));
    return children_.back();
}

Element& Element::add(std::string ns, std::string name, std::string text) {
    auto& child = add(std::move(ns), std::move(name));
    child.text_ = std::move(text);
    return child;
}

Element& Element::append(Element child) {
    children_.push_back(std::move(child));
    return children_.back();
}

Element& Element::set_attribute(std::string ns, std::string name, std::string value) {
    for (auto& a : attributes_) {
        if (a.ns == ns && a.name == name) {
            a.value = std::move(value);
            return *this;
        }
    }
    attributes_.push_back({std::move(ns), std::move(name), std::move(value)});
    return *this;
}

Element& Element::set_text(std::string text) {
    text_ = std::move(text);
    return *this;
}

Element& Element::set_nil() {
    return set_attribute(std::string(kXsiNamespace), "nil", "true");
}

Element parse(std::string_view document, const Limits& limits) {
    if (document.size() > limits.max_bytes) {
        throw protocol_error("XML document of " + std::to_string(document.size()) +
                             " bytes exceeds the limit of " + std::to_string(limits.max_bytes) +
                             " bytes");
    }
    check_characters(document);  // for the whole document: comments and CDATA included
    return Parser(document, limits).parse_document();
}

namespace {

void escape_into(std::string& out, std::string_view text, bool attribute) {
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '\r':
                out += "&#xD;";
                break;
            case '"':
                out += attribute ? "&quot;" : "\"";
                break;
            case '\n':
                out += attribute ? "&#xA;" : "\n";
                break;
            case '\t':
                out += attribute ? "&#x9;" : "\t";
                break;
            default:
                out += c;
        }
    }
}

class Writer {
  public:
    explicit Writer(std::span<const Prefix> prefixes) {
        for (const auto& p : prefixes) {
            if (element_prefix_.contains(p.ns))
                continue;
            element_prefix_[p.ns] = p.prefix;
            taken_.insert(p.prefix);
            declarations_.push_back(p);
        }
    }

    void collect(const Element& element) {
        if (!element.ns().empty() && !element_prefix_.contains(element.ns())) {
            element_prefix_[element.ns()] = declare(element.ns());
        }
        for (const auto& a : element.attributes()) {
            if (a.ns.empty() || a.ns == kXmlNamespace)
                continue;
            // A default namespace does not apply to attributes: they need a real prefix.
            auto it = element_prefix_.find(a.ns);
            if (it != element_prefix_.end() && !it->second.empty())
                continue;
            if (!attribute_prefix_.contains(a.ns))
                attribute_prefix_[a.ns] = declare(a.ns);
        }
        for (const auto& child : element.children())
            collect(child);
    }

    void write(std::string& out, const Element& element, bool root) {
        const std::string qname = qualified(element.ns(), element.name(), false);
        out += '<';
        out += qname;
        if (root) {
            for (const auto& d : declarations_) {
                out += d.prefix.empty() ? " xmlns" : " xmlns:" + d.prefix;
                out += "=\"";
                escape_into(out, d.ns, true);
                out += '"';
            }
        }
        for (const auto& a : element.attributes()) {
            out += ' ';
            out += qualified(a.ns, a.name, true);
            out += "=\"";
            escape_into(out, a.value, true);
            out += '"';
        }
        if (element.children().empty() && element.text().empty()) {
            out += "/>";
            return;
        }
        out += '>';
        escape_into(out, element.text(), false);
        for (const auto& child : element.children())
            write(out, child, false);
        out += "</";
        out += qname;
        out += '>';
    }

  private:
    std::string declare(const std::string& ns) {
        std::string prefix;
        for (int n = 0;; ++n) {
            prefix = "ns" + std::to_string(n);
            if (!taken_.contains(prefix))
                break;
        }
        taken_.insert(prefix);
        declarations_.push_back({prefix, ns});
        return prefix;
    }

    std::string qualified(const std::string& ns, const std::string& name, bool attribute) const {
        if (ns.empty())
            return name;
        if (ns == kXmlNamespace)
            return "xml:" + name;
        if (attribute) {
            auto it = attribute_prefix_.find(ns);
            if (it != attribute_prefix_.end())
                return it->second + ":" + name;
        }
        const auto& prefix = element_prefix_.at(ns);
        return prefix.empty() ? name : prefix + ":" + name;
    }

    std::map<std::string, std::string> element_prefix_;
    std::map<std::string, std::string> attribute_prefix_;
    std::set<std::string> taken_;
    std::vector<Prefix> declarations_;
};

bool uses_no_namespace_element(const Element& element) {
    if (element.ns().empty())
        return true;
    return std::any_of(element.children().begin(), element.children().end(),
                       uses_no_namespace_element);
}

}  // namespace

std::string serialize(const Element& root, std::span<const Prefix> prefixes) {
    const bool has_default = std::any_of(prefixes.begin(), prefixes.end(),
                                         [](const Prefix& p) { return p.prefix.empty(); });
    if (has_default && uses_no_namespace_element(root)) {
        // Un-declaring a default namespace is not possible at the root; refuse rather than emit
        // a document that means something else.
        throw Error(ErrorKind::Internal,
                    "cannot serialize an element without namespace under a default namespace");
    }
    Writer writer(prefixes);
    writer.collect(root);
    std::string out = "<?xml version=\"1.0\" encoding=\"utf-8\"?>";
    writer.write(out, root, true);
    return out;
}

}  // namespace certenroll::xml
