#pragma once
/// `diagnose`: the checklist that finds why enrollment from this machine fails, run step by step
/// from the network up. Each step reports what it observed; a step whose prerequisite failed is
/// skipped, naming it.
///
///   config-file       (only with a configuration file) no one but its owner, this user or
///                     root, may write it
///   configuration     the flags and secrets could be read
///   dns, tcp, tls     the CEP (else CES) host resolves, accepts a connection, and presents a
///                     certificate chain that verifies for its name (or why not, and the fix)
///   http-auth, clock  what the endpoint asks for without credentials against the configured
///                     mode; this clock against the server's Date
///   kerberos-*        ticket, KDC, clock against the KDC, service ticket for the SPN
///   policy            GetPolicies with the configured credentials
///   policy-cache      the cached policy's age against nextUpdateHours, and what it hides
///   template*         --template exists, may be enrolled by this identity, has CES URLs for the
///                     auth mode
///   ces               each CES URL answers and authenticates (a QueryTokenStatus for an unused
///                     request ID: nothing is requested or changed at the CA)
///   key-backend       the key backend (--key-backend) can make the template's key type: software
///                     and tpm generate one and discard it; pkcs11 finds the token, checks its
///                     mechanism and logs in when the PIN is at hand, creating nothing on it
///   state-dir         the state directory is ours, closed to other users' writes, and writable

#include <optional>
#include <string>

#include "diagnose/report.hpp"
#include "error.hpp"
#include "flows/context.hpp"

namespace certenroll::diagnose {

struct Request {
    /// What to check. When `configuration_error` is set it holds no secrets, and the steps that
    /// need credentials are skipped.
    flows::Connection connection;
    /// Why the flags could not be turned into a usable connection (unreadable password file,
    /// --auth contradicting the URL, ...): reported as the first failure.
    std::optional<Error> configuration_error;
    /// How the authentication mode was chosen, for the evidence ("from the URL path").
    std::string auth_origin;
    /// --template: also check this template.
    std::string template_name;
    /// --key-backend: "software", "pkcs11" or "tpm", reached through the context's keys.
    std::string key_backend = "software";
    /// The configuration file read for this run (empty: none), and why it was refused (another
    /// user could have written it) when it was: then its profile was not applied.
    std::string config_file;
    std::optional<Error> config_file_refusal;
};

/// Runs every step. Never throws for what it diagnoses; an Error escapes only for bugs.
Report run(const flows::Context& context, const Request& request);

/// The request ID that the CES check asks about: a number no CA hands out in practice, so the
/// CA answers "no such request" and nothing changes.
inline constexpr const char* probe_request_id = "2147483646";

}  // namespace certenroll::diagnose
