#include "encoding/terminal_text.hpp"

namespace certenroll::encoding {

namespace {

void append_escaped(std::string& out, unsigned char byte) {
    static constexpr char kHex[] = "0123456789abcdef";
    out += "\\x";
    out += kHex[byte >> 4];
    out += kHex[byte & 0x0f];
}

}  // namespace

std::string terminal_safe(std::string_view text, std::size_t max_bytes) {
    const std::size_t shown = text.size() < max_bytes ? text.size() : max_bytes;
    std::string out;
    out.reserve(shown + 32);
    std::size_t continuation = 0;  // bytes still expected in the current UTF-8 sequence
    for (std::size_t i = 0; i < shown; ++i) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (continuation > 0 && byte >= 0x80 && byte <= 0xbf) {
            out += static_cast<char>(byte);
            --continuation;
            continue;
        }
        continuation = 0;
        if (byte == '\n' || byte == '\t' || (byte >= 0x20 && byte < 0x7f)) {
            out += static_cast<char>(byte);
        } else if (byte == 0xc2 && i + 1 < shown &&
                   static_cast<unsigned char>(text[i + 1]) <= 0x9f &&
                   static_cast<unsigned char>(text[i + 1]) >= 0x80) {
            // U+0080-U+009F in UTF-8: the C1 controls (U+009B is CSI).
            append_escaped(out, byte);
            append_escaped(out, static_cast<unsigned char>(text[++i]));
        } else if (byte >= 0xc2 && byte <= 0xf4) {  // the lead byte of a UTF-8 sequence
            out += static_cast<char>(byte);
            continuation = byte < 0xe0 ? 1 : byte < 0xf0 ? 2 : 3;
        } else {
            // C0 controls, DEL, and bytes that start no UTF-8 character (a lone 0x9b is an
            // 8-bit CSI to some terminals).
            append_escaped(out, byte);
        }
    }
    if (shown < text.size())
        out += "... " + std::to_string(text.size() - shown) + " more bytes";
    return out;
}

}  // namespace certenroll::encoding
