#include "encoding/base64.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <climits>
#include <memory>

#include "error.hpp"

namespace certenroll::encoding {

namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
// OpenSSL's decoder skips exactly XML's whitespace (space, tab, CR, LF), so the text is decoded
// as it stands; this set only serves the checks around it.
constexpr std::string_view kXmlSpace = " \t\r\n";

[[noreturn]] void fail(std::string_view what, std::string_view why) {
    throw Error(ErrorKind::Protocol,
                std::string(what) + " is not valid base64: " + std::string(why),
                "the server sent a corrupted response; retry, and report it if it persists");
}

std::string padding_and_space() {
    return "=" + std::string(kXmlSpace);
}

/// Why OpenSSL refused `text`, for the error message.
std::string_view refusal_reason(std::string_view text) {
    if (text.find_first_not_of(std::string(kAlphabet) + padding_and_space()) !=
        std::string_view::npos)
        return "unexpected character";
    const std::size_t first_padding = text.find('=');
    if (first_padding != std::string_view::npos &&
        text.find_first_not_of(padding_and_space(), first_padding) != std::string_view::npos)
        return "data after '=' padding";
    return "length is not a multiple of 4";
}

}  // namespace

std::string base64_encode(const std::uint8_t* data, std::size_t size) {
    // EVP_EncodeBlock takes an int length: whole groups of 3 bytes per call, 768 MiB at most.
    constexpr std::size_t kChunk = std::size_t{3} << 28;
    std::string out((size + 2) / 3 * 4, '\0');
    std::size_t written = 0;
    for (std::size_t done = 0; done < size;) {
        const std::size_t n = std::min(kChunk, size - done);
        // EVP_EncodeBlock also writes a NUL after the text: the last one lands on the string's
        // own terminator, which may be overwritten with '\0'.
        written += static_cast<std::size_t>(
            EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()) + written, data + done,
                            static_cast<int>(n)));
        done += n;
    }
    out.resize(written);
    return out;
}

Bytes base64_decode(std::string_view text, std::string_view what) {
    // OpenSSL's decoder ends quietly at '-' (the start of a PEM END line); in XML text it is
    // garbage. Its int lengths bound the input; responses are capped far below that anyway.
    if (text.find('-') != std::string_view::npos)
        fail(what, "unexpected character");
    if (text.size() > static_cast<std::size_t>(INT_MAX))
        fail(what, "longer than 2 GiB");
    const std::unique_ptr<EVP_ENCODE_CTX, decltype(&EVP_ENCODE_CTX_free)> context(
        EVP_ENCODE_CTX_new(), &EVP_ENCODE_CTX_free);
    if (!context)
        throw std::bad_alloc();
    EVP_DecodeInit(context.get());
    Bytes out(text.size() / 4 * 3 + 3);
    int length = 0;
    int final_length = 0;
    if (EVP_DecodeUpdate(context.get(), out.data(), &length,
                         reinterpret_cast<const unsigned char*>(text.data()),
                         static_cast<int>(text.size())) < 0 ||
        EVP_DecodeFinal(context.get(), out.data() + length, &final_length) < 0)
        fail(what, refusal_reason(text));
    out.resize(static_cast<std::size_t>(length) + static_cast<std::size_t>(final_length));

    // OpenSSL ignores the bits the padding drops; non-zero ones mean a non-canonical encoding,
    // typical of truncated data.
    const std::size_t last = text.find_last_not_of(padding_and_space());
    if (last != std::string_view::npos) {
        const auto padding =
            std::count(text.begin() + static_cast<std::ptrdiff_t>(last), text.end(), '=');
        const std::size_t dropped_bits = padding == 1 ? 0x3 : padding == 2 ? 0xF : 0;
        if ((kAlphabet.find(text[last]) & dropped_bits) != 0)
            fail(what, "non-zero padding bits");
    }
    return out;
}

}  // namespace certenroll::encoding
