// HTTP/1.1 framing without a network: the request bytes, and responses fed in pieces as they
// arrive from a socket (every split point), framed by length, chunks or the end of the stream.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "error.hpp"
#include "http/http1.hpp"
#include "http/url.hpp"

using certenroll::Error;
using certenroll::ErrorKind;
using namespace certenroll::http;
using State = ResponseParser::State;

namespace {

// Feeds `bytes` split at `split` (the whole at once when it is 0 or beyond the end).
ResponseParser parse(const std::string& bytes, std::size_t split = 0,
                     std::size_t max_bytes = 1 << 20) {
    ResponseParser parser(max_bytes);
    if (split == 0 || split >= bytes.size()) {
        parser.feed(bytes);
    } else {
        parser.feed(std::string_view(bytes).substr(0, split));
        parser.feed(std::string_view(bytes).substr(split));
    }
    return parser;
}

// Checks that every split of `bytes` into two reads gives `body` and `keep_alive`.
void check_every_split(const std::string& bytes, const std::string& body, bool keep_alive,
                       bool needs_end_of_stream = false) {
    for (std::size_t split = 0; split < bytes.size(); ++split) {
        CAPTURE(split);
        ResponseParser parser = parse(bytes, split);
        if (needs_end_of_stream) {
            REQUIRE(parser.state() == State::Incomplete);
            parser.finish();
        }
        REQUIRE(parser.state() == State::Complete);
        CHECK(parser.keep_alive() == keep_alive);
        CHECK(parser.take().body == body);
    }
}

}  // namespace

TEST_CASE("format_post writes the request line, Host, length and the caller's headers") {
    const std::string bytes =
        format_post("ces.example.com:8443", "/CES/service.svc?x=1",
                    {{"Content-Type", "application/soap+xml"}}, "<e/>", "certenroll-cli/1");
    CHECK(bytes ==
          "POST /CES/service.svc?x=1 HTTP/1.1\r\nHost: ces.example.com:8443\r\n"
          "User-Agent: certenroll-cli/1\r\nContent-Length: 4\r\n"
          "Content-Type: application/soap+xml\r\n\r\n<e/>");
}

TEST_CASE("format_post refuses a header that would split the request") {
    for (const Header& bad : {Header{"X-A", "v\r\nInjected: 1"}, Header{"X\nB", "v"},
                              Header{"X:B", "v"}, Header{"", "v"}}) {
        CAPTURE(bad.name);
        try {
            format_post("h", "/", {bad}, "", "ua");
            FAIL("expected an Error");
        } catch (const Error& error) {
            CHECK(error.kind() == ErrorKind::Internal);
        }
    }
}

TEST_CASE("a Content-Length body, whatever the reads' boundaries") {
    check_every_split("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello", "hello", true);
    ResponseParser parser = parse("HTTP/1.1 500 Internal\r\ncontent-length: 3\r\n\r\nbad");
    const Response response = parser.take();
    CHECK(response.status == 500);
    CHECK(response.header("CONTENT-LENGTH") == "3");
}

TEST_CASE("a chunked body with extensions and trailers") {
    check_every_split(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: x\r\n\r\n",
        "hello, world", true);
}

TEST_CASE("a body that runs to the end of the stream cannot share the connection") {
    check_every_split("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n\r\n<a/>", "<a/>", false, true);
}

TEST_CASE("interim 100 Continue answers are skipped") {
    check_every_split("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                      "ok", true);
}

TEST_CASE("keep-alive: Connection: close, HTTP/1.0 and bytes after the response end it") {
    CHECK_FALSE(
        parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keep_alive());
    CHECK_FALSE(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive());
    CHECK(parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n")
              .keep_alive());
    ResponseParser extra = parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1");
    CHECK(extra.state() == State::Complete);
    CHECK_FALSE(extra.keep_alive());
    CHECK(parse("HTTP/1.1 204 No Content\r\n\r\n").state() == State::Complete);
}

TEST_CASE("malformed responses are named, never guessed at") {
    const std::vector<std::string> bad = {
        "SSH-2.0-OpenSSH_9.2\r\n\r\n",
        "HTTP/1.1 abc OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX",
    };
    for (const std::string& bytes : bad) {
        CAPTURE(bytes);
        const ResponseParser parser = parse(bytes);
        CHECK(parser.state() == State::Malformed);
        CHECK_FALSE(parser.error().empty());
    }
}

TEST_CASE("a response cut short by the end of the stream is not complete") {
    ResponseParser body = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf");
    CHECK(body.finish() == State::Malformed);
    CHECK(body.error().find("middle of the body") != std::string::npos);
    ResponseParser head = parse("HTTP/1.1 200 OK\r\nContent-Le");
    CHECK(head.finish() == State::Malformed);
    ResponseParser nothing(100);
    CHECK_FALSE(nothing.started());
    CHECK(nothing.finish() == State::Malformed);
}

TEST_CASE("the size cap holds for headers, declared lengths, chunks and unframed bodies") {
    CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n", 0, 100).state() ==
          State::TooLarge);
    CHECK(parse("HTTP/1.1 200 OK\r\nX: " + std::string(200, 'a'), 0, 100).state() ==
          State::TooLarge);
    CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFF\r\n", 0, 100).state() ==
          State::TooLarge);
    CHECK(parse("HTTP/1.1 200 OK\r\n\r\n" + std::string(101, 'x'), 0, 100).state() ==
          State::TooLarge);
    CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                "FFFFFFFFFFFFFFFFFFFF\r\n",
                0, 100)
              .state() == State::Malformed);  // beyond 64 bits: not a size at all
}

TEST_CASE("request_target, host_header and url_userinfo") {
    CHECK(request_target("https://h/CES/service.svc") == "/CES/service.svc");
    CHECK(request_target("https://h:1/a?b=c#frag") == "/a?b=c");
    CHECK(request_target("https://h") == "/");
    CHECK(request_target("https://h?x") == "/?x");
    CHECK(host_header(*parse_url("https://CES.example.com/x")) == "ces.example.com");
    CHECK(host_header(*parse_url("https://h:8443/x")) == "h:8443");
    CHECK(host_header(*parse_url("https://[::1]:443/x")) == "[::1]");
    CHECK(host_header(*parse_url("https://[::1]:9/x")) == "[::1]:9");
    const auto info = url_userinfo("http://us%40er:p%3Ass@proxy:3128");
    REQUIRE(info);
    CHECK(info->user == "us@er");
    CHECK(info->password == "p:ss");
    CHECK_FALSE(url_userinfo("http://proxy:3128/x@y"));
}

TEST_CASE("a response arriving one byte per read, head and trailers included") {
    const std::string bytes = "HTTP/1.1 200 OK\r\nX-Long: " + std::string(3000, 'v') +
                              "\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
                              "T1: " +
                              std::string(500, 't') + "\r\nT2: x\r\n\r\n";
    ResponseParser parser(1 << 20);
    for (const char c : bytes) {
        REQUIRE(parser.state() == State::Incomplete);
        parser.feed(std::string_view(&c, 1));
    }
    REQUIRE(parser.state() == State::Complete);
    CHECK(parser.keep_alive());
    const Response response = parser.take();
    CHECK(response.body == "abc");
    CHECK(response.header("x-long")->size() == 3000);
}
