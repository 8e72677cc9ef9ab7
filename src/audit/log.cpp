#include "audit/log.hpp"

#include <optional>

#include "error.hpp"
#include "platform/trust.hpp"

namespace certenroll::audit {

namespace {

constexpr auto owner_only =
    std::filesystem::perms::owner_read | std::filesystem::perms::owner_write;

}  // namespace

platform::LogSeverity syslog_severity(EventType type) {
    switch (type) {
        case EventType::Denied:
        case EventType::Failed:
            return platform::LogSeverity::Warning;
        case EventType::Issued:
        case EventType::Renewed:
        case EventType::Retrieved:
            return platform::LogSeverity::Notice;
        case EventType::PolicyFetched:
        case EventType::RequestSubmitted:
        case EventType::Pending:
            break;
    }
    return platform::LogSeverity::Info;
}

namespace {

std::string describe(const Event& event) {
    std::string text = "the " + std::string(event_name(event.type)) + " event";
    if (!event.request_id.empty())
        text += " of request " + event.request_id;
    else if (!event.name.empty())
        text += " of '" + event.name + "'";
    return text;
}

}  // namespace

namespace {

// The audit log is evidence: its directory must be ours or root's and writable by no one else
// (or another user could swap the file), and the file, opened without following a symbolic link,
// must be our own regular file that no one else may write.
platform::AppendFile open_trusted(const std::filesystem::path& path) {
    const auto parent = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    platform::require_trusted_directory(parent, "the audit log's directory",
                                        platform::DirectoryOwner::UsOrRoot);
    auto file = platform::AppendFile::open(path, owner_only);
    if (const auto ownership = file.ownership();
        !ownership.regular_or_directory || !ownership.owned_by_us || ownership.writable_by_others) {
        const auto found = platform::with_user_names(ownership);
        const std::string shown = "'" + path.string() + "'";
        throw Error(ErrorKind::Local,
                    "refusing the audit log " + shown + ": owner " + found.owner + ", mode " +
                        found.mode + ", but it must be a regular file of " + found.current_user +
                        " that no one else may write",
                    "run 'chown " + found.current_uid + " " + shown + " && chmod 600 " + shown +
                        "', or point the audit log at a file of this user");
    }
    return file;
}

}  // namespace

FileSink::FileSink(const std::filesystem::path& path) : file_(open_trusted(path)) {}

void FileSink::write(const Event& event) {
    file_.append(to_json_line(event) + "\n");
}

void SyslogSink::write(const Event& event) {
    platform::system_log("certenroll-cli", syslog_severity(event.type), to_json_line(event));
}

void FanOutSink::write(const Event& event) {
    std::optional<Error> first;
    for (const auto& sink : sinks_) {
        try {
            sink->write(event);
        } catch (const Error& error) {
            if (!first)
                first = error;
        }
    }
    if (first)
        throw *first;
}

Origin Origin::current(std::string subcommand) {
    return {platform::host_name(), platform::process_id(), CERTENROLL_VERSION,
            std::move(subcommand)};
}

Log::Log(std::shared_ptr<Sink> sink, Origin origin, Warn warn)
    : sink_(std::move(sink)), origin_(std::move(origin)), warn_(std::move(warn)) {}

void Log::stamp(Event& event) const {
    event.host = origin_.host;
    event.pid = origin_.pid;
    event.version = origin_.version;
    event.subcommand = origin_.subcommand;
}

void Log::require(Event event) const {
    if (!sink_)
        return;
    stamp(event);
    try {
        sink_->write(event);
    } catch (const Error& error) {
        throw Error(
            ErrorKind::Local,
            "cannot write " + describe(event) + " to the audit log: " + error.message(),
            "no certificate request was sent; fix the audit log (--audit-log, \"audit-log\" in the "
            "configuration, $CERTENROLL_AUDIT_LOG) and run again");
    }
}

void Log::record(Event event) const noexcept {
    if (!sink_)
        return;
    try {
        stamp(event);
        sink_->write(event);
    } catch (const std::exception& error) {
        if (warn_) {
            try {
                warn_("audit log: cannot write " + describe(event) + ": " + error.what() +
                      " (the run's result stands)");
            } catch (...) {  // nowhere left to report to
            }
        }
    }
}

}  // namespace certenroll::audit
