#include <doctest/doctest.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "crypto/certificate.hpp"
#include "crypto/ossl.hpp"
#include "crypto/pkcs12.hpp"
#include "crypto/pkcs7.hpp"
#include "error.hpp"
#include "test_pki.hpp"

using namespace certenroll;
using namespace certenroll::crypto;
using namespace certenroll::test;

// ---- Certificate ------------------------------------------------------------------------------

// renew's due check reads the validity of the certificate file (PEM or DER) through OpenSSL.
namespace {

void check_read_back(const Certificate& cert) {
    const auto from_der = Certificate::from_der(cert.to_der());
    CHECK(from_der.not_before() == cert.not_before());
    CHECK(from_der.not_after() == cert.not_after());
    const auto from_pem = Certificate::from_pem(cert.to_pem());
    CHECK(from_pem.not_before() == cert.not_before());
    CHECK(from_pem.not_after() == cert.not_after());
}

}  // namespace

TEST_CASE("certificate validity: UTCTime, GeneralizedTime, version 1, and 9999 saturating") {
    TestPki pki;
    const auto rsa_key = make_key(true);
    // UTCTime up to 2049, GeneralizedTime from 2050; 1950-1999 through UTCTime's "YY >= 50".
    for (const std::time_t not_after :
         {std::time_t{2524607999} /* 2049-12-31 23:59:59 */,
          std::time_t{2524608000} /* 2050-01-01 */, std::time_t{4102444800} /* 2100-01-01 */}) {
        CAPTURE(not_after);
        CertOptions options;
        options.not_before = -631152000;  // 1950-01-01
        options.not_after = not_after;
        const auto cert = issue("CN=long", rsa_key.get(), nullptr, rsa_key.get(), options);
        CHECK(Clock::to_time_t(cert.not_before()) == options.not_before);
        CHECK(Clock::to_time_t(cert.not_after()) == not_after);
        check_read_back(cert);
    }
    // 99991231235959Z, RFC 5280's "no well-defined expiration", is past what the clock holds
    // (nanoseconds up to 2262): the time saturates instead of overflowing.
    {
        CertOptions options;
        options.not_after = 253402300799;  // 9999-12-31 23:59:59
        const auto forever = issue("CN=forever", rsa_key.get(), nullptr, rsa_key.get(), options);
        CHECK(forever.not_after() == Clock::time_point::max());
        check_read_back(forever);
    }
    // A version 1 certificate has no [0] version field.
    {
        X509* raw = X509_new();
        REQUIRE(raw != nullptr);
        Certificate v1(raw);
        REQUIRE(X509_set_version(raw, 0) == 1);
        REQUIRE(ASN1_INTEGER_set(X509_get_serialNumber(raw), 7) == 1);
        REQUIRE(ASN1_TIME_set(X509_getm_notBefore(raw), 1700000000) != nullptr);
        REQUIRE(ASN1_TIME_set(X509_getm_notAfter(raw), 1800000000) != nullptr);
        REQUIRE(X509_set_pubkey(raw, pki.leaf_key.get()) == 1);
        REQUIRE(X509_sign(raw, pki.leaf_key.get(), EVP_sha256()) > 0);
        REQUIRE(X509_get_version(v1.x509()) == 0);  // DEFAULT v1: no [0] version field
        CHECK(Clock::to_time_t(v1.not_after()) == 1800000000);
        check_read_back(v1);
    }
    // PEM: text before the block and other blocks before it are skipped; the first
    // certificate block is the one read.
    const std::string pem =
        "Bag Attributes\n-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC "
        "KEY-----\n" +
        pki.leaf.to_pem() + pki.root.to_pem();
    CHECK(Certificate::from_pem(pem).not_after() == pki.leaf.not_after());
}

TEST_CASE("certificate facts") {
    TestPki pki;
    const Certificate& leaf = pki.leaf;
    CHECK(leaf.subject() == "CN=web1.example.com,O=Example");
    CHECK(leaf.issuer() == "CN=Test Inter 2,O=Example");
    CHECK(leaf.common_name() == "web1.example.com");
    CHECK(leaf.serial_hex() == "1a2b");
    CHECK(leaf.not_after() - leaf.not_before() == std::chrono::hours(25));
    CHECK(Clock::to_time_t(leaf.not_after()) == Clock::to_time_t(leaf.not_before()) + 90000);

    const Bytes der = leaf.to_der();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    REQUIRE(EVP_Digest(der.data(), der.size(), digest, &length, EVP_sha1(), nullptr) == 1);
    CHECK(leaf.sha1_thumbprint() == hex(digest, length));
    REQUIRE(EVP_Digest(der.data(), der.size(), digest, &length, EVP_sha256(), nullptr) == 1);
    CHECK(leaf.sha256_thumbprint() == hex(digest, length));
    CHECK(leaf.sha256_thumbprint().size() == 64);

    CHECK(leaf.matches_key(pki.leaf_key.get()));
    CHECK_FALSE(leaf.matches_key(pki.root_key.get()));
    CHECK(leaf.is_issued_by(pki.inter2));
    CHECK_FALSE(leaf.is_issued_by(pki.inter1));
    CHECK(pki.root.is_self_issued());
    CHECK_FALSE(pki.inter1.is_self_issued());
    CHECK(leaf.template_name().empty());
    CHECK(leaf.template_oid().empty());
    CHECK(leaf.dns_names().empty());
}

TEST_CASE("certificate DER and PEM round trips") {
    TestPki pki;
    CHECK(Certificate::from_der(pki.leaf.to_der()) == pki.leaf);
    CHECK(Certificate::from_pem(pki.leaf.to_pem()) == pki.leaf);
    CHECK_FALSE(pki.leaf == pki.root);

    const std::string bundle = "leading text\n" + pki.leaf.to_pem() + pki.inter2.to_pem() +
                               "between\n" + pki.root.to_pem();
    const auto all = Certificate::all_from_pem(bundle);
    REQUIRE(all.size() == 3);
    CHECK(all[0] == pki.leaf);
    CHECK(all[1] == pki.inter2);
    CHECK(all[2] == pki.root);
    CHECK(Certificate::all_from_pem("no certificates here").empty());

    CHECK(kind_of([] { Certificate::from_pem("nothing", "cert.pem"); }) == ErrorKind::Usage);
    const std::string corrupt = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    CHECK(kind_of([&] { Certificate::all_from_pem(corrupt); }) == ErrorKind::Usage);
    CHECK(kind_of([] {
              Certificate::from_der(Bytes{0x30, 0x03, 0x02, 0x01, 0x01});
          }) == ErrorKind::Protocol);
    Bytes trailing = pki.leaf.to_der();
    trailing.push_back(0);
    CHECK(kind_of([&] { Certificate::from_der(trailing); }) == ErrorKind::Protocol);
    CHECK(kind_of([] { Certificate::from_der({}); }) == ErrorKind::Protocol);
}

// ---- Chains -----------------------------------------------------------------------------------

TEST_CASE("build_chain orders by issuer and signature, never by position") {
    TestPki pki;
    const std::vector<std::string> expected =
        thumbprints({pki.leaf, pki.inter2, pki.inter1, pki.root});
    // Windows order (root first, leaf last), its reverse, and a shuffle.
    CHECK(thumbprints(build_chain(pki.leaf, {pki.root, pki.inter1, pki.inter2, pki.leaf})) ==
          expected);
    CHECK(thumbprints(build_chain(pki.leaf, {pki.leaf, pki.inter2, pki.inter1, pki.root})) ==
          expected);
    CHECK(thumbprints(build_chain(
              pki.leaf, {pki.inter1, pki.root, pki.leaf, pki.inter2, pki.root})) == expected);

    // A gap stops the chain; an impostor with the right name but another key is skipped.
    CHECK(thumbprints(build_chain(pki.leaf, {pki.root, pki.inter1})) == thumbprints({pki.leaf}));
    const PkeyPtr evil_key = make_key();
    const Certificate impostor =
        issue("CN=Test Inter 2,O=Example", evil_key.get(), &pki.inter1, pki.inter1_key.get());
    CHECK(thumbprints(build_chain(pki.leaf, {impostor, pki.root, pki.inter1, pki.inter2})) ==
          expected);
    CHECK(thumbprints(build_chain(pki.leaf, {impostor})) == thumbprints({pki.leaf}));
    // A self-signed certificate is its own chain.
    CHECK(thumbprints(build_chain(pki.root, {pki.inter1, pki.root})) == thumbprints({pki.root}));
}

TEST_CASE("verify_chain accepts a good chain and names the reason otherwise") {
    TestPki pki;
    const auto now = Clock::now();
    CHECK_NOTHROW(verify_chain(pki.leaf, {pki.inter2, pki.inter1}, {pki.root}, now));

    auto reason = [&](const std::vector<Certificate>& intermediates,
                      const std::vector<Certificate>& anchors, Clock::time_point at) {
        try {
            verify_chain(pki.leaf, intermediates, anchors, at);
        } catch (const Error& error) {
            CHECK(error.kind() == ErrorKind::Protocol);
            CHECK(error.message().find("web1.example.com") != std::string::npos);
            return error.message();
        }
        FAIL("the chain verified");
        return std::string();
    };
    auto contains = [](const std::string& text, int code) {
        return text.find(X509_verify_cert_error_string(code)) != std::string::npos;
    };
    CHECK(contains(reason({pki.inter2, pki.inter1}, {}, now),
                   X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY));
    CHECK(contains(reason({pki.inter2}, {pki.root}, now),
                   X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY));
    CHECK(contains(reason({pki.inter2, pki.inter1}, {pki.root}, now + std::chrono::hours(48)),
                   X509_V_ERR_CERT_HAS_EXPIRED));
    CHECK(contains(reason({pki.inter2, pki.inter1}, {pki.root}, now - std::chrono::hours(48)),
                   X509_V_ERR_CERT_NOT_YET_VALID));
}

// ---- PKCS#7 -----------------------------------------------------------------------------------

TEST_CASE("certificates_from_pkcs7 reads a CMC-like response and a certs-only PKCS#7") {
    TestPki pki;
    SUBCASE("CMC Full PKI Response: eContent and signer present") {
        X509StackPtr extra(sk_X509_new_null());
        REQUIRE(X509_add_cert(extra.get(), pki.root.x509(), X509_ADD_FLAG_UP_REF) == 1);
        REQUIRE(X509_add_cert(extra.get(), pki.inter1.x509(), X509_ADD_FLAG_UP_REF) == 1);
        REQUIRE(X509_add_cert(extra.get(), pki.leaf.x509(), X509_ADD_FLAG_UP_REF) == 1);
        const std::string body = "\x30\x03\x02\x01\x00";  // not parsed by the reader
        const BioPtr content = memory_bio(body.data(), body.size());
        CmsPtr cms(CMS_sign(pki.inter2.x509(), pki.inter2_key.get(), extra.get(), nullptr,
                            CMS_BINARY | CMS_PARTIAL));
        REQUIRE(cms);
        const Asn1ObjectPtr pki_response = oid("1.3.6.1.5.5.7.12.3");
        REQUIRE(CMS_set1_eContentType(cms.get(), pki_response.get()) == 1);
        REQUIRE(CMS_final(cms.get(), content.get(), nullptr, CMS_BINARY) == 1);
        const auto certs = certificates_from_pkcs7(der_of(cms.get(), i2d_CMS_ContentInfo));
        auto got = thumbprints(certs);
        auto want = thumbprints({pki.root, pki.inter1, pki.inter2, pki.leaf});
        std::sort(got.begin(), got.end());
        std::sort(want.begin(), want.end());
        CHECK(got == want);
    }
    SUBCASE("certs-only (degenerate) PKCS#7, order kept") {
        OsslPtr<PKCS7, PKCS7_free> p7(PKCS7_new());
        REQUIRE(PKCS7_set_type(p7.get(), NID_pkcs7_signed) == 1);
        REQUIRE(PKCS7_content_new(p7.get(), NID_pkcs7_data) == 1);
        for (const auto* cert : {&pki.root, &pki.inter2, &pki.leaf}) {
            REQUIRE(PKCS7_add_certificate(p7.get(), cert->x509()) == 1);
        }
        Bytes der = der_of(p7.get(), i2d_PKCS7);
        const auto certs = certificates_from_pkcs7(der);
        CHECK(thumbprints(certs) == thumbprints({pki.root, pki.inter2, pki.leaf}));
        der.push_back(0);
        CHECK(kind_of([&] { certificates_from_pkcs7(der); }) == ErrorKind::Protocol);
    }
    SUBCASE("garbage, trailing bytes and other content types are protocol errors") {
        CHECK(kind_of([] { certificates_from_pkcs7({1, 2, 3}); }) == ErrorKind::Protocol);
        CHECK(kind_of([] { certificates_from_pkcs7({}); }) == ErrorKind::Protocol);
        const std::string text = "hello";
        const BioPtr content = memory_bio(text.data(), text.size());
        CmsPtr data(CMS_data_create(content.get(), CMS_BINARY));
        REQUIRE(data);
        CHECK(kind_of([&] { certificates_from_pkcs7(der_of(data.get(), i2d_CMS_ContentInfo)); }) ==
              ErrorKind::Protocol);
        CHECK(kind_of([&] { certificates_from_pkcs7(pki.leaf.to_der()); }) == ErrorKind::Protocol);
    }
}

TEST_CASE("certs-only PKCS#7 written in DER and PEM reads back in the same order") {
    TestPki pki;
    const std::vector<Certificate> bundle{pki.leaf, pki.inter2, pki.inter1, pki.root};
    const Bytes der = certs_only_pkcs7_der(bundle);
    CHECK(thumbprints(certificates_from_pkcs7(der)) == thumbprints(bundle));
    const std::string pem = certs_only_pkcs7_pem(bundle);
    CHECK(pem.starts_with("-----BEGIN PKCS7-----\n"));
    const BioPtr bio = memory_bio(pem.data(), pem.size());
    OsslPtr<PKCS7, PKCS7_free> p7(PEM_read_bio_PKCS7(bio.get(), nullptr, nullptr, nullptr));
    REQUIRE(p7);
    CHECK(der_of(p7.get(), i2d_PKCS7) == der);
    // No signers: a chain file, not a signature over anything.
    CHECK(sk_PKCS7_SIGNER_INFO_num(PKCS7_get_signer_info(p7.get())) == 0);
}

// ---- PKCS#12 ----------------------------------------------------------------------------------

TEST_CASE("build_pfx legacy: 3DES for both bags and a SHA-1 MAC, still readable") {
    TestPki pki;
    const Bytes pfx = build_pfx(pki.leaf_key.get(), pki.leaf, {pki.inter2}, "s3cret", "web1",
                                PfxEncryption::Legacy3Des);
    const PfxContents contents = read_pfx(pfx, "s3cret");
    REQUIRE(contents.key);
    CHECK(EVP_PKEY_eq(contents.key.get(), pki.leaf_key.get()) == 1);
    CHECK(*contents.certificate == pki.leaf);
    CHECK(thumbprints(contents.chain) == thumbprints({pki.inter2}));

    const unsigned char* cursor = pfx.data();
    Pkcs12Ptr parsed(d2i_PKCS12(nullptr, &cursor, static_cast<long>(pfx.size())));
    REQUIRE(parsed);
    const X509_ALGOR* mac_algorithm = nullptr;
    PKCS12_get0_mac(nullptr, &mac_algorithm, nullptr, nullptr, parsed.get());
    REQUIRE(mac_algorithm != nullptr);
    const ASN1_OBJECT* mac_oid = nullptr;
    X509_ALGOR_get0(&mac_oid, nullptr, nullptr, mac_algorithm);
    CHECK(OBJ_obj2nid(mac_oid) == NID_sha1);
    STACK_OF(PKCS7)* safes = PKCS12_unpack_authsafes(parsed.get());
    REQUIRE(safes != nullptr);
    std::vector<int> schemes;
    for (int i = 0; i < sk_PKCS7_num(safes); ++i) {
        PKCS7* safe = sk_PKCS7_value(safes, i);
        if (OBJ_obj2nid(safe->type) == NID_pkcs7_encrypted) {
            const ASN1_OBJECT* algorithm_oid = nullptr;
            X509_ALGOR_get0(&algorithm_oid, nullptr, nullptr,
                            safe->d.encrypted->enc_data->algorithm);
            schemes.push_back(OBJ_obj2nid(algorithm_oid));
        } else if (OBJ_obj2nid(safe->type) == NID_pkcs7_data) {
            STACK_OF(PKCS12_SAFEBAG)* bags = PKCS12_unpack_p7data(safe);
            REQUIRE(bags != nullptr);
            for (int j = 0; j < sk_PKCS12_SAFEBAG_num(bags); ++j) {
                const PKCS12_SAFEBAG* bag = sk_PKCS12_SAFEBAG_value(bags, j);
                if (PKCS12_SAFEBAG_get_nid(bag) == NID_pkcs8ShroudedKeyBag) {
                    const X509_ALGOR* key_algorithm = nullptr;
                    X509_SIG_get0(PKCS12_SAFEBAG_get0_pkcs8(bag), &key_algorithm, nullptr);
                    const ASN1_OBJECT* key_oid = nullptr;
                    X509_ALGOR_get0(&key_oid, nullptr, nullptr, key_algorithm);
                    schemes.push_back(OBJ_obj2nid(key_oid));
                }
            }
            sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
        }
    }
    sk_PKCS7_pop_free(safes, PKCS7_free);
    // The certificates' encrypted bag and the shrouded key bag.
    CHECK(schemes == std::vector<int>{NID_pbe_WithSHA1And3_Key_TripleDES_CBC,
                                      NID_pbe_WithSHA1And3_Key_TripleDES_CBC});
}

TEST_CASE("build_pfx round trip with AES-256 and a SHA-256 MAC") {
    TestPki pki;
    const Bytes pfx = build_pfx(pki.leaf_key.get(), pki.leaf, {pki.inter2, pki.inter1, pki.root},
                                "s3cret", "web1");
    const PfxContents contents = read_pfx(pfx, "s3cret");
    REQUIRE(contents.key);
    CHECK(EVP_PKEY_eq(contents.key.get(), pki.leaf_key.get()) == 1);
    REQUIRE(contents.certificate.has_value());
    CHECK(*contents.certificate == pki.leaf);
    CHECK(contents.friendly_name == "web1");
    auto got = thumbprints(contents.chain);
    auto want = thumbprints({pki.inter2, pki.inter1, pki.root});
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    CHECK(got == want);

    CHECK(kind_of([&] { read_pfx(pfx, "wrong"); }) == ErrorKind::Usage);
    CHECK(kind_of([&] { read_pfx({0x30, 0x00}, "x"); }) == ErrorKind::Local);

    // The MAC digest and the encryption of both bags are the ones promised.
    const unsigned char* cursor = pfx.data();
    Pkcs12Ptr parsed(d2i_PKCS12(nullptr, &cursor, static_cast<long>(pfx.size())));
    REQUIRE(parsed);
    const X509_ALGOR* mac_algorithm = nullptr;
    const ASN1_INTEGER* iterations = nullptr;
    PKCS12_get0_mac(nullptr, &mac_algorithm, nullptr, &iterations, parsed.get());
    REQUIRE(mac_algorithm != nullptr);
    const ASN1_OBJECT* mac_oid = nullptr;
    X509_ALGOR_get0(&mac_oid, nullptr, nullptr, mac_algorithm);
    CHECK(OBJ_obj2nid(mac_oid) == NID_sha256);
    CHECK(ASN1_INTEGER_get(iterations) >= 2048);

    STACK_OF(PKCS7)* safes = PKCS12_unpack_authsafes(parsed.get());
    REQUIRE(safes != nullptr);
    int encrypted = 0;
    for (int i = 0; i < sk_PKCS7_num(safes); ++i) {
        PKCS7* safe = sk_PKCS7_value(safes, i);
        if (OBJ_obj2nid(safe->type) == NID_pkcs7_encrypted) {
            const X509_ALGOR* algorithm = safe->d.encrypted->enc_data->algorithm;
            const ASN1_OBJECT* algorithm_oid = nullptr;
            X509_ALGOR_get0(&algorithm_oid, nullptr, nullptr, algorithm);
            CHECK(OBJ_obj2nid(algorithm_oid) == NID_pbes2);
            ++encrypted;
        }
    }
    sk_PKCS7_pop_free(safes, PKCS7_free);
    CHECK(encrypted == 1);  // the certificates; the key sits in a shrouded (PBES2) bag

    CHECK(kind_of([&] { build_pfx(pki.root_key.get(), pki.leaf, {}, "x", "y"); }) ==
          ErrorKind::Internal);
}
