#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <unistd.h>
#include <chrono>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "platform/platform.hpp"
#include "platform/trust.hpp"
#include "skip.hpp"
#include "store/atomic_file.hpp"
#include "store/lock.hpp"
#include "store/replacement.hpp"
#include "store/state.hpp"
#include "temp_dir.hpp"

using namespace certenroll;
namespace fs = std::filesystem;

namespace {

struct TempDir : test::TempDir {
    TempDir() : test::TempDir("certenroll-store-") {}
};

unsigned mode_of(const fs::path& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("write_file_atomic creates parents, sets the mode exactly and replaces content") {
    TempDir dir;
    const fs::path key = dir.path / "a" / "b" / "key.pem";
    const auto old_umask = ::umask(0);  // a permissive umask must not widen a key's mode
    store::write_file_atomic(key, "secret-1");
    ::umask(old_umask);
    CHECK(mode_of(key) == 0600);
    CHECK(store::read_file(key).value() == "secret-1");
    store::write_file_atomic(key, "secret-2",
                             fs::perms::owner_read | fs::perms::owner_write |
                                 fs::perms::group_read | fs::perms::others_read);
    CHECK(mode_of(key) == 0644);
    CHECK(store::read_file(key).value() == "secret-2");
    // No temporary files are left behind.
    int entries = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator(key.parent_path())) {
        ++entries;
    }
    CHECK(entries == 1);
}

TEST_CASE("the directories created for keys and state are private (0700)") {
    TempDir dir;
    fs::permissions(dir.path, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec);
    const auto old_umask = ::umask(022);
    store::write_file_atomic(dir.path / "state" / "live" / "web" / "key.pem", "secret");
    { store::DirectoryLock lock(dir.path / "other" / "state", std::chrono::milliseconds(0)); }
    store::create_private_directories(dir.path / "state" / "journal");
    ::umask(old_umask);
    for (const char* created :
         {"state", "state/live", "state/live/web", "state/journal", "other", "other/state"}) {
        CAPTURE(created);
        CHECK(mode_of(dir.path / created) == 0700);
    }
    CHECK(mode_of(dir.path) == 0755);  // an existing directory keeps its mode
    CHECK_THROWS_AS(
        store::create_private_directories(dir.path / "state" / "live" / "web" / "key.pem" / "x"),
        Error);
}

TEST_CASE("read_file distinguishes absent from unreadable") {
    TempDir dir;
    CHECK_FALSE(store::read_file(dir.path / "missing").has_value());
}

TEST_CASE("write_file_atomic into an unwritable directory is a local error naming the path") {
    if (::geteuid() == 0) {
        return;  // root ignores directory permissions; the property cannot be observed
    }
    TempDir dir;
    fs::permissions(dir.path, fs::perms::owner_read | fs::perms::owner_exec);
    try {
        store::write_file_atomic(dir.path / "x.pem", "data");
        FAIL("wrote into a read-only directory");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::Local);
        CHECK(e.message().find("x.pem") != std::string::npos);
    }
    fs::permissions(dir.path, fs::perms::owner_all);
}

TEST_CASE("pending and managed records round-trip through the state directory") {
    TempDir dir;
    store::StateDirectory state(dir.path);
    store::PendingRequest pending;
    pending.name = "web1";
    pending.request_id = "42";
    pending.template_name = "WebServer";
    pending.endpoint.cep_url = "https://cep/CEP";
    pending.endpoint.ces_url = "https://ces/CES";
    pending.endpoint.auth = "password";
    pending.endpoint.username = "alice";
    pending.endpoint.ca_name = "Issuing-CA";
    pending.key_reference = (dir.path / "key.pem").string();
    pending.key_backend = "software";
    pending.outputs.key = dir.path / "key.pem";
    pending.outputs.certificate = dir.path / "cert.pem";
    pending.renewal_period_seconds = 3600;
    pending.submitted_at = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
    state.save_pending(pending);

    // Same request ID at another CA is another record.
    auto other = pending;
    other.endpoint.ces_url = "https://other-ces/CES";
    state.save_pending(other);
    CHECK(state.list_pending().size() == 2);

    const auto found = state.find_pending("42");
    REQUIRE(found);
    CHECK(found->template_name == "WebServer");
    CHECK(found->endpoint.username == "alice");
    CHECK(found->outputs.certificate == dir.path / "cert.pem");
    CHECK(found->renewal_period_seconds == 3600);
    CHECK(found->submitted_at == pending.submitted_at);
    CHECK(mode_of(dir.path / "pending") == 0700);

    state.remove_pending(pending);
    CHECK(state.list_pending().size() == 1);
    CHECK(state.list_pending().front().endpoint.ces_url == "https://other-ces/CES");

    store::ManagedCertificate managed;
    managed.name = "web1";
    managed.serial = "0A1B";
    managed.endpoint = pending.endpoint;
    managed.not_after = std::chrono::system_clock::time_point(std::chrono::seconds(1800000000));
    managed.deploy_hook = "systemctl reload nginx";
    state.save_certificate(managed);
    const auto record = state.find_certificate("web1");
    REQUIRE(record);
    CHECK(record->serial == "0A1B");
    CHECK(record->not_after == managed.not_after);
    CHECK(record->deploy_hook == "systemctl reload nginx");
    CHECK(state.certificate_names() == std::vector<std::string>{"web1"});
    CHECK_FALSE(state.find_certificate("web2"));
    CHECK(state.list_certificates().size() == 1);
}

TEST_CASE("records of a CSR made elsewhere: public key, renewable, p7b and legacy PFX outputs") {
    TempDir dir;
    store::StateDirectory state(dir.path);
    store::PendingRequest pending;
    pending.name = "appliance";
    pending.request_id = "7";
    pending.endpoint.ces_url = "https://ces/CES";
    pending.public_key = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    pending.renewable = false;
    pending.outputs.p7b = dir.path / "cert.p7b";
    pending.outputs.p7b_der = dir.path / "cert.der.p7b";
    pending.outputs.pfx_legacy = true;
    state.save_pending(pending);
    const auto found = state.find_pending("7");
    REQUIRE(found);
    CHECK(found->public_key == pending.public_key);
    CHECK_FALSE(found->renewable);
    CHECK(found->key_reference.empty());
    CHECK(found->outputs.p7b == dir.path / "cert.p7b");
    CHECK(found->outputs.p7b_der == dir.path / "cert.der.p7b");
    CHECK(found->outputs.pfx_legacy);

    store::ManagedCertificate managed;
    managed.name = "appliance";
    managed.renewable = false;
    state.save_certificate(managed);
    CHECK_FALSE(state.find_certificate("appliance")->renewable);
    managed.name = "ours";
    managed.renewable = true;
    state.save_certificate(managed);
    CHECK(state.find_certificate("ours")->renewable);
    // Records written before these fields existed are renewable, with AES PFX files.
    const auto old = store::parse_certificate_record(
        R"({"name": "old", "endpoint": {}, "outputs": {"pfx": "/x.pfx"}})", "old.json");
    CHECK(old.renewable);
    CHECK_FALSE(old.outputs.pfx_legacy);
}

TEST_CASE("the last outcome and the subject round-trip; records without them still load") {
    TempDir dir;
    store::StateDirectory state(dir.path);
    store::ManagedCertificate managed;
    managed.name = "web1";
    managed.subject = "CN=web1.example.test";
    const store::Outcome outcome{
        std::chrono::system_clock::time_point(std::chrono::seconds(1700000000)), "auth",
        "the server refused the credentials"};
    managed.last_outcome = outcome;
    state.save_certificate(managed);
    const auto record = state.find_certificate("web1");
    REQUIRE(record);
    CHECK(record->subject == "CN=web1.example.test");
    REQUIRE(record->last_outcome);
    CHECK(record->last_outcome->at == outcome.at);
    CHECK(record->last_outcome->result == "auth");
    CHECK(record->last_outcome->message == outcome.message);

    store::PendingRequest pending;
    pending.name = "web1";
    pending.request_id = "7";
    pending.last_outcome = store::Outcome{outcome.at, "pending", "request 7 is pending"};
    state.save_pending(pending);
    REQUIRE(state.find_pending("7")->last_outcome);
    CHECK(state.find_pending("7")->last_outcome->result == "pending");

    // A record written before last_outcome existed has none.
    const auto old = store::parse_certificate_record(
        R"({"name": "old", "endpoint": {}, "outputs": {}})", "old.json");
    CHECK_FALSE(old.last_outcome);
    CHECK(old.subject.empty());
    // One without its result is corrupt, named like any other broken field.
    CHECK_THROWS_AS(
        store::parse_certificate_record(
            R"({"name": "x", "endpoint": {}, "outputs": {}, "last_outcome": {"at": 1}})", "x.json"),
        Error);
}

TEST_CASE("connection settings round-trip by reference; records without them still load") {
    TempDir dir;
    store::StateDirectory state(dir.path);
    store::ManagedCertificate managed;
    managed.name = "web2";
    auto& e = managed.endpoint;
    e.cep_url = "https://cep/CEP";
    e.auth = "certificate";
    e.password = {"/etc/certenroll/pw", ""};
    e.client_certificate = "/etc/certenroll/client.pem";
    e.client_key = "pkcs11:token=t;object=k";
    e.client_key_passphrase = {"/etc/certenroll/client.pass", ""};
    e.ca_bundle = "/etc/ssl/corp.pem";
    e.proxy = "http://proxy:3128";
    e.proxy_user = "svc";
    e.proxy_auth = "ntlm";
    e.proxy_password = {"", "CERTENROLL_PROXY_PASSWORD"};
    e.pfx_password = {"", "CERTENROLL_PFX_PASSWORD"};
    e.key_passphrase = {"/etc/certenroll/key.pass", ""};
    state.save_certificate(managed);
    const auto record = state.find_certificate("web2");
    REQUIRE(record);
    const auto& r = record->endpoint;
    CHECK(r.password.file == "/etc/certenroll/pw");
    CHECK(r.password.environment.empty());
    CHECK(r.client_certificate == e.client_certificate);
    CHECK(r.client_key == e.client_key);
    CHECK(r.client_key_passphrase.file == "/etc/certenroll/client.pass");
    CHECK(r.ca_bundle == e.ca_bundle);
    CHECK(r.proxy == e.proxy);
    CHECK(r.proxy_user == "svc");
    CHECK(r.proxy_auth == "ntlm");
    CHECK(r.proxy_password.environment == "CERTENROLL_PROXY_PASSWORD");
    CHECK(r.pfx_password.environment == "CERTENROLL_PFX_PASSWORD");
    CHECK(r.key_passphrase.file == "/etc/certenroll/key.pass");
    // Unknown references are not written at all.
    const auto text = store::read_file(dir.path / "certificates" / "web2.json");
    REQUIRE(text);
    CHECK(text->find("\"password_env\"") == std::string::npos);
    CHECK(text->find("\"password_file\": \"/etc/certenroll/pw\"") != std::string::npos);

    // A record written before these fields existed.
    const auto old = store::parse_certificate_record(
        R"({"name": "old", "endpoint": {"cep_url": "https://cep/CEP", "ces_url": "",
            "auth": "kerberos", "username": "", "ca_name": "", "renewal_url": "", "spn": "",
            "keytab": "/k", "principal": "p@R"}, "outputs": {"key": "/k.pem"}})",
        "old.json");
    CHECK(old.endpoint.auth == "kerberos");
    CHECK(old.endpoint.keytab == "/k");
    CHECK(old.endpoint.password.empty());
    CHECK(old.endpoint.ca_bundle.empty());
    CHECK(old.endpoint.proxy.empty());
    const auto old_pending = store::parse_pending_record(
        R"({"name": "p", "request_id": "7", "endpoint": {"ces_url": "https://ces/CES"},
            "outputs": {}})",
        "p.json");
    CHECK_FALSE(old_pending.key_generated);  // unknown: the key is kept
    CHECK(old_pending.endpoint.pfx_password.empty());
}

TEST_CASE("a key attempt is noted, found by name, and removed") {
    TempDir dir;
    store::StateDirectory state(dir.path);
    CHECK_FALSE(state.find_key_attempt("web"));
    state.save_key_attempt("web", dir.path / "live" / "web" / "key.pem");
    const auto found = state.find_key_attempt("web");
    REQUIRE(found);
    CHECK(*found == dir.path / "live" / "web" / "key.pem");
    CHECK_FALSE(state.find_key_attempt("other"));
    CHECK(mode_of(dir.path / "attempts") == 0700);
    state.remove_key_attempt("web");
    CHECK_FALSE(state.find_key_attempt("web"));
    state.remove_key_attempt("web");  // twice: nothing to do
    CHECK_THROWS_AS(state.save_key_attempt("../x", dir.path / "k"), Error);
    // The note is not synced: a power failure can leave it empty or cut short. Either is no
    // note (the next enroll then refuses to overwrite the key file), never an error.
    for (const std::string& left :
         {std::string(), std::string("{\"name\": \"web\", \"ke"), std::string(4, '\0')}) {
        store::write_file_atomic(dir.path / "attempts" / "web.json", left);
        CHECK_FALSE(state.find_key_attempt("web"));
    }
}

TEST_CASE("record names cannot escape the state directory") {
    TempDir dir;
    store::StateDirectory state(dir.path);
    for (const char* bad : {"../evil", "a/b", "", "..", "name with space"}) {
        CHECK_THROWS_AS(store::check_record_name(bad), Error);
    }
    store::ManagedCertificate managed;
    managed.name = "../../etc/x";
    CHECK_THROWS_AS(state.save_certificate(managed), Error);
}

TEST_CASE("a corrupt state record is a local error that names the file") {
    TempDir dir;
    store::StateDirectory state(dir.path);
    store::write_file_atomic(dir.path / "certificates" / "bad.json", "{not json");
    try {
        state.list_certificates();
        FAIL("accepted a corrupt record");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::Local);
        CHECK(e.message().find("bad.json") != std::string::npos);
    }
}

TEST_CASE("the state directory lock excludes a second holder and is released on scope exit") {
    TempDir dir;
    {
        store::DirectoryLock first(dir.path, std::chrono::milliseconds(0));
        try {
            store::DirectoryLock second(dir.path, std::chrono::milliseconds(200));
            FAIL("second lock acquired while the first is held");
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::Local);
            CHECK(e.message().find(std::to_string(::getpid())) != std::string::npos);
        }
    }
    store::DirectoryLock again(dir.path, std::chrono::milliseconds(0));
}

TEST_CASE("a file set is switched in together, old versions kept as .prev") {
    TempDir dir;
    const auto journal = dir.path / "journal";
    store::write_file_atomic(dir.path / "cert.pem", "old cert");
    store::write_file_atomic(dir.path / "key.pem", "old key");
    store::write_file_atomic(dir.path / "key.pem.next", "new key");

    store::FileSetReplacement set(journal, "web1");
    set.stage(dir.path / "cert.pem", "new cert",
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                  std::filesystem::perms::group_read);
    set.stage(dir.path / "chain.pem", "chain",
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    set.stage_existing(dir.path / "key.pem.next", dir.path / "key.pem");
    // Nothing visible changes before commit.
    CHECK(*store::read_file(dir.path / "cert.pem") == "old cert");
    CHECK_FALSE(store::read_file(dir.path / "chain.pem"));
    set.commit();

    CHECK(*store::read_file(dir.path / "cert.pem") == "new cert");
    CHECK(*store::read_file(dir.path / "cert.pem.prev") == "old cert");
    CHECK(*store::read_file(dir.path / "key.pem") == "new key");
    CHECK(*store::read_file(dir.path / "key.pem.prev") == "old key");
    CHECK(*store::read_file(dir.path / "chain.pem") == "chain");
    CHECK(mode_of(dir.path / "cert.pem") == 0640);
    CHECK_FALSE(std::filesystem::exists(dir.path / "cert.pem.new"));
    CHECK(store::complete_interrupted_replacements(journal).empty());
}

TEST_CASE("a file set abandoned before commit leaves no staged file behind") {
    TempDir dir;
    store::write_file_atomic(dir.path / "cert.pem", "old cert");
    store::write_file_atomic(dir.path / "key.pem.next", "new key");
    store::write_file_atomic(dir.path / "a-file", "x");
    const auto mode = fs::perms::owner_read | fs::perms::owner_write;
    {
        store::FileSetReplacement set(dir.path / "journal", "web1");
        set.stage(dir.path / "cert.pem", "new cert", mode);
        set.stage(dir.path / "chain.pem", "chain", mode);
        set.stage_existing(dir.path / "key.pem.next", dir.path / "key.pem");
        CHECK(fs::exists(dir.path / "chain.pem.new"));
        // The next file cannot be written (as with a full disk): the set is given up.
        CHECK_THROWS_AS(set.stage(dir.path / "a-file" / "fullchain.pem", "full", mode), Error);
    }
    CHECK_FALSE(fs::exists(dir.path / "cert.pem.new"));
    CHECK_FALSE(fs::exists(dir.path / "chain.pem.new"));
    CHECK(*store::read_file(dir.path / "cert.pem") == "old cert");
    CHECK(*store::read_file(dir.path / "key.pem.next") == "new key");  // the caller's file
    CHECK_FALSE(fs::exists(dir.path / "key.pem"));
    CHECK_FALSE(fs::exists(dir.path / "journal" / "web1.json"));
}

TEST_CASE("an interrupted replacement is rolled forward on the next run") {
    TempDir dir;
    const auto journal = dir.path / "journal";
    store::write_file_atomic(dir.path / "cert.pem", "old cert");
    store::write_file_atomic(dir.path / "key.pem", "old key");
    // The state a crash leaves after the journal was written and the first rename was done.
    store::write_file_atomic(dir.path / "cert.pem.new", "new cert");
    store::write_file_atomic(dir.path / "key.pem.prev", "old key");
    std::filesystem::rename(dir.path / "key.pem", dir.path / "key.pem.prev");
    store::write_file_atomic(dir.path / "key.pem", "new key");
    const std::string journal_text = R"({"renames": [[")" + (dir.path / "key.pem.new").string() +
                                     R"(", ")" + (dir.path / "key.pem").string() + R"("], [")" +
                                     (dir.path / "cert.pem.new").string() + R"(", ")" +
                                     (dir.path / "cert.pem").string() + R"("]]})";
    store::write_file_atomic(journal / "web1.json", journal_text);

    CHECK(store::complete_interrupted_replacements(journal) == std::vector<std::string>{"web1"});
    CHECK(*store::read_file(dir.path / "cert.pem") == "new cert");
    CHECK(*store::read_file(dir.path / "cert.pem.prev") == "old cert");
    CHECK(*store::read_file(dir.path / "key.pem") == "new key");
    CHECK(*store::read_file(dir.path / "key.pem.prev") == "old key");
    CHECK_FALSE(std::filesystem::exists(journal / "web1.json"));
}

TEST_CASE("a managed record staged with its files switches in with them, not before") {
    TempDir dir;
    store::StateDirectory state(dir.path);
    store::ManagedCertificate old_record;
    old_record.name = "web1";
    old_record.serial = "01";
    state.save_certificate(old_record);
    store::ManagedCertificate new_record = old_record;
    new_record.serial = "02";
    {
        store::FileSetReplacement set(state.journal_dir(), "web1");
        set.stage(dir.path / "cert.pem", "new cert", std::filesystem::perms::owner_read);
        state.save_certificate(new_record, &set);
        // Staged only: readers still see the record that describes the files in place.
        CHECK(state.find_certificate("web1")->serial == "01");
        CHECK(state.certificate_names() == std::vector<std::string>{"web1"});
        set.commit();
    }
    CHECK(state.find_certificate("web1")->serial == "02");
    CHECK(*store::read_file(dir.path / "cert.pem") == "new cert");
    CHECK_FALSE(std::filesystem::exists(dir.path / "certificates" / "web1.json.prev"));
    {
        store::FileSetReplacement abandoned(state.journal_dir(), "web1");
        new_record.serial = "03";
        state.save_certificate(new_record, &abandoned);
    }  // no commit: e.g. a later write failed
    CHECK(state.find_certificate("web1")->serial == "02");
    CHECK_FALSE(std::filesystem::exists(dir.path / "certificates" / "web1.json.new"));
}

TEST_CASE("stale temporaries (their writer's PID gone) are removed, nothing else") {
    TempDir dir;
    // 4194305 is above Linux's largest pid_max (2^22): no process has it. PID 1 always runs.
    const auto stale = dir.write("key.pem.new.tmp.4194305.1a2b3c", "private key");
    const auto stale_journal = dir.write("web1.json.tmp.4194305.ff", "{}");
    const std::string own = std::to_string(::getpid());
    const auto ours = dir.write("cert.pem.new.tmp." + own + ".9f", "being written");
    const auto running = dir.write("cert.pem.tmp.1.9f", "another process's");
    const std::vector<fs::path> unrelated = {dir.write("notes.tmp.txt", "x"),
                                             dir.write("cert.pem.tmp.4194305", "x"),
                                             dir.write("cert.pem.tmp.4194305.xyz", "x"),
                                             dir.write("cert.pem.tmp..1f", "x"),
                                             dir.write("key.pem", "x"),
                                             dir.write("cert.pem.tmp.4194305.", "x")};
    fs::create_directory(dir.path / "sub.tmp.4194305.1f");

    CHECK(store::remove_stale_temporaries(dir.path) == 2);
    CHECK_FALSE(fs::exists(stale));
    CHECK_FALSE(fs::exists(stale_journal));
    CHECK(fs::exists(ours));
    CHECK(fs::exists(running));
    for (const auto& path : unrelated)
        CHECK_MESSAGE(fs::exists(path), path);
    CHECK(fs::is_directory(dir.path / "sub.tmp.4194305.1f"));
    CHECK(store::remove_stale_temporaries(dir.path / "absent") == 0);
}

namespace {

std::vector<std::string> observed_steps;

void record_step(std::string_view step) {
    observed_steps.emplace_back(step);
}

}  // namespace

TEST_CASE("a file set clears stale temporaries beside it, and reports each write step") {
    TempDir dir;
    const auto journal = dir.path / "journal";
    const auto stale = dir.write("key.pem.new.tmp.4194305.1a2b3c", "private key");
    fs::create_directories(journal);
    const auto stale_journal = dir.write("journal/web1.json.tmp.4194305.1", "{}");
    store::write_file_atomic(dir.path / "key.pem.next", "new key");
    store::write_file_atomic(dir.path / "cert.pem", "old cert");  // a replacement: journaled
    observed_steps.clear();
    store::set_write_step_observer(record_step);
    {
        store::FileSetReplacement set(journal, "web1");
        set.stage(dir.path / "cert.pem", "new cert", fs::perms::owner_read);
        CHECK_FALSE(fs::exists(stale));
        set.stage_existing(dir.path / "key.pem.next", dir.path / "key.pem");
        set.commit();
    }
    store::set_write_step_observer(nullptr);
    CHECK_FALSE(fs::exists(stale_journal));
    // Each step a crash can interrupt, in order: the test build kills at each of them.
    CHECK(observed_steps ==
          std::vector<std::string>{"temporary-written", "staged", "temporary-written", "journaled",
                                   "switched-in", "switched-in", "journal-removed"});
}

namespace {

// At each step of a first installation: which of the set's files are in place.
std::vector<fs::path> installed_files;
std::vector<std::vector<bool>> in_place_at_each_switch;

void record_files_in_place(std::string_view step) {
    if (step != "switched-in")
        return;
    std::vector<bool> in_place;
    for (const auto& path : installed_files)
        in_place.push_back(fs::exists(path));
    in_place_at_each_switch.push_back(in_place);
}

}  // namespace

TEST_CASE("a first installation needs no journal: the record is switched in after its files") {
    TempDir dir;
    store::StateDirectory state(dir.path);
    const auto live = dir.path / "live" / "web1";
    store::ManagedCertificate record;
    record.name = "web1";
    record.serial = "01";
    installed_files = {live / "chain.pem", live / "cert.pem",
                       dir.path / "certificates" / "web1.json"};
    in_place_at_each_switch.clear();
    store::set_write_step_observer(record_files_in_place);
    {
        store::FileSetReplacement set(state.journal_dir(), "web1");
        set.stage(live / "chain.pem", "chain", fs::perms::owner_read | fs::perms::owner_write);
        set.stage(live / "cert.pem", "cert", fs::perms::owner_read | fs::perms::owner_write);
        state.save_certificate(record, &set);
        CHECK_FALSE(state.find_certificate("web1"));
        set.commit();
    }
    store::set_write_step_observer(nullptr);
    // One switch per file, in the order staged; the record, last, only with both files there.
    CHECK(in_place_at_each_switch == std::vector<std::vector<bool>>{{true, false, false},
                                                                    {true, true, false},
                                                                    {true, true, true}});
    CHECK(state.find_certificate("web1")->serial == "01");
    CHECK(*store::read_file(live / "cert.pem") == "cert");
    CHECK_FALSE(fs::exists(live / "cert.pem.new"));
    CHECK_FALSE(fs::exists(live / "cert.pem.prev"));
    CHECK_FALSE(fs::exists(state.journal_dir() / "web1.json"));

    // Once anything it would replace exists, the same set goes through the journal again.
    observed_steps.clear();
    store::set_write_step_observer(record_step);
    {
        store::FileSetReplacement set(state.journal_dir(), "web1");
        set.stage(live / "cert.pem", "cert 2", fs::perms::owner_read | fs::perms::owner_write);
        set.commit();
    }
    store::set_write_step_observer(nullptr);
    CHECK(observed_steps == std::vector<std::string>{"temporary-written", "staged",
                                                     "temporary-written", "journaled",
                                                     "switched-in", "journal-removed"});
    CHECK(*store::read_file(live / "cert.pem.prev") == "cert");
}

// Regression (tests/fuzz, fuzz_state): a time or period beyond what the clock can hold
// (9223372036854775807 seconds) overflowed converting to nanoseconds (UBSan: signed integer
// overflow in <chrono>). Such a record is now incomplete, like one with a missing field.
TEST_CASE("a state record with an out-of-range time is refused, not overflowed") {
    TempDir dir;
    store::StateDirectory state(dir.path);
    const std::string endpoint = R"("endpoint": {"cep_url": "https://cep/CEP"}, "outputs": {})";
    for (const char* field : {"not_before", "not_after", "updated_at", "renewal_period_seconds"}) {
        // The last three: a number beyond 64 bits (a double in JSON, whose conversion to an
        // integer was undefined: found by fuzz_state), one above INT64_MAX, and a fraction.
        for (const char* value :
             {"9223372036854775807", "-9223372036854775807", "10000000000",
              "170000000444444444444444444", "18446744073709551615", "1.5", "null", "\"1\""}) {
            CAPTURE(field);
            CAPTURE(value);
            store::write_file_atomic(
                dir.path / "certificates" / "web1.json",
                R"({"name": "web1", )" + endpoint + ", \"" + field + "\": " + value + "}");
            for (int call = 0; call < 2; ++call) {
                try {
                    if (call == 0) {
                        (void)state.find_certificate("web1");
                    } else {
                        (void)state.list_certificates();
                    }
                    FAIL("accepted " << field << " = " << value);
                } catch (const Error& e) {
                    CHECK(e.kind() == ErrorKind::Local);
                    CHECK(e.message().find("web1.json is incomplete") != std::string::npos);
                    CHECK(e.message().find(field) != std::string::npos);
                }
            }
        }
    }
    fs::remove(dir.path / "certificates" / "web1.json");
    store::write_file_atomic(dir.path / "pending" / "x-1.json",
                             R"({"name": "web1", "request_id": "1", )" + endpoint +
                                 R"(, "submitted_at": 9223372036854775807})");
    try {
        (void)state.list_pending();
        FAIL("accepted submitted_at = 9223372036854775807");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::Local);
        CHECK(e.message().find("submitted_at") != std::string::npos);
    }
    // The largest representable time still loads.
    store::write_file_atomic(
        dir.path / "pending" / "x-1.json",
        R"({"name": "web1", "request_id": "1", )" + endpoint + R"(, "submitted_at": 9223372036})");
    CHECK(state.list_pending().size() == 1);
}

TEST_CASE("records another user could have written are refused, never read") {
    TempDir dir;
    store::StateDirectory state(dir.path / "state");
    store::ManagedCertificate managed;
    managed.name = "web";
    managed.deploy_hook = "systemctl reload nginx";
    state.save_certificate(managed);
    const fs::path record = dir.path / "state" / "certificates" / "web.json";
    const auto refused = [&](const fs::path& path, const char* words) {
        for (int call = 0; call < 3; ++call) {
            try {
                if (call == 0)
                    state.list_certificates();
                else if (call == 1)
                    state.find_certificate("web");
                else
                    state.save_certificate(managed);
                if (call < 2 || path != record)  // a write replaces the record: not refused
                    FAIL("expected an Error");
            } catch (const Error& e) {
                CHECK(e.kind() == ErrorKind::Local);
                CHECK_MESSAGE(e.message().find(path.string()) != std::string::npos, e.message());
                CHECK_MESSAGE(e.message().find(words) != std::string::npos, e.message());
                CHECK(e.message().find("owner") != std::string::npos);
            }
        }
    };
    ::chmod(record.c_str(), 0666);
    refused(record, "mode 0666");
    ::chmod(record.c_str(), 0620);
    refused(record, "mode 0620");
    state.save_certificate(managed);  // written anew, 0600
    CHECK(mode_of(record) == 0600);
    REQUIRE(state.find_certificate("web"));

    const fs::path elsewhere = dir.path / "elsewhere.json";
    fs::rename(record, elsewhere);
    fs::create_symlink(elsewhere, record);
    refused(record, "symbolic link");
    fs::remove(record);
    fs::rename(elsewhere, record);

    // Directories are checked once per StateDirectory (once per run): a new one sees the change.
    ::chmod((dir.path / "state").c_str(), 0777);
    CHECK(state.list_certificates().size() == 1);  // this run checked them already
    const auto refused_directory = [&](const fs::path& path, const char* words) {
        store::StateDirectory run(dir.path / "state");
        try {
            run.list_certificates();
            FAIL("expected an Error");
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::Local);
            CHECK_MESSAGE(e.message().find(path.string()) != std::string::npos, e.message());
            CHECK_MESSAGE(e.message().find(words) != std::string::npos, e.message());
            CHECK(e.message().find("owner") != std::string::npos);
        }
    };
    refused_directory(dir.path / "state", "mode 0777");
    ::chmod((dir.path / "state").c_str(), 0700);
    ::chmod((dir.path / "state" / "certificates").c_str(), 0730);
    refused_directory(dir.path / "state" / "certificates", "mode 0730");
    ::chmod((dir.path / "state" / "certificates").c_str(), 0700);
    CHECK(store::StateDirectory(dir.path / "state").list_certificates().size() == 1);
}

TEST_CASE("state directories of ours that others may read are made private") {
    TempDir dir;
    store::StateDirectory state(dir.path / "state");
    store::ManagedCertificate managed;
    managed.name = "web";
    state.save_certificate(managed);
    ::chmod((dir.path / "state").c_str(), 0755);
    ::chmod((dir.path / "state" / "certificates").c_str(), 0750);
    store::StateDirectory next_run(dir.path / "state");  // directories are checked once per run
    CHECK(next_run.list_certificates().size() == 1);
    CHECK(mode_of(dir.path / "state") == 0700);
    CHECK(mode_of(dir.path / "state" / "certificates") == 0700);
}

namespace {

// The configuration file as cmd/profile_args.cpp reads it.
std::optional<std::string> read_config(const fs::path& path) {
    return platform::read_trusted_file(path, "configuration file",
                                       platform::DirectoryOwner::UsOrRoot,
                                       platform::FileLink::Followed);
}

void check_config_refused(const fs::path& path, const std::string& words) {
    try {
        read_config(path);
        FAIL("expected an Error for " << path);
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::Local);
        CHECK_MESSAGE(e.message().find("refusing configuration file '" + path.string() + "'") !=
                          std::string::npos,
                      e.message());
        CHECK_MESSAGE(e.message().find(words) != std::string::npos, e.message());
        CHECK_MESSAGE(e.hint().find("chmod go-w") != std::string::npos, e.hint());
    }
}

}  // namespace

TEST_CASE("trusted files are read whole, whatever their size says") {
    TempDir dir;
    // Larger than any first read: the content grows past the size fstat gave.
    std::string large(300 * 1024 + 7, 'x');
    for (std::size_t i = 0; i < large.size(); i += 4096)
        large[i] = static_cast<char>('a' + (i / 4096) % 26);
    const auto large_file = dir.write("large.json", large);
    CHECK(read_config(large_file) == large);
    CHECK(read_config(dir.write("empty.json", "")) == std::string());
    // A procfs file has st_size 0 and content all the same.
    const auto status = platform::read_file_with_ownership("/proc/self/status", true);
    REQUIRE(status.has_value());
    CHECK(status->content.find("Pid:") != std::string::npos);
}

TEST_CASE("temporary names: this process's PID, and no two alike") {
    const std::string prefix = ".tmp." + std::to_string(::getpid()) + ".";
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        const std::string suffix = platform::temporary_suffix();
        REQUIRE(suffix.rfind(prefix, 0) == 0);
        const std::string hex = suffix.substr(prefix.size());
        REQUIRE_FALSE(hex.empty());
        CHECK(hex.size() <= 8);
        CHECK(hex.find_first_not_of("0123456789abcdef") == std::string::npos);
        seen.insert(suffix);
    }
    CHECK(seen.size() == 1000);
}

TEST_CASE("a configuration file is read only when no one but its owner (us or root) may write it") {
    TempDir dir;
    const fs::path config = dir.path / "config.json";
    store::write_file_atomic(config, "{}", fs::perms(0644));
    CHECK(read_config(config) == std::optional<std::string>("{}"));
    CHECK_FALSE(read_config(dir.path / "missing.json"));  // the caller names it

    ::chmod(config.c_str(), 0666);
    check_config_refused(config, "mode 0666");
    ::chmod(config.c_str(), 0664);
    check_config_refused(config, "mode 0664");
    ::chmod(config.c_str(), 0640);  // others may read it: nothing secret is in it
    CHECK(read_config(config));

    // A link the user named is followed; the file it leads to is what is checked.
    const fs::path link = dir.path / "link.json";
    fs::create_symlink(config, link);
    CHECK(read_config(link) == std::optional<std::string>("{}"));
    ::chmod(config.c_str(), 0646);
    check_config_refused(link, "mode 0646");
    ::chmod(config.c_str(), 0600);

    fs::create_directory(dir.path / "a-directory");
    check_config_refused(dir.path / "a-directory", "not a regular file");
    REQUIRE(::mkfifo((dir.path / "fifo").c_str(), 0600) == 0);
    check_config_refused(dir.path / "fifo", "not a regular file");  // and the open did not block
}

TEST_CASE("a configuration file owned by another user is refused; root's is read") {
    if (::geteuid() != 0)
        return test::skip("changing a file's owner needs root");
    TempDir dir;
    const fs::path config = dir.path / "config.json";
    store::write_file_atomic(config, "{}", fs::perms(0644));
    REQUIRE(::chown(config.c_str(), 65534, 65534) == 0);
    check_config_refused(config, "uid 65534");
    REQUIRE(::chown(config.c_str(), 0, 0) == 0);
    CHECK(read_config(config));
}
