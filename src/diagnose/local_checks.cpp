#include "diagnose/local_checks.hpp"

#include <openssl/crypto.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "flows/template_rules.hpp"
#include "keys/backends.hpp"
#include "keys/software_key.hpp"
#include "platform/platform.hpp"

namespace certenroll::diagnose {

namespace {

namespace fs = std::filesystem;
using std::chrono::steady_clock;

std::string octal_permissions(fs::perms perms) {
    const auto bits = static_cast<unsigned>(perms) & 0777u;
    std::string text = "0";
    for (int shift = 6; shift >= 0; shift -= 3)
        text += static_cast<char>('0' + ((bits >> shift) & 7u));
    return text;
}

class LocalChecks : Steps {
  public:
    LocalChecks(Checklist& checklist, const xcep::Template* checked_template)
        : Steps(checklist), template_(checked_template) {}

    void run() {
        key_backend();
        state_directory();
    }

  private:
    const xcep::Template* template_;

    // ---- local ------------------------------------------------------------------------------

    void key_backend() {
        const std::string id = "key-backend";
        const std::string title = "Key generation";
        keys::KeySpec spec;
        std::string why = request_.template_name.empty()
                              ? "no --template: the default"
                              : "the default, since --template " + request_.template_name +
                                    " could not be checked";
        if (template_ != nullptr) {
            try {
                std::vector<std::string> ignored;
                spec = flows::plan_request(template_, template_->common_name, std::nullopt,
                                           "CN=certenroll-diagnose", {}, ignored)
                           .key_spec;
                why = "what " + template_->common_name + " requires";
            } catch (const Error& error) {
                add(failed(id, title, error));
                return;
            }
        }
        if (request_.key_backend == "pkcs11") {
            token(spec, why);
        } else if (request_.key_backend == "tpm") {
            tpm(spec, why);
        } else {
            software(spec, why);
        }
    }

    void software(const keys::KeySpec& spec, const std::string& why) {
        const std::string id = "key-backend";
        const std::string title = "Key generation";
        try {
            keys::SoftwareKeyBackend backend;
            const auto start = steady_clock::now();
            const auto key = backend.generate(spec);
            const auto elapsed = steady_clock::now() - start;
            add(passed(id, title,
                       "software backend (" + std::string(OpenSSL_version(OPENSSL_VERSION)) +
                           "): generated an " + keys::describe(spec) + " key (" + why + ") in " +
                           elapsed_text(elapsed)));
        } catch (const Error& error) {
            add(failed(id, title, ErrorKind::Local,
                       "the software backend cannot generate an " + keys::describe(spec) +
                           " key: " + error.message(),
                       "check the OpenSSL installation (openssl genpkey works?) and its "
                       "configuration (OPENSSL_CONF)"));
        }
    }

    // A transient key in the TPM: created under the storage hierarchy and flushed when freed;
    // its wrapped blob is never written, so nothing is left behind.
    void tpm(const keys::KeySpec& spec, const std::string& why) {
        const std::string id = "key-backend";
        const std::string title = "Key generation";
        const std::string tcti = context_.keys->tpm_tcti();
        const std::string where =
            "tpm backend (" +
            (tcti.empty() ? std::string("the tpm2-openssl provider's default TCTI")
                          : "TCTI " + tcti) +
            ")";
        try {
            const auto start = steady_clock::now();
            const auto key = context_.keys->generate("tpm", spec);
            const auto elapsed = steady_clock::now() - start;
            add(passed(id, title,
                       where + ": generated a transient " + keys::describe(spec) + " key (" + why +
                           ") in " + elapsed_text(elapsed) + "; nothing was stored"));
        } catch (const Error& error) {
            // A key type the TPM does not offer has its own fix; anything else is reachability.
            add(failed(id, title,
                       error.kind() == ErrorKind::Usage ? ErrorKind::Usage : ErrorKind::Local,
                       where + ": " + error.message(),
                       error.kind() == ErrorKind::Usage
                           ? error.hint()
                           : "make the TPM reachable: pass --tpm-tcti (or set "
                             "TPM2OPENSSL_TCTI) device:/dev/tpmrm0 (the kernel's resource "
                             "manager; this user must be in the tss group), tabrmd (the "
                             "tpm2-abrmd resource manager) or swtpm:host=H,port=P, and install "
                             "tpm2-openssl if it is missing; tpm2_getcap properties-fixed tests "
                             "the TPM"));
        }
    }

    // The token is found and logged in to, but no key is generated: that would leave objects.
    void token(const keys::KeySpec& spec, const std::string& why) {
        const std::string id = "key-backend";
        const std::string title = "Key generation";
        try {
            const auto start = steady_clock::now();
            const keys::TokenProbe token = context_.keys->probe_token(spec);
            const auto elapsed = steady_clock::now() - start;
            std::string evidence =
                "pkcs11 backend: token '" + token.label + "' (" + token.manufacturer + ", model " +
                token.model + (token.serial.empty() ? "" : ", serial " + token.serial) + ") in " +
                token.module + " offers " + keys::describe(spec) + " key generation (" + why + ")";
            if (token.free_private_memory)
                evidence += "; " + std::to_string(*token.free_private_memory) +
                            " bytes free for private objects";
            if (token.free_public_memory)
                evidence += "; " + std::to_string(*token.free_public_memory) +
                            " bytes free for public objects";
            switch (token.login) {
                case keys::TokenProbe::Login::NotRequired:
                    evidence += "; no login needed";
                    break;
                case keys::TokenProbe::Login::LoggedIn:
                    evidence += "; logged in with the PIN";
                    break;
                case keys::TokenProbe::Login::NoPin:
                    add(warned(id, title,
                               evidence + "; the token needs its PIN and none is available "
                                          "without asking (no key was made on the token)",
                               "enroll will prompt for the PIN on a terminal; for unattended "
                               "runs pass --pin-file FILE or set CERTENROLL_PKCS11_PIN"));
                    return;
            }
            add(passed(
                id, title,
                evidence + " in " + elapsed_text(elapsed) + " (no key was made on the token)"));
        } catch (const Error& error) {
            add(failed(id, title, error.kind(), "pkcs11 backend: " + error.message(),
                       error.hint()));
        }
    }

    void state_directory() {
        const std::string id = "state-dir";
        const std::string title = "State directory";
        const fs::path root = context_.state.root();
        const std::string fix = "fix the owner or permissions of " + root.string() +
                                ", or choose another with --state-dir or CERTENROLL_STATE_DIR";
        std::error_code ec;
        fs::path probe_dir = root;
        const bool exists = fs::exists(root, ec);
        if (exists && !fs::is_directory(root, ec)) {
            add(failed(id, title, ErrorKind::Local,
                       root.string() + " exists but is not a directory",
                       "choose another with --state-dir or CERTENROLL_STATE_DIR, or move " +
                           root.string() + " out of the way"));
            return;
        }
        if (exists) {
            // What every command refuses (another user could have written records that name
            // deploy hooks): a failure with the chown/chmod fix. Like every reader of records,
            // this makes our own directories that others may read 0700.
            try {
                context_.state.require_trusted();
            } catch (const Error& error) {
                add(failed(id, title, error));
                return;
            }
        }
        if (!exists) {
            probe_dir = root.parent_path();
            while (!probe_dir.empty() && !fs::exists(probe_dir, ec) &&
                   probe_dir != probe_dir.parent_path())
                probe_dir = probe_dir.parent_path();
            // The nearest existing ancestor must be a directory to create the rest under it.
            if (!probe_dir.empty() && fs::exists(probe_dir, ec) &&
                !fs::is_directory(probe_dir, ec)) {
                add(failed(id, title, ErrorKind::Local,
                           root.string() + " does not exist and cannot be created: " +
                               probe_dir.string() + " is not a directory",
                           "choose another with --state-dir or CERTENROLL_STATE_DIR"));
                return;
            }
        }
        try {
            const fs::path file =
                probe_dir / (".certenroll-diagnose" + platform::temporary_suffix());
            platform::write_new_file_durably(file, "certenroll-cli diagnose\n",
                                             fs::perms::owner_read | fs::perms::owner_write);
            fs::remove(file, ec);
        } catch (const Error& error) {
            add(failed(id, title, ErrorKind::Local,
                       exists ? error.message()
                              : root.string() +
                                    " does not exist and cannot be created: " + error.message(),
                       exists ? fix
                              : "create " + root.string() +
                                    " for this user, or choose another with --state-dir or "
                                    "CERTENROLL_STATE_DIR"));
            return;
        }
        if (!exists) {
            add(passed(id, title,
                       root.string() + " does not exist yet; it will be created under " +
                           probe_dir.string() + " (writable)"));
            return;
        }
        const auto perms = fs::status(root, ec).permissions();
        std::string evidence = root.string() + ": writable, mode " + octal_permissions(perms);
        try {
            evidence += ", " + std::to_string(context_.state.list_pending().size()) +
                        " pending requests, " +
                        std::to_string(context_.state.certificate_names().size()) +
                        " managed certificates";
        } catch (const Error& error) {
            // A record another user could have written, or a corrupt one: commands refuse it.
            add(failed(id, title, error.kind(), evidence + "; " + error.message(), error.hint()));
            return;
        }
        add(passed(id, title, evidence));
    }
};

}  // namespace

void check_config_file(Checklist& checklist) {
    const Request& request = checklist.request;
    if (request.config_file.empty())
        return;
    const std::string id = "config-file";
    const std::string title = "Configuration file";
    if (request.config_file_refusal) {
        checklist.report.findings.push_back(failed(id, title, *request.config_file_refusal));
        return;
    }
    checklist.report.findings.push_back(passed(
        id, title,
        request.config_file + ": read; owned by this user or root, writable by no one else"));
}

void check_local(Checklist& checklist, const xcep::Template* checked_template) {
    LocalChecks(checklist, checked_template).run();
}

}  // namespace certenroll::diagnose
