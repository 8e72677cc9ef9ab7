#pragma once
/// Properties of src/xml that fuzz_xml checks on every input and unit.xml_properties on the
/// checked-in corpora; each returns an empty string when it holds, else what broke.
///  - prescan_difference: the pre-scan (src/xml/prescan) counts exactly the nodes, attributes
///    per element and depth of the tree tinyxml2 builds, so a document under the limits cannot
///    make tinyxml2 allocate more than they allow.
///  - round_trip_difference: a parsed tree, serialized and parsed again, has the same names
///    (namespace URI and local name), attributes, text and children: the namespaces resolved
///    while parsing and the prefixes chosen while writing agree.

#include <tinyxml2.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>
#include <string_view>

#include "error.hpp"
#include "xml/prescan.hpp"
#include "xml/xml.hpp"

namespace certenroll::xml_properties {

namespace detail {

inline void count(const tinyxml2::XMLNode& node, int depth, xml::detail::Structure& out) {
    for (const auto* child = node.FirstChild(); child != nullptr; child = child->NextSibling()) {
        if (const auto* element = child->ToElement()) {
            std::size_t attributes = 0;
            for (const auto* a = element->FirstAttribute(); a != nullptr; a = a->Next())
                ++attributes;
            out.nodes += 1 + attributes;
            out.most_attributes = std::max(out.most_attributes, attributes);
            out.depth = std::max(out.depth, depth + 1);
            count(*child, depth + 1, out);
        } else if (child->ToComment() != nullptr ||
                   (child->ToText() != nullptr && child->ToText()->CData())) {
            ++out.nodes;
        }
    }
}

inline bool only_space(std::string_view text) {
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

inline std::string compare(const xml::Element& a, const xml::Element& b, const std::string& path) {
    const std::string here = path + "/{" + a.ns() + "}" + a.name();
    if (a.ns() != b.ns() || a.name() != b.name())
        return here + ": read back as {" + b.ns() + "}" + b.name();
    if (a.attributes().size() != b.attributes().size())
        return here + ": attribute count differs";
    for (std::size_t i = 0; i < a.attributes().size(); ++i) {
        const auto& x = a.attributes()[i];
        const auto& y = b.attributes()[i];
        if (x.ns != y.ns || x.name != y.name || x.value != y.value)
            return here + ": attribute {" + x.ns + "}" + x.name + " differs";
    }
    // A text of only whitespace is written as it is, and such a run is dropped when read.
    if (a.text() != b.text() && !(only_space(a.text()) && b.text().empty()))
        return here + ": text differs";
    if (a.children().size() != b.children().size())
        return here + ": child count differs";
    for (std::size_t i = 0; i < a.children().size(); ++i) {
        if (auto difference = compare(a.children()[i], b.children()[i], here); !difference.empty())
            return difference;
    }
    return {};
}

}  // namespace detail

/// Empty unless the pre-scan lets `document` through and tinyxml2 builds a tree of other counts.
/// Documents with a control character other than tab, LF and CR are skipped: xml::parse refuses
/// them before the pre-scan, and tinyxml2 stops reading at a NUL and takes "<\f/a>" for an end
/// tag (it skips C whitespace after '<'), which the pre-scan counts as a start tag.
inline std::string prescan_difference(std::string_view document) {
    if (std::any_of(document.begin(), document.end(), [](char c) {
            return static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r';
        }))
        return {};
    xml::Limits unlimited;
    unlimited.max_bytes = SIZE_MAX;
    unlimited.max_nodes = SIZE_MAX;
    unlimited.max_attributes = SIZE_MAX;
    unlimited.max_depth = INT_MAX;
    xml::detail::Structure counted;
    try {
        counted = xml::detail::prescan(document, unlimited);
    } catch (const Error&) {
        return {};  // refused: tinyxml2 never sees it
    }
    tinyxml2::XMLDocument parsed(true, tinyxml2::PRESERVE_WHITESPACE);
    if (parsed.Parse(document.data(), document.size()) != tinyxml2::XML_SUCCESS)
        return {};
    xml::detail::Structure built;
    detail::count(parsed, 0, built);
    if (counted.nodes != built.nodes || counted.most_attributes != built.most_attributes ||
        counted.depth != built.depth) {
        return "pre-scan counted " + std::to_string(counted.nodes) + " nodes, " +
               std::to_string(counted.most_attributes) + " attributes at most, depth " +
               std::to_string(counted.depth) + "; tinyxml2 built " + std::to_string(built.nodes) +
               ", " + std::to_string(built.most_attributes) + ", " + std::to_string(built.depth);
    }
    return {};
}

/// Empty when `root` survives serialize and parse unchanged (parsed without limits: the
/// writer declares every namespace on the root, which adds attributes there).
inline std::string round_trip_difference(const xml::Element& root) {
    const std::string text = xml::serialize(root);
    xml::Limits unlimited;
    unlimited.max_bytes = SIZE_MAX;
    unlimited.max_nodes = SIZE_MAX;
    unlimited.max_attributes = SIZE_MAX;
    try {
        return detail::compare(root, xml::parse(text, unlimited), "");
    } catch (const Error& e) {
        return std::string("the serialized tree does not parse: ") + e.what();
    }
}

}  // namespace certenroll::xml_properties
