#pragma once
/// The list use case: what the state directory manages (certificates and pending requests), with
/// when each certificate is due (the rule renew applies) and how each attempt last ended.
/// Read only: no traffic, no lock, nothing written.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "error.hpp"
#include "flows/context.hpp"

namespace certenroll::flows {

/// Where a key lives, as list shows it.
struct KeyLocation {
    std::string kind;   ///< "file", "pkcs11" or "tpm"
    std::string where;  ///< the file, or the pkcs11: URI
};

/// From a record's backend and reference; a record without a backend (renew --cert) is told by
/// the reference: a pkcs11: URI, else a file, which `tpm_blob` says holds a TSS2 key.
KeyLocation key_location(const std::string& backend, const std::string& reference, bool tpm_blob);

struct ListedCertificate {
    std::string name;
    /// Unset when the record cannot be read; `error` then says why.
    std::optional<store::ManagedCertificate> record;
    /// From the certificate file when it can be read without a password (PEM, DER), else from
    /// the record (a PFX).
    std::string subject;
    std::string serial;
    TimePoint not_before{};
    TimePoint not_after{};
    TimePoint due_at{};  ///< renewal_due_at, as renew computes it
    KeyLocation key;
    /// The record or its certificate file could not be read (the others are still listed).
    std::optional<Error> error;
};

struct Inventory {
    std::vector<ListedCertificate> certificates;
    std::vector<store::PendingRequest> pending;
    std::optional<Error> pending_error;  ///< the pending requests could not be read
};

/// Everything recorded in the context's state directory. `renew_before` is renew's option of the
/// same name, for the due times.
Inventory take_inventory(const Context& context,
                         const std::optional<std::chrono::seconds>& renew_before);

/// For shell completion, from the state directory alone and silent on any error (an empty list):
/// the template names of every cached policy (any CEP, any identity), sorted and unique.
std::vector<std::string> cached_template_names(const store::StateDirectory& state);

/// For shell completion: the request IDs of pending requests not yet denied; empty on any error.
std::vector<std::string> pending_request_ids(const store::StateDirectory& state);

}  // namespace certenroll::flows
