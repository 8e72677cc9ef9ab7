#pragma once
/// Namespace-aware XML for SOAP messages: tinyxml2 reads the document, a thin layer on top
/// resolves namespace prefixes into an Element tree, and a small writer serializes one.
///
/// Elements and attributes are named by (namespace URI, local name). Prefixes are resolved while
/// parsing and chosen only when writing, because CEP/CES servers use default namespaces, `s:`/`a:`
/// (WCF) or `ns0:` prefixes for the same document. tinyxml2 knows nothing of namespaces; its
/// document lives only while the tree is built from it.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace certenroll::xml {

/// Caps applied while parsing network input, checked before tinyxml2 allocates anything (see
/// xml/prescan.hpp).
struct Limits {
    std::size_t max_bytes = 16 * 1024 * 1024;
    int max_depth = 64;  ///< the root element is depth 1
    /// Elements, attributes (namespace declarations included), comments and CDATA sections in
    /// the whole document: tinyxml2 allocates a node for each, and the tree one more. The bench's
    /// GetPolicies response of 1,000 templates and 20 CAs holds 56,193; 200,000 empty elements
    /// (800 KB) peak at 60 MB of RSS while parsed.
    std::size_t max_nodes = 200'000;
    /// On one element, namespace declarations included: tinyxml2's duplicate check is quadratic
    /// in it. SOAP envelopes carry a handful.
    std::size_t max_attributes = 64;
};

struct Attribute {
    std::string ns;  ///< empty for unqualified attributes
    std::string name;
    std::string value;
};

/// One element with its attributes, children and direct character data. Used both for parsed
/// documents and for documents being built.
class Element {
  public:
    Element() = default;
    Element(std::string ns, std::string name);

    const std::string& ns() const { return ns_ ? *ns_ : no_namespace(); }
    const std::string& name() const { return name_; }
    const std::vector<Element>& children() const { return children_; }
    const std::vector<Attribute>& attributes() const { return attributes_; }

    /// Character data directly inside this element (not in children), entities decoded. In a
    /// parsed document, a run of only whitespace between two pieces of markup is not included.
    const std::string& text() const { return text_; }
    /// text() without leading and trailing XML whitespace.
    std::string_view trimmed_text() const;

    /// The first child with this name, or nullptr.
    const Element* find(std::string_view ns, std::string_view name) const;
    /// The first child with this name; throws a protocol Error naming the missing element.
    const Element& get(std::string_view ns, std::string_view name) const;
    /// All children with this name, in document order.
    std::vector<const Element*> find_all(std::string_view ns, std::string_view name) const;
    /// Attribute value; `ns` empty for an unqualified attribute.
    std::optional<std::string_view> attribute(std::string_view ns, std::string_view name) const;

    /// True for xsi:nil="true" (or "1").
    bool is_nil() const;
    /// The first child with this name unless it is absent or xsi:nil; nullptr otherwise.
    const Element* find_non_nil(std::string_view ns, std::string_view name) const;

    /// Typed reads of trimmed_text(); a malformed value throws a protocol Error naming the element.
    bool as_bool() const;  ///< xs:boolean: true, false, 1, 0
    std::int64_t as_int() const;
    std::uint32_t as_uint32() const;
    std::int32_t as_int32() const;

    // Building.
    /// Appends a child and returns it.
    Element& add(std::string ns, std::string name);
    /// Appends a child with text and returns it.
    Element& add(std::string ns, std::string name, std::string text);
    Element& append(Element child);
    Element& set_attribute(std::string ns, std::string name, std::string value);
    Element& set_text(std::string text);
    /// Marks the element xsi:nil="true".
    Element& set_nil();

    /// Removes the child at `index` and returns it: keeps one subtree of a parsed document (the
    /// SOAP body's payload) without copying it.
    Element take_child(std::size_t index);

  private:
    friend class TreeBuilder;
    static const std::string& no_namespace();
    /// Null for no namespace. Immutable and shared: every element of a parsed document in the
    /// same namespace points at one string, instead of each holding a copy of the URI.
    std::shared_ptr<const std::string> ns_;
    std::string name_;
    std::vector<Attribute> attributes_;
    std::vector<Element> children_;
    std::string text_;
};

/// Parses a UTF-8 document with tinyxml2 and resolves every prefix. Throws a protocol Error for
/// malformed XML (as tinyxml2 or the pre-scan finds it), invalid UTF-8 or a control character
/// anywhere, an undeclared prefix, an attribute given twice (also once resolved), a DOCTYPE or
/// entity declaration, an undefined entity, a processing instruction, more than one root element,
/// or a document over `limits`. Text and attribute values have line ends normalised (CRLF, CR,
/// and as tinyxml2 reads it also LF CR, to LF) and references decoded; attribute values are not
/// otherwise normalised (tinyxml2 keeps tabs and line ends where XML 1.0 makes them spaces).
Element parse(std::string_view document, const Limits& limits = {});

/// A namespace and the prefix to write it with; an empty prefix declares the default namespace.
struct Prefix {
    std::string prefix;
    std::string ns;
};

/// Writes a document (with an XML declaration). Namespaces in `prefixes` are declared on the root
/// with the chosen prefixes; any other namespace used gets a generated `nsN` prefix, also on the
/// root. Text and attribute values are escaped, CR and other control characters (and in
/// attribute values tab and LF) as character references, so that the receiving parser's line-end
/// and attribute normalisation leaves them as they are. This writer is ours, not tinyxml2's
/// XMLPrinter: XMLPrinter writes these characters raw and escapes the '&' of any reference
/// handed to it, and knows no namespaces to choose prefixes for.
std::string serialize(const Element& root, std::span<const Prefix> prefixes = {});

}  // namespace certenroll::xml
