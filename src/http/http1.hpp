#pragma once
/// HTTP/1.1 framing (RFC 9112) for the one exchange CEP and CES need: a POST out, a response in.
/// Pure: bytes in, bytes out, no I/O, so every framing rule is testable without a network.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "http/transport.hpp"

namespace certenroll::http {

/// The bytes of a POST of `body` to `target` ("/path?query") on `host` (the Host header value),
/// with `headers` after Host, User-Agent and Content-Length. Throws Internal for a header name or
/// value with a line break, which would split the request.
std::string format_post(std::string_view host, std::string_view target,
                        const std::vector<Header>& headers, std::string_view body,
                        std::string_view user_agent);

/// Reads one response from bytes as they arrive: status line and headers, then the body framed
/// by chunked transfer coding, Content-Length or the end of the connection. Interim 1xx
/// responses (100 Continue) are skipped.
class ResponseParser {
  public:
    enum class State { Incomplete, Complete, Malformed, TooLarge };

    /// `max_bytes` bounds the header block and the body, each.
    explicit ResponseParser(std::size_t max_bytes);

    /// Consumes `data`; bytes after a complete response are counted as unasked for (see
    /// keep_alive()).
    State feed(std::string_view data);
    /// The connection ended: completes a body delimited by the end of the connection, otherwise
    /// the response is cut short (Malformed, error() says so).
    State finish();

    State state() const { return state_; }
    /// Whether any byte of a response has arrived.
    bool started() const { return started_; }
    /// Whether the connection may carry the next request: HTTP/1.1 without "Connection: close"
    /// (HTTP/1.0 only with "Connection: keep-alive"), a body framed by length or chunks, and
    /// nothing sent after it.
    bool keep_alive() const;
    /// Why the response is Malformed, for an error message.
    const std::string& error() const { return error_; }
    /// The response; valid once Complete.
    Response take() { return std::move(response_); }

  private:
    enum class Phase { Head, Body, ChunkSize, ChunkData, ChunkEnd, Trailers, UntilClose, Done };

    State fail(std::string why);
    State parse_head(std::string_view head);
    State run();

    std::size_t max_bytes_;
    State state_ = State::Incomplete;
    Phase phase_ = Phase::Head;
    std::string pending_;  // received, not yet consumed
    Response response_;
    std::size_t remaining_ = 0;  // of the body or of the current chunk
    std::size_t searched_ = 0;   // bytes of pending_ already searched for the end of a line
    bool started_ = false;
    bool close_ = false;
    bool extra_bytes_ = false;
    std::string error_;
};

}  // namespace certenroll::http
