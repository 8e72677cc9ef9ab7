#pragma once
/// Where audit events go (a JSON-lines file, the system log, both), and the Log the flows record
/// them through, with the one rule about failure: an event that precedes a request must be
/// written or the request is not sent; an event after the CA acted is written if possible, and
/// a failure to write it is reported without failing the run (see Log::record).

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "audit/event.hpp"
#include "platform/platform.hpp"

namespace certenroll::audit {

/// A destination for events. write() throws a local Error when the event was not recorded.
class Sink {
  public:
    virtual ~Sink() = default;
    virtual void write(const Event& event) = 0;
};

/// Appends one JSON line per event to a file. The file is opened (created with mode 0600 when
/// missing) by the constructor, so a log that cannot be written stops a run before it sends
/// anything; it is reopened by every run, so renaming it (logrotate) needs no signal.
class FileSink : public Sink {
  public:
    explicit FileSink(const std::filesystem::path& path);
    void write(const Event& event) override;

  private:
    platform::AppendFile file_;
};

/// The system-log severity of an event: warning for denied and failed, notice for a certificate
/// obtained (issued, renewed, retrieved), info for the rest.
platform::LogSeverity syslog_severity(EventType type);

/// Sends each event's JSON line to syslog (facility authpriv, ident "certenroll-cli"; journald
/// reads it) or the Windows event log: failures are events of warning severity.
class SyslogSink : public Sink {
  public:
    void write(const Event& event) override;
};

/// Writes to every sink, even after one failed; then throws the first failure.
class FanOutSink : public Sink {
  public:
    explicit FanOutSink(std::vector<std::shared_ptr<Sink>> sinks) : sinks_(std::move(sinks)) {}
    void write(const Event& event) override;

  private:
    std::vector<std::shared_ptr<Sink>> sinks_;
};

/// What every event of this run shares.
struct Origin {
    std::string host;  ///< platform::host_name()
    std::uint64_t pid = 0;
    std::string version;
    std::string subcommand;

    /// This machine, this process, this build.
    static Origin current(std::string subcommand);
};

/// The flows' handle on the audit trail. Default-constructed it records nothing.
class Log {
  public:
    using Warn = std::function<void(std::string_view)>;

    Log() = default;
    /// `warn` receives the message when an event after the CA acted could not be written.
    Log(std::shared_ptr<Sink> sink, Origin origin, Warn warn);

    bool enabled() const { return sink_ != nullptr; }

    /// For events before a request leaves (policy fetched, request submitted): not writing it
    /// is a local Error, so nothing is sent that the audit trail does not show.
    void require(Event event) const;

    /// For outcomes (issued, pending, denied, renewed, retrieved, failed): the CA has acted and
    /// the certificate may already be on disk. Failing the run now would hide a certificate that
    /// was issued (its exit code would no longer say so) and gain nothing: so a write failure is
    /// passed to `warn` and the run's result stands. Never throws.
    void record(Event event) const noexcept;

  private:
    void stamp(Event& event) const;

    std::shared_ptr<Sink> sink_;
    Origin origin_;
    Warn warn_;
};

}  // namespace certenroll::audit
