#include "xml/xml.hpp"

#include <tinyxml2.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <map>
#include <unordered_map>

#include "error.hpp"
#include "xml/prescan.hpp"

namespace certenroll::xml {

Error detail::protocol_error(std::string message) {
    return Error(ErrorKind::Protocol, std::move(message),
                 "the server sent a malformed response; run with --verbose to see it and report it "
                 "to the server's administrator");
}

namespace {

using detail::protocol_error;

constexpr std::string_view kXmlNamespace = "http://www.w3.org/XML/1998/namespace";
constexpr std::string_view kXsiNamespace = "http://www.w3.org/2001/XMLSchema-instance";

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

using SharedNamespace = std::shared_ptr<const std::string>;

/// Prefix bindings in scope: for each prefix, a stack of the namespaces bound to it, innermost
/// last; leaving an element pops what it declared. Lookups and declarations stay logarithmic
/// whatever a document declares (a flat list searched from the back was quadratic in hostile
/// ones: 25,000 distinct declarations took 3.6 s). Namespace names are shared strings (null for
/// "no namespace"), one per distinct URI of the document, which every element in it points at.
class Scope {
  public:
    Scope() {
        bind("", "");
        bind("xml", kXmlNamespace);
    }

    std::size_t mark() const { return declared_.size(); }
    void pop_to(std::size_t mark) {
        while (declared_.size() > mark) {
            const auto binding = declared_.back();
            declared_.pop_back();
            binding->second.pop_back();
            if (binding->second.empty())
                bindings_.erase(binding);
        }
    }
    void bind(std::string_view prefix, std::string_view ns) {
        auto binding = bindings_.find(prefix);
        if (binding == bindings_.end())
            binding = bindings_.emplace(std::string(prefix), std::vector<SharedNamespace>()).first;
        // xmlns="" undeclares the default namespace.
        binding->second.push_back(ns.empty() ? nullptr : intern(ns));
        declared_.push_back(binding);
    }
    /// False for an undeclared prefix; else `ns` is its namespace (null for none).
    bool lookup(std::string_view prefix, SharedNamespace& ns) const {
        const auto binding = bindings_.find(prefix);
        if (binding == bindings_.end())
            return false;
        ns = binding->second.back();
        return true;
    }

  private:
    SharedNamespace intern(std::string_view ns) {
        if (const auto known = namespaces_.find(ns); known != namespaces_.end())
            return known->second;
        auto shared = std::make_shared<const std::string>(ns);
        namespaces_.emplace(*shared, shared);  // the key views the shared string
        return shared;
    }

    using Bindings = std::map<std::string, std::vector<SharedNamespace>, std::less<>>;
    Bindings bindings_;
    std::vector<Bindings::iterator> declared_;  // one per binding, in declaration order
    std::unordered_map<std::string_view, SharedNamespace> namespaces_;  // distinct URIs
};

/// A refusal of tinyxml2's, in words: its error names and, for element errors, the element.
[[noreturn]] void refuse_tinyxml2_error(const tinyxml2::XMLDocument& document) {
    std::string what;
    switch (document.ErrorID()) {
        case tinyxml2::XML_ERROR_EMPTY_DOCUMENT:
            what = "no root element";
            break;
        case tinyxml2::XML_ERROR_MISMATCHED_ELEMENT:
            what = "no matching end tag for";
            break;
        case tinyxml2::XML_ERROR_PARSING_ELEMENT:
            what = "malformed tag";
            break;
        case tinyxml2::XML_ERROR_PARSING_ATTRIBUTE:
            what = "malformed or repeated attribute in";
            break;
        case tinyxml2::XML_ERROR_PARSING_TEXT:
            what = "text runs to the end of the document";
            break;
        case tinyxml2::XML_ERROR_PARSING:
            what = "malformed markup";
            break;
        default:
            what = tinyxml2::XMLDocument::ErrorIDToName(document.ErrorID());
    }
    // ErrorStr() ends in ": XMLElement name=NAME" for errors about an element.
    const std::string_view detail = document.ErrorStr() != nullptr ? document.ErrorStr() : "";
    if (const auto at = detail.find("XMLElement name="); at != std::string_view::npos)
        what += " <" + shown(detail.substr(at + 16)) + ">";
    if (document.ErrorLineNum() > 0)
        what += " (line " + std::to_string(document.ErrorLineNum()) + ")";
    throw protocol_error("malformed XML: " + what);
}

}  // namespace

/// The walk from tinyxml2's document to the Element tree: resolves every prefix with the
/// declarations in scope and checks what tinyxml2 does not (names that are not namespace-valid,
/// an attribute given twice once its prefix is resolved, one root element and nothing but
/// comments beside it). Recursion is bounded by Limits::max_depth, which the pre-scan enforced.
class TreeBuilder {
  public:
    Element build(const tinyxml2::XMLDocument& document) {
        const tinyxml2::XMLElement* root = nullptr;
        for (const auto* node = document.FirstChild(); node != nullptr;
             node = node->NextSibling()) {
            if (const auto* element = node->ToElement()) {
                if (root != nullptr)
                    malformed("more than one root element", *node);
                root = element;
            } else if (node->ToText() != nullptr) {
                malformed("text outside the root element", *node);
            } else if (node->ToComment() == nullptr && node->ToDeclaration() == nullptr) {
                malformed("unsupported markup", *node);  // the pre-scan refuses it first
            }
        }
        if (root == nullptr)
            throw protocol_error("malformed XML: no root element");
        Element out;
        convert(*root, out);
        return out;
    }

  private:
    [[noreturn]] static void malformed(std::string_view what, const tinyxml2::XMLNode& node) {
        throw protocol_error("malformed XML: " + std::string(what) + " (line " +
                             std::to_string(node.GetLineNum()) + ")");
    }

    void convert(const tinyxml2::XMLElement& in, Element& out) {
        const auto mark = scope_.mark();
        // Namespace declarations first: they apply to the element's own name and attributes.
        for (const auto* a = in.FirstAttribute(); a != nullptr; a = a->Next()) {
            const std::string_view qname = a->Name();
            if (qname == "xmlns") {
                scope_.bind("", a->Value());  // xmlns="" undeclares the default namespace
            } else if (qname.starts_with("xmlns:")) {
                (void)split(qname, in);  // "xmlns:" and "xmlns:a:b" declare nothing valid
                if (*a->Value() == '\0')
                    malformed(
                        "namespace prefix '" + shown(qname.substr(6)) + "' bound to an empty name",
                        in);
                scope_.bind(qname.substr(6), a->Value());
            }
        }
        const std::string_view qname = in.Name();
        const auto [prefix, local] = split(qname, in);
        out.ns_ = resolve(prefix, qname, true);
        out.name_.assign(local);
        for (const auto* a = in.FirstAttribute(); a != nullptr; a = a->Next()) {
            const std::string_view attribute_qname = a->Name();
            if (attribute_qname == "xmlns" || attribute_qname.starts_with("xmlns:"))
                continue;
            const auto [attribute_prefix, attribute_local] = split(attribute_qname, in);
            // Unprefixed attributes are in no namespace, whatever the default namespace is.
            const SharedNamespace ns = attribute_prefix.empty()
                                           ? nullptr
                                           : resolve(attribute_prefix, attribute_qname, false);
            const std::string& ns_name = ns ? *ns : Element::no_namespace();
            // Quadratic in the attributes of one element, which the pre-scan capped.
            for (const auto& earlier : out.attributes_) {
                if (earlier.name == attribute_local && earlier.ns == ns_name)
                    malformed("attribute '" + shown(attribute_qname) + "' given twice", in);
            }
            out.attributes_.push_back({ns_name, std::string(attribute_local), a->Value()});
        }
        for (const auto* node = in.FirstChild(); node != nullptr; node = node->NextSibling()) {
            if (const auto* element = node->ToElement()) {
                convert(*element, out.children_.emplace_back());
            } else if (const auto* text = node->ToText()) {
                // Never only whitespace: tinyxml2 drops such runs between markup.
                out.text_.append(text->Value());
            } else if (node->ToComment() == nullptr) {
                malformed("unsupported markup", *node);  // the pre-scan refuses it first
            }
        }
        scope_.pop_to(mark);
    }

    /// Splits prefix:local; a name with an empty part or a second colon is not namespace-valid.
    std::pair<std::string_view, std::string_view> split(std::string_view qname,
                                                        const tinyxml2::XMLNode& where) {
        const auto colon = qname.find(':');
        if (colon == std::string_view::npos)
            return {{}, qname};
        const auto prefix = qname.substr(0, colon);
        const auto local = qname.substr(colon + 1);
        if (prefix.empty() || local.empty() || local.find(':') != std::string_view::npos ||
            (local.front() >= '0' && local.front() <= '9') || local.front() == '-' ||
            local.front() == '.') {
            malformed("invalid qualified name '" + shown(qname) + "'", where);
        }
        return {prefix, local};
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

    Scope scope_;
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
    (void)detail::prescan(document, limits);
    tinyxml2::XMLDocument parsed(true, tinyxml2::PRESERVE_WHITESPACE);  // entities decoded
    if (parsed.Parse(document.data(), document.size()) != tinyxml2::XML_SUCCESS)
        refuse_tinyxml2_error(parsed);
    return TreeBuilder().build(parsed);
}

}  // namespace certenroll::xml
