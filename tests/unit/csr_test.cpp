#include <doctest/doctest.h>
#include <openssl/err.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "crypto/certificate.hpp"
#include "crypto/cms.hpp"
#include "crypto/csr.hpp"
#include "crypto/external_csr.hpp"
#include "crypto/features.hpp"
#include "crypto/ossl.hpp"
#include "error.hpp"
#include "test_pki.hpp"

using namespace certenroll;
using namespace certenroll::crypto;
using namespace certenroll::test;

namespace {

Bytes utf16_bmp(const std::string& ascii) {
    Bytes out{0x1e, static_cast<std::uint8_t>(ascii.size() * 2)};
    for (const char c : ascii) {
        out.push_back(0);
        out.push_back(static_cast<std::uint8_t>(c));
    }
    return out;
}

X509ReqPtr parse_request(const Bytes& der) {
    const unsigned char* cursor = der.data();
    X509ReqPtr request(d2i_X509_REQ(nullptr, &cursor, static_cast<long>(der.size())));
    REQUIRE(request);
    CHECK(cursor == der.data() + der.size());
    return request;
}

// The inner DER of the request's extension `dotted`, and whether it is critical.
std::pair<Bytes, bool> request_extension(X509_REQ* request, const char* dotted) {
    X509ExtensionStackPtr extensions(X509_REQ_get_extensions(request));
    REQUIRE(extensions);
    const Asn1ObjectPtr type = oid(dotted);
    const int index = X509v3_get_ext_by_OBJ(extensions.get(), type.get(), -1);
    REQUIRE_MESSAGE(index >= 0, "missing extension ", dotted);
    X509_EXTENSION* extension = sk_X509_EXTENSION_value(extensions.get(), index);
    const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(extension);
    const unsigned char* bytes = ASN1_STRING_get0_data(data);
    return {Bytes(bytes, bytes + ASN1_STRING_length(data)),
            X509_EXTENSION_get_critical(extension) == 1};
}

// The complete DER of the first value of attribute `dotted`.
Bytes request_attribute(X509_REQ* request, const char* dotted) {
    const Asn1ObjectPtr type = oid(dotted);
    const int index = X509_REQ_get_attr_by_OBJ(request, type.get(), -1);
    REQUIRE_MESSAGE(index >= 0, "missing attribute ", dotted);
    X509_ATTRIBUTE* attribute = X509_REQ_get_attr(request, index);
    REQUIRE(X509_ATTRIBUTE_count(attribute) == 1);
    return der_of(X509_ATTRIBUTE_get0_type(attribute, 0), i2d_ASN1_TYPE);
}

std::string entry(const X509_NAME* name, int index, int* nid) {
    const X509_NAME_ENTRY* item = X509_NAME_get_entry(name, index);
    REQUIRE(item != nullptr);
    *nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(item));
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(item);
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                       static_cast<std::size_t>(ASN1_STRING_length(data)));
}

}  // namespace

// ---- PKCS#10 ----------------------------------------------------------------------------------

TEST_CASE("build_csr: subject, SANs, template identification, renewal attribute, signature") {
    TestPki pki;
    const PkeyPtr key = make_key(true);
    CsrSpec spec;
    spec.subject = "CN=web1.example.com,OU=Web\\, Ops,O=Example,C=US";
    spec.sans.dns = {"web1.example.com", "*.web.example.com"};
    spec.sans.ip = {"192.0.2.7", "2001:db8::1"};
    spec.sans.email = {"ops@example.com"};
    spec.sans.upn = {"web1$@corp.example.com"};
    spec.sans.uri = {"https://web1.example.com/"};
    spec.template_name = "User";
    spec.template_oid = "1.2.3.4";
    spec.template_major = 100;
    spec.template_minor = 4;
    spec.hash = "SHA384";
    spec.renewal_certificate = pki.leaf.to_der();
    const Bytes der = build_csr(spec, key.get());
    const X509ReqPtr request = parse_request(der);

    // Signed by the key, with the requested digest, carrying its public key.
    CHECK(X509_REQ_verify(request.get(), key.get()) == 1);
    CHECK(EVP_PKEY_eq(X509_REQ_get0_pubkey(request.get()), key.get()) == 1);
    const X509_ALGOR* algorithm = nullptr;
    X509_REQ_get0_signature(request.get(), nullptr, &algorithm);
    const ASN1_OBJECT* signature_oid = nullptr;
    X509_ALGOR_get0(&signature_oid, nullptr, nullptr, algorithm);
    CHECK(OBJ_obj2nid(signature_oid) == NID_sha384WithRSAEncryption);

    // RFC 4514 writes the most specific first: DER order is C, O, OU, CN.
    const X509_NAME* subject = X509_REQ_get_subject_name(request.get());
    REQUIRE(X509_NAME_entry_count(subject) == 4);
    int nid = 0;
    CHECK(entry(subject, 0, &nid) == "US");
    CHECK(nid == NID_countryName);
    CHECK(entry(subject, 1, &nid) == "Example");
    CHECK(nid == NID_organizationName);
    CHECK(entry(subject, 2, &nid) == "Web, Ops");
    CHECK(nid == NID_organizationalUnitName);
    CHECK(entry(subject, 3, &nid) == "web1.example.com");
    CHECK(nid == NID_commonName);

    // SANs, read with OpenSSL's own structures.
    const auto [san_der, san_critical] = request_extension(request.get(), "2.5.29.17");
    CHECK_FALSE(san_critical);
    const unsigned char* cursor = san_der.data();
    GeneralNamesPtr names(d2i_GENERAL_NAMES(nullptr, &cursor, static_cast<long>(san_der.size())));
    REQUIRE(names);
    REQUIRE(sk_GENERAL_NAME_num(names.get()) == 7);
    auto text_of = [](const ASN1_STRING* s) {
        return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                           static_cast<std::size_t>(ASN1_STRING_length(s)));
    };
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), 0);
    CHECK(name->type == GEN_DNS);
    CHECK(text_of(name->d.dNSName) == "web1.example.com");
    name = sk_GENERAL_NAME_value(names.get(), 2);
    REQUIRE(name->type == GEN_IPADD);
    CHECK(hex(ASN1_STRING_get0_data(name->d.iPAddress), 4) == "c0000207");
    name = sk_GENERAL_NAME_value(names.get(), 3);
    REQUIRE(name->type == GEN_IPADD);
    CHECK(ASN1_STRING_length(name->d.iPAddress) == 16);
    name = sk_GENERAL_NAME_value(names.get(), 4);
    CHECK(name->type == GEN_EMAIL);
    CHECK(text_of(name->d.rfc822Name) == "ops@example.com");
    name = sk_GENERAL_NAME_value(names.get(), 5);
    REQUIRE(name->type == GEN_OTHERNAME);
    CHECK(oid_text(name->d.otherName->type_id) == "1.3.6.1.4.1.311.20.2.3");
    REQUIRE(name->d.otherName->value->type == V_ASN1_UTF8STRING);
    CHECK(text_of(name->d.otherName->value->value.utf8string) == "web1$@corp.example.com");
    name = sk_GENERAL_NAME_value(names.get(), 6);
    CHECK(name->type == GEN_URI);
    CHECK(text_of(name->d.uniformResourceIdentifier) == "https://web1.example.com/");

    // v1 template name: exactly the bare BMPString of the spec's example (1E 08 00 55 ...).
    const auto [v1, v1_critical] = request_extension(request.get(), "1.3.6.1.4.1.311.20.2");
    CHECK(v1 == Bytes{0x1e, 0x08, 0x00, 0x55, 0x00, 0x73, 0x00, 0x65, 0x00, 0x72});
    CHECK_FALSE(v1_critical);
    // v2 template: SEQUENCE { OID 1.2.3.4, INTEGER 100, INTEGER 4 }.
    const auto [v2, v2_critical] = request_extension(request.get(), "1.3.6.1.4.1.311.21.7");
    CHECK(v2 ==
          Bytes{0x30, 0x0b, 0x06, 0x03, 0x2a, 0x03, 0x04, 0x02, 0x01, 0x64, 0x02, 0x01, 0x04});
    CHECK_FALSE(v2_critical);

    // Name-value pair: SEQUENCE OF SEQUENCE { BMPString name, BMPString value }.
    Bytes pair = utf16_bmp("CertificateTemplate");
    const Bytes value = utf16_bmp("User");
    pair.insert(pair.end(), value.begin(), value.end());
    Bytes inner{0x30, static_cast<std::uint8_t>(pair.size())};
    inner.insert(inner.end(), pair.begin(), pair.end());
    Bytes outer{0x30, static_cast<std::uint8_t>(inner.size())};
    outer.insert(outer.end(), inner.begin(), inner.end());
    CHECK(request_attribute(request.get(), "1.3.6.1.4.1.311.13.2.1") == outer);
    // Renewal certificate attribute: the old certificate's DER, as is.
    CHECK(request_attribute(request.get(), "1.3.6.1.4.1.311.13.1") == pki.leaf.to_der());
}

TEST_CASE("build_csr: minimal request, EC digests, options off") {
    const PkeyPtr key = make_key();
    for (const auto& [hash, expected] :
         std::vector<std::pair<std::string, int>>{{"SHA256", NID_ecdsa_with_SHA256},
                                                  {"sha-512", NID_ecdsa_with_SHA512},
                                                  {"SHA1", NID_ecdsa_with_SHA1}}) {
        CsrSpec spec;
        spec.hash = hash;
        spec.template_name = "Machine";
        spec.add_name_value_pair = false;
        spec.sans.dns = {"host.example.com"};
        spec.key_usage_signature_only = true;
        const X509ReqPtr request = parse_request(build_csr(spec, key.get()));
        CHECK(X509_REQ_verify(request.get(), key.get()) == 1);
        const X509_ALGOR* algorithm = nullptr;
        X509_REQ_get0_signature(request.get(), nullptr, &algorithm);
        const ASN1_OBJECT* signature_oid = nullptr;
        X509_ALGOR_get0(&signature_oid, nullptr, nullptr, algorithm);
        CHECK(OBJ_obj2nid(signature_oid) == expected);
        CHECK(X509_NAME_entry_count(X509_REQ_get_subject_name(request.get())) == 0);
        // No subject: the SAN carries the identity and is critical (RFC 5280).
        CHECK(request_extension(request.get(), "2.5.29.17").second);
        const auto [usage, usage_critical] = request_extension(request.get(), "2.5.29.15");
        CHECK(usage == Bytes{0x03, 0x02, 0x07, 0x80});  // digitalSignature only
        CHECK(usage_critical);
        CHECK(X509_REQ_get_attr_count(request.get()) == 1);  // only the extension request
        const Asn1ObjectPtr v2 = oid("1.3.6.1.4.1.311.21.7");
        X509ExtensionStackPtr extensions(X509_REQ_get_extensions(request.get()));
        CHECK(X509v3_get_ext_by_OBJ(extensions.get(), v2.get(), -1) < 0);
    }
    // Nothing at all: no extension request either.
    const X509ReqPtr bare = parse_request(build_csr({}, key.get()));
    CHECK(X509_REQ_get_attr_count(bare.get()) == 0);
    CHECK(X509_REQ_verify(bare.get(), key.get()) == 1);
}

TEST_CASE("subject parsing: escapes, quotes, multi-valued RDNs and errors") {
    auto attributes = parse_subject(R"(CN=a\,b , O = x\2Cy\\z,OU="Ops, Web"+UID=u1)");
    REQUIRE(attributes.size() == 4);
    CHECK(attributes[0].type == "CN");
    CHECK(attributes[0].value == "a,b");
    CHECK(attributes[1].value == "x,y\\z");
    CHECK(attributes[2].value == "Ops, Web");
    CHECK_FALSE(attributes[2].joined_to_previous);
    CHECK(attributes[3].type == "UID");
    CHECK(attributes[3].joined_to_previous);
    CHECK(parse_subject("  ").empty());

    const X509NamePtr name(make_x509_name("CN=web1+UID=w,DC=example,DC=com,E=a@example.com"));
    CHECK(X509_NAME_entry_count(name.get()) == 5);
    // Both parts of the multi-valued RDN share one set, encoded last.
    CHECK(X509_NAME_ENTRY_set(X509_NAME_get_entry(name.get(), 3)) ==
          X509_NAME_ENTRY_set(X509_NAME_get_entry(name.get(), 4)));
    CHECK(X509_NAME_ENTRY_set(X509_NAME_get_entry(name.get(), 2)) !=
          X509_NAME_ENTRY_set(X509_NAME_get_entry(name.get(), 3)));
    // The readable form goes back to the text written (RFC 4514 order).
    const X509NamePtr simple(make_x509_name("CN=web1,OU=Web,O=Example,C=US"));
    const PkeyPtr key = make_key();
    const Certificate self = issue("CN=web1,OU=Web,O=Example,C=US", key.get(), nullptr, key.get());
    CHECK(self.subject() == "CN=web1,OU=Web,O=Example,C=US");
    CHECK(X509_NAME_cmp(X509_get_subject_name(self.x509()), simple.get()) == 0);

    for (const char* bad : {"CN", "/CN=web1/O=x", "XYZ=foo", "CN=", "CN=a,", "C=USA", "CN=a\\",
                            "CN=\"open", "CN=a\\q", "=x", "CN=\"a\"b"}) {
        const std::string text = bad;
        CAPTURE(text);
        try {
            make_x509_name(bad);
            FAIL("accepted");
        } catch (const Error& error) {
            CHECK(error.kind() == ErrorKind::Usage);
            CHECK(error.message().find(bad) != std::string::npos);
            CHECK(error.hint().find("CN=") != std::string::npos);
        }
    }
}

TEST_CASE("build_csr refuses bad SANs, hashes and renewal certificates") {
    const PkeyPtr key = make_key();
    auto error_of = [&](const CsrSpec& spec) {
        try {
            build_csr(spec, key.get());
        } catch (const Error& error) {
            CHECK(error.kind() == ErrorKind::Usage);
            return error.message();
        }
        FAIL("accepted");
        return std::string();
    };
    CsrSpec spec;
    spec.sans.ip = {"300.1.2.3"};
    CHECK(error_of(spec).find("300.1.2.3") != std::string::npos);
    spec = {};
    spec.sans.dns = {"bad name.example.com"};
    CHECK(error_of(spec).find("bad name") != std::string::npos);
    spec = {};
    spec.sans.email = {"nobody"};
    CHECK(error_of(spec).find("email") != std::string::npos);
    spec = {};
    spec.sans.upn = {"nodomain"};
    CHECK(error_of(spec).find("upn") != std::string::npos);
    spec = {};
    spec.sans.uri = {"no-scheme"};
    CHECK(error_of(spec).find("uri") != std::string::npos);
    spec = {};
    spec.hash = "MD5";
    CHECK(error_of(spec).find("MD5") != std::string::npos);
    spec = {};
    spec.template_oid = "not.an.oid";
    CHECK(error_of(spec).find("not.an.oid") != std::string::npos);
    spec = {};
    spec.renewal_certificate = {0x30, 0x00};
    CHECK(error_of(spec).find("renew") != std::string::npos);
    spec = {};
    spec.template_name = "\xff\xfe";
    CHECK_FALSE(error_of(spec).empty());
}

TEST_CASE("certificate reads SANs and template extensions a CA copied from our CSR") {
    TestPki pki;
    const PkeyPtr key = make_key();
    CsrSpec spec;
    spec.subject = "CN=user1,O=Example";
    spec.sans = {{"a.example.com"},
                 {"192.0.2.1", "2001:db8::5"},
                 {"u@example.com"},
                 {"user1@corp.example.com"},
                 {"urn:example:1"}};
    spec.template_name = "Benutzer-Ü";
    spec.template_oid = "1.3.6.1.4.1.311.21.8.99.1";
    spec.template_major = 100;
    spec.template_minor = 7;
    const X509ReqPtr request = parse_request(build_csr(spec, key.get()));
    X509ExtensionStackPtr extensions(X509_REQ_get_extensions(request.get()));
    CertOptions options{false, 77};
    options.extensions = extensions.get();
    const Certificate cert =
        issue("CN=user1,O=Example", key.get(), &pki.inter2, pki.inter2_key.get(), options);
    CHECK(cert.dns_names() == std::vector<std::string>{"a.example.com"});
    CHECK(cert.ip_addresses() == std::vector<std::string>{"192.0.2.1", "2001:db8::5"});
    CHECK(cert.emails() == std::vector<std::string>{"u@example.com"});
    CHECK(cert.upns() == std::vector<std::string>{"user1@corp.example.com"});
    CHECK(cert.uris() == std::vector<std::string>{"urn:example:1"});
    CHECK(cert.template_name() == "Benutzer-Ü");
    const TemplateId id = cert.template_id();
    CHECK(id.oid == "1.3.6.1.4.1.311.21.8.99.1");
    CHECK(id.major == 100);
    CHECK(id.minor == 7);
    CHECK(cert.template_oid() == id.oid);
}

// ---- CMS renewal ------------------------------------------------------------------------------

TEST_CASE("sign_renewal_request: SignedData over the CSR, signed by the old key") {
    TestPki pki;
    const PkeyPtr new_key = make_key(true);
    CsrSpec spec;
    spec.renewal_certificate = pki.leaf.to_der();
    const Bytes csr = build_csr(spec, new_key.get());
    const Bytes der = sign_renewal_request(csr, pki.leaf, pki.leaf_key.get(), "SHA256");

    const BioPtr in = memory_bio(der.data(), der.size());
    CmsPtr cms(d2i_CMS_bio(in.get(), nullptr));
    REQUIRE(cms);
    CHECK(OBJ_obj2nid(CMS_get0_type(cms.get())) == NID_pkcs7_signed);
    CHECK(OBJ_obj2nid(CMS_get0_eContentType(cms.get())) == NID_pkcs7_data);
    ASN1_OCTET_STRING** content = CMS_get0_content(cms.get());
    REQUIRE(content != nullptr);
    REQUIRE(*content != nullptr);  // not detached
    const unsigned char* bytes = ASN1_STRING_get0_data(*content);
    CHECK(Bytes(bytes, bytes + ASN1_STRING_length(*content)) == csr);

    X509StackPtr certs(CMS_get1_certs(cms.get()));
    REQUIRE(certs);
    REQUIRE(sk_X509_num(certs.get()) == 1);
    CHECK(X509_cmp(sk_X509_value(certs.get(), 0), pki.leaf.x509()) == 0);

    STACK_OF(CMS_SignerInfo)* signers = CMS_get0_SignerInfos(cms.get());
    REQUIRE(sk_CMS_SignerInfo_num(signers) == 1);
    CMS_SignerInfo* signer = sk_CMS_SignerInfo_value(signers, 0);
    ASN1_OCTET_STRING* key_id = nullptr;
    X509_NAME* issuer = nullptr;
    ASN1_INTEGER* serial = nullptr;
    REQUIRE(CMS_SignerInfo_get0_signer_id(signer, &key_id, &issuer, &serial) == 1);
    CHECK(key_id == nullptr);  // issuerAndSerialNumber
    CHECK(X509_NAME_cmp(issuer, X509_get_issuer_name(pki.leaf.x509())) == 0);
    CHECK(ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(pki.leaf.x509())) == 0);
    CHECK(CMS_signed_get_attr_count(signer) <= 0);
    X509_ALGOR* digest = nullptr;
    CMS_SignerInfo_get0_algs(signer, nullptr, nullptr, &digest, nullptr);
    const ASN1_OBJECT* digest_oid = nullptr;
    X509_ALGOR_get0(&digest_oid, nullptr, nullptr, digest);
    CHECK(OBJ_obj2nid(digest_oid) == NID_sha256);

    // `openssl cms -verify` against the CA chain yields the CSR.
    X509StorePtr store(X509_STORE_new());
    REQUIRE(X509_STORE_add_cert(store.get(), pki.root.x509()) == 1);
    X509StackPtr untrusted(sk_X509_new_null());
    REQUIRE(X509_add_cert(untrusted.get(), pki.inter1.x509(), X509_ADD_FLAG_UP_REF) == 1);
    REQUIRE(X509_add_cert(untrusted.get(), pki.inter2.x509(), X509_ADD_FLAG_UP_REF) == 1);
    BioPtr out(BIO_new(BIO_s_mem()));
    CHECK(CMS_verify(cms.get(), untrusted.get(), store.get(), nullptr, out.get(),
                     CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) == 1);
    CHECK(bio_contents(out.get()) == csr);
    // CMS_verify builds the signer's chain from the store and the CMS's own certificates only.
    REQUIRE(X509_STORE_add_cert(store.get(), pki.inter1.x509()) == 1);
    REQUIRE(X509_STORE_add_cert(store.get(), pki.inter2.x509()) == 1);
    BioPtr chained(BIO_new(BIO_s_mem()));
    CHECK(CMS_verify(cms.get(), untrusted.get(), store.get(), nullptr, chained.get(), CMS_BINARY) ==
          1);
    ERR_clear_error();

    // The wrong key for the old certificate is refused before anything is signed.
    CHECK(kind_of([&] { sign_renewal_request(csr, pki.leaf, new_key.get(), "SHA256"); }) ==
          ErrorKind::Usage);
    CHECK(kind_of([&] { sign_renewal_request(csr, pki.leaf, pki.leaf_key.get(), "MD4"); }) ==
          ErrorKind::Usage);
}

TEST_CASE("read_external_csr: a request made elsewhere, PEM or DER, its facts and its signature") {
    const PkeyPtr key = make_key(true);
    CsrSpec spec;
    spec.subject = "CN=app.example.com,O=Example";
    spec.sans.dns = {"app.example.com"};
    spec.sans.ip = {"192.0.2.9"};
    spec.template_name = "WebServer";
    spec.template_oid = "1.3.6.1.4.1.311.21.8.1.2";
    spec.template_major = 100;
    const Bytes der = build_csr(spec, key.get());

    const ExternalCsr from_der = read_external_csr(der, "app.csr");
    CHECK(from_der.der == der);
    CHECK(EVP_PKEY_eq(from_der.public_key.get(), key.get()) == 1);
    CHECK(from_der.subject == "CN=app.example.com,O=Example");
    CHECK(from_der.sans.dns == std::vector<std::string>{"app.example.com"});
    CHECK(from_der.sans.ip == std::vector<std::string>{"192.0.2.9"});
    CHECK(from_der.template_name == "WebServer");
    CHECK(from_der.template_id.oid == "1.3.6.1.4.1.311.21.8.1.2");
    CHECK(from_der.template_id.major == 100);
    CHECK(from_der.signature_algorithm == "sha256WithRSAEncryption");

    // PEM, and the "NEW CERTIFICATE REQUEST" label older tools write.
    const std::string pem = from_der.pem();
    CHECK(pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----\n"));
    CHECK(read_external_csr(Bytes(pem.begin(), pem.end()), "app.csr").der == der);
    std::string old_label = pem;
    old_label.replace(old_label.find("BEGIN "), 6, "BEGIN NEW ");
    old_label.replace(old_label.find("END "), 4, "END NEW ");
    CHECK(read_external_csr(Bytes(old_label.begin(), old_label.end()), "app.csr").der == der);

    // The public key survives a round trip through its PEM (the pending record's form).
    const auto back = public_key_from_pem(public_key_pem(key.get()), "record");
    CHECK(EVP_PKEY_eq(back.get(), key.get()) == 1);
    CHECK(kind_of([] { public_key_from_pem("junk", "record"); }) == ErrorKind::Local);

    // A minimal request: no subject, no extensions.
    const PkeyPtr ec = make_key();
    const ExternalCsr bare = read_external_csr(build_csr(CsrSpec{}, ec.get()), "bare.csr");
    CHECK(bare.subject.empty());
    CHECK(bare.sans.empty());
    CHECK(bare.template_name.empty());
    CHECK(bare.template_id.oid.empty());
}

TEST_CASE("read_external_csr refuses what is not a request, or one changed after signing") {
    const PkeyPtr key = make_key();
    CsrSpec spec;
    spec.subject = "CN=app.example.com";
    Bytes der = build_csr(spec, key.get());
    CHECK(kind_of([] { read_external_csr({}, "empty.csr"); }) == ErrorKind::Usage);
    CHECK(kind_of([] {
              read_external_csr({0x30, 0x03, 0x02, 0x01, 0x00}, "x.csr");
          }) == ErrorKind::Usage);
    const std::string text = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    CHECK(kind_of([&] { read_external_csr(Bytes(text.begin(), text.end()), "x.csr"); }) ==
          ErrorKind::Usage);
    Bytes trailing = der;
    trailing.push_back(0);
    CHECK(kind_of([&] { read_external_csr(trailing, "x.csr"); }) == ErrorKind::Usage);
    // One letter of the subject changed: the DER still parses, the signature fails.
    const std::string cn = "app.example.com";
    const auto at = std::search(der.begin(), der.end(), cn.begin(), cn.end());
    REQUIRE(at != der.end());
    *at = 'b';
    try {
        read_external_csr(der, "changed.csr");
        FAIL("a changed request was accepted");
    } catch (const Error& error) {
        CHECK(error.kind() == ErrorKind::Usage);
        CHECK(error.message().find("does not verify") != std::string::npos);
    }
}

namespace {

// The dotted OID and whether parameters are present, of an AlgorithmIdentifier.
std::pair<std::string, bool> algorithm_of(const X509_ALGOR* algorithm) {
    const ASN1_OBJECT* object = nullptr;
    int parameter_type = V_ASN1_UNDEF;
    X509_ALGOR_get0(&object, &parameter_type, nullptr, algorithm);
    char text[80];
    OBJ_obj2txt(text, sizeof text, object, 1);
    return {text, parameter_type != V_ASN1_UNDEF};
}

// A self-signed certificate for `key`: the certificate being renewed in the CMS tests.
Certificate self_signed(EVP_PKEY* key, const char* digest) {
    X509Ptr cert(X509_new());
    REQUIRE(cert);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 7);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
    const X509NamePtr subject(make_x509_name("CN=old"));
    REQUIRE(X509_set_subject_name(cert.get(), subject.get()) == 1);
    REQUIRE(X509_set_issuer_name(cert.get(), subject.get()) == 1);
    REQUIRE(X509_set_pubkey(cert.get(), key) == 1);
    const MdPtr md(digest != nullptr ? EVP_MD_fetch(nullptr, digest, nullptr) : nullptr);
    REQUIRE(X509_sign(cert.get(), key, md.get()) > 0);
    return Certificate::from_der(der_of(cert.get(), i2d_X509));
}

}  // namespace

TEST_CASE("build_csr and sign_renewal_request: RSASSA-PSS when asked, for RSA keys only") {
    const PkeyPtr rsa = make_key(true);
    CsrSpec spec;
    spec.subject = "CN=pss";
    spec.rsa_pss = true;
    const Bytes der = build_csr(spec, rsa.get());
    const X509ReqPtr request = parse_request(der);
    CHECK(X509_REQ_get_signature_nid(request.get()) == NID_rsassaPss);
    CHECK(X509_REQ_verify(request.get(), rsa.get()) == 1);
    // The template's flag is ignored by other keys (MS-WCCE §3.1.2.4.2.2.2.8).
    const PkeyPtr ec = make_key(false);
    const X509ReqPtr ec_request = parse_request(build_csr(spec, ec.get()));
    CHECK(X509_REQ_get_signature_nid(ec_request.get()) == NID_ecdsa_with_SHA256);
    const MdCtxPtr context(EVP_MD_CTX_new());
    CHECK(kind_of([&] { begin_signing(context.get(), ec.get(), "SHA256", true); }) ==
          ErrorKind::Usage);

    // A PSS-signed renewal CMS (RFC 4056) that OpenSSL verifies.
    const Certificate old = self_signed(rsa.get(), "SHA256");
    const Bytes cms_der = sign_renewal_request(der, old, rsa.get(), "SHA256", true);
    const BioPtr in = memory_bio(cms_der.data(), cms_der.size());
    CmsPtr cms(d2i_CMS_bio(in.get(), nullptr));
    REQUIRE(cms);
    CMS_SignerInfo* signer = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms.get()), 0);
    X509_ALGOR* signature = nullptr;
    CMS_SignerInfo_get0_algs(signer, nullptr, nullptr, nullptr, &signature);
    const ASN1_OBJECT* signature_oid = nullptr;
    X509_ALGOR_get0(&signature_oid, nullptr, nullptr, signature);
    CHECK(OBJ_obj2nid(signature_oid) == NID_rsassaPss);
    BioPtr out(BIO_new(BIO_s_mem()));
    CHECK(CMS_verify(cms.get(), nullptr, nullptr, nullptr, out.get(),
                     CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) == 1);
    CHECK(bio_contents(out.get()) == der);
    ERR_clear_error();
}

TEST_CASE("ML-DSA requests and renewal CMS (OpenSSL 3.5+ builds)") {
    if (!crypto::kHaveMlDsa)
        return;  // the refusal on older builds is tested with the key backend (unit.keys)
    for (const auto& [name, oid] : {std::pair{"ML-DSA-44", "2.16.840.1.101.3.4.3.17"},
                                    std::pair{"ML-DSA-65", "2.16.840.1.101.3.4.3.18"},
                                    std::pair{"ML-DSA-87", "2.16.840.1.101.3.4.3.19"}}) {
        CAPTURE(std::string(name));
        PkeyCtxPtr context(EVP_PKEY_CTX_new_from_name(nullptr, name, nullptr));
        EVP_PKEY* raw = nullptr;
        REQUIRE(EVP_PKEY_keygen_init(context.get()) == 1);
        REQUIRE(EVP_PKEY_generate(context.get(), &raw) == 1);
        const PkeyPtr key(raw);
        CsrSpec spec;
        spec.subject = "CN=pq";
        spec.hash = "SHA384";  // the template's hash: not used by ML-DSA
        const Bytes der = build_csr(spec, key.get());
        const X509ReqPtr request = parse_request(der);
        const X509_ALGOR* signature_algorithm = nullptr;
        X509_REQ_get0_signature(request.get(), nullptr, &signature_algorithm);
        // RFC 9881: the ML-DSA OID with absent parameters.
        CHECK(algorithm_of(signature_algorithm) == std::pair<std::string, bool>{oid, false});
        CHECK(X509_REQ_verify(request.get(), key.get()) == 1);

        const Certificate old_cert = self_signed(key.get(), nullptr);

        // Renewal CMS (RFC 9882): digestAlgorithm SHA-512, signatureAlgorithm the ML-DSA OID
        // without parameters, signed attributes, and OpenSSL's own CMS_verify accepts it.
        const Bytes cms_der = sign_renewal_request(der, old_cert, key.get(), "SHA256");
        const unsigned char* cursor = cms_der.data();
        const CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &cursor, static_cast<long>(cms_der.size())));
        REQUIRE(cms);
        CMS_SignerInfo* signer = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms.get()), 0);
        REQUIRE(signer != nullptr);
        X509_ALGOR* digest = nullptr;
        X509_ALGOR* signature = nullptr;
        CMS_SignerInfo_get0_algs(signer, nullptr, nullptr, &digest, &signature);
        CHECK(algorithm_of(digest).first == "2.16.840.1.101.3.4.2.3");
        CHECK(algorithm_of(signature) == std::pair<std::string, bool>{oid, false});
        CHECK(CMS_signed_get_attr_count(signer) >= 3);
        BioPtr out(BIO_new(BIO_s_mem()));
        CHECK(CMS_verify(cms.get(), nullptr, nullptr, nullptr, out.get(),
                         CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) == 1);
        CHECK(bio_contents(out.get()) == der);
        ERR_clear_error();
    }
}
