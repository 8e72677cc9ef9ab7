#include "store/state.hpp"

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "error.hpp"
#include "platform/platform.hpp"
#include "platform/trust.hpp"
#include "store/atomic_file.hpp"
#include "store/replacement.hpp"

namespace certenroll::store {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::int64_t to_unix(TimePoint t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// A value that is valid JSON but unusable; reported like a missing or mistyped field.
class BadField : public std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The largest number of seconds the clock can hold (about 292 years either side of 1970): a
// corrupt or hand-edited record may hold any number, and converting a larger one would overflow.
constexpr std::int64_t kMaxSeconds =
    std::chrono::duration_cast<std::chrono::seconds>(TimePoint::duration::max()).count();

std::int64_t seconds_field(const json& j, const char* key) {
    if (!j.contains(key))
        return 0;
    const json& field = j.at(key);
    const auto out_of_range = [key](const std::string& shown) {
        return BadField(std::string("field '") + key + "' is out of range (" + shown + ")");
    };
    // Checked by JSON type before converting: a number beyond 64 bits is stored as a double, and
    // casting that to an integer is undefined (found by fuzz_state); one above INT64_MAX is
    // unsigned and would wrap to a negative time.
    if (field.is_number_unsigned()) {
        const auto value = field.get<std::uint64_t>();
        if (value > static_cast<std::uint64_t>(kMaxSeconds))
            throw out_of_range(std::to_string(value));
        return static_cast<std::int64_t>(value);
    }
    if (!field.is_number_integer())
        throw BadField(std::string("field '") + key + "' is not a whole number of seconds");
    const auto value = field.get<std::int64_t>();
    if (value > kMaxSeconds || value < -kMaxSeconds)
        throw out_of_range(std::to_string(value));
    return value;
}

TimePoint time_field(const json& j, const char* key) {
    return TimePoint(std::chrono::seconds(seconds_field(j, key)));
}

json to_json(const OutputPaths& o) {
    return {{"key", o.key.string()},     {"certificate", o.certificate.string()},
            {"chain", o.chain.string()}, {"fullchain", o.fullchain.string()},
            {"pfx", o.pfx.string()},     {"certificate_der", o.certificate_der.string()},
            {"p7b", o.p7b.string()},     {"p7b_der", o.p7b_der.string()},
            {"pfx_legacy", o.pfx_legacy}};
}

OutputPaths outputs_from_json(const json& j) {
    OutputPaths o;
    o.key = j.value("key", "");
    o.certificate = j.value("certificate", "");
    o.chain = j.value("chain", "");
    o.fullchain = j.value("fullchain", "");
    o.pfx = j.value("pfx", "");
    o.certificate_der = j.value("certificate_der", "");
    o.p7b = j.value("p7b", "");
    o.p7b_der = j.value("p7b_der", "");
    o.pfx_legacy = j.value("pfx_legacy", false);
    return o;
}

void put_source(json& j, const char* name, const SecretSource& source) {
    if (!source.file.empty())
        j[std::string(name) + "_file"] = source.file;
    if (!source.environment.empty())
        j[std::string(name) + "_env"] = source.environment;
}

SecretSource source_from_json(const json& j, const char* name) {
    return {j.value(std::string(name) + "_file", ""), j.value(std::string(name) + "_env", "")};
}

json to_json(const Endpoint& e) {
    json j = {{"cep_url", e.cep_url},   {"ces_url", e.ces_url}, {"auth", e.auth},
              {"username", e.username}, {"ca_name", e.ca_name}, {"renewal_url", e.renewal_url},
              {"spn", e.spn},           {"keytab", e.keytab},   {"principal", e.principal}};
    if (e.key_based)
        j["key_based"] = true;
    // Written only when known: records from before these fields look the same.
    const auto put = [&j](const char* name, const std::string& value) {
        if (!value.empty())
            j[name] = value;
    };
    put_source(j, "password", e.password);
    put("client_certificate", e.client_certificate);
    put("client_key", e.client_key);
    put_source(j, "client_key_passphrase", e.client_key_passphrase);
    put("ca_bundle", e.ca_bundle);
    put("proxy", e.proxy);
    put("proxy_user", e.proxy_user);
    put("proxy_auth", e.proxy_auth);
    put_source(j, "proxy_password", e.proxy_password);
    put_source(j, "pfx_password", e.pfx_password);
    put_source(j, "key_passphrase", e.key_passphrase);
    put("signature", e.signature);
    return j;
}

Endpoint endpoint_from_json(const json& j) {
    Endpoint e;
    e.cep_url = j.value("cep_url", "");
    e.ces_url = j.value("ces_url", "");
    e.auth = j.value("auth", "");
    e.username = j.value("username", "");
    e.ca_name = j.value("ca_name", "");
    e.renewal_url = j.value("renewal_url", "");
    e.spn = j.value("spn", "");
    e.keytab = j.value("keytab", "");
    e.principal = j.value("principal", "");
    e.key_based = j.value("key_based", false);
    e.password = source_from_json(j, "password");
    e.client_certificate = j.value("client_certificate", "");
    e.client_key = j.value("client_key", "");
    e.client_key_passphrase = source_from_json(j, "client_key_passphrase");
    e.ca_bundle = j.value("ca_bundle", "");
    e.proxy = j.value("proxy", "");
    e.proxy_user = j.value("proxy_user", "");
    e.proxy_auth = j.value("proxy_auth", "");
    e.proxy_password = source_from_json(j, "proxy_password");
    e.pfx_password = source_from_json(j, "pfx_password");
    e.key_passphrase = source_from_json(j, "key_passphrase");
    e.signature = j.value("signature", "");
    return e;
}

// Optional in records: those written before it have none.
void put_outcome(json& j, const std::optional<Outcome>& o) {
    if (o)
        j["last_outcome"] = {
            {"at", to_unix(o->at)}, {"result", o->result}, {"message", o->message}};
}

std::optional<Outcome> outcome_from_json(const json& j) {
    if (!j.contains("last_outcome"))
        return std::nullopt;
    const json& o = j.at("last_outcome");
    return Outcome{time_field(o, "at"), o.at("result").get<std::string>(), o.value("message", "")};
}

json parse_record_text(std::string_view text, const std::string& where) {
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        throw Error(ErrorKind::Local, "state record " + where + " is corrupt: " + e.what(),
                    "move the file aside; the certificate files themselves are untouched");
    }
}

std::string read_record_text(const fs::path& path) {
    auto text = platform::read_trusted_file(path, "state record");
    if (!text) {
        throw Error(ErrorKind::Local, "state record " + path.string() + " disappeared");
    }
    return std::move(*text);
}

std::vector<fs::path> json_files(const fs::path& dir) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->path().extension() == ".json") {
            files.push_back(it->path());
        }
    }
    std::sort(files.begin(), files.end());
    return files;
}

[[noreturn]] void incomplete(const std::string& where, const char* what) {
    throw Error(ErrorKind::Local, "state record " + where + " is incomplete: " + what,
                "move the file aside; the certificate files themselves are untouched");
}

// The record's text to its struct; every malformed shape becomes a local Error naming `where`.
template <typename Parse>
auto parse_record(std::string_view text, const std::string& where, Parse parse) {
    try {
        return parse(parse_record_text(text, where));
    } catch (const json::exception& e) {
        incomplete(where, e.what());
    } catch (const BadField& e) {
        incomplete(where, e.what());
    }
}

template <typename T, typename Parse>
std::vector<T> load_all(const fs::path& dir, Parse parse) {
    platform::require_trusted_directory(dir, "state directory", platform::DirectoryOwner::Us, true);
    std::vector<T> records;
    for (const auto& path : json_files(dir)) {
        records.push_back(parse_record(read_record_text(path), path.string(), parse));
    }
    return records;
}

PendingRequest pending_from_json(const json& j) {
    PendingRequest p;
    p.name = j.at("name").get<std::string>();
    p.request_id = j.at("request_id").get<std::string>();
    p.template_name = j.value("template", "");
    p.endpoint = endpoint_from_json(j.at("endpoint"));
    p.key_backend = j.value("key_backend", "software");
    p.key_reference = j.value("key_reference", "");
    p.outputs = outputs_from_json(j.at("outputs"));
    p.renewal_period_seconds = seconds_field(j, "renewal_period_seconds");
    p.submitted_at = time_field(j, "submitted_at");
    p.deploy_hook = j.value("deploy_hook", "");
    p.renewal = j.value("renewal", false);
    p.denied = j.value("denied", "");
    p.public_key = j.value("public_key", "");
    p.renewable = j.value("renewable", true);
    p.last_outcome = outcome_from_json(j);
    p.key_generated = j.value("key_generated", false);
    return p;
}

ManagedCertificate certificate_from_json(const json& j) {
    ManagedCertificate c;
    c.name = j.at("name").get<std::string>();
    c.template_name = j.value("template", "");
    c.endpoint = endpoint_from_json(j.at("endpoint"));
    c.key_backend = j.value("key_backend", "software");
    c.key_reference = j.value("key_reference", "");
    c.outputs = outputs_from_json(j.at("outputs"));
    c.serial = j.value("serial", "");
    c.not_before = time_field(j, "not_before");
    c.not_after = time_field(j, "not_after");
    c.renewal_period_seconds = seconds_field(j, "renewal_period_seconds");
    c.updated_at = time_field(j, "updated_at");
    c.deploy_hook = j.value("deploy_hook", "");
    c.renewable = j.value("renewable", true);
    c.subject = j.value("subject", "");
    c.last_outcome = outcome_from_json(j);
    return c;
}

// Request IDs are only unique per CA, so the file name carries a digest of the CES URL too.
std::string url_tag(const std::string& url) {
    std::uint32_t h = 2166136261u;  // FNV-1a: stable, short, not security-relevant here
    for (const unsigned char c : url) {
        h = (h ^ c) * 16777619u;
    }
    char buffer[9];
    std::snprintf(buffer, sizeof buffer, "%08x", h);
    return buffer;
}

}  // namespace

PendingRequest parse_pending_record(std::string_view text, const std::string& where) {
    return parse_record(text, where, pending_from_json);
}

ManagedCertificate parse_certificate_record(std::string_view text, const std::string& where) {
    return parse_record(text, where, certificate_from_json);
}

StateDirectory::StateDirectory(fs::path root) : root_(std::move(root)) {}

fs::path StateDirectory::pending_path(const PendingRequest& request) const {
    return root_ / "pending" /
           (url_tag(request.endpoint.ces_url) + "-" + request.request_id + ".json");
}

void StateDirectory::require_trusted() const {
    if (trusted_)
        return;
    platform::require_trusted_directory(root_, "state directory", platform::DirectoryOwner::Us,
                                        true);
    for (const char* sub :
         {"pending", "certificates", "policy-cache", "keys", "journal", "live", "attempts"})
        platform::require_trusted_directory(root_ / sub, "state directory",
                                            platform::DirectoryOwner::Us, true);
    trusted_ = true;
}

void StateDirectory::save_pending(const PendingRequest& p) const {
    check_record_name(p.request_id);
    require_trusted();
    json j = {{"name", p.name},
              {"request_id", p.request_id},
              {"template", p.template_name},
              {"endpoint", to_json(p.endpoint)},
              {"key_backend", p.key_backend},
              {"key_reference", p.key_reference},
              {"outputs", to_json(p.outputs)},
              {"renewal_period_seconds", p.renewal_period_seconds},
              {"submitted_at", to_unix(p.submitted_at)},
              {"deploy_hook", p.deploy_hook},
              {"renewal", p.renewal},
              {"denied", p.denied},
              {"public_key", p.public_key},
              {"renewable", p.renewable},
              {"key_generated", p.key_generated}};
    put_outcome(j, p.last_outcome);
    write_file_atomic(pending_path(p), j.dump(2) + "\n");
}

std::vector<PendingRequest> StateDirectory::list_pending() const {
    require_trusted();
    return load_all<PendingRequest>(root_ / "pending", pending_from_json);
}

std::optional<PendingRequest> StateDirectory::find_pending(const std::string& request_id) const {
    for (auto& p : list_pending()) {
        if (p.request_id == request_id) {
            return p;
        }
    }
    return std::nullopt;
}

void StateDirectory::remove_pending(const PendingRequest& request) const {
    std::error_code ec;
    fs::remove(pending_path(request), ec);
    if (ec) {
        throw Error(ErrorKind::Local,
                    "cannot remove " + pending_path(request).string() + ": " + ec.message());
    }
}

void StateDirectory::save_certificate(const ManagedCertificate& c,
                                      FileSetReplacement* replacement) const {
    check_record_name(c.name);
    require_trusted();
    json j = {{"name", c.name},
              {"template", c.template_name},
              {"endpoint", to_json(c.endpoint)},
              {"key_backend", c.key_backend},
              {"key_reference", c.key_reference},
              {"outputs", to_json(c.outputs)},
              {"serial", c.serial},
              {"not_before", to_unix(c.not_before)},
              {"not_after", to_unix(c.not_after)},
              {"renewal_period_seconds", c.renewal_period_seconds},
              {"updated_at", to_unix(c.updated_at)},
              {"deploy_hook", c.deploy_hook},
              {"renewable", c.renewable}};
    if (!c.subject.empty())
        j["subject"] = c.subject;
    put_outcome(j, c.last_outcome);
    const fs::path path = root_ / "certificates" / (c.name + ".json");
    if (replacement != nullptr) {
        replacement->stage(path, j.dump(2) + "\n", fs::perms::owner_read | fs::perms::owner_write,
                           false);
        return;
    }
    write_file_atomic(path, j.dump(2) + "\n");
}

std::vector<ManagedCertificate> StateDirectory::list_certificates() const {
    require_trusted();
    return load_all<ManagedCertificate>(root_ / "certificates", certificate_from_json);
}

std::optional<ManagedCertificate> StateDirectory::find_certificate(const std::string& name) const {
    check_record_name(name);
    require_trusted();
    const fs::path path = root_ / "certificates" / (name + ".json");
    const auto text = platform::read_trusted_file(path, "state record");
    if (!text) {
        return std::nullopt;
    }
    return parse_certificate_record(*text, path.string());
}

std::vector<std::string> StateDirectory::certificate_names() const {
    require_trusted();
    std::vector<std::string> names;
    for (const auto& path : json_files(root_ / "certificates")) {
        names.push_back(path.stem().string());
    }
    return names;
}

void StateDirectory::save_key_attempt(const std::string& name, const fs::path& key) const {
    check_record_name(name);
    require_trusted();
    // Not synced (two `fsync` calls less per enrollment): losing the note to a power failure
    // only makes the next enroll refuse to overwrite the key file and name --key instead.
    write_file_atomic_unsynced(root_ / "attempts" / (name + ".json"),
                               json{{"name", name}, {"key", key.string()}}.dump(2) + "\n");
}

std::optional<fs::path> StateDirectory::find_key_attempt(const std::string& name) const {
    check_record_name(name);
    require_trusted();
    const fs::path path = root_ / "attempts" / (name + ".json");
    const auto text = platform::read_trusted_file(path, "state record");
    if (!text)
        return std::nullopt;
    // Empty or cut short after a power failure (save_key_attempt does not sync it): no note.
    try {
        fs::path key = json::parse(*text).at("key").get<std::string>();
        if (key.empty())
            return std::nullopt;
        return key;
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

void StateDirectory::remove_key_attempt(const std::string& name) const {
    std::error_code ec;
    fs::remove(root_ / "attempts" / (name + ".json"), ec);
    if (ec) {
        throw Error(ErrorKind::Local,
                    "cannot remove the attempt record of '" + name + "': " + ec.message());
    }
}

fs::path default_state_dir() {
    if (const char* dir = std::getenv("CERTENROLL_STATE_DIR"); dir && *dir) {
        return dir;
    }
    if (platform::is_privileged()) {
        return platform::system_state_dir();
    }
    if (const auto base = platform::user_state_base()) {
        return *base / "certenroll";
    }
    throw Error(ErrorKind::Usage, "no state directory: HOME is not set",
                "pass --state-dir DIR or set CERTENROLL_STATE_DIR");
}

void check_record_name(const std::string& name) {
    const bool ok = !name.empty() && name.size() <= 128 && name != "." && name != ".." &&
                    std::all_of(name.begin(), name.end(), [](unsigned char c) {
                        return std::isalnum(c) || c == '.' || c == '-' || c == '_';
                    });
    if (!ok) {
        throw Error(ErrorKind::Usage, "invalid name '" + name + "'",
                    "use letters, digits, '.', '-' and '_' only (at most 128 characters)");
    }
}

}  // namespace certenroll::store
