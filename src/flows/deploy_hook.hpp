#pragma once
/// Deploy hooks: a user's shell command run after a certificate was renewed (reload a server).

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace certenroll::crypto {
class Certificate;
}
namespace certenroll::store {
struct ManagedCertificate;
}

namespace certenroll::flows {

using Environment = std::vector<std::pair<std::string, std::string>>;

/// Runs `command` with the system shell (`/bin/sh -c`), the current environment less the secrets
/// (is_scrubbed_from_hooks) plus `extra`, its stdout sent to our stderr (stdout is reserved for
/// --json). Returns the exit status (128+N for signal N); a hook that cannot be started throws a
/// local Error.
int run_shell_hook(const std::string& command, const Environment& extra);

/// True for an environment entry ("NAME=value") a hook must not inherit: the secrets this tool
/// reads (CERTENROLL_PASSWORD, CERTENROLL_PFX_PASSWORD, CERTENROLL_PKCS11_PIN,
/// CERTENROLL_PROXY_PASSWORD) and proxy variables whose URL holds credentials. KRB5CCNAME stays:
/// the tool's own caches are in-memory (MEMORY:), so a KRB5CCNAME is the user's, not ours.
bool is_scrubbed_from_hooks(std::string_view entry);

/// What a deploy hook is told about the certificate now in place: CERTENROLL_NAME, _TEMPLATE,
/// _CERT, _KEY, _CHAIN, _FULLCHAIN, _PFX, _SERIAL, _PREVIOUS_SERIAL, _SUBJECT, _NOT_AFTER.
Environment hook_environment(const store::ManagedCertificate& record,
                             const crypto::Certificate& certificate,
                             const std::string& previous_serial);

}  // namespace certenroll::flows
