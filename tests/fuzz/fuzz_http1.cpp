/// libFuzzer target: HTTP/1.1 responses as they arrive from a server (src/http/http1), framed by
/// length, chunks or the end of the stream. The oracle: the outcome must not depend on how the
/// bytes were split into reads, and a complete response never exceeds the size cap.

#include <cstdlib>
#include <string>

#include "fuzz_common.hpp"
#include "http/http1.hpp"

using namespace certenroll;
using http::ResponseParser;

namespace {

constexpr std::size_t max_bytes = 4096;

struct Outcome {
    ResponseParser::State state = ResponseParser::State::Incomplete;
    long status = 0;
    std::string body;
    bool keep_alive = false;
};

// Feeds `text` in reads of `step` bytes (all at once when 0), then ends the stream.
Outcome run(std::string_view text, std::size_t step) {
    ResponseParser parser(max_bytes);
    if (step == 0) {
        parser.feed(text);
    } else {
        for (std::size_t at = 0; at < text.size(); at += step)
            parser.feed(text.substr(at, step));
    }
    if (parser.state() == ResponseParser::State::Incomplete)
        parser.finish();
    Outcome outcome;
    outcome.state = parser.state();
    if (parser.state() == ResponseParser::State::Complete) {
        outcome.keep_alive = parser.keep_alive();
        const http::Response response = parser.take();
        outcome.status = response.status;
        outcome.body = response.body;
    }
    return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = fuzz::as_text(data, size);
    const Outcome whole = run(text, 0);
    if (whole.state == ResponseParser::State::Complete && whole.body.size() > max_bytes)
        std::abort();
    for (const std::size_t step : {1, 7}) {
        const Outcome split = run(text, step);
        // TooLarge may be noticed at another point than Malformed in the same input, so only
        // "complete or not" and a complete response's content must agree.
        const bool both_complete = whole.state == ResponseParser::State::Complete &&
                                   split.state == ResponseParser::State::Complete;
        if ((whole.state == ResponseParser::State::Complete) !=
            (split.state == ResponseParser::State::Complete))
            std::abort();
        if (both_complete && (whole.status != split.status || whole.body != split.body ||
                              whole.keep_alive != split.keep_alive))
            std::abort();
    }
    return 0;
}
