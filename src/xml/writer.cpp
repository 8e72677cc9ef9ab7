#include "xml/xml.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "error.hpp"

// xml::serialize: an Element tree written as a document, its prefixes chosen here (reading is
// xml.cpp's).

namespace certenroll::xml {

namespace {

constexpr std::string_view kXmlNamespace = "http://www.w3.org/XML/1998/namespace";

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
                // Other C0 controls (from references such as "&#x1b;" in a parsed document) are
                // refused raw by the reader: written as references, the policy cache reads back.
                if (static_cast<unsigned char>(c) < 0x20) {
                    char reference[8];
                    std::snprintf(reference, sizeof reference, "&#x%X;", static_cast<unsigned>(c));
                    out += reference;
                } else {
                    out += c;
                }
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
