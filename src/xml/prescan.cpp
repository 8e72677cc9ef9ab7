#include "xml/prescan.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>

#include "xml/xml.hpp"

namespace certenroll::xml::detail {
namespace {

bool is_xml_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool starts_with_keyword(std::string_view text, std::string_view upper_keyword) {
    return text.size() >= upper_keyword.size() &&
           std::equal(upper_keyword.begin(), upper_keyword.end(), text.begin(), [](char a, char b) {
               return a == std::toupper(static_cast<unsigned char>(b));
           });
}

class Prescan {
  public:
    Prescan(std::string_view document, const Limits& limits) : doc_(document), limits_(limits) {}

    Structure run() {
        std::size_t pos = doc_.starts_with("\xEF\xBB\xBF") ? 3 : 0;  // UTF-8 byte order mark
        // The XML declaration, only at the very start (tinyxml2 takes any "<?" for one).
        if (const auto rest = doc_.substr(pos); rest.starts_with("<?xml") && rest.size() > 5 &&
                                                (is_xml_space(rest[5]) || rest[5] == '?'))
            pos = past("?>", pos + 5, pos, "unterminated XML declaration");
        for (;;) {
            const std::size_t lt = std::min(doc_.find('<', pos), doc_.size());
            check_references(pos, lt);
            if (lt == doc_.size())
                return counted_;
            const std::string_view markup = doc_.substr(lt + 1);
            if (markup.starts_with('/')) {
                if (open_ == 0)  // tinyxml2 ignores an end tag outside any element
                    malformed("end tag without a start tag", lt);
                --open_;
                pos = end_tag(lt);
            } else if (markup.starts_with("!--")) {
                count_node(lt);
                pos = past("-->", lt + 4, lt, "unterminated comment");
            } else if (markup.starts_with("![CDATA[")) {
                count_node(lt);
                pos = past("]]>", lt + 9, lt, "unterminated CDATA section");
            } else if (markup.starts_with('!')) {
                // A DTD is how entity expansion and external entities arrive.
                if (starts_with_keyword(markup.substr(1), "DOCTYPE") ||
                    starts_with_keyword(markup.substr(1), "ENTITY"))
                    throw protocol_error(
                        "XML document contains a DOCTYPE or entity declaration, refused");
                malformed("unsupported markup declaration", lt);
            } else if (markup.starts_with('?')) {
                malformed("processing instruction refused", lt);
            } else {
                pos = start_tag(lt);
            }
        }
    }

  private:
    /// Reads a start tag from its '<' to its '>', counting one attribute per quoted value
    /// (tinyxml2 accepts a quote only after "name="); returns the position after the tag.
    std::size_t start_tag(std::size_t lt) {
        if (lt + 1 >= doc_.size() || is_xml_space(doc_[lt + 1]))
            malformed("expected an element name after '<'", lt);
        count_node(lt);
        std::size_t attributes = 0;
        std::size_t pos = lt + 1;
        for (;;) {
            std::size_t stop = pos;  // a loop, not find_first_of, which calls memchr per byte
            while (stop < doc_.size() && doc_[stop] != '"' && doc_[stop] != '\'' &&
                   doc_[stop] != '<' && doc_[stop] != '>')
                ++stop;
            if (stop == doc_.size())
                malformed("unterminated start tag", lt);
            if (doc_[stop] == '<')
                malformed("'<' inside a start tag", stop);
            if (doc_[stop] == '>') {
                // The element is one deeper than the open ones, whether or not it is empty.
                if (open_ >= limits_.max_depth)
                    throw protocol_error("XML document nested deeper than " +
                                         std::to_string(limits_.max_depth) + " elements");
                counted_.depth = std::max(counted_.depth, open_ + 1);
                counted_.most_attributes = std::max(counted_.most_attributes, attributes);
                if (doc_[stop - 1] != '/')
                    ++open_;
                return stop + 1;
            }
            if (++attributes > limits_.max_attributes)
                throw protocol_error("an XML element has more than " +
                                     std::to_string(limits_.max_attributes) + " attributes" +
                                     line_of(lt));
            count_node(stop);
            const std::size_t close = doc_.find(doc_[stop], stop + 1);
            if (close == std::string_view::npos)
                malformed("unterminated attribute value", stop);
            if (doc_.substr(stop + 1, close - stop - 1).find('<') != std::string_view::npos)
                malformed("'<' in an attribute value", stop);
            check_references(stop + 1, close);
            pos = close + 1;
            if (pos < doc_.size() && !is_xml_space(doc_[pos]) && doc_[pos] != '/' &&
                doc_[pos] != '>')
                malformed("expected whitespace before an attribute", pos);
        }
    }

    /// Reads an end tag, '</' Name S? '>' (XML 1.0, production 42); returns the position after
    /// it. Anything more is refused: tinyxml2 reads attributes in an end tag and takes "</a/>" for
    /// an empty element, a node (and attributes) this count would never have seen.
    std::size_t end_tag(std::size_t lt) {
        std::size_t pos = lt + 2;
        while (pos < doc_.size() && !is_xml_space(doc_[pos]) && doc_[pos] != '>' &&
               doc_[pos] != '/' && doc_[pos] != '<' && doc_[pos] != '"' && doc_[pos] != '\'' &&
               doc_[pos] != '=')
            ++pos;
        if (pos == lt + 2)
            malformed("expected an element name after '</'", lt);
        while (pos < doc_.size() && is_xml_space(doc_[pos]))
            ++pos;
        if (pos == doc_.size())
            malformed("unterminated end tag", lt);
        if (doc_[pos] != '>')
            malformed("an end tag holds only the element's name", pos);
        return pos + 1;
    }

    /// Every '&' in character data or an attribute value [begin, end) starts a predefined entity
    /// or a character reference of a character XML allows in text.
    void check_references(std::size_t begin, std::size_t end) const {
        const std::string_view text = doc_.substr(begin, end - begin);
        for (auto amp = text.find('&'); amp != std::string_view::npos;
             amp = text.find('&', amp + 1)) {
            const std::string_view candidate = text.substr(amp + 1, 12);
            const auto semicolon = candidate.find(';');
            if (semicolon == std::string_view::npos)
                malformed("'&' that does not start an entity reference (write &amp;)", begin + amp);
            const std::string_view name = candidate.substr(0, semicolon);
            if (name == "lt" || name == "gt" || name == "amp" || name == "apos" || name == "quot")
                continue;
            if (!name.starts_with('#')) {
                // Only the predefined entities exist: there is no DTD to declare others.
                malformed("undefined entity '&" + std::string(name) + ";'", begin + amp);
            }
            const bool hex = name.size() > 1 && name[1] == 'x';
            const std::string_view digits = name.substr(hex ? 2 : 1);
            std::uint32_t code = 0;
            const auto [end_of_digits, error] =
                std::from_chars(digits.data(), digits.data() + digits.size(), code, hex ? 16 : 10);
            if (digits.empty() || error != std::errc() ||
                end_of_digits != digits.data() + digits.size() || code == 0 || code > 0x10FFFF ||
                (code >= 0xD800 && code <= 0xDFFF)) {
                malformed("invalid character reference '&" + std::string(name) + ";'", begin + amp);
            }
        }
    }

    void count_node(std::size_t at) {
        if (++counted_.nodes > limits_.max_nodes)
            throw protocol_error("XML document has more than " + std::to_string(limits_.max_nodes) +
                                 " nodes (elements, attributes, comments, CDATA sections)" +
                                 line_of(at));
    }

    /// The position after the first `terminator` at or after `from`.
    std::size_t past(std::string_view terminator, std::size_t from, std::size_t start,
                     std::string_view missing) const {
        const auto found =
            from <= doc_.size() ? doc_.find(terminator, from) : std::string_view::npos;
        if (found == std::string_view::npos)
            malformed(missing, start);
        return found + terminator.size();
    }

    std::string line_of(std::size_t at) const {
        const auto end = doc_.begin() + static_cast<std::ptrdiff_t>(std::min(at, doc_.size()));
        return " (line " + std::to_string(1 + std::count(doc_.begin(), end, '\n')) + ")";
    }

    [[noreturn]] void malformed(std::string_view what, std::size_t at) const {
        throw protocol_error("malformed XML: " + std::string(what) + line_of(at));
    }

    std::string_view doc_;
    const Limits& limits_;
    Structure counted_;
    int open_ = 0;  // elements started and not yet ended
};

}  // namespace

Structure prescan(std::string_view document, const Limits& limits) {
    return Prescan(document, limits).run();
}

}  // namespace certenroll::xml::detail
