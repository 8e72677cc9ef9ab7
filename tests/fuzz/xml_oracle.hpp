#pragma once
/// tinyxml2 as a test oracle for our one-pass XML reader (src/xml): every document the reader
/// accepts, tinyxml2 must accept too, with the same elements, attributes and character data.
/// Namespaces are ours alone (tinyxml2 does not resolve them), so names are compared by local part.
/// Used by fuzz_xml on every input and by unit.xml_oracle on the checked-in corpora.

#include <tinyxml2.h>

#include <string>
#include <string_view>

#include "xml/xml.hpp"

namespace certenroll::xml_oracle {

namespace detail {

inline std::string_view local_part(std::string_view qname) {
    const auto colon = qname.find(':');
    return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
}

// tinyxml2 does not normalise attribute values; we do, as XML 1.0 (3.3.3) says. Runs of spaces
// are collapsed on both sides because of its "\n\r" quirk (see collapsed_line_ends).
inline std::string normalised(std::string_view value) {
    std::string out;
    for (char c : value) {
        if (c == '\t' || c == '\n')
            c = ' ';
        if (c != ' ' || out.empty() || out.back() != ' ')
            out += c;
    }
    return out;
}

// tinyxml2 reads "\n\r" as one line end; XML 1.0 (2.11) makes it two. Runs of line ends are
// collapsed on both sides before comparing character data, so that quirk is not a difference.
inline std::string collapsed_line_ends(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        if (c != '\n' || out.empty() || out.back() != '\n')
            out += c;
    }
    return out;
}

inline std::string compare(const xml::Element& ours, const tinyxml2::XMLElement& theirs,
                           const std::string& path) {
    const std::string here = path + "/" + ours.name();
    if (ours.name() != local_part(theirs.Name()))
        return here + ": tinyxml2 names it <" + theirs.Name() + ">";
    std::size_t attribute = 0;
    for (const auto* a = theirs.FirstAttribute(); a != nullptr; a = a->Next()) {
        const std::string_view qname = a->Name();
        if (qname == "xmlns" || qname.starts_with("xmlns:"))
            continue;
        if (attribute >= ours.attributes().size())
            return here + ": tinyxml2 has an extra attribute " + std::string(qname);
        const auto& mine = ours.attributes()[attribute++];
        if (mine.name != local_part(qname) ||
            normalised(mine.value) != normalised(a->Value() != nullptr ? a->Value() : ""))
            return here + ": attribute " + std::string(qname) + " differs";
    }
    if (attribute != ours.attributes().size())
        return here + ": tinyxml2 has fewer attributes";
    std::string text;
    std::size_t child = 0;
    for (const auto* node = theirs.FirstChild(); node != nullptr; node = node->NextSibling()) {
        if (const auto* element = node->ToElement()) {
            if (child >= ours.children().size())
                return here + ": tinyxml2 has an extra child <" + element->Name() + ">";
            if (auto difference = compare(ours.children()[child++], *element, here);
                !difference.empty())
                return difference;
        } else if (const auto* t = node->ToText()) {
            text += t->Value() != nullptr ? t->Value() : "";
        }
    }
    if (child != ours.children().size())
        return here + ": tinyxml2 has fewer children";
    if (collapsed_line_ends(text) != collapsed_line_ends(ours.text()))
        return here + ": character data differs";
    return {};
}

}  // namespace detail

/// Empty when tinyxml2 agrees with `ours`, the reader's tree of `document`; else where not.
inline std::string difference(const xml::Element& ours, std::string_view document) {
    tinyxml2::XMLDocument doc(true, tinyxml2::PRESERVE_WHITESPACE);
    if (doc.Parse(document.data(), document.size()) != tinyxml2::XML_SUCCESS) {
        const char* detail = doc.ErrorStr();
        return std::string("tinyxml2 refuses what the reader accepted: ") +
               (detail != nullptr ? detail : "?");
    }
    const auto* root = doc.RootElement();
    if (root == nullptr)
        return "tinyxml2 finds no root element";
    return detail::compare(ours, *root, "");
}

}  // namespace certenroll::xml_oracle
