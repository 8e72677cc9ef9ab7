#include "flows/deploy_hook.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "crypto/certificate.hpp"
#include "platform/platform.hpp"
#include "store/state.hpp"

namespace certenroll::flows {

namespace {

// Secrets this tool reads from its environment; a hook (and a daemon it restarts, whose
// /proc/PID/environ keeps what it was started with) never needs them.
constexpr std::array<std::string_view, 4> kSecretVariables = {
    "CERTENROLL_PASSWORD", "CERTENROLL_PFX_PASSWORD", "CERTENROLL_PKCS11_PIN",
    "CERTENROLL_PROXY_PASSWORD"};

// The proxy variables libcurl reads (any case); a URL in them may carry "user:password@".
constexpr std::array<std::string_view, 4> kProxyVariables = {"https_proxy", "http_proxy",
                                                             "all_proxy", "no_proxy"};

bool same_name_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

}  // namespace

bool is_scrubbed_from_hooks(std::string_view entry) {
    const auto equals = entry.find('=');
    const std::string_view name = entry.substr(0, equals);
    const std::string_view value =
        equals == std::string_view::npos ? std::string_view() : entry.substr(equals + 1);
    if (std::find(kSecretVariables.begin(), kSecretVariables.end(), name) != kSecretVariables.end())
        return true;
    // A proxy URL with user-info carries proxy credentials: dropped; one without is harmless.
    const bool proxy =
        std::any_of(kProxyVariables.begin(), kProxyVariables.end(),
                    [&](std::string_view p) { return same_name_ignoring_case(name, p); });
    return proxy && value.find('@') != std::string_view::npos;
}

int run_shell_hook(const std::string& command, const Environment& extra) {
    return platform::run_shell_command(command, extra, is_scrubbed_from_hooks);
}

Environment hook_environment(const store::ManagedCertificate& record,
                             const crypto::Certificate& certificate,
                             const std::string& previous_serial) {
    return {
        {"CERTENROLL_NAME", record.name},
        {"CERTENROLL_TEMPLATE", record.template_name},
        {"CERTENROLL_CERT", record.outputs.certificate.string()},
        {"CERTENROLL_KEY", record.outputs.key.string()},
        {"CERTENROLL_CHAIN", record.outputs.chain.string()},
        {"CERTENROLL_FULLCHAIN", record.outputs.fullchain.string()},
        {"CERTENROLL_PFX", record.outputs.pfx.string()},
        {"CERTENROLL_SERIAL", certificate.serial_hex()},
        {"CERTENROLL_PREVIOUS_SERIAL", previous_serial},
        {"CERTENROLL_SUBJECT", certificate.subject()},
        {"CERTENROLL_NOT_AFTER", std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                    certificate.not_after().time_since_epoch())
                                                    .count())}};
}

}  // namespace certenroll::flows
