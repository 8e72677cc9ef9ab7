#pragma once
/// The retrieve-pending use case: ask CES about requests the CA took under submission.

#include <functional>
#include <string>
#include <vector>

#include "error.hpp"
#include "flows/connection_settings.hpp"
#include "flows/context.hpp"
#include "flows/enroll.hpp"
#include "secret.hpp"

namespace certenroll::flows {

struct RetrieveRequest {
    /// The run's settings; the CES URL is each record's unless `connection.ces_url` is given.
    Connection connection;
    std::string request_id;  ///< empty with `all`
    bool all = false;
    /// Empty: each record's reference (`settings`), else $CERTENROLL_PFX_PASSWORD.
    SecretString key_passphrase;
    SecretString pfx_password;
    /// Use each record's own authentication (mode, user, Kerberos settings, where its secrets
    /// are): no --auth was typed. `connection` then holds no credentials; with --auth, it holds
    /// them all.
    bool auth_from_record = false;
    /// The command line's and the profile's settings around each record's (CA bundle, proxy,
    /// password reference, ...), see connection_settings.hpp.
    SettingsLayers settings;
    SecretReader read_secret;
};

/// One entry per request examined: issued (files written, record now managed), still pending,
/// or failed (denied, or an error isolated from the other requests when `all`).
struct RetrieveResult {
    EnrollOutcome outcome;
    std::optional<Error> error;
};

std::vector<RetrieveResult> retrieve_pending(const Context& context,
                                             const RetrieveRequest& request);

/// Asks about one recorded request: issued (installed, its deploy hook run; a hook that fails is
/// a local Error after the files are in place), still pending, or an Error. A denial is
/// recorded (the record becomes final) and the key generated for the request is removed. The
/// outcome is noted in the records (`list` shows it).
EnrollOutcome retrieve_recorded(const Context& context, const RetrieveRequest& request,
                                const store::PendingRequest& pending);

}  // namespace certenroll::flows
