#pragma once
/// The structure limits of a document, counted before tinyxml2 sees it (internal to src/xml; the
/// tests use it directly).
///
/// tinyxml2 9.0.0 builds the whole document before anyone can look at it, and falls short on
/// hostile input in two measured ways (-O2, on the project's 2-core test machine):
///  - one element with 10,000 attributes parses in 0.31 s, with 40,000 in 6.4 s: its duplicate
///    check walks the element's attribute list for each new attribute (quadratic);
///  - 4,000,000 empty elements (16 MB) take 3.7 s and peak at 506 MB of RSS: a node each.
/// So this scan counts what tinyxml2 would allocate (elements, attributes, comments, CDATA
/// sections), attributes per start tag and nesting depth, and refuses a document over a limit
/// before anything is allocated. No allocation, and every search starts where the previous one
/// ended: each byte is read a fixed number of times (at most three, in attribute values), so it
/// is linear in the document.
///
/// It runs after xml::parse's character check (valid UTF-8; no control character but tab, LF and
/// CR) and reads markup the way tinyxml2 does, so it cannot undercount: '<' and '>' inside quoted
/// attribute values, comments and CDATA sections are skipped like tinyxml2 skips them. What it
/// cannot skip that way, it refuses: DOCTYPE and other "<!" declarations (entity declarations can
/// never apply), processing instructions (every "<?" but the XML declaration at the very start),
/// '<' inside a tag or an attribute value. It also checks every '&' in character data and
/// attribute values: tinyxml2 keeps an undefined entity as literal text and decodes "&#0;" to a
/// string end, so only the five predefined entities and character references of real characters
/// may pass. tests/fuzz/fuzz_xml checks these counts against the tree tinyxml2 builds.

#include <cstddef>
#include <string>
#include <string_view>

#include "error.hpp"

namespace certenroll::xml {

struct Limits;

namespace detail {

/// What prescan counted in a document it let through.
struct Structure {
    std::size_t nodes = 0;            ///< elements, attributes, comments and CDATA sections
    std::size_t most_attributes = 0;  ///< on one element, namespace declarations included
    int depth = 0;                    ///< the deepest element's depth; the root element is 1
};

/// Throws a protocol Error for a document over `limits` (max_nodes, max_attributes, max_depth)
/// or holding markup it refuses (see above); otherwise returns the counts.
Structure prescan(std::string_view document, const Limits& limits);

/// The protocol Error of every XML refusal, with its hint.
Error protocol_error(std::string message);

}  // namespace detail
}  // namespace certenroll::xml
