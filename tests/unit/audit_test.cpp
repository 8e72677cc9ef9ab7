// The audit record: its JSON line (every field, nothing empty, one line whatever the input), the
// file sink (append, 0600 on create, existing mode kept, one line per event), fan-out and the
// failure rules of the Log.

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "audit/log.hpp"
#include "error.hpp"
#include "temp_dir.hpp"

using namespace certenroll;
using audit::Event;
using audit::EventType;
using nlohmann::json;

namespace {

audit::TimePoint at(long long seconds, int millis = 0) {
    return audit::TimePoint(std::chrono::seconds(seconds) + std::chrono::milliseconds(millis));
}

Event full_event() {
    Event e;
    e.type = EventType::Renewed;
    e.time = at(1764547200, 42);  // 2025-12-01T00:00:00.042Z
    e.host = "web1";
    e.pid = 4242;
    e.version = "1.2.3";
    e.subcommand = "renew";
    e.name = "web";
    e.template_name = "WebServer";
    e.ca_name = "Issuing-CA";
    e.cep_url = "https://cep.example.com/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP";
    e.ces_url = "https://ces.example.com/Issuing-CA_CES_UsernamePassword/service.svc/CES";
    e.auth = "password";
    e.identity = "EXAMPLE\\svc-web";
    e.renewal = true;
    e.request_id = "1234";
    e.requested_subject = "CN=web1.example.com";
    e.requested_sans = {"dns:web1.example.com", "ip:192.0.2.1"};
    e.key_backend = "software";
    e.key_algorithm = "RSA 3072";
    audit::CertificateFacts c;
    c.serial = "1a00000004";
    c.sha1_thumbprint = std::string(40, 'a');
    c.sha256_thumbprint = std::string(64, 'b');
    c.subject = "CN=web1.example.com";
    c.issuer = "CN=Issuing-CA,DC=example,DC=com";
    c.sans = {"dns:web1.example.com"};
    c.not_before = at(1764547200);
    c.not_after = at(1796083200);  // 2026-12-01
    e.certificate = c;
    e.previous_serial = "1a00000003";
    return e;
}

std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

unsigned mode_of(const std::filesystem::path& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 0777;
}

struct MemorySink : audit::Sink {
    std::vector<Event> events;
    int fail_from = -1;  ///< the write with this index and later ones throw
    void write(const Event& event) override {
        if (fail_from >= 0 && static_cast<int>(events.size()) >= fail_from)
            throw Error(ErrorKind::Local, "disk full");
        events.push_back(event);
    }
};

}  // namespace

TEST_CASE("event names are the documented ones") {
    CHECK(audit::event_name(EventType::PolicyFetched) == "policy_fetched");
    CHECK(audit::event_name(EventType::RequestSubmitted) == "request_submitted");
    CHECK(audit::event_name(EventType::Issued) == "issued");
    CHECK(audit::event_name(EventType::Pending) == "pending");
    CHECK(audit::event_name(EventType::Denied) == "denied");
    CHECK(audit::event_name(EventType::Renewed) == "renewed");
    CHECK(audit::event_name(EventType::Retrieved) == "retrieved");
    CHECK(audit::event_name(EventType::Failed) == "failed");
}

TEST_CASE("an event is one JSON line with every field under its documented name") {
    const std::string line = audit::to_json_line(full_event());
    CHECK(line.find('\n') == std::string::npos);
    const auto j = json::parse(line);
    CHECK(j["event"] == "renewed");
    CHECK(j["time"] == "2025-12-01T00:00:00.042Z");
    CHECK(j["schema_version"] == 1);
    CHECK(j["host"] == "web1");
    CHECK(j["pid"] == 4242);
    CHECK(j["tool"] == "certenroll-cli");
    CHECK(j["version"] == "1.2.3");
    CHECK(j["subcommand"] == "renew");
    CHECK(j["name"] == "web");
    CHECK(j["template"] == "WebServer");
    CHECK(j["ca"] == "Issuing-CA");
    CHECK(j["cep_url"] ==
          "https://cep.example.com/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP");
    CHECK(j["ces_url"] ==
          "https://ces.example.com/Issuing-CA_CES_UsernamePassword/service.svc/CES");
    CHECK(j["auth"] == "password");
    CHECK(j["identity"] == "EXAMPLE\\svc-web");
    CHECK(j["renewal"] == true);
    CHECK(j["request_id"] == "1234");
    CHECK(j["requested_subject"] == "CN=web1.example.com");
    CHECK(j["requested_sans"] == json::array({"dns:web1.example.com", "ip:192.0.2.1"}));
    CHECK(j["key_backend"] == "software");
    CHECK(j["key_algorithm"] == "RSA 3072");
    CHECK(j["serial"] == "1a00000004");
    CHECK(j["sha1_thumbprint"] == std::string(40, 'a'));
    CHECK(j["sha256_thumbprint"] == std::string(64, 'b'));
    CHECK(j["subject"] == "CN=web1.example.com");
    CHECK(j["issuer"] == "CN=Issuing-CA,DC=example,DC=com");
    CHECK(j["sans"] == json::array({"dns:web1.example.com"}));
    CHECK(j["not_before"] == "2025-12-01T00:00:00.000Z");
    CHECK(j["not_after"] == "2026-12-01T00:00:00.000Z");
    CHECK(j["previous_serial"] == "1a00000003");
    // The field order is stable, event and time first, for people reading the file.
    CHECK(line.rfind("{\"event\":\"renewed\",\"time\":", 0) == 0);
}

TEST_CASE("policy and error fields; empty fields are left out") {
    Event fetched;
    fetched.type = EventType::PolicyFetched;
    fetched.policy_id = "{FE92370F}";
    fetched.policy_changed = false;
    fetched.template_count = 0;
    auto j = json::parse(audit::to_json_line(fetched));
    CHECK(j["policy_id"] == "{FE92370F}");
    CHECK(j["policy_changed"] == false);
    CHECK(j["template_count"] == 0);
    for (const char* absent : {"host", "pid", "name", "template", "ca", "request_id", "serial",
                               "not_after", "renewal", "requested_sans", "error_message"}) {
        CHECK_MESSAGE(!j.contains(absent), absent);
    }

    Event denied;
    denied.type = EventType::Denied;
    denied.denied_by = "ca";
    denied.error_category = "denied";
    denied.error_message = "Denied by Policy Module";
    denied.hresult = "0x80094012";
    j = json::parse(audit::to_json_line(denied));
    CHECK(j["denied_by"] == "ca");
    CHECK(j["error_category"] == "denied");
    CHECK(j["error_message"] == "Denied by Policy Module");
    CHECK(j["hresult"] == "0x80094012");
    CHECK(!j.contains("policy_changed"));
}

TEST_CASE("hostile text cannot add a line or break the JSON") {
    Event e = full_event();
    e.certificate->subject = "CN=evil\n{\"event\":\"issued\"}";
    e.error_message = std::string("bad \xff\xfe utf-8");
    const std::string line = audit::to_json_line(e);
    CHECK(line.find('\n') == std::string::npos);
    const auto j = json::parse(line);
    CHECK(j["subject"] == "CN=evil\n{\"event\":\"issued\"}");
    CHECK(j["error_message"].get<std::string>().rfind("bad ", 0) == 0);
}

TEST_CASE("URLs are written without anything that could hold a credential") {
    CHECK(audit::redact_url("https://user:secret@cep.example.com/a/CEP") ==
          "https://cep.example.com/a/CEP");
    CHECK(audit::redact_url("https://cep.example.com/a/CEP?token=secret#x") ==
          "https://cep.example.com/a/CEP");
    CHECK(audit::redact_url("https://cep.example.com/p@th/CEP") ==
          "https://cep.example.com/p@th/CEP");
    CHECK(audit::redact_url("https://u@[2001:db8::1]:443/CEP") == "https://[2001:db8::1]:443/CEP");
    CHECK(audit::redact_url("") == "");
    Event e;
    e.cep_url = "https://alice:pw@cep/CEP";
    CHECK(audit::to_json_line(e).find("pw") == std::string::npos);
}

TEST_CASE("RFC 3339 times in UTC with milliseconds") {
    CHECK(audit::format_rfc3339(at(0)) == "1970-01-01T00:00:00.000Z");
    CHECK(audit::format_rfc3339(at(1764547200, 999)) == "2025-12-01T00:00:00.999Z");
}

TEST_CASE("syslog severities: warning for refusals and failures, notice for certificates") {
    CHECK(audit::syslog_severity(EventType::Denied) == platform::LogSeverity::Warning);
    CHECK(audit::syslog_severity(EventType::Failed) == platform::LogSeverity::Warning);
    CHECK(audit::syslog_severity(EventType::Issued) == platform::LogSeverity::Notice);
    CHECK(audit::syslog_severity(EventType::Renewed) == platform::LogSeverity::Notice);
    CHECK(audit::syslog_severity(EventType::Retrieved) == platform::LogSeverity::Notice);
    CHECK(audit::syslog_severity(EventType::PolicyFetched) == platform::LogSeverity::Info);
    CHECK(audit::syslog_severity(EventType::RequestSubmitted) == platform::LogSeverity::Info);
    CHECK(audit::syslog_severity(EventType::Pending) == platform::LogSeverity::Info);
}

TEST_CASE("the file sink creates the log with mode 0600, whatever the umask") {
    test::TempDir dir;
    const auto path = dir.path / "audit.jsonl";
    const mode_t saved = ::umask(0);
    {
        audit::FileSink sink(path);
        ::umask(saved);
        CHECK(mode_of(path) == 0600);
        sink.write(full_event());
    }
    CHECK(mode_of(path) == 0600);
}

TEST_CASE("the file sink appends one line per event, across runs, keeping what was there") {
    test::TempDir dir;
    const auto path = dir.write("audit.jsonl", "{\"event\":\"earlier\"}\n");
    std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                           std::filesystem::perms::owner_write |
                                           std::filesystem::perms::group_read);
    {
        audit::FileSink first(path);
        audit::FileSink second(path);  // another process's run, interleaved
        Event e = full_event();
        first.write(e);
        e.type = EventType::Pending;
        second.write(e);
        e.type = EventType::Issued;
        first.write(e);
    }
    const std::string text = read_text(path);
    std::istringstream lines(text);
    std::vector<std::string> events;
    for (std::string line; std::getline(lines, line);)
        events.push_back(json::parse(line)["event"]);
    CHECK(events == std::vector<std::string>{"earlier", "renewed", "pending", "issued"});
    CHECK(text.back() == '\n');
    CHECK(mode_of(path) == 0640);  // an existing log keeps the mode its administrator gave it
}

TEST_CASE("a log that cannot be opened is a local error naming it") {
    test::TempDir dir;
    const auto path = dir.path / "missing" / "audit.jsonl";
    try {
        audit::FileSink sink(path);
        FAIL("expected an Error");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::Local);
        CHECK(e.message().find(path.string()) != std::string::npos);
    }
}

TEST_CASE("a write that fails is a local error (a full disk)") {
    if (!std::filesystem::exists("/dev/full"))
        return;
    // The AppendFile under the sink: FileSink itself refuses a device others may write.
    auto file = platform::AppendFile::open(
        "/dev/full", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    CHECK_THROWS_AS(file.append(audit::to_json_line(full_event()) + "\n"), Error);
    CHECK_THROWS_AS(audit::FileSink{"/dev/full"}, Error);
}

TEST_CASE("the audit log is never a symbolic link, nor a file or directory others may write") {
    test::TempDir dir;
    const auto target = dir.write("target", "precious\n");
    const auto link = dir.path / "audit.jsonl";
    std::filesystem::create_symlink(target, link);
    CHECK_THROWS_AS(audit::FileSink{link}, Error);
    CHECK(read_text(target) == "precious\n");
    std::filesystem::remove(link);

    const auto path = dir.write("open.jsonl", "");
    ::chmod(path.c_str(), 0666);
    try {
        audit::FileSink sink(path);
        FAIL("expected an Error");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::Local);
        CHECK(e.message().find(path.string()) != std::string::npos);
        CHECK(e.message().find("mode 0666") != std::string::npos);
        CHECK(e.hint().find("chmod 600") != std::string::npos);
    }
    ::chmod(path.c_str(), 0600);
    ::chmod(dir.path.c_str(), 0777);
    try {
        audit::FileSink sink(path);
        FAIL("expected an Error");
    } catch (const Error& e) {
        CHECK(e.message().find(dir.path.string()) != std::string::npos);
        CHECK(e.message().find("mode 0777") != std::string::npos);
    }
    ::chmod(dir.path.c_str(), 0700);
    audit::FileSink sink(path);
    sink.write(full_event());
}

TEST_CASE("the log stamps the origin; require throws, record warns and never throws") {
    auto sink = std::make_shared<MemorySink>();
    std::vector<std::string> warnings;
    audit::Log log(sink, {"host1", 77, "9.9.9", "enroll"},
                   [&](std::string_view w) { warnings.emplace_back(w); });
    CHECK(log.enabled());
    Event e;
    e.type = EventType::RequestSubmitted;
    e.name = "web";
    log.require(e);
    REQUIRE(sink->events.size() == 1);
    CHECK(sink->events[0].host == "host1");
    CHECK(sink->events[0].pid == 77);
    CHECK(sink->events[0].version == "9.9.9");
    CHECK(sink->events[0].subcommand == "enroll");

    sink->fail_from = 1;
    try {
        log.require(e);
        FAIL("expected an Error");
    } catch (const Error& error) {
        CHECK(error.kind() == ErrorKind::Local);
        CHECK(error.message().find("request_submitted event of 'web'") != std::string::npos);
        CHECK(error.message().find("disk full") != std::string::npos);
    }
    e.type = EventType::Issued;
    e.request_id = "17";
    CHECK_NOTHROW(log.record(e));
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].find("issued event of request 17") != std::string::npos);
    CHECK(warnings[0].find("disk full") != std::string::npos);

    audit::Log off;
    CHECK(!off.enabled());
    CHECK_NOTHROW(off.require(e));
    CHECK_NOTHROW(off.record(e));
}

TEST_CASE("fan-out writes to every sink even after one failed, then reports the failure") {
    auto broken = std::make_shared<MemorySink>();
    broken->fail_from = 0;
    auto working = std::make_shared<MemorySink>();
    audit::FanOutSink both({broken, working});
    CHECK_THROWS_AS(both.write(full_event()), Error);
    CHECK(working->events.size() == 1);
}
