// Micro-benchmarks of the response parsers (Google Benchmark), on inputs generated here:
//   - a GetPolicies response with 1,000 templates and 20 CAs (real CA certificates);
//   - an RSTR (issued) whose PKCS#7 carries a long certificate chain;
//   - the SOAP fault path (a CES denial turned into an Error).
// Run by tests/bench/run, which reports the medians; never a timed assertion in the tests.

#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <tinyxml2.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "encoding/base64.hpp"
#include "error.hpp"
#include "soap/envelope.hpp"
#include "soap/fault.hpp"
#include "wstep/response.hpp"
#include "xcep/get_policies.hpp"
#include "xcep/policy_cache.hpp"
#include "xml/xml.hpp"

using namespace certenroll;

namespace {

// ---- Test PKI, built with OpenSSL directly ----

template <auto Free>
struct Deleter {
    template <typename T>
    void operator()(T* object) const {
        Free(object);
    }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using Pkcs7Ptr = std::unique_ptr<PKCS7, Deleter<PKCS7_free>>;

[[noreturn]] void die(const char* what) {
    std::cerr << "parsers_bench: " << what << " failed\n";
    std::abort();
}

void check(bool ok, const char* what) {
    if (!ok)
        die(what);
}

PkeyPtr make_key(bool rsa) {
    PkeyPtr key(rsa ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048))
                    : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    check(key != nullptr, "key generation");
    return key;
}

// A certificate for `key` named CN=`cn`, signed by `issuer` (self-signed when null).
X509Ptr issue(const std::string& cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, long serial,
              bool ca) {
    X509Ptr cert(X509_new());
    check(cert != nullptr, "X509_new");
    X509* raw = cert.get();
    check(X509_set_version(raw, 2) == 1, "X509_set_version");
    check(ASN1_INTEGER_set(X509_get_serialNumber(raw), serial) == 1, "serial");
    X509_NAME* name = X509_get_subject_name(raw);
    check(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>("Bench PKI"), -1, -1,
                                     0) == 1,
          "subject O");
    check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                     0) == 1,
          "subject CN");
    check(X509_set_issuer_name(raw, issuer ? X509_get_subject_name(issuer) : name) == 1, "issuer");
    check(X509_gmtime_adj(X509_getm_notBefore(raw), -3600) != nullptr, "notBefore");
    check(X509_gmtime_adj(X509_getm_notAfter(raw), 365L * 86400) != nullptr, "notAfter");
    check(X509_set_pubkey(raw, key) == 1, "pubkey");
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : raw, raw, nullptr, nullptr, 0);
    const auto add = [&](int nid, const char* value) {
        X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
        check(extension != nullptr, "extension");
        check(X509_add_ext(raw, extension, -1) == 1, "add extension");
        X509_EXTENSION_free(extension);
    };
    add(NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    add(NID_subject_key_identifier, "hash");
    add(NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    if (!ca) {
        add(NID_ext_key_usage, "serverAuth,clientAuth");
        add(NID_subject_alt_name, "DNS:web1.example.com,DNS:www.example.com");
    }
    check(X509_sign(raw, issuer_key, EVP_sha256()) > 0, "X509_sign");
    return cert;
}

encoding::Bytes der_of(X509* cert) {
    const int length = i2d_X509(cert, nullptr);
    check(length > 0, "i2d_X509");
    encoding::Bytes der(static_cast<std::size_t>(length));
    unsigned char* cursor = der.data();
    i2d_X509(cert, &cursor);
    return der;
}

// Base64 wrapped as AD CS and the sandbox send it: 64 characters per line, CR as &#xD;.
std::string wrapped_base64(const encoding::Bytes& der) {
    const std::string flat = encoding::base64_encode(der);
    std::string out;
    out.reserve(flat.size() + flat.size() / 64 * 6);
    for (std::size_t i = 0; i < flat.size(); i += 64) {
        if (i > 0)
            out += "&#xD;\n";
        out += flat.substr(i, 64);
    }
    return out;
}

// ---- Inputs ----

constexpr int kTemplates = 1000;
constexpr int kCas = 20;
constexpr int kChainLength = 10;  // root, 8 intermediates, leaf

const char* const kEnvelopeOpen =
    R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header><a:Action s:mustUnderstand="1">)";

std::string envelope(const std::string& action, const std::string& body) {
    return std::string(kEnvelopeOpen) + action +
           R"(</a:Action><ActivityId CorrelationId="4f0b3a3e-93c4-4a64-9d55-7b1f0c1e2a11" xmlns="http://schemas.microsoft.com/2004/09/ServiceModel/Diagnostics">8a1c2a55-0f4e-4a8e-b2a1-3c0e7e6f9d21</ActivityId><a:RelatesTo>urn:uuid:5fb5f6fd-4709-414b-8afa-0c05f6686d1c</a:RelatesTo></s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">)" +
           body + "</s:Body></s:Envelope>";
}

// One <policy> shaped like a Windows Server schema-2/3 template (see tests/data/xcep).
void append_policy(std::string& out, int index) {
    const std::string n = std::to_string(index);
    const bool ec = index % 4 == 3;
    out += "<policy><policyOIDReference>" + std::to_string(1000 + index) +
           "</policyOIDReference><cAs>";
    for (int k = 0; k < 3; ++k)
        out += "<cAReference>" + std::to_string((index + k * 7) % kCas) + "</cAReference>";
    out += "</cAs><attributes><commonName>Template" + n + "</commonName><policySchema>" +
           (ec ? "3" : "2") +
           "</policySchema><certificateValidity><validityPeriodSeconds>31536000</"
           "validityPeriodSeconds><renewalPeriodSeconds>3628800</renewalPeriodSeconds></"
           "certificateValidity><permission><enroll>true</enroll><autoEnroll>false</autoEnroll></"
           "permission><privateKeyAttributes><minimalKeyLength>" +
           (ec ? "256" : "2048") + "</minimalKeyLength>" +
           (ec ? "<keySpec xsi:nil=\"true\"/>" : "<keySpec>1</keySpec>") +
           "<keyUsageProperty xsi:nil=\"true\"/><permissions xsi:nil=\"true\"/>" +
           (ec ? "<algorithmOIDReference>12</algorithmOIDReference>"
               : "<algorithmOIDReference xsi:nil=\"true\"/>") +
           "<cryptoProviders><provider>Microsoft RSA SChannel Cryptographic Provider</"
           "provider><provider>Microsoft Software Key Storage Provider</provider></"
           "cryptoProviders></privateKeyAttributes><revision><majorRevision>" +
           std::to_string(index % 100 + 1) +
           "</majorRevision><minorRevision>2</minorRevision></revision><supersededPolicies "
           "xsi:nil=\"true\"/><privateKeyFlags>16842768</privateKeyFlags><subjectNameFlags>1</"
           "subjectNameFlags><enrollmentFlags>32</enrollmentFlags><generalFlags>66113</"
           "generalFlags>" +
           (ec ? "<hashAlgorithmOIDReference>11</hashAlgorithmOIDReference>"
               : "<hashAlgorithmOIDReference xsi:nil=\"true\"/>") +
           "<rARequirements xsi:nil=\"true\"/><keyArchivalAttributes xsi:nil=\"true\"/>"
           "<extensions><extension><oIDReference>30</oIDReference><critical>false</critical>"
           "<value>MBQGCCsGAQUFBwMBBggrBgEFBQcDAg==</value></extension><extension><oIDReference>"
           "31</oIDReference><critical>true</critical><value>AwIFoA==</value></extension>"
           "</extensions></attributes></policy>\n";
}

std::string make_get_policies_response() {
    const PkeyPtr key = make_key(false);
    std::string body =
        "<GetPoliciesResponse "
        "xmlns=\"http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy\"><response>"
        "<policyID>{7A1C31E2-6F1B-4C2E-9B8D-3D2B1E0F4A55}</policyID><policyFriendlyName>Bench "
        "Enrollment Policy</policyFriendlyName><nextUpdateHours>8</nextUpdateHours>"
        "<policiesNotChanged>false</policiesNotChanged><policies>\n";
    for (int i = 0; i < kTemplates; ++i)
        append_policy(body, i);
    body += "</policies></response><cAs>\n";
    for (int c = 0; c < kCas; ++c) {
        const std::string name = "Bench Issuing CA " + std::to_string(c);
        const auto cert = issue(name, key.get(), nullptr, key.get(), c + 1, true);
        const std::string host =
            "https://ca" + std::to_string(c) + ".example.com/Bench%20CA%20" + std::to_string(c);
        body += "<cA><uris>";
        for (const auto& [auth, path] :
             {std::pair{2, "_CES_Kerberos"}, std::pair{4, "_CES_UsernamePassword"},
              std::pair{8, "_CES_Certificate"}}) {
            body += "<cAURI><clientAuthentication>" + std::to_string(auth) +
                    "</clientAuthentication><uri>" + host + path +
                    "/service.svc/CES</uri><priority>1</priority><renewalOnly>false</"
                    "renewalOnly></cAURI>";
        }
        body += "</uris><certificate>" + wrapped_base64(der_of(cert.get())) +
                "</certificate><enrollPermission>true</enrollPermission><cAReferenceID>" +
                std::to_string(c) + "</cAReferenceID></cA>\n";
    }
    body += "</cAs><oIDs>\n";
    const auto oid = [&body](const std::string& value, int group, int id, const std::string& name) {
        body += "<oID><value>" + value + "</value><group>" + std::to_string(group) +
                "</group><oIDReferenceID>" + std::to_string(id) + "</oIDReferenceID><defaultName>" +
                name + "</defaultName></oID>\n";
    };
    oid("2.16.840.1.101.3.4.2.1", 1, 11, "sha256");
    oid("1.2.840.10045.2.1", 3, 12, "ECC");
    oid("2.5.29.37", 6, 30, "Enhanced Key Usage");
    oid("2.5.29.15", 6, 31, "Key Usage");
    for (int i = 0; i < kTemplates; ++i) {
        oid("1.3.6.1.4.1.311.21.8.1234567.7654321.1111111.2222222.3333333.44." +
                std::to_string(10000 + i),
            9, 1000 + i, "Template " + std::to_string(i));
    }
    body += "</oIDs></GetPoliciesResponse>";
    return envelope(
        "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/"
        "GetPoliciesResponse",
        body);
}

std::string rstr_document(const std::string& pkcs7_base64, const std::string& leaf_base64);

std::string make_rstr(std::size_t* pkcs7_size) {
    const PkeyPtr key = make_key(true);  // one key signs the whole chain: only sizes matter here
    std::vector<X509Ptr> chain;
    chain.push_back(issue("Bench Root CA", key.get(), nullptr, key.get(), 1, true));
    for (int i = 1; i < kChainLength; ++i) {
        const bool leaf = i == kChainLength - 1;
        chain.push_back(issue(
            leaf ? std::string("web1.example.com") : "Bench Intermediate CA " + std::to_string(i),
            key.get(), chain.back().get(), key.get(), i + 1, !leaf));
    }
    const Pkcs7Ptr p7(PKCS7_new());
    check(p7 != nullptr, "PKCS7_new");
    check(PKCS7_set_type(p7.get(), NID_pkcs7_signed) == 1, "PKCS7_set_type");
    check(PKCS7_content_new(p7.get(), NID_pkcs7_data) == 1, "PKCS7_content_new");
    for (const auto& cert : chain)
        check(PKCS7_add_certificate(p7.get(), cert.get()) == 1, "PKCS7_add_certificate");
    const int length = i2d_PKCS7(p7.get(), nullptr);
    check(length > 0, "i2d_PKCS7");
    encoding::Bytes pkcs7(static_cast<std::size_t>(length));
    unsigned char* cursor = pkcs7.data();
    i2d_PKCS7(p7.get(), &cursor);
    *pkcs7_size = static_cast<std::size_t>(length);
    return rstr_document(wrapped_base64(pkcs7), wrapped_base64(der_of(chain.back().get())));
}

std::string rstr_document(const std::string& pkcs7_base64, const std::string& leaf_base64) {
    const std::string body =
        "<RequestSecurityTokenResponseCollection "
        "xmlns=\"http://docs.oasis-open.org/ws-sx/ws-trust/200512\"><RequestSecurityTokenResponse>"
        "<TokenType>http://docs.oasis-open.org/wss/2004/01/"
        "oasis-200401-wss-x509-token-profile-1.0#X509v3</TokenType><DispositionMessage "
        "xml:lang=\"en-US\" "
        "xmlns=\"http://schemas.microsoft.com/windows/pki/2009/01/enrollment\">Issued</"
        "DispositionMessage><BinarySecurityToken "
        "ValueType=\"http://docs.oasis-open.org/wss/2004/01/"
        "oasis-200401-wss-wssecurity-secext-1.0.xsd#PKCS7\" "
        "EncodingType=\"http://docs.oasis-open.org/wss/2004/01/"
        "oasis-200401-wss-wssecurity-secext-1.0.xsd#base64binary\" "
        "xmlns=\"http://docs.oasis-open.org/wss/2004/01/"
        "oasis-200401-wss-wssecurity-secext-1.0.xsd\">" +
        pkcs7_base64 +
        "</BinarySecurityToken><RequestedSecurityToken><BinarySecurityToken "
        "ValueType=\"http://docs.oasis-open.org/wss/2004/01/"
        "oasis-200401-wss-x509-token-profile-1.0#X509v3\" "
        "EncodingType=\"http://docs.oasis-open.org/wss/2004/01/"
        "oasis-200401-wss-wssecurity-secext-1.0.xsd#base64binary\" "
        "xmlns=\"http://docs.oasis-open.org/wss/2004/01/"
        "oasis-200401-wss-wssecurity-secext-1.0.xsd\">" +
        leaf_base64 +
        "</BinarySecurityToken></RequestedSecurityToken><RequestID "
        "xmlns=\"http://schemas.microsoft.com/windows/pki/2009/01/enrollment\">64</RequestID>"
        "</RequestSecurityTokenResponse></RequestSecurityTokenResponseCollection>";
    return envelope("http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RSTRC/wstep",
                    body);
}

std::string make_fault() {
    return envelope(
        "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/"
        "RequestSecurityTokenCertificateEnrollmentWSDetailFault",
        "<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code><s:Reason><s:Text "
        "xml:lang=\"en-US\">Denied by Policy Module  0x80094012, The permissions on the "
        "certificate template do not allow the current user to enroll for this type of "
        "certificate. 0x80094012 (-2146877422 CERTSRV_E_TEMPLATE_DENIED)</s:Text></s:Reason>"
        "<s:Detail><CertificateEnrollmentWSDetail "
        "xmlns=\"http://schemas.microsoft.com/windows/pki/2009/01/enrollment\"><BinaryResponse "
        "xsi:nil=\"true\"/><ErrorCode>-2146877422</ErrorCode><InvalidRequest>true</"
        "InvalidRequest><RequestID>42</RequestID></CertificateEnrollmentWSDetail></s:Detail>"
        "</s:Fault>");
}

const std::string& policy_document() {
    static const std::string document = make_get_policies_response();
    return document;
}

// ---- Benchmarks ----

// What `enroll`/`policy` do with a fetched GetPolicies response: SOAP envelope, XML tree, model.
void BM_GetPolicies_1000_templates_20_CAs(benchmark::State& state) {
    const std::string& document = policy_document();
    std::size_t templates = 0;
    for (auto _ : state) {
        const auto response = soap::parse_response(200, document);
        const auto policy = xcep::parse_get_policies_response(response.payload);
        templates = policy.templates.size();
        benchmark::DoNotOptimize(templates);
    }
    if (templates != static_cast<std::size_t>(kTemplates) ||
        policy_document().find("<cAReferenceID>19<") == std::string::npos) {
        state.SkipWithError("the generated policy did not parse to 1,000 templates");
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(document.size()));
    state.counters["bytes"] = static_cast<double>(document.size());
}
BENCHMARK(BM_GetPolicies_1000_templates_20_CAs)->Unit(benchmark::kMillisecond);

// The XML layer alone, to tell the XML reader from the policy model.
void BM_GetPolicies_xml_only(benchmark::State& state) {
    const std::string& document = policy_document();
    for (auto _ : state) {
        auto tree = xml::parse(document);
        benchmark::DoNotOptimize(tree);
    }
}
BENCHMARK(BM_GetPolicies_xml_only)->Unit(benchmark::kMillisecond);

// The floor of the GetPolicies rows: the same document read with tinyxml2 alone, every element's
// name, text and attribute values touched (tinyxml2 decodes them lazily) and the templates
// counted, as a client without namespaces, limits or a policy model would do it.
std::size_t visit(const tinyxml2::XMLElement* element, std::size_t& bytes) {
    std::size_t templates = 0;
    for (; element != nullptr; element = element->NextSiblingElement()) {
        const std::string_view name = element->Name();
        bytes += name.size();
        if (name.ends_with("policy") && name.size() <= 9)  // "policy" or "xcep:policy"
            ++templates;
        if (const char* text = element->GetText())
            bytes += std::string_view(text).size();
        for (const auto* a = element->FirstAttribute(); a != nullptr; a = a->Next())
            bytes += std::string_view(a->Value()).size();
        templates += visit(element->FirstChildElement(), bytes);
    }
    return templates;
}

void BM_GetPolicies_floor_tinyxml2(benchmark::State& state) {
    const std::string& document = policy_document();
    std::size_t templates = 0;
    for (auto _ : state) {
        tinyxml2::XMLDocument tree;
        if (tree.Parse(document.data(), document.size()) != tinyxml2::XML_SUCCESS) {
            state.SkipWithError("tinyxml2 did not parse the generated policy");
            return;
        }
        std::size_t bytes = 0;
        templates = visit(tree.RootElement(), bytes);
        benchmark::DoNotOptimize(bytes);
    }
    if (templates != static_cast<std::size_t>(kTemplates))
        state.SkipWithError("the floor did not find 1,000 templates");
}
BENCHMARK(BM_GetPolicies_floor_tinyxml2)->Unit(benchmark::kMillisecond);

// A warm policy cache: the JSON entry is read, then its stored response parsed.
void BM_GetPolicies_from_cache_entry(benchmark::State& state) {
    xcep::CacheEntry entry;
    entry.cep_url = "https://cep.example.com/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP";
    entry.identity = "password:alice";
    entry.response_xml = policy_document();
    const std::string text = entry.to_file_text();
    for (auto _ : state) {
        const auto loaded = xcep::CacheEntry::from_file_text(text);
        const auto policy = xcep::parse_get_policies_response(
            soap::parse_response(200, loaded.response_xml).payload);
        benchmark::DoNotOptimize(policy.templates.data());
    }
}
BENCHMARK(BM_GetPolicies_from_cache_entry)->Unit(benchmark::kMillisecond);

void BM_Rstr_issued_long_chain(benchmark::State& state) {
    std::size_t pkcs7_size = 0;
    const std::string document = make_rstr(&pkcs7_size);
    for (auto _ : state) {
        const auto response = soap::parse_response(200, document);
        const auto result = wstep::parse_submit_response(response.payload);
        if (result.pkcs7_der.size() != pkcs7_size) {
            state.SkipWithError("the PKCS#7 did not round-trip");
            break;
        }
        benchmark::DoNotOptimize(result.certificate_der.data());
    }
    state.counters["bytes"] = static_cast<double>(document.size());
    state.counters["chain"] = kChainLength;
}
BENCHMARK(BM_Rstr_issued_long_chain)->Unit(benchmark::kMicrosecond);

void BM_Soap_fault_to_error(benchmark::State& state) {
    const std::string document = make_fault();
    for (auto _ : state) {
        try {
            (void)soap::parse_response(500, document);
            state.SkipWithError("the fault was not turned into an Error");
            break;
        } catch (const Error& error) {
            if (error.kind() != ErrorKind::Denied) {
                state.SkipWithError("the fault did not map to a denial");
                break;
            }
            benchmark::DoNotOptimize(error.message().data());
        }
    }
}
BENCHMARK(BM_Soap_fault_to_error)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
