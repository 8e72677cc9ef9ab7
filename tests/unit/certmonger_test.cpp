// certmonger-helper's pure parts: the pending cookie certmonger keeps between SUBMIT and POLL,
// the CSR certmonger made, read and (for a signed renewal) given the renewal attribute, and how
// a renewal finds certmonger's keys (request files, the next key of a rekey, NSS databases).

#include <doctest/doctest.h>

#include <openssl/cms.h>
#include <openssl/x509.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>

#include "crypto/csr.hpp"
#include "crypto/external_csr.hpp"
#include "crypto/ossl.hpp"
#include "encoding/base64.hpp"
#include "flows/certmonger.hpp"
#include "keys/software_key.hpp"
#include "temp_dir.hpp"
#include "test_pki.hpp"

using namespace certenroll;
using namespace certenroll::crypto;
using namespace certenroll::test;
namespace cm = certenroll::flows::certmonger;

namespace {

std::string pem_of_csr(const Bytes& der) {
    const std::string b64 = encoding::base64_encode(der);
    std::string pem = "-----BEGIN CERTIFICATE REQUEST-----\n";
    for (std::size_t i = 0; i < b64.size(); i += 64)
        pem += b64.substr(i, 64) + "\n";
    return pem + "-----END CERTIFICATE REQUEST-----\n";
}

bool contains(const Bytes& haystack, const Bytes& needle) {
    return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
           haystack.end();
}

}  // namespace

TEST_CASE("the pending cookie carries the request ID and the CES URL, one line") {
    const cm::PendingCookie cookie{"17", "https://ca.example.com/CA_CES_Kerberos/service.svc/CES"};
    const std::string text = cm::format_cookie(cookie);
    CHECK(text == "17 https://ca.example.com/CA_CES_Kerberos/service.svc/CES");
    CHECK(text.find('\n') == std::string::npos);
    for (const auto& stored : {text, text + "\n", text + "\r\n"}) {
        const auto parsed = cm::parse_cookie(stored);
        REQUIRE(parsed);
        CHECK(parsed->request_id == cookie.request_id);
        CHECK(parsed->ces_url == cookie.ces_url);
    }
}

TEST_CASE("a cookie this helper did not write is refused") {
    CHECK_FALSE(cm::parse_cookie(""));
    CHECK_FALSE(cm::parse_cookie("nonsense"));
    CHECK_FALSE(cm::parse_cookie("17"));
    CHECK_FALSE(cm::parse_cookie("17 http://ca.example.com/CES"));       // never plain HTTP
    CHECK_FALSE(cm::parse_cookie("17 https://a.example/x y"));           // one URL only
    CHECK_FALSE(cm::parse_cookie(" https://ca.example.com/CES"));        // no request ID
    CHECK_FALSE(cm::parse_cookie(std::string(65, '1') + " https://a"));  // not a CA's ID
}

TEST_CASE("a CSR made elsewhere is read from PEM or DER and must be signed by its key") {
    const auto key = make_key();
    CsrSpec spec;
    spec.subject = "CN=web1.example.com";
    spec.template_name = "WebServer";
    const Bytes der = build_csr(spec, key.get());

    const std::string pem = pem_of_csr(der);
    for (const auto& data : {Bytes(pem.begin(), pem.end()), der}) {
        const auto csr = read_external_csr(data, "the request");
        CHECK(csr.der == der);
        CHECK(csr.subject == "CN=web1.example.com");
        CHECK(EVP_PKEY_eq(csr.public_key.get(), key.get()) == 1);
    }
    const std::string junk = "not a request";
    CHECK(kind_of([&] { read_external_csr(Bytes(junk.begin(), junk.end()), "the request"); }) ==
          ErrorKind::Usage);
    Bytes altered = der;
    altered[altered.size() / 2] ^= 0x01;  // inside the signed part or the signature
    CHECK(kind_of([&] { read_external_csr(altered, "x"); }) == ErrorKind::Usage);
}

TEST_CASE("the renewal attribute is added and the CSR signed again, only with its own key") {
    const auto key = make_key(true);
    const Certificate old_certificate = issue("CN=web1.example.com", key.get(), nullptr, key.get());
    CsrSpec spec;
    spec.subject = "CN=web1.example.com";
    const Bytes der = build_csr(spec, key.get());

    const Bytes renewal = add_renewal_certificate(der, old_certificate, key.get(), "SHA256");
    const auto reread = read_external_csr(renewal, "renewal");
    CHECK(reread.subject == "CN=web1.example.com");
    // 1.3.6.1.4.1.311.13.1 (szOID_RENEWAL_CERTIFICATE) and the old certificate's DER.
    CHECK(contains(renewal, {0x06, 0x09, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x0d, 0x01}));
    CHECK(contains(renewal, old_certificate.to_der()));
    CHECK_FALSE(contains(der, old_certificate.to_der()));

    const auto other = make_key();
    CHECK(kind_of([&] { add_renewal_certificate(der, old_certificate, other.get(), "SHA256"); }) ==
          ErrorKind::Usage);
}

namespace {

ASN1_OBJECT* signature_algorithm_of(X509_REQ* request) {
    const X509_ALGOR* algorithm = nullptr;
    X509_REQ_get0_signature(request, nullptr, &algorithm);
    const ASN1_OBJECT* object = nullptr;
    X509_ALGOR_get0(&object, nullptr, nullptr, algorithm);
    return const_cast<ASN1_OBJECT*>(object);
}

// certmonger's state for one tracked certificate: its request file in `requests`, the key and
// certificate files beside it (as `getcert request -k -f` keeps them).
struct TrackedCertificate {
    test::TempDir dir;
    PkeyPtr key = make_key(true);
    Certificate certificate = issue("CN=web1.example.com", key.get(), nullptr, key.get());
    std::filesystem::path requests = dir.path / "requests";
    std::filesystem::path key_file = dir.write("key.pem", keys::private_key_to_pem(key.get(), ""));

    TrackedCertificate() { std::filesystem::create_directories(requests); }

    // A request file as certmonger 0.79.17 writes it (the fields this helper reads).
    void write_request_file(const std::string& storage, const std::string& next_marker = "") {
        std::string cert;
        for (std::size_t start = 0, end; start < certificate.to_pem().size(); start = end + 1) {
            end = certificate.to_pem().find('\n', start);
            cert +=
                (start == 0 ? "" : " ") + certificate.to_pem().substr(start, end - start) + "\n";
        }
        std::ofstream(requests / "20261207034944")
            << "id=web\nkey_storage_type=" << storage << "\nkey_storage_location="
            << (storage == "NSSDB" ? (dir.path / "nssdb").string() : key_file.string())
            << "\nkey_next_marker=" << next_marker << "\ncert_storage_type=FILE\n"
            << "cert_storage_location=" << (dir.path / "cert.pem").string() << "\ncert=" << cert
            << "state=SUBMITTING\n";
    }

    flows::CsrSubmitRequest request_for(EVP_PKEY* csr_key) const {
        CsrSpec spec;
        spec.subject = "CN=web1.example.com";
        flows::CsrSubmitRequest request;
        request.template_name = "WebServer";
        request.csr = read_external_csr(build_csr(spec, csr_key), "CERTMONGER_CSR");
        return request;
    }

    cm::HelperSettings settings(bool key_based = false) const {
        cm::HelperSettings settings;
        settings.requests_dir = requests;
        settings.key_based_renewal = key_based;
        return settings;
    }

    flows::Context context() const {
        return flows::Context{store::StateDirectory(dir.path / "state"),
                              [](const http::Settings&) -> std::unique_ptr<http::Transport> {
                                  throw Error(ErrorKind::Network, "no network in this test", "");
                              },
                              [] { return std::chrono::system_clock::now(); },
                              {}};
    }
};

bool mentions(const std::vector<std::string>& lines, const std::string& text) {
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& line) {
        return line.find(text) != std::string::npos;
    });
}

}  // namespace

TEST_CASE("a signed renewal is signed in the template's hash algorithm, both signatures") {
    const auto old_key = make_key(true);
    const Certificate old_certificate =
        issue("CN=web1.example.com", old_key.get(), nullptr, old_key.get());
    const auto new_key = make_key(true);
    CsrSpec spec;
    spec.subject = "CN=web1.example.com";
    const auto csr = read_external_csr(build_csr(spec, new_key.get()), "CERTMONGER_CSR");
    const flows::SignedRenewal renewal{
        old_certificate,
        keys::Key(std::shared_ptr<EVP_PKEY>(old_key.get(), [](EVP_PKEY*) {}), "software", ""),
        keys::Key(std::shared_ptr<EVP_PKEY>(new_key.get(), [](EVP_PKEY*) {}), "software", "")};

    for (const auto& [hash_oid, digest, signature] :
         {std::tuple{"2.16.840.1.101.3.4.2.2", NID_sha384, NID_sha384WithRSAEncryption},
          std::tuple{"2.16.840.1.101.3.4.2.1", NID_sha256, NID_sha256WithRSAEncryption}}) {
        CAPTURE(hash_oid);
        xcep::Template tmpl;
        tmpl.common_name = "WebServer";
        tmpl.hash_algorithm = xcep::Oid{hash_oid, 1, 1, ""};
        const Bytes der = flows::signed_renewal_request(csr, renewal, &tmpl);

        const BioPtr in = memory_bio(der.data(), der.size());
        CmsPtr cms(d2i_CMS_bio(in.get(), nullptr));
        REQUIRE(cms);
        CMS_SignerInfo* signer = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms.get()), 0);
        REQUIRE(signer != nullptr);
        X509_ALGOR* digest_algorithm = nullptr;
        CMS_SignerInfo_get0_algs(signer, nullptr, nullptr, &digest_algorithm, nullptr);
        const ASN1_OBJECT* digest_oid = nullptr;
        X509_ALGOR_get0(&digest_oid, nullptr, nullptr, digest_algorithm);
        CHECK(OBJ_obj2nid(digest_oid) == digest);
        // The PKCS#10 inside: signed again by the new key in the same hash, with the attribute.
        ASN1_OCTET_STRING** content = CMS_get0_content(cms.get());
        REQUIRE((content != nullptr && *content != nullptr));
        const unsigned char* cursor = ASN1_STRING_get0_data(*content);
        X509ReqPtr inner(d2i_X509_REQ(nullptr, &cursor, ASN1_STRING_length(*content)));
        REQUIRE(inner);
        CHECK(X509_REQ_verify(inner.get(), new_key.get()) == 1);
        CHECK(OBJ_obj2nid(signature_algorithm_of(inner.get())) == signature);
        CHECK(X509_REQ_get_attr_by_OBJ(inner.get(), oid("1.3.6.1.4.1.311.13.1").get(), -1) >= 0);
    }
}

TEST_CASE("a renewal with certmonger's key file: signed with it, same key or rekey") {
    TrackedCertificate tracked;
    const auto context = tracked.context();
    std::vector<std::string> warnings;

    SUBCASE("getcert resubmit: the CSR is for the old key") {
        tracked.write_request_file("FILE");
        auto request = tracked.request_for(tracked.key.get());
        cm::prepare_renewal(context, tracked.settings(), tracked.certificate, request, warnings);
        CHECK(warnings.empty());
        REQUIRE(request.renewal);
        CHECK(EVP_PKEY_eq(request.renewal->request_key.get(), tracked.key.get()) == 1);
        CHECK(EVP_PKEY_eq(request.renewal->certificate_key.get(), tracked.key.get()) == 1);
        CHECK_FALSE(request.key_based_submit);
    }
    SUBCASE("getcert rekey: the CSR is for the new key in <key file>.<key_next_marker>.key") {
        const auto next = make_key(true);
        tracked.write_request_file("FILE", "q8GO_sHo");
        tracked.dir.write("key.pem.q8GO_sHo.key", keys::private_key_to_pem(next.get(), ""));
        auto request = tracked.request_for(next.get());
        cm::prepare_renewal(context, tracked.settings(true), tracked.certificate, request,
                            warnings);
        CHECK(warnings.empty());
        REQUIRE(request.renewal);
        CHECK(EVP_PKEY_eq(request.renewal->request_key.get(), next.get()) == 1);
        CHECK(EVP_PKEY_eq(request.renewal->certificate_key.get(), tracked.key.get()) == 1);
        REQUIRE(request.key_based_submit);
        CHECK(request.key_based_submit->credentials.client_key == tracked.key_file.string());
    }
    SUBCASE("getcert rekey without a readable new key: a new request, saying why") {
        const auto next = make_key(true);
        tracked.write_request_file("FILE", "q8GO_sHo");
        auto request = tracked.request_for(next.get());
        cm::prepare_renewal(context, tracked.settings(), tracked.certificate, request, warnings);
        CHECK_FALSE(request.renewal);
        REQUIRE(warnings.size() == 1);
        CHECK(mentions(warnings, "rekey"));
        CHECK(mentions(warnings, "key.pem.q8GO_sHo.key"));
        CHECK(mentions(warnings, "sent as a new request"));
    }
}

TEST_CASE(
    "a key in an NSS database: a signed renewal goes as a new request, key-based is refused") {
    TrackedCertificate tracked;
    tracked.write_request_file("NSSDB");
    const auto context = tracked.context();
    std::vector<std::string> warnings;
    auto request = tracked.request_for(tracked.key.get());
    cm::prepare_renewal(context, tracked.settings(), tracked.certificate, request, warnings);
    CHECK_FALSE(request.renewal);
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].find('\n') == std::string::npos);
    CHECK(mentions(warnings, "NSS database"));
    CHECK(mentions(warnings, "sent as a new request"));

    warnings.clear();
    std::string refusal;
    CHECK(kind_of([&] {
              try {
                  cm::prepare_renewal(context, tracked.settings(true), tracked.certificate, request,
                                      warnings);
              } catch (const Error& error) {
                  refusal = error.message();
                  throw;
              }
          }) == ErrorKind::Usage);
    CHECK(refusal.find("NSS database") != std::string::npos);
    CHECK(refusal.find("no key-based renewal") != std::string::npos);
    CHECK(refusal.find('\n') == std::string::npos);
    CHECK_FALSE(request.renewal);
}
