#include "xml/xml.hpp"

#include <tinyxml2.h>

#include <algorithm>
#include <cctype>
#include <charconv>
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

/// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
void check_utf8(std::string_view text) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t size = text.size();
    std::size_t i = 0;
    while (i < size) {
        // Fast path: eight ASCII bytes at a time (SOAP documents are almost entirely ASCII).
        if (std::uint64_t word = 0; i + sizeof word <= size) {
            std::memcpy(&word, bytes + i, sizeof word);
            if ((word & 0x8080808080808080ull) == 0) {
                i += sizeof word;
                continue;
            }
        }
        const unsigned char lead = bytes[i];
        std::size_t length = 0;
        std::uint32_t code = 0;
        std::uint32_t minimum = 0;
        if (lead < 0x80) {
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

// Any markup declaration is refused: DTDs are how XXE and entity-expansion attacks arrive.
// Each "<!" is found from its '!', which is far rarer than '<' in a SOAP document.
bool contains_doctype_or_entity(std::string_view document) {
    std::size_t pos = 0;
    while ((pos = document.find('!', pos)) != std::string_view::npos) {
        if (pos > 0 && document[pos - 1] == '<') {
            const std::string_view rest = document.substr(pos + 1);
            if (starts_with_keyword(rest, "DOCTYPE") || starts_with_keyword(rest, "ENTITY")) {
                return true;
            }
        }
        ++pos;
    }
    return false;
}

std::pair<std::string_view, std::string_view> split_qname(std::string_view qname) {
    const auto colon = qname.find(':');
    if (colon == std::string_view::npos)
        return {{}, qname};
    return {qname.substr(0, colon), qname.substr(colon + 1)};
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

class Parser {
  public:
    explicit Parser(const Limits& limits) : limits_(limits) {}

    /// Fills `out`, a default-constructed element, from `source`. Children are converted in
    /// place (their vector is sized first, so it never reallocates): no element is moved.
    void convert(const tinyxml2::XMLElement& source, int depth, Element& out) {
        if (depth > limits_.max_depth) {
            throw protocol_error("XML document nested deeper than " +
                                 std::to_string(limits_.max_depth) + " elements");
        }
        const auto mark = scope_.mark();
        bool other_attributes = false;
        for (const auto* a = source.FirstAttribute(); a != nullptr; a = a->Next()) {
            const std::string_view qname = a->Name();
            if (qname == "xmlns") {
                scope_.bind("", a->Value());
            } else if (qname.starts_with("xmlns:")) {
                scope_.bind(std::string(qname.substr(6)), a->Value());
            } else {
                other_attributes = true;
            }
        }
        const std::string_view element_qname = source.Name();
        const auto [prefix, local] = split_qname(element_qname);
        out.ns_ = resolve(prefix, element_qname, true);
        out.name_.assign(local);
        for (const auto* a = source.FirstAttribute(); other_attributes && a != nullptr;
             a = a->Next()) {
            const std::string_view qname = a->Name();
            if (qname == "xmlns" || qname.starts_with("xmlns:"))
                continue;
            auto [attr_prefix, attr_local] = split_qname(qname);
            // Unprefixed attributes are in no namespace, whatever the default namespace is.
            const SharedNamespace ns =
                attr_prefix.empty() ? nullptr : resolve(attr_prefix, qname, false);
            out.attributes_.push_back(
                {ns ? *ns : std::string(), std::string(attr_local), a->Value()});
        }
        std::size_t element_count = 0;
        for (const auto* e = source.FirstChildElement(); e != nullptr; e = e->NextSiblingElement())
            ++element_count;
        out.children_.reserve(element_count);
        for (const auto* node = source.FirstChild(); node != nullptr; node = node->NextSibling()) {
            if (const auto* element = node->ToElement()) {
                convert(*element, depth + 1, out.children_.emplace_back());
            } else if (const auto* text = node->ToText()) {
                if (const char* value = text->Value(); value != nullptr)
                    out.text_ += value;
            } else if (node->ToUnknown() != nullptr) {
                throw protocol_error("unsupported markup declaration in XML document");
            }
        }
        scope_.pop_to(mark);
    }

  private:
    SharedNamespace resolve(std::string_view prefix, std::string_view qname, bool element) {
        SharedNamespace ns;
        if (!scope_.lookup(prefix, ns)) {
            throw protocol_error("undeclared namespace prefix '" + std::string(prefix) + "' on " +
                                 (element ? "element <" : "attribute ") + std::string(qname) +
                                 (element ? ">" : ""));
        }
        return ns;
    }

    const Limits& limits_;
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
    if (contains_doctype_or_entity(document)) {
        throw protocol_error("XML document contains a DOCTYPE or entity declaration, refused");
    }
    check_utf8(document);
    tinyxml2::XMLDocument doc(true, tinyxml2::PRESERVE_WHITESPACE);
    if (doc.Parse(document.data(), document.size()) != tinyxml2::XML_SUCCESS) {
        const char* detail = doc.ErrorStr();
        throw protocol_error(std::string("malformed XML: ") +
                             (detail != nullptr ? detail : "parse error"));
    }
    const auto* root = doc.RootElement();
    if (root == nullptr)
        throw protocol_error("XML document has no root element");
    Parser parser(limits);
    Element tree;
    parser.convert(*root, 1, tree);
    return tree;
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
