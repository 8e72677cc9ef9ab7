#include "flows/deploy_hook.hpp"

#include "platform/platform.hpp"

namespace certenroll::flows {

int run_shell_hook(const std::string& command, const Environment& extra) {
    return platform::run_shell_command(command, extra);
}

}  // namespace certenroll::flows
