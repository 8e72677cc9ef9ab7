#include "flows/deploy_hook.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "error.hpp"

extern char** environ;

namespace certenroll::flows {

int run_shell_hook(const std::string& command, const Environment& extra) {
    std::vector<std::string> entries;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string_view entry = *e;
        const bool overridden = std::any_of(extra.begin(), extra.end(), [&](const auto& kv) {
            return entry.starts_with(kv.first + "=");
        });
        if (!overridden)
            entries.emplace_back(entry);
    }
    for (const auto& [name, value] : extra)
        entries.push_back(name + "=" + value);
    std::vector<char*> envp;
    for (auto& entry : entries)
        envp.push_back(entry.data());
    envp.push_back(nullptr);

    std::string shell = "/bin/sh", dash_c = "-c", script = command;
    char* argv[] = {shell.data(), dash_c.data(), script.data(), nullptr};

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, "/bin/sh", &actions, nullptr, argv, envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        throw Error(ErrorKind::Local,
                    "cannot start the deploy hook: " + std::string(std::strerror(rc)),
                    "check that /bin/sh exists");
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            throw Error(ErrorKind::Local,
                        "lost track of the deploy hook: " + std::string(std::strerror(errno)));
        }
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 1;
}

}  // namespace certenroll::flows
