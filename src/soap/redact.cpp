#include "soap/redact.hpp"

namespace certenroll::soap {

std::string redact(std::string_view message) {
    std::string out;
    out.reserve(message.size());
    std::size_t pos = 0;
    while (pos < message.size()) {
        const auto open = message.find('<', pos);
        if (open == std::string_view::npos)
            break;
        // Find the tag name, skipping any prefix: <Password ...> or <o:Password ...>.
        auto name_end = message.find_first_of(" \t\r\n/>", open + 1);
        if (name_end == std::string_view::npos)
            name_end = message.size();
        std::string_view qname = message.substr(open + 1, name_end - open - 1);
        const auto colon = qname.rfind(':');
        const std::string_view local =
            colon == std::string_view::npos ? qname : qname.substr(colon + 1);
        const auto tag_end = message.find('>', open);
        if (local != "Password" || tag_end == std::string_view::npos ||
            message[tag_end - 1] == '/') {
            out.append(message.substr(pos, open + 1 - pos));
            pos = open + 1;
            continue;
        }
        out.append(message.substr(pos, tag_end + 1 - pos));
        out += "***";
        // Everything up to the closing tag (or the end of a truncated message) is secret.
        const auto close = message.find("</", tag_end + 1);
        pos = close == std::string_view::npos ? message.size() : close;
    }
    if (pos < message.size())
        out.append(message.substr(pos));
    return out;
}

}  // namespace certenroll::soap
