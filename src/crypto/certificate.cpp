#include "crypto/certificate.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>
#include <climits>

#include "crypto/ossl.hpp"
#include "encoding/time_text.hpp"
#include "platform/platform.hpp"

namespace certenroll::crypto {

namespace {

constexpr const char* kUpnOid = "1.3.6.1.4.1.311.20.2.3";
constexpr const char* kTemplateNameOid = "1.3.6.1.4.1.311.20.2";
constexpr const char* kTemplateOid = "1.3.6.1.4.1.311.21.7";

std::string name_text(const X509_NAME* name) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio) {
        throw_openssl(ErrorKind::Internal, "cannot allocate a memory BIO");
    }
    // RFC 2253 flags give RFC 4514 order and escaping; without ESC_MSB, UTF-8 stays readable.
    if (X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
        throw_openssl(ErrorKind::Protocol, "cannot print a certificate name");
    }
    const Bytes text = bio_contents(bio.get());
    return std::string(text.begin(), text.end());
}

std::string utf8_of(const ASN1_STRING* string) {
    unsigned char* utf8 = nullptr;
    const int length = ASN1_STRING_to_UTF8(&utf8, string);
    if (length < 0) {
        ERR_clear_error();
        return {};
    }
    std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
    OPENSSL_free(utf8);
    return out;
}

Certificate::TimePoint time_point_of(const ASN1_TIME* time) {
    std::tm tm{};
    if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
        throw_openssl(ErrorKind::Protocol, "malformed validity time in a certificate");
    }
    using namespace std::chrono;
    return encoding::utc_time_point(year{tm.tm_year + 1900} /
                                        month{static_cast<unsigned>(tm.tm_mon + 1)} /
                                        day{static_cast<unsigned>(tm.tm_mday)},
                                    tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string ip_text(const ASN1_OCTET_STRING* ip) {
    const unsigned char* bytes = ASN1_STRING_get0_data(ip);
    const int length = ASN1_STRING_length(ip);
    const std::string text =
        platform::ip_address_text(std::vector<std::uint8_t>(bytes, bytes + std::max(length, 0)));
    return !text.empty() ? text : "#" + hex(bytes, static_cast<std::size_t>(std::max(length, 0)));
}

// The SANs of `kind` as text; for GEN_OTHERNAME only UPNs are returned.
std::vector<std::string> san_values(X509* x509, int kind) {
    std::vector<std::string> values;
    GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(x509, NID_subject_alt_name, nullptr, nullptr)));
    if (!names) {
        ERR_clear_error();
        return values;
    }
    const Asn1ObjectPtr upn_oid = oid(kUpnOid);
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
        if (name->type != kind) {
            continue;
        }
        switch (kind) {
            case GEN_DNS:
                values.push_back(utf8_of(name->d.dNSName));
                break;
            case GEN_EMAIL:
                values.push_back(utf8_of(name->d.rfc822Name));
                break;
            case GEN_URI:
                values.push_back(utf8_of(name->d.uniformResourceIdentifier));
                break;
            case GEN_IPADD:
                values.push_back(ip_text(name->d.iPAddress));
                break;
            case GEN_OTHERNAME: {
                const OTHERNAME* other = name->d.otherName;
                if (OBJ_cmp(other->type_id, upn_oid.get()) == 0 && other->value != nullptr &&
                    other->value->type == V_ASN1_UTF8STRING) {
                    values.push_back(utf8_of(other->value->value.utf8string));
                }
                break;
            }
            default:
                break;
        }
    }
    return values;
}

// The extension's inner DER (the OCTET STRING's content), or empty when absent.
Bytes extension_value(X509* x509, const char* dotted) {
    const Asn1ObjectPtr object = oid(dotted);
    const int index = X509_get_ext_by_OBJ(x509, object.get(), -1);
    if (index < 0) {
        return {};
    }
    const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(X509_get_ext(x509, index));
    const unsigned char* bytes = ASN1_STRING_get0_data(data);
    return Bytes(bytes, bytes + ASN1_STRING_length(data));
}

Asn1TypePtr parse_any(const Bytes& der) {
    const unsigned char* cursor = der.data();
    Asn1TypePtr value(d2i_ASN1_TYPE(nullptr, &cursor, static_cast<long>(der.size())));
    if (!value) {
        ERR_clear_error();
    }
    return value;
}

Asn1SequencePtr parse_sequence(const Bytes& der) {
    const unsigned char* cursor = der.data();
    Asn1SequencePtr sequence(
        d2i_ASN1_SEQUENCE_ANY(nullptr, &cursor, static_cast<long>(der.size())));
    if (!sequence) {
        ERR_clear_error();
    }
    return sequence;
}

}  // namespace

Certificate::Certificate(X509* x509) : x509_(x509, X509_free) {
    if (x509 == nullptr) {
        throw Error(ErrorKind::Internal, "null certificate");
    }
}

Certificate Certificate::from_der(const Bytes& der) {
    const unsigned char* cursor = der.data();
    X509* x509 =
        d2i_X509(nullptr, &cursor, static_cast<long>(std::min<std::size_t>(der.size(), LONG_MAX)));
    if (x509 == nullptr) {
        throw_openssl(ErrorKind::Protocol, "not a DER X.509 certificate",
                      "the server sent a malformed certificate; report it to the CA admins");
    }
    Certificate certificate(x509);
    if (cursor != der.data() + der.size()) {
        throw Error(ErrorKind::Protocol, "trailing bytes after a DER certificate",
                    "the server sent a malformed certificate; report it to the CA admins");
    }
    return certificate;
}

Certificate Certificate::from_pem(std::string_view pem, std::string_view what) {
    auto certificates = all_from_pem(pem, what);
    if (certificates.empty()) {
        throw Error(ErrorKind::Usage, "no PEM certificate in " + std::string(what),
                    "give a file with a -----BEGIN CERTIFICATE----- block");
    }
    return certificates.front();
}

std::vector<Certificate> Certificate::all_from_pem(std::string_view pem, std::string_view what) {
    std::vector<Certificate> certificates;
    const BioPtr bio = memory_bio(pem.data(), pem.size());
    ERR_clear_error();
    while (X509* x509 = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
        certificates.emplace_back(x509);
    }
    // Running out of BEGIN lines is the normal end; anything else is a corrupt block.
    const unsigned long error = ERR_peek_last_error();
    if (error != 0 &&
        !(ERR_GET_LIB(error) == ERR_LIB_PEM && ERR_GET_REASON(error) == PEM_R_NO_START_LINE)) {
        throw_openssl(ErrorKind::Usage, "corrupt PEM certificate in " + std::string(what),
                      "check that the file holds complete PEM certificates");
    }
    ERR_clear_error();
    return certificates;
}

Bytes Certificate::to_der() const {
    return der_of(x509_.get(), i2d_X509);
}

std::string Certificate::to_pem() const {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), x509_.get()) != 1) {
        throw_openssl(ErrorKind::Internal, "cannot write a certificate as PEM");
    }
    const Bytes text = bio_contents(bio.get());
    return std::string(text.begin(), text.end());
}

std::string Certificate::subject() const {
    return name_text(X509_get_subject_name(x509_.get()));
}

std::string Certificate::issuer() const {
    return name_text(X509_get_issuer_name(x509_.get()));
}

std::string Certificate::common_name() const {
    const X509_NAME* name = X509_get_subject_name(x509_.get());
    int index = -1;
    int last = -1;
    while ((index = X509_NAME_get_index_by_NID(name, NID_commonName, index)) >= 0) {
        last = index;
    }
    if (last < 0) {
        return {};
    }
    return utf8_of(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, last)));
}

std::string Certificate::serial_hex() const {
    const ASN1_INTEGER* serial = X509_get0_serialNumber(x509_.get());
    return hex(ASN1_STRING_get0_data(serial), static_cast<std::size_t>(ASN1_STRING_length(serial)));
}

Certificate::TimePoint Certificate::not_before() const {
    return time_point_of(X509_get0_notBefore(x509_.get()));
}

Certificate::TimePoint Certificate::not_after() const {
    return time_point_of(X509_get0_notAfter(x509_.get()));
}

std::string Certificate::sha1_thumbprint() const {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (X509_digest(x509_.get(), EVP_sha1(), digest, &length) != 1) {
        throw_openssl(ErrorKind::Internal, "cannot hash a certificate");
    }
    return hex(digest, length);
}

std::string Certificate::sha256_thumbprint() const {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (X509_digest(x509_.get(), EVP_sha256(), digest, &length) != 1) {
        throw_openssl(ErrorKind::Internal, "cannot hash a certificate");
    }
    return hex(digest, length);
}

std::vector<std::string> Certificate::dns_names() const {
    return san_values(x509_.get(), GEN_DNS);
}

std::vector<std::string> Certificate::ip_addresses() const {
    return san_values(x509_.get(), GEN_IPADD);
}

std::vector<std::string> Certificate::emails() const {
    return san_values(x509_.get(), GEN_EMAIL);
}

std::vector<std::string> Certificate::upns() const {
    return san_values(x509_.get(), GEN_OTHERNAME);
}

std::vector<std::string> Certificate::uris() const {
    return san_values(x509_.get(), GEN_URI);
}

std::string Certificate::template_name() const {
    const Bytes value = extension_value(x509_.get(), kTemplateNameOid);
    if (value.empty()) {
        return {};
    }
    Asn1TypePtr any = parse_any(value);
    if (!any) {
        return {};
    }
    // Real requests and certificates carry a bare BMPString; MS-WCCE's text describes a
    // SEQUENCE { UTF8String }: read both.
    if (any->type == V_ASN1_SEQUENCE) {
        const ASN1_STRING* sequence = any->value.sequence;
        const unsigned char* bytes = ASN1_STRING_get0_data(sequence);
        Asn1SequencePtr items = parse_sequence(Bytes(bytes, bytes + ASN1_STRING_length(sequence)));
        if (!items || sk_ASN1_TYPE_num(items.get()) < 1) {
            return {};
        }
        const ASN1_TYPE* first = sk_ASN1_TYPE_value(items.get(), 0);
        if (first->type == V_ASN1_BMPSTRING || first->type == V_ASN1_UTF8STRING) {
            return utf8_of(first->value.asn1_string);
        }
        return {};
    }
    if (any->type == V_ASN1_BMPSTRING || any->type == V_ASN1_UTF8STRING ||
        any->type == V_ASN1_PRINTABLESTRING || any->type == V_ASN1_IA5STRING) {
        return utf8_of(any->value.asn1_string);
    }
    return {};
}

TemplateId Certificate::template_id() const {
    TemplateId id;
    const Bytes value = extension_value(x509_.get(), kTemplateOid);
    Asn1SequencePtr items = value.empty() ? nullptr : parse_sequence(value);
    if (!items || sk_ASN1_TYPE_num(items.get()) < 1) {
        return id;
    }
    const ASN1_TYPE* first = sk_ASN1_TYPE_value(items.get(), 0);
    if (first->type != V_ASN1_OBJECT) {
        return id;
    }
    id.oid = oid_text(first->value.object);
    auto version = [&items](int index) {
        if (sk_ASN1_TYPE_num(items.get()) <= index) {
            return 0;
        }
        const ASN1_TYPE* item = sk_ASN1_TYPE_value(items.get(), index);
        std::int64_t number = 0;
        if (item->type != V_ASN1_INTEGER ||
            ASN1_INTEGER_get_int64(&number, item->value.integer) != 1 || number < 0 ||
            number > INT_MAX) {
            ERR_clear_error();
            return 0;
        }
        return static_cast<int>(number);
    };
    id.major = version(1);
    id.minor = version(2);
    return id;
}

bool Certificate::matches_key(EVP_PKEY* key) const {
    const EVP_PKEY* public_key = X509_get0_pubkey(x509_.get());
    const bool equal = key != nullptr && public_key != nullptr && EVP_PKEY_eq(public_key, key) == 1;
    ERR_clear_error();
    return equal;
}

bool Certificate::is_issued_by(const Certificate& issuer) const {
    // X509_check_issued compares names and, where present, key identifiers and key usage.
    bool issued = X509_check_issued(issuer.x509(), x509_.get()) == X509_V_OK;
    if (issued) {
        EVP_PKEY* issuer_key = X509_get0_pubkey(issuer.x509());
        issued = issuer_key != nullptr && X509_verify(x509_.get(), issuer_key) == 1;
    }
    ERR_clear_error();
    return issued;
}

bool Certificate::is_self_issued() const {
    const bool self_issued = X509_check_issued(x509_.get(), x509_.get()) == X509_V_OK;
    ERR_clear_error();
    return self_issued;
}

bool Certificate::operator==(const Certificate& other) const {
    return X509_cmp(x509_.get(), other.x509()) == 0;
}

std::vector<Certificate> build_chain(const Certificate& leaf,
                                     const std::vector<Certificate>& pool) {
    std::vector<Certificate> chain{leaf};
    auto in_chain = [&chain](const Certificate& candidate) {
        return std::find(chain.begin(), chain.end(), candidate) != chain.end();
    };
    // Each step adds a new certificate, so the loop ends after at most pool.size() steps.
    while (!chain.back().is_self_issued()) {
        const Certificate& current = chain.back();
        const auto issuer = std::find_if(pool.begin(), pool.end(), [&](const Certificate& c) {
            return !in_chain(c) && current.is_issued_by(c);
        });
        if (issuer == pool.end()) {
            break;
        }
        chain.push_back(*issuer);
    }
    return chain;
}

namespace {

void verify_in_store(X509_STORE* store, const Certificate& leaf,
                     const std::vector<Certificate>& intermediates, Certificate::TimePoint now);

}  // namespace

void verify_chain(const Certificate& leaf, const std::vector<Certificate>& intermediates,
                  const std::vector<Certificate>& anchors, Certificate::TimePoint now) {
    X509StorePtr store(X509_STORE_new());
    if (!store)
        throw_openssl(ErrorKind::Internal, "cannot allocate a certificate store");
    for (const auto& anchor : anchors) {
        if (X509_STORE_add_cert(store.get(), anchor.x509()) != 1) {
            ERR_clear_error();  // the same anchor twice is harmless
        }
    }
    verify_in_store(store.get(), leaf, intermediates, now);
}

void verify_chain_to_platform_trust(const Certificate& leaf,
                                    const std::vector<Certificate>& intermediates,
                                    Certificate::TimePoint now) {
    X509StorePtr store(X509_STORE_new());
    if (!store)
        throw_openssl(ErrorKind::Internal, "cannot allocate a certificate store");
    // OpenSSL's default file and directory (SSL_CERT_FILE / SSL_CERT_DIR when set).
    if (X509_STORE_set_default_paths(store.get()) != 1)
        ERR_clear_error();  // no system store: nothing verifies, reported below
    verify_in_store(store.get(), leaf, intermediates, now);
}

namespace {

void verify_in_store(X509_STORE* store, const Certificate& leaf,
                     const std::vector<Certificate>& intermediates, Certificate::TimePoint now) {
    X509StackPtr untrusted(sk_X509_new_null());
    X509StoreCtxPtr context(X509_STORE_CTX_new());
    if (!untrusted || !context) {
        throw_openssl(ErrorKind::Internal, "cannot allocate a certificate store");
    }
    for (const auto& intermediate : intermediates) {
        if (X509_add_cert(untrusted.get(), intermediate.x509(), X509_ADD_FLAG_UP_REF) != 1) {
            throw_openssl(ErrorKind::Internal, "cannot collect intermediate certificates");
        }
    }
    if (X509_STORE_CTX_init(context.get(), store, leaf.x509(), untrusted.get()) != 1) {
        throw_openssl(ErrorKind::Internal, "cannot set up certificate verification");
    }
    X509_STORE_CTX_set_time(context.get(), 0, std::chrono::system_clock::to_time_t(now));
    if (X509_verify_cert(context.get()) == 1) {
        ERR_clear_error();
        return;
    }
    const int code = X509_STORE_CTX_get_error(context.get());
    const int depth = X509_STORE_CTX_get_error_depth(context.get());
    X509* culprit = X509_STORE_CTX_get_current_cert(context.get());
    std::string message = "the certificate chain of '" + leaf.subject() +
                          "' does not verify: " + X509_verify_cert_error_string(code);
    if (culprit != nullptr && depth > 0) {
        message += " (at '" + name_text(X509_get_subject_name(culprit)) + "')";
    }
    ERR_clear_error();
    throw Error(ErrorKind::Protocol, message,
                "check that the CA certificates given are the ones that issued it, and the clock");
}

}  // namespace

}  // namespace certenroll::crypto
