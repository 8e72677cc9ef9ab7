#include "xcep/get_policies.hpp"

#include <openssl/x509.h>

#include <algorithm>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "encoding/base64.hpp"
#include "encoding/time_text.hpp"
#include "error.hpp"
#include "soap/namespaces.hpp"

namespace certenroll::xcep {

namespace {

constexpr std::string_view xcep_ns = soap::ns::xcep;

Error protocol_error(std::string message) {
    return Error(ErrorKind::Protocol, std::move(message),
                 "the CEP server sent an inconsistent policy; run with --verbose to see it and "
                 "report it to the server's administrator");
}

// Prefixes each message with where in the response it happened ("policy 'WebServer': ...").
Error with_context(const Error& error, const std::string& context) {
    Error copy(error.kind(), context + ": " + error.message(), error.hint());
    if (error.hresult())
        copy.with_hresult(*error.hresult());
    return copy;
}

std::string text_of(const xml::Element& element) {
    return std::string(element.trimmed_text());
}

// The child with this name, of which the schema allows at most one (maxOccurs 1): a duplicate
// means we cannot know which one the server meant, so it is refused rather than the first taken.
const xml::Element* single_child(const xml::Element& parent, std::string_view name) {
    const xml::Element* found = nullptr;
    for (const auto& child : parent.children()) {
        if (child.name() == name && child.ns() == xcep_ns) {
            if (found) {
                throw protocol_error("duplicated <" + std::string(name) + "> in <" + parent.name() +
                                     ">");
            }
            found = &child;
        }
    }
    return found;
}

const xml::Element* optional_child(const xml::Element& parent, std::string_view name) {
    const auto* child = single_child(parent, name);
    return child && !child->is_nil() ? child : nullptr;
}

const xml::Element& required_child(const xml::Element& parent, std::string_view name) {
    const auto* found = single_child(parent, name);
    const auto& child = found ? *found : parent.get(xcep_ns, name);  // get() names the absence
    if (child.is_nil()) {
        throw protocol_error("<" + std::string(name) + "> is nil but is required");
    }
    return child;
}

std::optional<std::uint32_t> optional_uint32(const xml::Element& parent, std::string_view name) {
    if (const auto* child = optional_child(parent, name))
        return child->as_uint32();
    return std::nullopt;
}

bool is_dotted_oid(std::string_view value) {
    if (value.empty() || value.front() == '.' || value.back() == '.')
        return false;
    char previous = '.';
    for (const char c : value) {
        if (c == '.' && previous == '.')
            return false;
        if (c != '.' && (c < '0' || c > '9'))
            return false;
        previous = c;
    }
    return true;
}

// One DER TLV: its tag and where its content lies; `cursor` moves past it. False when the
// encoding does not fit in [cursor, limit) or uses a form a certificate's outer fields never use.
struct DerField {
    unsigned char tag = 0;
    const unsigned char* content = nullptr;
    const unsigned char* end = nullptr;
};

bool read_der(const unsigned char*& cursor, const unsigned char* limit, DerField& field) {
    if (limit - cursor < 2)
        return false;
    field.tag = *cursor++;
    if ((field.tag & 0x1F) == 0x1F)
        return false;  // multi-byte tag numbers
    std::size_t length = *cursor++;
    if ((length & 0x80) != 0) {
        const std::size_t bytes = length & 0x7F;
        if (bytes == 0 || bytes > 4 || static_cast<std::size_t>(limit - cursor) < bytes)
            return false;
        length = 0;
        for (std::size_t i = 0; i < bytes; ++i)
            length = (length << 8) | *cursor++;
    }
    if (length > static_cast<std::size_t>(limit - cursor))
        return false;
    field.content = cursor;
    field.end = cursor + length;
    cursor = field.end;
    return true;
}

using NamePtr = std::unique_ptr<X509_NAME, decltype(&X509_NAME_free)>;

// The subject of a DER certificate, found by walking Certificate and TBSCertificate (RFC 5280
// 4.1) down to it. d2i_X509 would also decode the public key, which costs OpenSSL 3 about
// 150 us per certificate; a policy may list dozens of CAs. The certificate is fully parsed
// where it is used (as a trust anchor when verifying an issued chain).
NamePtr subject_of(const std::vector<std::uint8_t>& der) {
    NamePtr none(nullptr, X509_NAME_free);
    const unsigned char* cursor = der.data();
    DerField certificate;
    DerField tbs;
    DerField field;
    if (!read_der(cursor, der.data() + der.size(), certificate) || certificate.tag != 0x30)
        return none;
    cursor = certificate.content;
    if (!read_der(cursor, certificate.end, tbs) || tbs.tag != 0x30)
        return none;
    // After the TBSCertificate: signatureAlgorithm (SEQUENCE), signatureValue (BIT STRING).
    const unsigned char* outer = cursor;
    if (!read_der(outer, certificate.end, field) || field.tag != 0x30 ||
        !read_der(outer, certificate.end, field) || field.tag != 0x03 || outer != certificate.end) {
        return none;
    }
    // version [0] (optional), serialNumber, signature, issuer, validity, subject.
    cursor = tbs.content;
    if (!read_der(cursor, tbs.end, field))
        return none;
    if (field.tag == 0xA0 && !read_der(cursor, tbs.end, field))
        return none;
    if (field.tag != 0x02)
        return none;
    for (int i = 0; i < 3; ++i) {
        if (!read_der(cursor, tbs.end, field) || field.tag != 0x30)
            return none;
    }
    const unsigned char* subject_start = cursor;
    if (!read_der(cursor, tbs.end, field) || field.tag != 0x30)
        return none;
    const unsigned char* p = subject_start;
    NamePtr subject(d2i_X509_NAME(nullptr, &p, static_cast<long>(cursor - subject_start)),
                    X509_NAME_free);
    return subject && p == cursor ? std::move(subject) : std::move(none);
}

// The CA's display name: the subject CN, else the whole subject on one line.
std::string ca_name_from_der(const std::vector<std::uint8_t>& der) {
    const NamePtr subject_owner = subject_of(der);
    if (!subject_owner)
        throw protocol_error("<certificate> is not a DER X.509 certificate");
    X509_NAME* subject = subject_owner.get();
    const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (index >= 0) {
        const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
        unsigned char* utf8 = nullptr;
        const int length = ASN1_STRING_to_UTF8(&utf8, data);
        const std::unique_ptr<unsigned char, void (*)(unsigned char*)> owner(
            utf8, [](unsigned char* p) { OPENSSL_free(p); });
        if (length >= 0)
            return std::string(reinterpret_cast<const char*>(utf8),
                               static_cast<std::size_t>(length));
    }
    const std::unique_ptr<char, void (*)(char*)> line(X509_NAME_oneline(subject, nullptr, 0),
                                                      [](char* p) { OPENSSL_free(p); });
    return line ? std::string(line.get()) : std::string();
}

/// The response's oIDs, looked up by oIDReferenceID.
class OidTable {
  public:
    explicit OidTable(std::vector<Oid> oids) : oids_(std::move(oids)) {
        for (std::size_t i = 0; i < oids_.size(); ++i) {
            if (!index_.emplace(oids_[i].reference_id, i).second) {
                throw protocol_error("oIDReferenceID " + std::to_string(oids_[i].reference_id) +
                                     " is used by two oIDs");
            }
        }
    }

    /// The oID `reference` names. A reference to no oID is noted in `errors` (the template it
    /// belongs to becomes unusable) rather than failing the whole policy.
    std::optional<Oid> resolve_or_note(const xml::Element& reference,
                                       std::vector<std::string>& errors) const {
        const auto id = reference.as_int32();
        const auto found = index_.find(id);
        if (found == index_.end()) {
            errors.push_back(reference.name() + " " + std::to_string(id) +
                             " does not match any oID");
            return std::nullopt;
        }
        return oids_[found->second];
    }

    std::vector<Oid> take() { return std::move(oids_); }

  private:
    std::vector<Oid> oids_;
    std::unordered_map<std::int32_t, std::size_t> index_;
};

Oid parse_oid(const xml::Element& element, std::size_t position) {
    Oid oid;
    try {
        oid.value = text_of(required_child(element, "value"));
        if (!is_dotted_oid(oid.value)) {
            throw protocol_error("<value> '" + oid.value + "' is not a dotted OID");
        }
        oid.group = required_child(element, "group").as_uint32();
        oid.reference_id = required_child(element, "oIDReferenceID").as_int32();
        if (const auto* name = optional_child(element, "defaultName"))
            oid.default_name = text_of(*name);
    } catch (const Error& e) {
        throw with_context(e, "oID #" + std::to_string(position + 1) +
                                  (oid.value.empty() ? std::string() : " (" + oid.value + ")"));
    }
    return oid;
}

std::vector<Oid> parse_oids(const xml::Element* collection) {
    std::vector<Oid> oids;
    if (collection == nullptr)
        return oids;
    const auto elements = collection->find_all(xcep_ns, "oID");
    for (std::size_t i = 0; i < elements.size(); ++i)
        oids.push_back(parse_oid(*elements[i], i));
    return oids;
}

CaUri parse_ca_uri(const xml::Element& element) {
    CaUri uri;
    const auto auth = required_child(element, "clientAuthentication").as_uint32();
    if (auth != 1 && auth != 2 && auth != 4 && auth != 8) {
        throw protocol_error("<clientAuthentication> " + std::to_string(auth) +
                             " is not 1, 2, 4 or 8");
    }
    uri.client_authentication = static_cast<AuthMode>(auth);
    uri.uri = text_of(required_child(element, "uri"));
    if (uri.uri.empty())
        throw protocol_error("empty <uri> in <cAURI>");
    uri.priority = optional_uint32(element, "priority");
    if (const auto* renewal_only = optional_child(element, "renewalOnly")) {
        uri.renewal_only = renewal_only->as_bool();
    }
    return uri;
}

CertificateAuthority parse_ca(const xml::Element& element, std::size_t position) {
    CertificateAuthority ca;
    try {
        ca.reference_id = required_child(element, "cAReferenceID").as_int32();
    } catch (const Error& e) {
        // Without its id no template can refer to it: the response is inconsistent as a whole.
        throw with_context(e, "cA #" + std::to_string(position + 1));
    }
    // From here on a fault is this CA's alone: it is listed as unusable, with the reason, and
    // templates fall back to their other CAs.
    try {
        for (const auto* uri : required_child(element, "uris").find_all(xcep_ns, "cAURI")) {
            ca.uris.push_back(parse_ca_uri(*uri));
        }
        ca.certificate_der =
            encoding::base64_decode(required_child(element, "certificate").text(), "certificate");
        if (ca.certificate_der.empty())
            throw protocol_error("empty <certificate>");
        ca.name = ca_name_from_der(ca.certificate_der);
        ca.enroll_permission = required_child(element, "enrollPermission").as_bool();
    } catch (const Error& e) {
        ca.policy_error = e.message();
        if (ca.name.empty()) {
            ca.certificate_der.clear();
            ca.name = "cA " + std::to_string(ca.reference_id);
        }
    }
    return ca;
}

std::vector<CertificateAuthority> parse_cas(const xml::Element* collection) {
    std::vector<CertificateAuthority> cas;
    if (collection == nullptr)
        return cas;
    const auto elements = collection->find_all(xcep_ns, "cA");
    for (std::size_t i = 0; i < elements.size(); ++i) {
        auto ca = parse_ca(*elements[i], i);
        for (const auto& other : cas) {
            if (other.reference_id == ca.reference_id) {
                throw protocol_error("cAReferenceID " + std::to_string(ca.reference_id) +
                                     " is used by two cAs");
            }
        }
        cas.push_back(std::move(ca));
    }
    return cas;
}

std::vector<Oid> resolve_all(const xml::Element* collection, const OidTable& oids,
                             std::vector<std::string>& errors) {
    std::vector<Oid> resolved;
    if (collection == nullptr)
        return resolved;
    for (const auto* reference : collection->find_all(xcep_ns, "oIDReference")) {
        if (auto oid = oids.resolve_or_note(*reference, errors))
            resolved.push_back(std::move(*oid));
    }
    return resolved;
}

KeyAttributes parse_key_attributes(const xml::Element& element, const OidTable& oids,
                                   std::vector<std::string>& errors) {
    KeyAttributes key;
    key.minimal_key_length = required_child(element, "minimalKeyLength").as_uint32();
    key.key_spec = optional_uint32(element, "keySpec");
    key.key_usage_property = optional_uint32(element, "keyUsageProperty");
    if (const auto* permissions = optional_child(element, "permissions")) {
        key.permissions = text_of(*permissions);
    }
    if (const auto* algorithm = optional_child(element, "algorithmOIDReference")) {
        key.algorithm_oid = oids.resolve_or_note(*algorithm, errors);
    }
    if (const auto* providers = optional_child(element, "cryptoProviders")) {
        for (const auto* provider : providers->find_all(xcep_ns, "provider")) {
            key.crypto_providers.push_back(text_of(*provider));
        }
    }
    return key;
}

void parse_validity(const xml::Element& element, Template& tmpl) {
    const auto& validity = element;
    const auto& period = required_child(validity, "validityPeriodSeconds");
    const auto& renewal = required_child(validity, "renewalPeriodSeconds");
    tmpl.validity_seconds = period.as_int();
    tmpl.renewal_seconds = renewal.as_int();
    if (tmpl.validity_seconds < 0 || tmpl.renewal_seconds < 0) {
        throw protocol_error("negative <validityPeriodSeconds> or <renewalPeriodSeconds>");
    }
}

void parse_attributes(const xml::Element& attributes, const OidTable& oids, Template& tmpl) {
    tmpl.schema = required_child(attributes, "policySchema").as_uint32();
    parse_validity(required_child(attributes, "certificateValidity"), tmpl);
    const auto& permission = required_child(attributes, "permission");
    tmpl.permission_enroll = required_child(permission, "enroll").as_bool();
    tmpl.permission_autoenroll = required_child(permission, "autoEnroll").as_bool();
    tmpl.key = parse_key_attributes(required_child(attributes, "privateKeyAttributes"), oids,
                                    tmpl.policy_errors);
    const auto& revision = required_child(attributes, "revision");
    tmpl.revision_major = required_child(revision, "majorRevision").as_uint32();
    tmpl.revision_minor = optional_uint32(revision, "minorRevision").value_or(0);
    if (const auto* superseded = optional_child(attributes, "supersededPolicies")) {
        for (const auto* name : superseded->find_all(xcep_ns, "commonName")) {
            tmpl.superseded.push_back(text_of(*name));
        }
    }
    // A nil (or absent) word is unknown: remembered as such, and read as 0 meanwhile.
    const auto flag_word = [&attributes](std::string_view name, std::uint32_t& word, bool& nil) {
        const auto value = optional_uint32(attributes, name);
        word = value.value_or(0);
        nil = !value.has_value();
    };
    flag_word("privateKeyFlags", tmpl.private_key_flags, tmpl.nil_flags.private_key);
    flag_word("subjectNameFlags", tmpl.subject_name_flags, tmpl.nil_flags.subject_name);
    flag_word("enrollmentFlags", tmpl.enrollment_flags, tmpl.nil_flags.enrollment);
    flag_word("generalFlags", tmpl.general_flags, tmpl.nil_flags.general);
    auto& errors = tmpl.policy_errors;
    if (const auto* hash = optional_child(attributes, "hashAlgorithmOIDReference")) {
        tmpl.hash_algorithm = oids.resolve_or_note(*hash, errors);
    }
    if (const auto* ra = optional_child(attributes, "rARequirements")) {
        RaRequirements requirements;
        requirements.signatures = required_child(*ra, "rASignatures").as_uint32();
        requirements.ekus = resolve_all(optional_child(*ra, "rAEKUs"), oids, errors);
        requirements.policies = resolve_all(optional_child(*ra, "rAPolicies"), oids, errors);
        tmpl.ra_requirements = std::move(requirements);
    }
    if (const auto* archival = optional_child(attributes, "keyArchivalAttributes")) {
        KeyArchival key_archival;
        key_archival.symmetric_algorithm =
            oids.resolve_or_note(required_child(*archival, "symmetricAlgorithmOIDReference"),
                                 errors)
                .value_or(Oid{});
        key_archival.symmetric_key_length =
            required_child(*archival, "symmetricAlgorithmKeyLength").as_uint32();
        tmpl.key_archival = std::move(key_archival);
    }
    if (const auto* extensions = optional_child(attributes, "extensions")) {
        for (const auto* element : extensions->find_all(xcep_ns, "extension")) {
            Extension extension;
            auto oid = oids.resolve_or_note(required_child(*element, "oIDReference"), errors);
            if (!oid)
                continue;
            extension.oid = std::move(*oid);
            extension.critical = required_child(*element, "critical").as_bool();
            if (const auto* value = optional_child(*element, "value")) {
                extension.value = encoding::base64_decode(value->text(), "extension value");
            }
            tmpl.extensions.push_back(std::move(extension));
        }
    }
}

// A template the response describes inconsistently (a reference to no oID or cA, a malformed
// element) is kept, named, with what is wrong in policy_errors: one broken template must not
// take the others with it. Only its name is needed to list it.
Template parse_template(const xml::Element& element, std::size_t position, const OidTable& oids,
                        const std::vector<CertificateAuthority>& cas) {
    Template tmpl;
    try {
        const auto& attributes = required_child(element, "attributes");
        tmpl.common_name = text_of(required_child(attributes, "commonName"));
        if (tmpl.common_name.empty())
            throw protocol_error("empty <commonName>");
        if (auto oid = oids.resolve_or_note(required_child(element, "policyOIDReference"),
                                            tmpl.policy_errors)) {
            tmpl.template_oid = std::move(*oid);
        }
        if (const auto* references = optional_child(element, "cAs")) {
            for (const auto* reference : references->find_all(xcep_ns, "cAReference")) {
                const auto id = reference->as_int32();
                const auto found = std::find_if(
                    cas.begin(), cas.end(), [id](const auto& ca) { return ca.reference_id == id; });
                if (found == cas.end()) {
                    tmpl.policy_errors.push_back("cAReference " + std::to_string(id) +
                                                 " does not match any cA");
                    continue;
                }
                const auto index = static_cast<std::size_t>(found - cas.begin());
                if (std::find(tmpl.ca_indexes.begin(), tmpl.ca_indexes.end(), index) ==
                    tmpl.ca_indexes.end()) {
                    tmpl.ca_indexes.push_back(index);
                }
            }
        }
        parse_attributes(attributes, oids, tmpl);
    } catch (const Error& e) {
        tmpl.policy_errors.push_back(e.message());
        if (tmpl.common_name.empty())
            tmpl.common_name = "policy #" + std::to_string(position + 1);
    }
    return tmpl;
}

void parse_response(const xml::Element& response, const OidTable& oids, Policy& policy) {
    policy.policy_id = text_of(required_child(response, "policyID"));
    if (const auto* name = optional_child(response, "policyFriendlyName")) {
        policy.friendly_name = text_of(*name);
    }
    policy.next_update_hours = optional_uint32(response, "nextUpdateHours");
    if (policy.next_update_hours && *policy.next_update_hours == 0) {
        throw protocol_error("<nextUpdateHours> is 0; it must be a positive number of hours");
    }
    if (const auto* not_changed = optional_child(response, "policiesNotChanged")) {
        policy.policies_not_changed = not_changed->as_bool();
    }
    if (const auto* policies = optional_child(response, "policies")) {
        const auto elements = policies->find_all(xcep_ns, "policy");
        policy.templates.reserve(elements.size());
        // Views of the names held by policy.templates, which never reallocates (reserved above).
        std::unordered_set<std::string_view> names;
        names.reserve(elements.size());
        for (std::size_t i = 0; i < elements.size(); ++i) {
            const auto& tmpl =
                policy.templates.emplace_back(parse_template(*elements[i], i, oids, policy.cas));
            if (!names.insert(tmpl.common_name).second) {
                throw protocol_error("two policies are named '" + tmpl.common_name + "'");
            }
        }
    }
}

}  // namespace

xml::Element build_get_policies(const GetPoliciesOptions& options) {
    const std::string ns(xcep_ns);
    xml::Element request(ns, "GetPolicies");
    // The server faults without <client>; its children are nillable but sent either way.
    auto& client = request.add(ns, "client");
    if (options.last_update) {
        client.add(ns, "lastUpdate", encoding::format_iso8601(*options.last_update));
    } else {
        client.add(ns, "lastUpdate").set_nil();
    }
    if (options.preferred_language.empty()) {
        client.add(ns, "preferredLanguage").set_nil();
    } else {
        client.add(ns, "preferredLanguage", options.preferred_language);
    }
    auto& filter = request.add(ns, "requestFilter");
    filter.add(ns, "policyOIDs").set_nil();
    for (const auto& [name, version] : {std::pair{"clientVersion", options.client_version},
                                        std::pair{"serverVersion", options.server_version}}) {
        if (version) {
            filter.add(ns, name, std::to_string(*version));
        } else {
            filter.add(ns, name).set_nil();
        }
    }
    return request;
}

Policy parse_get_policies_response(const xml::Element& payload) {
    if (payload.ns() != xcep_ns || payload.name() != "GetPoliciesResponse") {
        throw protocol_error("expected <GetPoliciesResponse> in the MS-XCEP namespace, got <" +
                             payload.name() + "> in '" + payload.ns() + "'");
    }
    Policy policy;
    OidTable oids(parse_oids(optional_child(payload, "oIDs")));
    policy.cas = parse_cas(optional_child(payload, "cAs"));
    if (const auto* response = optional_child(payload, "response")) {
        parse_response(*response, oids, policy);
    }
    policy.oids = oids.take();
    return policy;
}

}  // namespace certenroll::xcep
