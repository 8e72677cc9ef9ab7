#include "flows/policy.hpp"

#include <filesystem>

#include "error.hpp"
#include "flows/audit_events.hpp"
#include "platform/trust.hpp"
#include "soap/call.hpp"
#include "soap/namespaces.hpp"
#include "store/atomic_file.hpp"
#include "xcep/get_policies.hpp"
#include "xcep/policy_cache.hpp"
#include "xml/xml.hpp"

namespace certenroll::flows {

std::string policy_identity(const Credentials& credentials) {
    switch (credentials.mode) {
        case xcep::AuthMode::UsernamePassword:
            return "password:" + credentials.username;
        case xcep::AuthMode::Certificate:
            return "certificate:" + credentials.client_certificate;
        case xcep::AuthMode::Kerberos:
            // The cached policy is per identity: the keytab's principal, else the ticket's.
            return "kerberos:" +
                   (credentials.principal.empty() ? credentials.username : credentials.principal);
        case xcep::AuthMode::Anonymous:
            break;
    }
    return "anonymous";
}

PolicyResult load_policy(const Context& context, const Connection& connection, bool refresh) {
    if (connection.cep_url.empty()) {
        throw Error(ErrorKind::Usage, "no CEP URL given",
                    "pass --url https://host/ADPolicyProvider_CEP_<Auth>/service.svc/CEP, or "
                    "--ces-url with --template to skip the policy");
    }
    context.state.require_trusted();  // the cache lives there
    const TimePoint now = context.clock();
    const std::string identity = policy_identity(connection.credentials);
    const auto cache_path =
        context.state.policy_cache_dir() / xcep::cache_file_name(connection.cep_url, identity);
    // Writes the entry and drops the first format's file for it, which nothing reads any more.
    // Not synced: a cache whose loss costs one fetch, and whose reader below takes a missing,
    // empty or cut-short entry for a miss. Syncing it cost every fetch two fsyncs.
    const auto write_cache = [&](const xcep::CacheEntry& entry) {
        store::write_file_atomic_unsynced(cache_path, entry.to_file_text());
        std::error_code ignored;
        std::filesystem::remove(context.state.policy_cache_dir() /
                                    xcep::legacy_cache_file_name(connection.cep_url, identity),
                                ignored);
    };

    // A cached policy is worth keeping even when stale: its time is what we send as lastUpdate.
    std::optional<xcep::CacheEntry> cached;
    std::optional<xcep::Policy> cached_policy;
    if (const auto text = platform::read_trusted_file(cache_path, "policy cache file")) {
        try {
            cached = xcep::CacheEntry::from_file_text(*text);
            cached_policy = xcep::parse_get_policies_response(xml::parse(cached->response_xml));
        } catch (const Error&) {
            context.diagnostics.step("ignoring unreadable policy cache " + cache_path.string());
            cached.reset();
            cached_policy.reset();
        }
    }
    if (!refresh && cached && xcep::is_fresh(*cached, *cached_policy, now)) {
        context.diagnostics.step("using cached policy from " + cache_path.string());
        return {std::move(*cached_policy), true, cached->fetched_at};
    }

    xcep::GetPoliciesOptions options;
    if (cached) {
        options.last_update = cached->last_full_update;
    }
    context.diagnostics.step("fetching policy from " + connection.cep_url);
    const auto transport = open_transport(context, connection);
    const auto response = soap::call(*transport, connection.cep_url, soap::action::get_policies,
                                     xcep::build_get_policies(options), now,
                                     call_options(context, connection.credentials));
    xcep::Policy policy = xcep::parse_get_policies_response(response.payload);
    // Only fetches are audit events: a cache hit tells a SIEM nothing the last fetch did not.
    auto audit_fetch = [&](const xcep::Policy& current, bool changed) {
        auto event = audit_event(context, connection, "", "");
        event.policy_id = current.policy_id;
        event.policy_changed = changed;
        event.template_count = current.templates.size();
        audit_require(context, audit::EventType::PolicyFetched, std::move(event));
    };

    if (policy.policies_not_changed && cached) {
        context.diagnostics.step("policy not changed since last fetch; keeping the cache");
        cached->fetched_at = now;
        write_cache(*cached);
        audit_fetch(*cached_policy, false);
        return {std::move(*cached_policy), true, now};
    }
    if (policy.policies_not_changed) {
        // We sent no lastUpdate the server could compare with: a non-conforming reply.
        throw Error(ErrorKind::Protocol,
                    "CEP answered policiesNotChanged to a request without a cached policy",
                    "retry with --refresh; if it persists the CEP server is misbehaving");
    }
    xcep::CacheEntry entry;
    entry.cep_url = connection.cep_url;
    entry.identity = identity;
    entry.fetched_at = now;
    entry.last_full_update = now;
    entry.response_xml = xml::serialize(response.payload);
    write_cache(entry);
    audit_fetch(policy, true);
    return {std::move(policy), false, now};
}

}  // namespace certenroll::flows
