// certmonger-helper's pure parts: the pending cookie certmonger keeps between SUBMIT and POLL,
// and the CSR certmonger made, read and (for a signed renewal) given the renewal attribute.

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "crypto/csr.hpp"
#include "crypto/external_csr.hpp"
#include "encoding/base64.hpp"
#include "flows/certmonger.hpp"
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

    for (const auto& text : {pem_of_csr(der), std::string(der.begin(), der.end())}) {
        const auto csr = read_external_csr(text, "the request");
        CHECK(csr.der == der);
        CHECK(csr.subject == "CN=web1.example.com");
        CHECK(EVP_PKEY_eq(csr.public_key.get(), key.get()) == 1);
    }
    CHECK(kind_of([] { read_external_csr("not a request", "the request"); }) == ErrorKind::Usage);
    Bytes altered = der;
    altered[altered.size() / 2] ^= 0x01;  // inside the signed part or the signature
    CHECK(kind_of([&] { read_external_csr(std::string(altered.begin(), altered.end()), "x"); }) ==
          ErrorKind::Usage);
}

TEST_CASE("the renewal attribute is added and the CSR signed again, only with its own key") {
    const auto key = make_key(true);
    const Certificate old_certificate = issue("CN=web1.example.com", key.get(), nullptr, key.get());
    CsrSpec spec;
    spec.subject = "CN=web1.example.com";
    const Bytes der = build_csr(spec, key.get());

    const Bytes renewal = add_renewal_certificate(der, old_certificate, key.get(), "SHA256");
    const auto reread = read_external_csr(std::string(renewal.begin(), renewal.end()), "renewal");
    CHECK(reread.subject == "CN=web1.example.com");
    // 1.3.6.1.4.1.311.13.1 (szOID_RENEWAL_CERTIFICATE) and the old certificate's DER.
    CHECK(contains(renewal, {0x06, 0x09, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x0d, 0x01}));
    CHECK(contains(renewal, old_certificate.to_der()));
    CHECK_FALSE(contains(der, old_certificate.to_der()));

    const auto other = make_key();
    CHECK(kind_of([&] { add_renewal_certificate(der, old_certificate, other.get(), "SHA256"); }) ==
          ErrorKind::Usage);
}
