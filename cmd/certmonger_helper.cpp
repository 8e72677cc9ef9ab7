// `certmonger-helper`: certmonger's external CA helper. certmonger runs it once per operation
// with CERTMONGER_OPERATION and friends in a scrubbed environment; the helper's own settings are
// its arguments (`getcert add-ca -e '...'`). Answers go to stdout, in certmonger's formats, and
// the exit code is certmonger's, not the table of the other subcommands.

#include <cstdlib>
#include <iostream>

#include "common_options.hpp"
#include "flows/certmonger.hpp"
#include "render.hpp"

namespace certenroll::cli {

namespace {

// certmonger's helper exit codes (its doc/submit.txt; certmonger-dogtag-submit(8)).
enum HelperExit {
    kIssued = 0,
    kRejected = 2,
    kUnreachable = 3,
    kUnderconfigured = 4,
    kWaitWithDelay = 5,
    kUnsupported = 6,
};

// The one mapping from our error kinds to certmonger's codes. Only a refusal is final
// (CA_REJECTED). Anything certmonger should retry by itself later, including credentials the
// server refused (a password or keytab replaced meanwhile, a KDC briefly away) and a server
// that answered nonsense, is "unreachable"; what only the administrator can fix (the helper's
// arguments, unreadable files) is "underconfigured".
int helper_exit_code(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::Denied:
            return kRejected;
        case ErrorKind::Usage:
        case ErrorKind::Local:
            return kUnderconfigured;
        case ErrorKind::Pending:
            return kWaitWithDelay;
        case ErrorKind::Auth:
        case ErrorKind::Tls:
        case ErrorKind::Network:
        case ErrorKind::Protocol:
        case ErrorKind::Internal:
            return kUnreachable;
    }
    return kUnreachable;
}

struct HelperOptions {
    ConnectionOptions connection;
    std::string default_template;
    std::string requests_dir = "/var/lib/certmonger/requests";
    long long poll_delay_seconds = 300;
    bool key_based_renewal = false;
};

std::string environment(const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr ? value : "";
}

std::string lines(const std::vector<std::string>& items) {
    std::string text;
    for (const auto& item : items)
        text += item + "\n";
    return text;
}

// What certmonger records as the reason (`getcert list`: ca-error): the cause with its HRESULT,
// and the fix.
std::string reason_line(const Error& error) {
    std::string line = error.message();
    if (error.hresult() && line.find(format_hresult(*error.hresult())) == std::string::npos)
        line += " [" + format_hresult(*error.hresult()) + "]";
    if (!error.hint().empty())
        line += "; " + error.hint();
    return line + "\n";
}

Output answer(const flows::certmonger::SubmitAnswer& submitted, long long poll_delay) {
    Output output;
    output.warnings = submitted.warnings;
    if (submitted.status == flows::certmonger::SubmitAnswer::Status::Issued) {
        output.exit_code = kIssued;
        output.text = submitted.certificate_pem;
        return output;
    }
    output.exit_code = kWaitWithDelay;
    output.text = std::to_string(poll_delay) + "\n" +
                  flows::certmonger::format_cookie(submitted.cookie) + "\n";
    return output;
}

Output run_operation(const std::string& operation, const HelperOptions& o,
                     const GlobalOptions& global) {
    namespace cm = flows::certmonger;
    Output output;
    if (operation == "IDENTIFY") {
        output.text = std::string("certenroll-cli ") + CERTENROLL_VERSION + "\n";
        return output;
    }
    const bool submits = operation == "SUBMIT" || operation == "POLL";
    const bool looks_up = operation == "FETCH-ROOTS" || operation == "GET-SUPPORTED-TEMPLATES" ||
                          operation == "GET-DEFAULT-TEMPLATE" ||
                          operation == "GET-NEW-REQUEST-REQUIREMENTS" ||
                          operation == "GET-RENEW-REQUEST-REQUIREMENTS";
    if (!submits && !looks_up) {
        output.exit_code = kUnsupported;
        return output;
    }
    const auto context = make_context(global, o.connection, "certmonger-helper");
    cm::HelperSettings settings;
    settings.connection = make_connection(o.connection);
    settings.default_template = o.default_template;
    settings.requests_dir = o.requests_dir;
    settings.poll_delay = std::chrono::seconds(o.poll_delay_seconds);
    settings.key_based_renewal = o.key_based_renewal;
    const cm::HelperInput input{environment("CERTMONGER_CSR"), environment("CERTMONGER_CA_PROFILE"),
                                environment("CERTMONGER_CA_COOKIE"),
                                environment("CERTMONGER_CERTIFICATE")};
    if (operation == "SUBMIT")
        return answer(cm::submit(context, settings, input), o.poll_delay_seconds);
    if (operation == "POLL")
        return answer(cm::poll(context, settings, input), o.poll_delay_seconds);
    if (operation == "FETCH-ROOTS") {
        for (const auto& ca : cm::fetch_roots(context, settings))
            output.text += ca.nickname + "\n" + ca.pem;
    } else if (operation == "GET-SUPPORTED-TEMPLATES") {
        output.text = lines(cm::supported_templates(context, settings));
    } else if (operation == "GET-DEFAULT-TEMPLATE") {
        const auto name = cm::default_template(context, settings);
        output.text = name.empty() ? "" : name + "\n";
    } else {
        output.text = lines(cm::request_requirements(
            context, settings, input.template_name, operation == "GET-RENEW-REQUEST-REQUIREMENTS"));
    }
    return output;
}

void declare_options(CLI::App* sub, const std::shared_ptr<HelperOptions>& o) {
    add_connection_options(*sub, o->connection);
    sub->add_option("--template", o->default_template,
                    "Template for requests that name none (getcert request without -T)");
    sub->add_option("--certmonger-requests-dir", o->requests_dir,
                    "certmonger's request files, where a renewal finds the key to sign it with")
        ->capture_default_str();
    sub->add_option("--poll-delay", o->poll_delay_seconds,
                    "Seconds certmonger waits before asking about a pending request again")
        ->check(CLI::Range(1LL, 7LL * 24 * 3600))
        ->capture_default_str();
    sub->add_flag("--key-based-renewal", o->key_based_renewal,
                  "Renew at the policy's key-based renewal CES, with the certificate being "
                  "renewed as the TLS client certificate");
}

}  // namespace

int render_certmonger_helper_error(const Error& error) {
    std::cout << reason_line(error);
    std::cerr << error_text(error);
    return helper_exit_code(error.kind());
}

Command add_certmonger_helper(CLI::App& app, const GlobalOptions& global) {
    auto o = std::make_shared<HelperOptions>();
    auto* sub =
        app.add_subcommand("certmonger-helper",
                           "certmonger's CA helper for AD CS (run by certmonger: getcert add-ca -e "
                           "'certenroll-cli certmonger-helper --url ...')");
    return {sub, [sub, o]() { declare_options(sub, o); },
            [o, &global]() {
                const std::string operation = environment("CERTMONGER_OPERATION");
                if (operation.empty()) {
                    throw Error(ErrorKind::Usage, "CERTMONGER_OPERATION is not set",
                                "certmonger runs this helper; see 'getcert add-ca' in "
                                "certenroll-cli(1)");
                }
                try {
                    return run_operation(operation, *o, global);
                } catch (const Error& error) {
                    Output output;
                    output.exit_code = helper_exit_code(error.kind());
                    output.text = reason_line(error);
                    output.errors.push_back(error_text(error, operation));
                    return output;
                }
            }};
}

}  // namespace certenroll::cli
