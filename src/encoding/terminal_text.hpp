#pragma once
/// Text that came from a server, on its way to a terminal (-v and -vv traces).

#include <cstddef>
#include <string>
#include <string_view>

namespace certenroll::encoding {

/// `text` made harmless for a terminal and bounded: every control character but newline and tab
/// (C0, DEL, and the C1 range U+0080-U+009F as UTF-8 or as a lone byte) is written as "\xNN", so
/// no escape sequence from a server can retitle a window or clear the screen; past `max_bytes` of
/// input the rest is replaced by "... N more bytes".
std::string terminal_safe(std::string_view text, std::size_t max_bytes);

}  // namespace certenroll::encoding
