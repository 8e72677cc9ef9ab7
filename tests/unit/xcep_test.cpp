#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "error.hpp"
#include "soap/envelope.hpp"
#include "soap/namespaces.hpp"
#include "xcep/client.hpp"
#include "xcep/endpoints.hpp"
#include "xcep/get_policies.hpp"
#include "xcep/policy.hpp"
#include "xcep/policy_cache.hpp"
#include "xcep/policy_json.hpp"
#include "xml/xml.hpp"

using namespace certenroll;
using namespace std::chrono_literals;
using xcep::AuthMode;

namespace {

std::string read_data(const std::string& name) {
    std::ifstream in(std::string(CERTENROLL_TEST_DATA_DIR) + "/xcep/" + name, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "missing test data " << name);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The body payload exactly as the protocol code sees it after the SOAP layer.
xml::Element payload_of(const std::string& document) {
    return soap::parse_response(200, document).payload;
}

xcep::Policy parse_fixture(const std::string& name) {
    return xcep::parse_get_policies_response(payload_of(read_data(name)));
}

std::string protocol_error_of(const std::string& document) {
    try {
        xcep::parse_get_policies_response(payload_of(document));
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::Protocol);
        return e.message();
    }
    FAIL("no error");
    return {};
}

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    REQUIRE_MESSAGE(at != std::string::npos, "fixture lacks " << from);
    return text.replace(at, from.size(), to);
}

const std::string xcep_ns(soap::ns::xcep);

// `name` is a C string: a std::string temporary bound to a reference parameter makes g++ 14's
// -Wdangling-reference flag every `const auto& t = get_template(policy, "X")` (the Debian 13
// stage).
const xcep::Template& get_template(const xcep::Policy& policy, const char* name) {
    const auto* t = policy.find_template(name);
    REQUIRE_MESSAGE(t != nullptr, "no template " << name);
    return *t;
}

std::vector<std::string> uris_of(const std::vector<xcep::CesEndpoint>& endpoints) {
    std::vector<std::string> uris;
    for (const auto& e : endpoints)
        uris.push_back(e.uri);
    return uris;
}

const xcep::TimePoint t0 =
    xcep::TimePoint(std::chrono::seconds(1'764'041'400));  // 2025-11-25T03:30:00Z

}  // namespace

TEST_CASE("GetPolicies request: defaults send nil dates and language, versions 0/0") {
    const auto text = xml::serialize(xcep::build_get_policies({}));
    const auto request = xml::parse(text);
    CHECK(request.ns() == xcep_ns);
    CHECK(request.name() == "GetPolicies");
    const auto& client = request.get(xcep_ns, "client");
    CHECK(client.get(xcep_ns, "lastUpdate").is_nil());
    CHECK(client.get(xcep_ns, "preferredLanguage").is_nil());
    const auto& filter = request.get(xcep_ns, "requestFilter");
    CHECK_FALSE(filter.is_nil());
    CHECK(filter.get(xcep_ns, "policyOIDs").is_nil());
    CHECK(filter.get(xcep_ns, "clientVersion").trimmed_text() == "0");
    CHECK(filter.get(xcep_ns, "serverVersion").trimmed_text() == "0");
    // Schema order: client before requestFilter; lastUpdate before preferredLanguage.
    REQUIRE(request.children().size() == 2);
    CHECK(request.children()[0].name() == "client");
    CHECK(client.children()[0].name() == "lastUpdate");
}

TEST_CASE("GetPolicies request: lastUpdate in GMT, language, nil versions") {
    xcep::GetPoliciesOptions options;
    options.last_update = t0;
    options.preferred_language = "en-US";
    options.client_version = std::nullopt;
    options.server_version = 5;
    const auto request = xml::parse(xml::serialize(xcep::build_get_policies(options)));
    const auto& client = request.get(xcep_ns, "client");
    CHECK(client.get(xcep_ns, "lastUpdate").trimmed_text() == "2025-11-25T03:30:00Z");
    CHECK_FALSE(client.get(xcep_ns, "lastUpdate").is_nil());
    CHECK(client.get(xcep_ns, "preferredLanguage").trimmed_text() == "en-US");
    const auto& filter = request.get(xcep_ns, "requestFilter");
    CHECK(filter.get(xcep_ns, "clientVersion").is_nil());
    CHECK(filter.get(xcep_ns, "serverVersion").trimmed_text() == "5");
}

TEST_CASE("Windows WCF response: policy, templates, CAs and OIDs") {
    const auto policy = parse_fixture("windows_wcf.xml");
    CHECK(policy.policy_id == "{7A1C31E2-6F1B-4C2E-9B8D-3D2B1E0F4A55}");
    CHECK(policy.friendly_name == "Contoso Enrollment Policy");
    CHECK(policy.next_update_hours == std::optional<std::uint32_t>(8));
    CHECK_FALSE(policy.policies_not_changed);
    REQUIRE(policy.templates.size() == 4);
    REQUIRE(policy.cas.size() == 3);
    CHECK(policy.oids.size() == 10);

    SUBCASE("CAs") {
        const auto& ca = policy.cas[0];
        CHECK(ca.name == "Contoso Issuing CA 1");
        CHECK(ca.reference_id == 0);
        CHECK(ca.enroll_permission);
        // The base64 was wrapped with &#xD; line breaks, as Windows sends it.
        const auto der = read_data("ca1.der");
        CHECK(ca.certificate_der == std::vector<std::uint8_t>(der.begin(), der.end()));
        REQUIRE(ca.uris.size() == 5);
        CHECK(ca.uris[0].client_authentication == AuthMode::Kerberos);
        CHECK(ca.uris[0].uri ==
              "https://ca1.contoso.com/Contoso%20Issuing%20CA%201_CES_Kerberos/service.svc/CES");
        CHECK(ca.uris[0].priority == std::optional<std::uint32_t>(5));
        CHECK_FALSE(ca.uris[0].renewal_only);
        CHECK(ca.uris[4].client_authentication == AuthMode::Anonymous);
        CHECK(ca.uris[4].renewal_only);
        CHECK(policy.cas[1].name == "Contoso Issuing CA 2");
        CHECK_FALSE(policy.cas[1].uris[1].priority.has_value());
        CHECK(policy.cas[2].name == "Contoso Legacy CA");
        CHECK(policy.cas[2].reference_id == 5);
        CHECK_FALSE(policy.cas[2].enroll_permission);
    }

    SUBCASE("schema 2 template") {
        const auto& t = get_template(policy, "WebServer");
        CHECK(t.schema == 2);
        CHECK(t.validity_seconds == 63072000);
        CHECK(t.renewal_seconds == 3628800);
        CHECK(t.permission_enroll);
        CHECK_FALSE(t.permission_autoenroll);
        CHECK(t.key.minimal_key_length == 2048);
        CHECK(t.key.key_spec == std::optional<std::uint32_t>(1));
        CHECK_FALSE(t.key.key_usage_property.has_value());
        CHECK_FALSE(t.key.permissions.has_value());
        CHECK_FALSE(t.key.algorithm_oid.has_value());
        CHECK(t.key.crypto_providers ==
              std::vector<std::string>{"Microsoft RSA SChannel Cryptographic Provider",
                                       "Microsoft DH SChannel Cryptographic Provider"});
        CHECK(t.revision_major == 4);
        CHECK(t.revision_minor == 2);
        CHECK(t.superseded.empty());
        CHECK(t.private_key_flags == 0x01010010);
        CHECK(t.subject_name_flags == 1);
        CHECK(t.enrollment_flags == 0);
        CHECK(t.general_flags == 0x10241);
        CHECK_FALSE(t.hash_algorithm.has_value());
        CHECK_FALSE(t.ra_requirements.has_value());
        CHECK_FALSE(t.key_archival.has_value());
        CHECK(t.template_oid.value ==
              "1.3.6.1.4.1.311.21.8.1234567.7654321.1111111.2222222.3333333.44.1.16");
        CHECK(t.template_oid.group == 9);
        CHECK(t.template_oid.default_name == "Web Server");
        CHECK(xcep::template_oid(t) == t.template_oid.value);
        REQUIRE(t.extensions.size() == 2);
        CHECK(t.extensions[0].oid.value == "2.5.29.37");
        CHECK_FALSE(t.extensions[0].critical);
        CHECK(t.extensions[0].value.size() == 22);
        CHECK(t.extensions[1].oid.value == "2.5.29.15");
        CHECK(t.extensions[1].critical);
        CHECK(t.extensions[1].value == std::vector<std::uint8_t>{0x03, 0x02, 0x05, 0xA0});
        CHECK(t.ca_indexes == std::vector<std::size_t>{0, 1, 2});
        CHECK(xcep::template_ca_names(policy, t) == std::vector<std::string>{"Contoso Issuing CA 1",
                                                                             "Contoso Issuing CA 2",
                                                                             "Contoso Legacy CA"});
        CHECK(xcep::key_algorithm_name(t) == "RSA");
        CHECK(xcep::hash_algorithm_name(t) == "sha256");
        CHECK(xcep::enrollee_supplies_subject(t));
        CHECK_FALSE(xcep::enrollee_supplies_subject_alt_name(t));
        CHECK(xcep::minimum_client_version(t) == 1);
        CHECK(xcep::minimum_server_version(t) == 1);
    }

    SUBCASE("schema 3 EC template with algorithm and hash OIDs") {
        const auto& t = get_template(policy, "ECWebServer");
        CHECK(t.schema == 3);
        REQUIRE(t.key.algorithm_oid.has_value());
        CHECK(t.key.algorithm_oid->value == "1.2.840.10045.2.1");
        CHECK(t.key.algorithm_oid->group == 3);
        CHECK(xcep::key_algorithm_name(t) == "ECDSA");
        REQUIRE(t.hash_algorithm.has_value());
        CHECK(t.hash_algorithm->value == "2.16.840.1.101.3.4.2.2");
        CHECK(xcep::hash_algorithm_name(t) == "sha384");
        CHECK(t.key.minimal_key_length == 256);
        CHECK_FALSE(t.key.key_spec.has_value());
        CHECK(t.key.key_usage_property == std::optional<std::uint32_t>(2));
        CHECK(t.key.permissions == std::optional<std::string>("D:(A;;FA;;;SY)(A;;FA;;;BA)"));
        CHECK(t.permission_autoenroll);
        CHECK(t.revision_major == 100);
        CHECK(t.superseded == std::vector<std::string>{"WebServer", "OldWebServer"});
        REQUIRE(t.extensions.size() == 2);
        CHECK(t.extensions[1].value.empty());  // nil value
        CHECK(t.ca_indexes == std::vector<std::size_t>{1});
        CHECK(xcep::requires_same_key_renewal(t));
        CHECK(xcep::requires_signed_renewal(t));
        CHECK(xcep::enrollee_supplies_subject(t));
        CHECK(xcep::enrollee_supplies_subject_alt_name(t));
        CHECK(xcep::minimum_client_version(t) == 5);
        CHECK(xcep::minimum_server_version(t) == 5);
        CHECK_FALSE(xcep::requires_attestation(t));
    }

    SUBCASE("pending, RA and archival template") {
        const auto& t = get_template(policy, "ApprovalRequired");
        CHECK(xcep::is_pending_all(t));
        CHECK(xcep::requires_key_archival(t));
        CHECK(xcep::requires_attestation(t));
        CHECK(xcep::old_cert_supplies_subject(t));
        CHECK(t.key.key_spec == std::optional<std::uint32_t>(2));
        CHECK(t.revision_minor == 7);
        CHECK(t.template_oid.default_name.empty());  // nil defaultName
        REQUIRE(t.ra_requirements.has_value());
        CHECK(t.ra_requirements->signatures == 1);
        REQUIRE(t.ra_requirements->ekus.size() == 1);
        CHECK(t.ra_requirements->ekus[0].value == "1.3.6.1.4.1.311.20.2.1");
        CHECK(t.ra_requirements->policies.empty());
        REQUIRE(t.key_archival.has_value());
        CHECK(t.key_archival->symmetric_algorithm.value == "2.16.840.1.101.3.4.1.42");
        CHECK(t.key_archival->symmetric_key_length == 256);
        CHECK(t.extensions.empty());
    }

    SUBCASE("schema 1 machine template without enroll permission") {
        const auto& t = get_template(policy, "Machine");
        CHECK(t.schema == 1);
        CHECK_FALSE(t.permission_enroll);
        CHECK(xcep::is_machine_template(t));
        CHECK_FALSE(xcep::enrollee_supplies_subject(t));
        CHECK(t.key.crypto_providers.empty());
        CHECK(t.extensions.empty());
    }
}

TEST_CASE("a cached (re-serialised) response parses to the same policy") {
    const auto payload = payload_of(read_data("windows_wcf.xml"));
    const auto original = xcep::parse_get_policies_response(payload);
    const auto reparsed = xcep::parse_get_policies_response(xml::parse(xml::serialize(payload)));
    CHECK(xcep::to_json(reparsed) == xcep::to_json(original));
    CHECK(reparsed.templates[2].extensions[1].value.empty());  // nil survives the round trip
    CHECK_FALSE(reparsed.cas[1].uris[1].priority.has_value());
}

TEST_CASE("find_template: exact first, then case-insensitive") {
    const auto policy = parse_fixture("windows_wcf.xml");
    CHECK(policy.find_template("ecwebserver") == policy.find_template("ECWebServer"));
    CHECK(policy.find_template("ECWebServer")->common_name == "ECWebServer");
    CHECK(policy.find_template("NoSuchTemplate") == nullptr);
}

TEST_CASE("flag words decode to MS-CRTD names") {
    CHECK(xcep::private_key_flag_names(0x01010010) == std::vector<std::string>{"EXPORTABLE_KEY"});
    CHECK(xcep::private_key_flag_names(0x05051080) ==
          std::vector<std::string>{"REQUIRE_SAME_KEY_RENEWAL", "ATTEST_PREFERRED"});
    CHECK(xcep::subject_name_flag_names(0x00010001) ==
          std::vector<std::string>{"ENROLLEE_SUPPLIES_SUBJECT",
                                   "ENROLLEE_SUPPLIES_SUBJECT_ALT_NAME"});
    CHECK(xcep::subject_name_flag_names(0x82000000) ==
          std::vector<std::string>{"SUBJECT_ALT_REQUIRE_UPN", "SUBJECT_REQUIRE_DIRECTORY_PATH"});
    CHECK(xcep::enrollment_flag_names(0x2) == std::vector<std::string>{"PEND_ALL_REQUESTS"});
    CHECK(xcep::enrollment_flag_names(0x00100040) ==
          std::vector<std::string>{"PREVIOUS_APPROVAL_VALIDATE_REENROLLMENT", "0x00100000"});
    CHECK(
        xcep::general_flag_names(0x10241) ==
        std::vector<std::string>{"MACHINE_TYPE", "ADD_TEMPLATE_NAME", "IS_DEFAULT", "0x00000001"});
    CHECK(xcep::general_flag_names(0).empty());

    const auto policy = parse_fixture("windows_wcf.xml");
    const auto decoded = xcep::decoded_flags(get_template(policy, "ApprovalRequired"));
    REQUIRE(decoded.size() == 4);
    CHECK(decoded[0].first == "private_key_flags");
    CHECK(decoded[0].second ==
          std::vector<std::string>{"REQUIRE_PRIVATE_KEY_ARCHIVAL", "ATTEST_REQUIRED"});
    CHECK(decoded[1].first == "subject_name_flags");
    CHECK(decoded[1].second == std::vector<std::string>{"OLD_CERT_SUPPLIES_SUBJECT_AND_ALT_NAME"});
    CHECK(decoded[2].second == std::vector<std::string>{"PEND_ALL_REQUESTS"});
    CHECK(decoded[3].first == "general_flags");
    CHECK(decoded[3].second->empty());
}

TEST_CASE("MS-XCEP §4.1.1.2 example (typos repaired)") {
    const auto policy = parse_fixture("spec_example.xml");
    CHECK(policy.policy_id == "{083C7011-1D0A-4855-885D-AC945184658C}");
    CHECK_FALSE(policy.policies_not_changed);  // nil
    REQUIRE(policy.templates.size() == 1);
    const auto& t = policy.templates[0];
    CHECK(t.common_name == "EFS");
    CHECK(t.schema == 1);
    CHECK(t.private_key_flags == 0);  // nil flag words read as 0
    CHECK(t.general_flags == 0);
    CHECK(t.key.crypto_providers.front() == "Microsoft Enhanced Cryptographic Provider v1.0");
    CHECK(t.template_oid.value ==
          "1.3.6.1.4.1.311.21.8.3800100.3166153.13323660.9808540.8334961.78.1.6");
    CHECK(t.template_oid.default_name == "Basic EFS");
    REQUIRE(t.extensions.size() == 3);
    CHECK(t.extensions[0].oid.value == "1.3.6.1.4.1.311.20.2");
    CHECK(t.extensions[0].value.empty());
    CHECK(t.extensions[1].value.size() == 24);
    CHECK(t.extensions[2].critical);
    REQUIRE(policy.cas.size() == 1);
    CHECK(policy.cas[0].name == "EntRootCA");
    CHECK(policy.cas[0].uris.size() == 3);
    CHECK(xcep::key_algorithm_name(t) == "RSA");
}

TEST_CASE("ns0-prefixed response parses by namespace, not prefix") {
    const auto policy = parse_fixture("ns0_prefixed.xml");
    CHECK(policy.policy_id == "ns0-policy");
    CHECK(policy.friendly_name.empty());
    CHECK_FALSE(policy.next_update_hours.has_value());
    REQUIRE(policy.templates.size() == 1);
    const auto& t = policy.templates[0];
    CHECK(t.common_name == "User");
    CHECK(t.permission_enroll);  // "1"
    CHECK(t.subject_name_flags == 0x82000000u);
    CHECK(t.ca_indexes == std::vector<std::size_t>{0});
    REQUIRE(policy.cas.size() == 1);
    CHECK(policy.cas[0].reference_id == 3);
    // No CN in the CA subject: the whole subject names it.
    CHECK(policy.cas[0].name.find("No Common Name") != std::string::npos);
    CHECK_FALSE(policy.cas[0].uris[0].renewal_only);  // nil
}

TEST_CASE("nil collections mean no templates, not an error") {
    const auto policy = parse_fixture("no_templates.xml");
    CHECK(policy.policy_id == "{7A1C31E2-6F1B-4C2E-9B8D-3D2B1E0F4A55}");
    CHECK(policy.templates.empty());
    CHECK(policy.cas.empty());
    CHECK(policy.oids.empty());
    CHECK_FALSE(policy.next_update_hours.has_value());

    const auto not_changed = parse_fixture("not_changed.xml");
    CHECK(not_changed.policies_not_changed);
    CHECK(not_changed.templates.empty());
    CHECK(not_changed.next_update_hours == std::optional<std::uint32_t>(8));
}

TEST_CASE("a template's dangling reference or malformed field marks that template, naming it") {
    CHECK(parse_fixture("valid_minimal.xml").templates.at(0).policy_errors.empty());
    const auto errors_of = [](const std::string& fixture) {
        const auto policy = parse_fixture(fixture);  // the policy itself parses
        REQUIRE(policy.templates.size() == 1);
        return policy.templates[0].policy_errors;
    };
    using Errors = std::vector<std::string>;
    CHECK(errors_of("broken_dangling_ca.xml") == Errors{"cAReference 7 does not match any cA"});
    CHECK(errors_of("broken_dangling_policy_oid.xml") ==
          Errors{"policyOIDReference 99 does not match any oID"});
    CHECK(errors_of("broken_dangling_extension_oid.xml") ==
          Errors{"oIDReference 42 does not match any oID"});
    CHECK(errors_of("broken_dangling_algorithm.xml") ==
          Errors{"algorithmOIDReference 13 does not match any oID"});
    CHECK(errors_of("broken_dangling_hash.xml") ==
          Errors{"hashAlgorithmOIDReference 14 does not match any oID"});
    const auto bad_int = errors_of("broken_bad_int.xml");
    REQUIRE(bad_int.size() == 1);
    CHECK(bad_int[0].find("minimalKeyLength") != std::string::npos);
    const auto no_name = parse_fixture("broken_missing_common_name.xml");
    CHECK(no_name.templates.at(0).common_name == "policy #1");
    REQUIRE(no_name.templates[0].policy_errors.size() == 1);
    CHECK(no_name.templates[0].policy_errors[0].find("commonName") != std::string::npos);
    const auto base = read_data("valid_minimal.xml");
    CHECK(xcep::parse_get_policies_response(
              payload_of(replace_once(base, "<policyOIDReference>1<", "<policyOIDReference>x<")))
              .templates.at(0)
              .policy_errors.size() == 1);
}

TEST_CASE("a CA entry that does not decode is listed as unusable; the rest of the policy stands") {
    const auto bad_auth = parse_fixture("broken_bad_auth.xml");
    REQUIRE(bad_auth.cas.size() == 1);
    CHECK(bad_auth.cas[0].policy_error == "<clientAuthentication> 3 is not 1, 2, 4 or 8");
    CHECK(bad_auth.cas[0].name == "cA 0");
    CHECK(bad_auth.templates.at(0).policy_errors.empty());

    const auto base = read_data("valid_minimal.xml");
    const auto bad_cert =
        xcep::parse_get_policies_response(payload_of(replace_once(base, "MII", "AAA")));
    REQUIRE(bad_cert.cas.size() == 1);
    CHECK(bad_cert.cas[0].policy_error == "<certificate> is not a DER X.509 certificate");
    CHECK(bad_cert.cas[0].certificate_der.empty());
    const auto& t = bad_cert.templates.at(0);
    CHECK(xcep::select_ces_endpoints(bad_cert, t, AuthMode::UsernamePassword, false).empty());
    const auto json = xcep::to_json(bad_cert);
    CHECK(json["cas"][0]["usable"] == false);
    CHECK(json["cas"][0]["policy_error"] == "<certificate> is not a DER X.509 certificate");
}

TEST_CASE("what still fails a whole policy: the response's own structure") {
    const auto base = read_data("valid_minimal.xml");
    CHECK(protocol_error_of(replace_once(base, "<nextUpdateHours xsi:nil=\"true\"/>",
                                         "<nextUpdateHours>0</nextUpdateHours>"))
              .find("nextUpdateHours") != std::string::npos);
    CHECK(protocol_error_of(replace_once(base, "<oIDReferenceID>2<", "<oIDReferenceID>1<")) ==
          "oIDReferenceID 1 is used by two oIDs");
    CHECK(protocol_error_of(replace_once(base, "<value>2.5.29.15<", "<value>2.5..29<"))
              .find("not a dotted OID") != std::string::npos);
    CHECK(protocol_error_of(replace_once(base, "<cAReferenceID>0<", "<cAReferenceID>x<"))
              .rfind("cA #1: ", 0) == 0);
    const auto wrong_root = replace_once(replace_once(base, "<GetPoliciesResponse ", "<Other "),
                                         "</GetPoliciesResponse>", "</Other>");
    CHECK(protocol_error_of(wrong_root).find("GetPoliciesResponse") != std::string::npos);
}

TEST_CASE("nil flag words are unknown: null in JSON, not 0") {
    const auto policy = parse_fixture("valid_minimal.xml");  // all four words xsi:nil
    const auto& t = policy.templates.at(0);
    CHECK(t.nil_flags.private_key);
    CHECK(t.nil_flags.subject_name);
    CHECK(t.nil_flags.enrollment);
    CHECK(t.nil_flags.general);
    CHECK_FALSE(xcep::subject_name_flags(t).has_value());
    for (const auto& [word, names] : xcep::decoded_flags(t))
        CHECK_MESSAGE(!names.has_value(), word);
    const auto json = xcep::to_json(policy)["templates"][0];
    CHECK(json["private_key_flags"].is_null());
    CHECK(json["subject_name_flags"].is_null());
    CHECK(json["enrollment_flags"].is_null());
    CHECK(json["general_flags"].is_null());
    CHECK(json["flags"]["subject_name_flags"].is_null());
    CHECK(json["subject_source"].is_null());

    const auto zero = xcep::parse_get_policies_response(payload_of(
        replace_once(read_data("valid_minimal.xml"), "<subjectNameFlags xsi:nil=\"true\"/>",
                     "<subjectNameFlags>0</subjectNameFlags>")));
    const auto zero_json = xcep::to_json(zero)["templates"][0];
    CHECK(zero_json["subject_name_flags"] == 0);
    CHECK(zero_json["subject_source"] == "directory");
}

TEST_CASE("key algorithms as Windows writes them: curve OIDs, id-ecPublicKey, names for others") {
    const auto with = [](const std::string& oid, const std::string& name, std::uint32_t bits) {
        // The policy as a CEP server sends it: the oID in the table, referenced by the template.
        const std::string oid_xml = "<oID><value>" + oid +
                                    "</value><group>3</group>"
                                    "<oIDReferenceID>3</oIDReferenceID>" +
                                    (name.empty() ? std::string("<defaultName xsi:nil=\"true\"/>")
                                                  : "<defaultName>" + name + "</defaultName>") +
                                    "</oID></oIDs>";
        auto document = replace_once(read_data("valid_minimal.xml"),
                                     "<algorithmOIDReference xsi:nil=\"true\"/>",
                                     "<algorithmOIDReference>3</algorithmOIDReference>");
        document = replace_once(document, "</oIDs>", oid_xml);
        document = replace_once(document, "<minimalKeyLength>2048<",
                                "<minimalKeyLength>" + std::to_string(bits) + "<");
        auto policy = xcep::parse_get_policies_response(payload_of(document));
        REQUIRE(policy.templates.at(0).policy_errors.empty());
        return policy;
    };
    using Kind = xcep::TemplateKeyAlgorithm::Kind;
    struct Case {
        std::string oid, default_name;
        std::uint32_t bits;
        Kind kind;
        std::string curve, name, requirement;
    };
    for (const auto& c : std::vector<Case>{
             {"1.2.840.113549.1.1.1", "RSA", 3072, Kind::Rsa, "", "RSA", "RSA 3072"},
             {"1.2.840.10045.3.1.7", "ECDSA_P256", 256, Kind::Ec, "P-256", "ECDSA", "ECDSA P-256"},
             {"1.3.132.0.34", "ECDSA_P384", 384, Kind::Ec, "P-384", "ECDSA", "ECDSA P-384"},
             {"1.3.132.0.35", "ECDH_P521", 521, Kind::Ec, "P-521", "ECDH", "ECDH P-521"},
             {"1.2.840.10045.3.1.7", "", 256, Kind::Ec, "P-256", "ECDSA", "ECDSA P-256"},
             {"1.2.840.10045.2.1", "ECC", 384, Kind::Ec, "", "ECDSA", "ECDSA 384"},
             {"2.16.840.1.101.3.4.3.18", "ML-DSA-65", 1952, Kind::MlDsa, "", "ML-DSA-65",
              "ML-DSA-65"},
             {"2.16.840.1.101.3.4.3.19", "", 2592, Kind::MlDsa, "", "ML-DSA-87", "ML-DSA-87"},
             // The OID fixes the parameter set, whatever defaultName says.
             {"2.16.840.1.101.3.4.3.17", "MLDSA", 1312, Kind::MlDsa, "", "ML-DSA-44", "ML-DSA-44"},
             {"1.3.101.112", "", 256, Kind::Unsupported, "", "Ed25519", "Ed25519"},
             {"1.2.3.4.5", "", 1, Kind::Unsupported, "", "unknown algorithm (OID 1.2.3.4.5)",
              "unknown algorithm (OID 1.2.3.4.5)"},
         }) {
        CAPTURE(c.oid);
        CAPTURE(c.default_name);
        const auto policy = with(c.oid, c.default_name, c.bits);
        const auto& t = policy.templates[0];
        const auto algorithm = xcep::key_algorithm(t);
        CHECK(algorithm.kind == c.kind);
        CHECK(algorithm.curve == c.curve);
        CHECK(algorithm.name == c.name);
        CHECK(xcep::key_requirement(t) == c.requirement);
        const auto json = xcep::to_json(policy)["templates"][0];
        CHECK(json["key_algorithm"] == c.name);
        CHECK(json["key_algorithm_oid"] == c.oid);
        CHECK(json["key_curve"] ==
              (c.curve.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.curve)));
    }
    CHECK(
        xcep::key_algorithm(with("2.16.840.1.101.3.4.3.19", "", 2592).templates[0]).ml_dsa_level ==
        87);
    // No algorithmOIDReference (schema 1/2): RSA.
    const auto rsa = parse_fixture("valid_minimal.xml");
    CHECK(xcep::key_requirement(rsa.templates.at(0)) == "RSA 2048");
}

TEST_CASE("CES endpoint selection") {
    const auto policy = parse_fixture("windows_wcf.xml");
    const auto& web = get_template(policy, "WebServer");
    const std::string ca1 = "https://ca1.contoso.com/Contoso%20Issuing%20CA%201_CES_";
    const std::string ca2 = "https://ca2.contoso.com/Contoso%20Issuing%20CA%202_CES_";

    SUBCASE("auth filter, priority order, CA without enroll permission skipped") {
        const auto endpoints = xcep::select_ces_endpoints(policy, web, AuthMode::Kerberos, false);
        CHECK(uris_of(endpoints) == std::vector<std::string>{ca2 + "Kerberos/service.svc/CES",
                                                             ca1 + "Kerberos/service.svc/CES"});
        CHECK(endpoints[0].ca_name == "Contoso Issuing CA 2");
        CHECK(endpoints[0].ca_index == 1);
        CHECK(endpoints[0].auth == AuthMode::Kerberos);
        CHECK(endpoints[1].priority == std::optional<std::uint32_t>(5));
    }
    SUBCASE("renewalOnly URIs only when renewing") {
        const auto endpoints = xcep::select_ces_endpoints(policy, web, AuthMode::Kerberos, true);
        CHECK(uris_of(endpoints) ==
              std::vector<std::string>{ca2 + "Kerberos/service.svc/CES",
                                       ca1 + "Kerberos_Renewal/service.svc/CES",
                                       ca1 + "Kerberos/service.svc/CES"});
        CHECK(endpoints[1].renewal_only);
    }
    SUBCASE("nil priority sorts last") {
        const auto endpoints =
            xcep::select_ces_endpoints(policy, web, AuthMode::UsernamePassword, false);
        CHECK(uris_of(endpoints) ==
              std::vector<std::string>{ca1 + "UsernamePassword/service.svc/CES",
                                       ca2 + "UsernamePassword/service.svc/CES"});
    }
    SUBCASE("anonymous key-based renewal only when renewing") {
        CHECK(xcep::select_ces_endpoints(policy, web, AuthMode::Anonymous, false).empty());
        CHECK(uris_of(xcep::select_ces_endpoints(policy, web, AuthMode::Anonymous, true)) ==
              std::vector<std::string>{ca1 + "Certificate_KBR/service.svc/CES"});
    }
    SUBCASE("key-based renewal: renewal-only certificate URLs, then certificate, then anonymous") {
        const auto endpoints = xcep::select_key_based_renewal_endpoints(policy, web);
        REQUIRE_FALSE(endpoints.empty());
        std::vector<AuthMode> modes;
        for (const auto& endpoint : endpoints)
            modes.push_back(endpoint.auth);
        CHECK(std::is_partitioned(modes.begin(), modes.end(),
                                  [](AuthMode m) { return m == AuthMode::Certificate; }));
        CHECK(endpoints.back().uri == ca1 + "Certificate_KBR/service.svc/CES");  // advertised
        xcep::Policy p;
        xcep::CertificateAuthority ca;
        ca.name = "CA";
        ca.enroll_permission = true;
        ca.uris = {{AuthMode::Certificate, "https://plain", 1, false},
                   {AuthMode::Anonymous, "https://anon", 0, true},
                   {AuthMode::Certificate, "https://kbr2", 5, true},
                   {AuthMode::Certificate, "https://kbr1", 2, true},
                   {AuthMode::UsernamePassword, "https://pw", 0, true}};
        p.cas.push_back(ca);
        xcep::Template t;
        t.ca_indexes = {0};
        CHECK(uris_of(xcep::select_key_based_renewal_endpoints(p, t)) ==
              std::vector<std::string>{"https://kbr1", "https://kbr2", "https://plain",
                                       "https://anon"});
    }
    SUBCASE("only the template's CAs") {
        const auto& ec = get_template(policy, "ECWebServer");
        CHECK(xcep::select_ces_endpoints(policy, ec, AuthMode::Certificate, false).empty());
        CHECK(uris_of(xcep::select_ces_endpoints(policy, ec, AuthMode::Kerberos, false)) ==
              std::vector<std::string>{ca2 + "Kerberos/service.svc/CES"});
    }
    SUBCASE("equal priorities keep the template's CA order") {
        xcep::Policy p;
        for (const char* name : {"A", "B", "C"}) {
            xcep::CertificateAuthority ca;
            ca.name = name;
            ca.enroll_permission = true;
            ca.uris.push_back({AuthMode::Kerberos, std::string("https://") + name, 1, false});
            p.cas.push_back(ca);
        }
        xcep::Template t;
        t.ca_indexes = {2, 0, 1};
        CHECK(uris_of(xcep::select_ces_endpoints(p, t, AuthMode::Kerberos, false)) ==
              std::vector<std::string>{"https://C", "https://A", "https://B"});
    }
}

TEST_CASE("to_json renders the full model") {
    const auto json = xcep::to_json(parse_fixture("windows_wcf.xml"));
    CHECK(json["policy_id"] == "{7A1C31E2-6F1B-4C2E-9B8D-3D2B1E0F4A55}");
    CHECK(json["friendly_name"] == "Contoso Enrollment Policy");
    CHECK(json["next_update_hours"] == 8);
    CHECK(json["next_update_hours_is_default"] == false);
    REQUIRE(json["templates"].size() == 4);
    const auto& web = json["templates"][0];
    CHECK(web["name"] == "WebServer");
    CHECK(web["schema"] == 2);
    CHECK(web["key_algorithm"] == "RSA");
    CHECK(web["key_algorithm_oid"].is_null());
    CHECK(web["minimal_key_length"] == 2048);
    CHECK(web["subject_source"] == "request");
    CHECK(web["permission_enroll"] == true);
    CHECK(web["template_oid"] ==
          "1.3.6.1.4.1.311.21.8.1234567.7654321.1111111.2222222.3333333.44.1.16");
    CHECK(web["revision"]["major"] == 4);
    CHECK(web["revision"]["minor"] == 2);
    CHECK(web["general_flags"] == 0x10241);
    CHECK(web["flags"]["general_flags"][0] == "MACHINE_TYPE");
    CHECK(web["cas"] == nlohmann::json::array(
                            {"Contoso Issuing CA 1", "Contoso Issuing CA 2", "Contoso Legacy CA"}));
    CHECK(web["extensions"][1]["value"] == "AwIFoA==");
    CHECK(web["extensions"][1]["critical"] == true);
    const auto& machine = json["templates"][1];
    CHECK(machine["subject_source"] == "directory");
    CHECK(machine["permission_enroll"] == false);
    const auto& ec = json["templates"][2];
    CHECK(ec["key_algorithm"] == "ECDSA");
    CHECK(ec["key_algorithm_oid"] == "1.2.840.10045.2.1");
    CHECK(ec["hash_algorithm"] == "sha384");
    CHECK(json["templates"][3]["ra_requirements"]["signatures"] == 1);
    CHECK(json["templates"][3]["key_archival"]["symmetric_key_length"] == 256);

    REQUIRE(json["cas"].size() == 3);
    const auto& ca = json["cas"][0];
    CHECK(ca["name"] == "Contoso Issuing CA 1");
    CHECK(ca["enroll_permission"] == true);
    CHECK(ca["uris"][0]["auth"] == "kerberos");
    CHECK(ca["uris"][1]["auth"] == "password");
    CHECK(ca["uris"][2]["auth"] == "certificate");
    CHECK(ca["uris"][4]["auth"] == "anonymous");
    CHECK(ca["uris"][4]["renewal_only"] == true);
    CHECK(ca["uris"][0]["priority"] == 5);
    CHECK(ca["uris"][0]["url"] == ca["uris"][0]["uri"]);
    CHECK(json["cas"][1]["uris"][1]["priority"].is_null());
    CHECK(json["cas"][2]["enroll_permission"] == false);
    REQUIRE(json["oids"].size() == 10);
    CHECK(json["oids"][0]["value"] == "2.16.840.1.101.3.4.2.2");
    CHECK(json["oids"][0]["group"] == 1);

    const auto empty = xcep::to_json(parse_fixture("no_templates.xml"));
    CHECK(empty["templates"].is_array());
    CHECK(empty["templates"].empty());
    CHECK(empty["next_update_hours"] == 8);
    CHECK(empty["next_update_hours_is_default"] == true);
}

TEST_CASE("policy cache: key, freshness, serialisation, merge") {
    const auto key = xcep::cache_key("https://cep/service.svc/CEP", "password:alice");
    CHECK(key.size() == 64);
    CHECK(key.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(key == xcep::cache_key("https://cep/service.svc/CEP", "password:alice"));
    CHECK(key != xcep::cache_key("https://cep/service.svc/CEP", "password:bob"));
    CHECK(key != xcep::cache_key("https://cep2/service.svc/CEP", "password:alice"));
    // SHA-256("a\nb"), computed independently.
    CHECK(
        xcep::cache_key("a", "b") ==
        "7e18f737311b2dc3b2f269dd78396b0351f14fb66efa879f768cb23181883c78");  // sha256sum of "a\nb"

    xcep::CacheEntry entry;
    entry.cep_url = "https://cep/service.svc/CEP";
    entry.identity = "password:alice";
    entry.fetched_at = t0;
    entry.last_full_update = t0 - 24h;
    entry.response_xml = "<GetPoliciesResponse/>";

    xcep::Policy policy;
    policy.next_update_hours = 8;
    CHECK(xcep::is_fresh(entry, policy, t0));
    CHECK(xcep::is_fresh(entry, policy, t0 + 8h - 1s));
    CHECK_FALSE(xcep::is_fresh(entry, policy, t0 + 8h));
    CHECK_FALSE(xcep::is_fresh(entry, policy, t0 - 1s));  // clock went backwards
    policy.next_update_hours = 1;
    CHECK_FALSE(xcep::is_fresh(entry, policy, t0 + 2h));
    policy.next_update_hours = std::nullopt;  // default 8
    CHECK(xcep::is_fresh(entry, policy, t0 + 7h));
    CHECK_FALSE(xcep::is_fresh(entry, policy, t0 + 9h));

    // The response is stored as it is after one header line, newlines and all.
    entry.response_xml = "<GetPoliciesResponse>\n  <a>\"x\" \\ y</a>\n</GetPoliciesResponse>\n";
    const std::string text = entry.to_file_text();
    const auto end_of_header = text.find('\n');
    CHECK(text.substr(end_of_header + 1) == entry.response_xml);
    CHECK(text.substr(0, end_of_header)
              .find("\"response_bytes\":" + std::to_string(entry.response_xml.size())) !=
          std::string::npos);
    const auto restored = xcep::CacheEntry::from_file_text(text);
    CHECK(restored.cep_url == entry.cep_url);
    CHECK(restored.identity == entry.identity);
    CHECK(restored.fetched_at == entry.fetched_at);
    CHECK(restored.last_full_update == entry.last_full_update);
    CHECK(restored.response_xml == entry.response_xml);
    // A URL or identity with a newline still makes one header line.
    entry.identity = "kerberos:odd\nname";
    CHECK(xcep::CacheEntry::from_file_text(entry.to_file_text()).identity == entry.identity);

    const auto message_of = [](std::string_view bad) -> std::string {
        try {
            xcep::CacheEntry::from_file_text(bad);
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::Local);
            return e.message();
        }
        FAIL("no error for: " << bad);
        return "";
    };
    CHECK(message_of("not json").find("no header line") != std::string::npos);
    CHECK(message_of("not json\n<x/>").find("unreadable") != std::string::npos);
    CHECK(message_of("[1]\n<x/>").find("not a JSON object") != std::string::npos);
    CHECK(message_of(R"({"version":2,"cep_url":"x"})"
                     "\n<x/>")
              .find("identity") != std::string::npos);
    // The first format (the response inside the JSON document) is not read: its entry is
    // fetched again.
    CHECK(message_of(R"({"version":1,"cep_url":"x","response_xml":"<x/>"})"
                     "\n")
              .find("unknown format version") != std::string::npos);
    // Cut short, or with bytes appended: the length in the header says so.
    CHECK(message_of(text.substr(0, text.size() - 1)).find("bytes, the header says") !=
          std::string::npos);
    CHECK(message_of(text + "x").find("bytes, the header says") != std::string::npos);
    CHECK(xcep::cache_file_name("a", "b") == xcep::cache_key("a", "b") + ".policy");
    CHECK(xcep::legacy_cache_file_name("a", "b") == xcep::cache_key("a", "b") + ".json");

    xcep::Policy unchanged;
    unchanged.policies_not_changed = true;
    const auto kept =
        xcep::merge_response(&entry, unchanged, "<new/>", entry.cep_url, entry.identity, t0 + 9h);
    CHECK(kept.response_xml == entry.response_xml);
    CHECK(kept.fetched_at == t0 + 9h);
    CHECK(kept.last_full_update == entry.last_full_update);

    const xcep::Policy changed;
    const auto replaced =
        xcep::merge_response(&entry, changed, "<new/>", entry.cep_url, entry.identity, t0 + 9h);
    CHECK(replaced.response_xml == "<new/>");
    CHECK(replaced.fetched_at == t0 + 9h);
    CHECK(replaced.last_full_update == t0 + 9h);
    const auto first = xcep::merge_response(nullptr, unchanged, "<x/>", "u", "i", t0);
    CHECK(first.response_xml == "<x/>");
    CHECK(first.cep_url == "u");
}

namespace {

// Records the request and answers with a fixture whose RelatesTo is made to match.
class FakeTransport : public http::Transport {
  public:
    explicit FakeTransport(std::string reply) : reply_(std::move(reply)) {}

    http::Response post(const http::Request& request) override {
        requests.push_back(request);
        const auto envelope = xml::parse(request.body);
        const auto message_id = std::string(envelope.get(soap::ns::soap12, "Header")
                                                .get(soap::ns::addressing, "MessageID")
                                                .trimmed_text());
        std::string body = reply_;
        const std::string placeholder = "urn:uuid:5fb5f6fd-4709-414b-8afa-0c05f6686d1c";
        if (const auto at = body.find(placeholder); at != std::string::npos) {
            body.replace(at, placeholder.size(), message_id);
        }
        return {200, {}, body};
    }

    std::vector<http::Request> requests;

  private:
    std::string reply_;
};

}  // namespace

TEST_CASE("fetch_policy sends GetPolicies and parses the reply") {
    FakeTransport transport(read_data("windows_wcf.xml"));
    xcep::GetPoliciesOptions options;
    options.last_update = t0;
    const std::string url =
        "https://cep.contoso.com/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP";
    soap::CallOptions call_options;
    call_options.username_token = soap::UsernameToken{"CONTOSO\\alice", "secret"};
    const auto result = xcep::fetch_policy_response(transport, url, options, t0, call_options);
    CHECK(result.policy.templates.size() == 4);
    CHECK(result.payload.name() == "GetPoliciesResponse");

    REQUIRE(transport.requests.size() == 1);
    const auto& request = transport.requests[0];
    CHECK(request.url == url);
    const auto content_type = std::find_if(request.headers.begin(), request.headers.end(),
                                           [](const auto& h) { return h.name == "Content-Type"; });
    REQUIRE(content_type != request.headers.end());
    CHECK(content_type->value.find("application/soap+xml") == 0);
    const auto envelope = xml::parse(request.body);
    const auto& header = envelope.get(soap::ns::soap12, "Header");
    CHECK(header.get(soap::ns::addressing, "Action").trimmed_text() == soap::action::get_policies);
    CHECK(header.get(soap::ns::addressing, "To").trimmed_text() == url);
    const auto& body = envelope.get(soap::ns::soap12, "Body").get(soap::ns::xcep, "GetPolicies");
    CHECK(body.get(xcep_ns, "client").get(xcep_ns, "lastUpdate").trimmed_text() ==
          "2025-11-25T03:30:00Z");
    CHECK(body.get(xcep_ns, "requestFilter").get(xcep_ns, "clientVersion").trimmed_text() == "0");
}

TEST_CASE("fetch_policy rejects a reply with another action") {
    const auto wrong = replace_once(read_data("windows_wcf.xml"), "IPolicy/GetPoliciesResponse<",
                                    "IPolicy/SomethingElse<");
    FakeTransport transport(wrong);
    try {
        xcep::fetch_policy(transport, "https://cep/service.svc/CEP", {}, t0, {});
        FAIL("no error");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::Protocol);
        CHECK(e.message().find("SomethingElse") != std::string::npos);
    }
}

TEST_CASE("auth_mode_from_url reads the mode from Windows Server's standard endpoint paths") {
    using xcep::auth_mode_from_url;
    using xcep::AuthMode;
    CHECK(auth_mode_from_url(
              "https://cep.example.com/ADPolicyProvider_CEP_Kerberos/service.svc/CEP") ==
          AuthMode::Kerberos);
    CHECK(auth_mode_from_url("https://h/adpolicyprovider_cep_usernamepassword/service.svc/cep") ==
          AuthMode::UsernamePassword);
    CHECK(auth_mode_from_url("https://h:8443/Issuing-CA_CES_Certificate/service.svc/CES") ==
          AuthMode::Certificate);
    CHECK(auth_mode_from_url("https://h/Issuing-CA_CES_KeyBasedRenewal/service.svc/CES") ==
          AuthMode::Anonymous);
    CHECK_FALSE(auth_mode_from_url("https://h/enroll/service.svc/CES").has_value());
    CHECK_FALSE(auth_mode_from_url("https://h/Issuing-CA_CES_Basic/service.svc/CES").has_value());
    CHECK_FALSE(auth_mode_from_url("https://h").has_value());
    CHECK(auth_mode_from_url(
              "https://h/KeyBasedRenewal_ADPolicyProvider_CEP_Certificate/service.svc/CEP") ==
          AuthMode::Certificate);
    CHECK(xcep::is_key_based_renewal_cep_url(
        "https://h/keybasedrenewal_adpolicyprovider_cep_usernamepassword/service.svc/CEP"));
    CHECK_FALSE(xcep::is_key_based_renewal_cep_url(
        "https://h/ADPolicyProvider_CEP_Certificate/service.svc/CEP"));
    CHECK_FALSE(xcep::is_key_based_renewal_cep_url(
        "https://h/proxied/KeyBasedRenewal_ADPolicyProvider_CEP_Certificate/service.svc/CEP"));
    CHECK(xcep::auth_mode_from_name("kerberos") == AuthMode::Kerberos);
    CHECK_FALSE(xcep::auth_mode_from_name("ntlm").has_value());
}
