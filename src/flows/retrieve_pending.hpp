#pragma once
/// The retrieve-pending use case: ask CES about requests the CA took under submission.

#include <functional>
#include <string>
#include <vector>

#include "error.hpp"
#include "flows/context.hpp"
#include "flows/enroll.hpp"
#include "secret.hpp"

namespace certenroll::flows {

struct RetrieveRequest {
    Connection connection;   ///< credentials and TLS settings; URLs come from the records
    std::string request_id;  ///< empty with `all`
    bool all = false;
    std::string key_passphrase;
    SecretString pfx_password;
    /// Use each record's own authentication (mode, user, Kerberos settings) where `connection`
    /// leaves it unset; `password` is asked for a user only when a record needs one.
    bool auth_from_record = false;
    std::function<std::string(const std::string& username)> password;
};

/// One entry per request examined: issued (files written, record now managed), still pending,
/// or failed (denied, or an error isolated from the other requests when `all`).
struct RetrieveResult {
    EnrollOutcome outcome;
    std::optional<Error> error;
};

std::vector<RetrieveResult> retrieve_pending(const Context& context,
                                             const RetrieveRequest& request);

}  // namespace certenroll::flows
