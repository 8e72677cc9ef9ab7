#include "diagnose/diagnose.hpp"

#include <string>
#include <utility>

#include "diagnose/checklist.hpp"
#include "diagnose/kerberos_checks.hpp"
#include "diagnose/local_checks.hpp"
#include "diagnose/network_checks.hpp"
#include "diagnose/policy_checks.hpp"
#include "xcep/endpoints.hpp"

namespace certenroll::diagnose {

namespace {

// Who the credentials say we are, for evidence; never a secret.
std::string identity_text(const flows::Credentials& credentials) {
    switch (credentials.mode) {
        case xcep::AuthMode::UsernamePassword:
            return "user " + (credentials.username.empty() ? "?" : credentials.username);
        case xcep::AuthMode::Certificate:
            return "client certificate " + credentials.client_certificate;
        case xcep::AuthMode::Kerberos: {
            std::string text;
            if (!credentials.keytab.empty())
                text = "keytab " + credentials.keytab +
                       (credentials.principal.empty() ? "" : " (" + credentials.principal + ")");
            else if (!credentials.principal.empty())
                text = "principal " + credentials.principal + " from the credential cache";
            else
                text = "the credential cache's ticket";
            if (!credentials.spn.empty())
                text += ", SPN " + credentials.spn;
            return text;
        }
        case xcep::AuthMode::Anonymous:
            break;
    }
    return "no credentials (key-based renewal)";
}

// The first step: chooses the target that the server checks point at.
class Configuration : Steps {
  public:
    explicit Configuration(Checklist& checklist)
        : Steps(checklist), target_out_(checklist.target) {}

    void run() {
        const auto& connection = request_.connection;
        const std::string id = "configuration";
        const std::string title = "Configuration";
        if (!connection.cep_url.empty()) {
            target_out_.url = connection.cep_url;
            target_out_.is_cep = true;
        } else {
            target_out_.url = connection.ces_url;
        }
        if (request_.configuration_error) {
            add(failed(id, title, *request_.configuration_error));
        } else if (target_url_.empty()) {
            add(warned(id, title,
                       "no --url or --ces-url: only the local checks (key backend, state "
                       "directory) run",
                       "pass --url CEP_URL (or --ces-url CES_URL) to check the servers too"));
            return;
        }
        if (!target_url_.empty()) {
            target_out_.parts = http::parse_url(target_url_);
            if (!target_ || target_->scheme != "https") {
                target_out_.parts.reset();
                if (!request_.configuration_error) {
                    add(failed(id, title, ErrorKind::Usage,
                               "cannot use the URL " + target_url_ + ": not an https:// URL",
                               "use the https:// URL of the CEP (--url) or CES (--ces-url) "
                               "service"));
                }
                return;
            }
        }
        if (request_.configuration_error)
            return;
        std::string evidence = std::string(target_is_cep_ ? "CEP " : "CES ") + target_url_;
        if (target_is_cep_ && !connection.ces_url.empty())
            evidence += ", CES " + connection.ces_url;
        evidence += "; --auth " + mode_name(credentials_.mode) +
                    (request_.auth_origin.empty() ? "" : " (" + request_.auth_origin + ")") + ", " +
                    identity_text(credentials_);
        evidence += "; trust: " + (connection.http.ca_bundle.empty()
                                       ? std::string("the system store")
                                       : "--ca-bundle " + connection.http.ca_bundle);
        // A username (and its password) that the chosen mode never sends: commands ignore it
        // silently, so say so here (the "password for a Kerberos-only endpoint" case).
        if (!credentials_.username.empty() &&
            credentials_.mode != xcep::AuthMode::UsernamePassword) {
            // The URL's path names the mode: the endpoint accepts nothing else.
            const bool from_url = xcep::auth_mode_from_url(target_url_) == credentials_.mode;
            add(warned(id, title,
                       evidence + "; --username " + credentials_.username +
                           " and its password are not used by --auth " +
                           mode_name(credentials_.mode),
                       from_url && credentials_.mode == xcep::AuthMode::Kerberos
                           ? "the URL names a Kerberos-only endpoint: log in with kinit (or "
                             "--keytab) and leave out --username, or use the service's "
                             "_UsernamePassword URL for a password login"
                       : from_url ? "this endpoint accepts --auth " + mode_name(credentials_.mode) +
                                        " only: leave out --username, or use the service's "
                                        "_UsernamePassword URL for a password login"
                                  : "leave out --username, or use --auth password (with the "
                                    "service's _UsernamePassword URL)"));
            return;
        }
        add(passed(id, title, evidence));
    }

  private:
    Target& target_out_;
};

}  // namespace

// From the network up: each group reads what the earlier ones found.
Report run(const flows::Context& context, const Request& request) {
    Checklist checklist{context, request, {}, {}};
    check_config_file(checklist);
    Configuration(checklist).run();
    check_network(checklist);
    const std::string kerberos_principal = check_kerberos(checklist);
    PolicyChecks policy(checklist, kerberos_principal);
    policy.run();
    check_local(checklist, policy.checked_template());
    return std::move(checklist.report);
}

}  // namespace certenroll::diagnose
