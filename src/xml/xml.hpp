#pragma once
/// Namespace-aware XML for SOAP messages: our own one-pass reader (parse) and writer (serialize).
///
/// Elements and attributes are named by (namespace URI, local name). Prefixes are resolved while
/// parsing and chosen only when writing, because CEP/CES servers use default namespaces, `s:`/`a:`
/// (WCF) or `ns0:` prefixes for the same document.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace certenroll::xml {

/// Caps applied while parsing network input.
struct Limits {
    std::size_t max_bytes = 16 * 1024 * 1024;
    int max_depth = 64;  ///< the root element is depth 1
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
    friend class Parser;
    static const std::string& no_namespace();
    /// Null for no namespace. Immutable and shared: every element of a parsed document in the
    /// same namespace points at one string, instead of each holding a copy of the URI.
    std::shared_ptr<const std::string> ns_;
    std::string name_;
    std::vector<Attribute> attributes_;
    std::vector<Element> children_;
    std::string text_;
};

/// Parses a UTF-8 document and resolves every prefix. Throws a protocol Error for malformed XML,
/// invalid UTF-8, an undeclared prefix, a DOCTYPE or entity declaration, an undefined entity, a
/// processing instruction, a document larger than limits.max_bytes or nested deeper than
/// limits.max_depth. Text has line ends normalised (CRLF and CR to LF) and references decoded.
Element parse(std::string_view document, const Limits& limits = {});

/// A namespace and the prefix to write it with; an empty prefix declares the default namespace.
struct Prefix {
    std::string prefix;
    std::string ns;
};

/// Writes a document (with an XML declaration). Namespaces in `prefixes` are declared on the root
/// with the chosen prefixes; any other namespace used gets a generated `nsN` prefix, also on the
/// root. Text and attribute values are escaped.
std::string serialize(const Element& root, std::span<const Prefix> prefixes = {});

}  // namespace certenroll::xml
