#include "flows/inventory.hpp"

#include <algorithm>

#include "crypto/certificate.hpp"
#include "flows/renew.hpp"
#include "flows/renewal_connections.hpp"
#include "keys/pkcs11_uri.hpp"
#include "keys/tpm_key.hpp"
#include "platform/trust.hpp"
#include "store/atomic_file.hpp"
#include "xcep/get_policies.hpp"
#include "xcep/policy_cache.hpp"
#include "xml/xml.hpp"

namespace certenroll::flows {

namespace {

bool holds_tpm_key(const std::string& path) {
    try {
        const auto text = store::read_file(path);
        return text && keys::is_tpm_key_pem(*text);
    } catch (const Error&) {
        return false;  // unreadable here; renew will say why
    }
}

// The certificate's own facts where they can be read without a secret; the record's otherwise.
void read_certificate(ListedCertificate& entry) {
    const auto& record = *entry.record;
    entry.subject = record.subject;
    entry.serial = record.serial;
    entry.not_before = record.not_before;
    entry.not_after = record.not_after;
    const auto& outputs = record.outputs;
    const auto path = certificate_file(outputs);
    if (path.empty() || path == outputs.pfx)
        return;
    try {
        const auto data = store::read_file(path);
        if (!data) {
            entry.error =
                Error(ErrorKind::Local, "the certificate file " + path.string() + " is missing",
                      "restore it from " + path.string() + ".prev, or enroll again");
            return;
        }
        const auto certificate =
            path == outputs.certificate
                ? crypto::Certificate::from_pem(*data, path.string())
                : crypto::Certificate::from_der(encoding::Bytes(data->begin(), data->end()));
        entry.subject = certificate.subject();
        entry.serial = certificate.serial_hex();
        entry.not_before = certificate.not_before();
        entry.not_after = certificate.not_after();
    } catch (const Error& error) {
        entry.error = error;
    }
}

}  // namespace

KeyLocation key_location(const std::string& backend, const std::string& reference, bool tpm_blob) {
    if (backend == "pkcs11" || keys::is_pkcs11_uri(reference))
        return {"pkcs11", reference};
    if (backend == "tpm" || (backend.empty() && tpm_blob))
        return {"tpm", reference};
    return {"file", reference};
}

Inventory take_inventory(const Context& context,
                         const std::optional<std::chrono::seconds>& renew_before) {
    context.state.require_trusted();
    Inventory inventory;
    for (const auto& name : context.state.certificate_names()) {
        ListedCertificate entry;
        entry.name = name;
        try {
            entry.record = context.state.find_certificate(name);
        } catch (const Error& error) {
            entry.error = error;
            inventory.certificates.push_back(std::move(entry));
            continue;
        }
        if (!entry.record)
            continue;  // removed meanwhile
        read_certificate(entry);
        const auto& record = *entry.record;
        if (entry.not_after != TimePoint{}) {
            entry.due_at = renewal_due_at(entry.not_before, entry.not_after,
                                          record.renewal_period_seconds, renew_before);
        }
        entry.key = key_location(record.key_backend, record.key_reference,
                                 record.key_backend.empty() && !record.key_reference.empty() &&
                                     !keys::is_pkcs11_uri(record.key_reference) &&
                                     holds_tpm_key(record.key_reference));
        inventory.certificates.push_back(std::move(entry));
    }
    try {
        inventory.pending = context.state.list_pending();
    } catch (const Error& error) {
        inventory.pending_error = error;
    }
    return inventory;
}

std::vector<std::string> cached_template_names(const store::StateDirectory& state) {
    std::vector<std::string> names;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(state.policy_cache_dir(), ec), end;
         !ec && it != end; it.increment(ec)) {
        if (it->path().extension() != ".policy")
            continue;
        try {
            const auto text = platform::read_trusted_file(it->path(), "policy cache file");
            if (!text)
                continue;
            const auto entry = xcep::CacheEntry::from_file_text(*text);
            const auto policy = xcep::parse_get_policies_response(xml::parse(entry.response_xml));
            for (const auto& tmpl : policy.templates)
                names.push_back(tmpl.common_name);
        } catch (const Error&) {
            // an unreadable cache offers nothing; policy --refresh rebuilds it
        }
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
}

std::vector<std::string> pending_request_ids(const store::StateDirectory& state) {
    std::vector<std::string> ids;
    try {
        for (const auto& pending : state.list_pending()) {
            if (pending.denied.empty())
                ids.push_back(pending.request_id);
        }
    } catch (const Error&) {
        return {};
    }
    return ids;
}

}  // namespace certenroll::flows
