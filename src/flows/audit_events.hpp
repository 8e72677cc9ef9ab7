#pragma once
/// Audit events filled from what the flows know (connection, identity, key, certificate, error)
/// and recorded through the context's audit::Log. Every helper does nothing, and computes
/// nothing, when the audit log is off.

#include <string>

#include "audit/event.hpp"
#include "crypto/certificate.hpp"
#include "crypto/csr.hpp"
#include "error.hpp"
#include "flows/context.hpp"
#include "keys/key_backend.hpp"

namespace certenroll::flows {

/// The facts every event about one request shares: name, template, URLs, auth mode, identity.
audit::Event audit_event(const Context& context, const Connection& connection,
                         const std::string& name, const std::string& template_name);

/// Who the credentials stand for: the user name, the Kerberos principal (given, or the one in
/// the credential cache), or the subject of the TLS client certificate. Never a secret.
std::string audit_identity(const Credentials& credentials);

void audit_key(audit::Event& event, const keys::Key& key);
void audit_request(audit::Event& event, const crypto::CsrSpec& csr);
audit::CertificateFacts audit_certificate(const crypto::Certificate& certificate);

/// Records an event that precedes a request: a failure to write it throws (nothing is sent).
void audit_require(const Context& context, audit::EventType type, audit::Event event);
/// Records an outcome; a failure to write it is only warned about (see audit::Log::record).
void audit_record(const Context& context, audit::EventType type, audit::Event event);
/// Records how a submitted request ended in `error`: `denied` when the CA refused it (or the
/// policy did, `by_policy`), else `failed`.
void audit_error(const Context& context, audit::Event event, const Error& error,
                 bool by_policy = false);
/// Records `error` (see audit_error) after the CA issued the certificate `der` that is not in
/// place: the record names it by its facts (serial, thumbprints) when it parses.
void audit_not_installed(const Context& context, audit::Event event, const encoding::Bytes& der,
                         const Error& error);

}  // namespace certenroll::flows
