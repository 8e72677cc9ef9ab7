#include "http/http1.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "error.hpp"

namespace certenroll::http {

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
               return std::tolower(x) == std::tolower(y);
           });
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
        text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
        text.remove_suffix(1);
    return text;
}

// Whether the comma-separated list `value` has `token` ("Connection: keep-alive, close").
bool has_token(std::string_view value, std::string_view token) {
    while (!value.empty()) {
        const std::size_t comma = value.find(',');
        if (iequals(trim(value.substr(0, comma)), token))
            return true;
        if (comma == std::string_view::npos)
            break;
        value.remove_prefix(comma + 1);
    }
    return false;
}

bool parse_decimal(std::string_view text, std::size_t& value) {
    text = trim(text);
    if (text.empty())
        return false;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc() && end == text.data() + text.size();
}

void check_header_text(std::string_view name, std::string_view value) {
    if (name.empty() || name.find_first_of("\r\n: ") != std::string_view::npos ||
        value.find_first_of("\r\n") != std::string_view::npos) {
        throw Error(ErrorKind::Internal,
                    "HTTP header '" + std::string(name.substr(0, 64)) + "' has a line break",
                    "report this bug");
    }
}

}  // namespace

std::string format_post(std::string_view host, std::string_view target,
                        const std::vector<Header>& headers, std::string_view body,
                        std::string_view user_agent) {
    std::string out;
    out.reserve(256 + body.size());
    out.append("POST ").append(target).append(" HTTP/1.1\r\nHost: ").append(host);
    out.append("\r\nUser-Agent: ").append(user_agent);
    out.append("\r\nContent-Length: ").append(std::to_string(body.size())).append("\r\n");
    for (const Header& header : headers) {
        check_header_text(header.name, header.value);
        out.append(header.name).append(": ").append(header.value).append("\r\n");
    }
    out.append("\r\n").append(body);
    return out;
}

ResponseParser::ResponseParser(std::size_t max_bytes) : max_bytes_(max_bytes) {}

ResponseParser::State ResponseParser::fail(std::string why) {
    error_ = std::move(why);
    state_ = State::Malformed;
    return state_;
}

bool ResponseParser::keep_alive() const {
    return state_ == State::Complete && !close_ && !extra_bytes_;
}

ResponseParser::State ResponseParser::feed(std::string_view data) {
    if (state_ != State::Incomplete) {
        extra_bytes_ = extra_bytes_ || !data.empty();
        return state_;
    }
    started_ = started_ || !data.empty();
    pending_.append(data);
    return run();
}

ResponseParser::State ResponseParser::finish() {
    if (state_ != State::Incomplete)
        return state_;
    if (phase_ == Phase::UntilClose) {
        response_.body.append(pending_);
        pending_.clear();
        phase_ = Phase::Done;
        close_ = true;
        state_ = State::Complete;
        return state_;
    }
    if (!started_)
        return fail("the connection closed before a response");
    return fail(phase_ == Phase::Head ? "the connection closed in the middle of the headers"
                                      : "the connection closed in the middle of the body");
}

ResponseParser::State ResponseParser::parse_head(std::string_view head) {
    // Status line: HTTP/1.1 200 OK
    const std::size_t line_end = head.find("\r\n");
    const std::string_view status_line = head.substr(0, line_end);
    if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12 || status_line[8] != ' ')
        return fail("not an HTTP/1.x status line: '" + std::string(status_line.substr(0, 64)) +
                    "'");
    const bool http11 = status_line[7] != '0';
    std::size_t status = 0;
    if (!parse_decimal(status_line.substr(9, 3), status) || status < 100 || status > 999)
        return fail("no status code in '" + std::string(status_line.substr(0, 64)) + "'");
    response_.status = static_cast<long>(status);
    response_.headers.clear();

    bool chunked = false;
    bool have_length = false;
    std::size_t length = 0;
    close_ = !http11;
    std::string_view rest =
        line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 2);
    while (!rest.empty()) {
        const std::size_t end = rest.find("\r\n");
        const std::string_view line = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 2);
        if (line.empty())
            continue;
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0 || line.front() == ' ' ||
            line.front() == '\t')
            return fail("malformed header line '" + std::string(line.substr(0, 64)) + "'");
        const std::string_view name = trim(line.substr(0, colon));
        const std::string_view value = trim(line.substr(colon + 1));
        response_.headers.push_back(Header{std::string(name), std::string(value)});
        if (iequals(name, "Transfer-Encoding")) {
            chunked = has_token(value, "chunked");
            if (!chunked)
                return fail("unsupported Transfer-Encoding '" + std::string(value.substr(0, 64)) +
                            "'");
        } else if (iequals(name, "Content-Length")) {
            std::size_t value_length = 0;
            if (!parse_decimal(value, value_length) || (have_length && value_length != length))
                return fail("invalid Content-Length '" + std::string(value.substr(0, 64)) + "'");
            have_length = true;
            length = value_length;
        } else if (iequals(name, "Connection")) {
            if (has_token(value, "close"))
                close_ = true;
            else if (has_token(value, "keep-alive"))
                close_ = false;
        }
    }
    if (status < 200)
        return State::Incomplete;  // interim: the caller's loop reads the next head
    if (status == 204 || status == 304) {
        phase_ = Phase::Done;
    } else if (chunked) {
        phase_ = Phase::ChunkSize;  // chunked wins over Content-Length (RFC 9112 6.3)
    } else if (have_length) {
        if (length > max_bytes_) {
            state_ = State::TooLarge;
            return state_;
        }
        remaining_ = length;
        response_.body.reserve(length);
        phase_ = length == 0 ? Phase::Done : Phase::Body;
    } else {
        phase_ = Phase::UntilClose;
        close_ = true;
    }
    return State::Incomplete;
}

ResponseParser::State ResponseParser::run() {
    std::size_t used = 0;
    const auto consume = [&](std::size_t bytes) { used += bytes; };
    for (;;) {
        const std::string_view input = std::string_view(pending_).substr(used);
        switch (phase_) {
            case Phase::Head: {
                // Searches only what arrived since the last look (and the 3 bytes before it), so
                // a head trickling in a byte at a time costs linear, not quadratic, time.
                const std::size_t end = input.find("\r\n\r\n", searched_ > 3 ? searched_ - 3 : 0);
                if (end == std::string_view::npos) {
                    if (input.size() > max_bytes_) {
                        state_ = State::TooLarge;
                        return state_;
                    }
                    pending_.erase(0, used);
                    searched_ = pending_.size();
                    return state_;
                }
                searched_ = 0;
                if (end + 4 > max_bytes_) {
                    state_ = State::TooLarge;
                    return state_;
                }
                if (parse_head(input.substr(0, end + 2)) != State::Incomplete)
                    return state_;
                consume(end + 4);
                continue;  // phase_ says what follows; still Head after a 1xx
            }
            case Phase::Body:
            case Phase::ChunkData: {
                // `remaining_` bytes of the body (or of the current chunk) are still to come.
                const std::size_t take = std::min(remaining_, input.size());
                response_.body.append(input.substr(0, take));
                remaining_ -= take;
                consume(take);
                if (remaining_ == 0) {
                    phase_ = phase_ == Phase::Body ? Phase::Done : Phase::ChunkEnd;
                    continue;
                }
                pending_.erase(0, used);
                return state_;
            }
            case Phase::ChunkSize: {
                const std::size_t end = input.find("\r\n");
                if (end == std::string_view::npos) {
                    if (input.size() > 1024)
                        return fail("a chunk-size line longer than 1024 bytes");
                    pending_.erase(0, used);
                    return state_;
                }
                std::string_view size_text = input.substr(0, end);
                size_text = trim(size_text.substr(0, size_text.find(';')));  // no extensions
                std::size_t size = 0;
                const auto [ptr, error] = std::from_chars(
                    size_text.data(), size_text.data() + size_text.size(), size, 16);
                if (size_text.empty() || error != std::errc() ||
                    ptr != size_text.data() + size_text.size())
                    return fail("invalid chunk size '" + std::string(size_text.substr(0, 64)) +
                                "'");
                if (size > max_bytes_ - std::min(max_bytes_, response_.body.size())) {
                    state_ = State::TooLarge;
                    return state_;
                }
                consume(end + 2);
                remaining_ = size;
                phase_ = size == 0 ? Phase::Trailers : Phase::ChunkData;
                continue;
            }
            case Phase::ChunkEnd:
                if (input.size() < 2) {
                    pending_.erase(0, used);
                    return state_;
                }
                if (!input.starts_with("\r\n"))
                    return fail("a chunk not followed by CRLF");
                consume(2);
                phase_ = Phase::ChunkSize;
                continue;
            case Phase::Trailers: {
                // Trailer fields are read and dropped; an empty line ends the message.
                const std::size_t end = input.find("\r\n", searched_ > 1 ? searched_ - 1 : 0);
                if (end == std::string_view::npos) {
                    if (input.size() > max_bytes_) {
                        state_ = State::TooLarge;
                        return state_;
                    }
                    pending_.erase(0, used);
                    searched_ = pending_.size();
                    return state_;
                }
                searched_ = 0;
                consume(end + 2);
                if (end == 0)
                    phase_ = Phase::Done;
                continue;
            }
            case Phase::UntilClose:
                if (response_.body.size() + input.size() > max_bytes_) {
                    state_ = State::TooLarge;
                    return state_;
                }
                response_.body.append(input);
                pending_.clear();
                return state_;
            case Phase::Done:
                extra_bytes_ = used < pending_.size();
                pending_.clear();
                state_ = State::Complete;
                return state_;
        }
    }
}

}  // namespace certenroll::http
