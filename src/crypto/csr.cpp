#include "crypto/csr.hpp"

#include <openssl/err.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "crypto/ossl.hpp"
#include "platform/platform.hpp"

namespace certenroll::crypto {

namespace {

constexpr const char* kTemplateNameOid = "1.3.6.1.4.1.311.20.2";
constexpr const char* kTemplateOid = "1.3.6.1.4.1.311.21.7";
constexpr const char* kNameValuePairOid = "1.3.6.1.4.1.311.13.2.1";
constexpr const char* kRenewalCertificateOid = "1.3.6.1.4.1.311.13.1";
constexpr const char* kUpnOid = "1.3.6.1.4.1.311.20.2.3";
constexpr const char* kSanHint =
    "write SANs as dns=host.example.com, ip=192.0.2.1, email=a@example.com, "
    "upn=user@example.com or uri=https://example.com/";

// DER tag-length-value; the lengths here are far below what needs more than 4 length bytes.
Bytes der_tlv(std::uint8_t tag, const Bytes& content) {
    Bytes out{tag};
    const std::size_t size = content.size();
    if (size < 0x80) {
        out.push_back(static_cast<std::uint8_t>(size));
    } else {
        std::array<std::uint8_t, sizeof(std::size_t)> length{};
        std::size_t count = 0;
        for (std::size_t rest = size; rest != 0; rest >>= 8) {
            length[count++] = static_cast<std::uint8_t>(rest & 0xff);
        }
        out.push_back(static_cast<std::uint8_t>(0x80 | count));
        for (std::size_t i = count; i > 0; --i) {
            out.push_back(length[i - 1]);
        }
    }
    out.insert(out.end(), content.begin(), content.end());
    return out;
}

void append(Bytes& out, const Bytes& more) {
    out.insert(out.end(), more.begin(), more.end());
}

Bytes oid_der(const std::string& dotted, std::string_view what) {
    Asn1ObjectPtr object(OBJ_txt2obj(dotted.c_str(), 1));
    if (!object) {
        ERR_clear_error();
        throw Error(ErrorKind::Usage, std::string(what) + " '" + dotted + "' is not a dotted OID",
                    "give the OID in dotted form, e.g. 1.3.6.1.4.1.311.21.8.1.2");
    }
    return der_of(object.get(), i2d_ASN1_OBJECT);
}

Bytes integer_der(int value) {
    Asn1IntegerPtr integer(ASN1_INTEGER_new());
    if (!integer || ASN1_INTEGER_set_int64(integer.get(), value) != 1) {
        throw_openssl(ErrorKind::Internal, "cannot encode an INTEGER");
    }
    return der_of(integer.get(), i2d_ASN1_INTEGER);
}

bool valid_dns_name(const std::string& name) {
    if (name.empty() || name.size() > 253 || name.front() == '.' || name.back() == '-') {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == '*';
    });
}

void check_san(bool ok, std::string_view kind, const std::string& value,
               std::string_view expected) {
    if (!ok) {
        throw Error(
            ErrorKind::Usage,
            "bad " + std::string(kind) + " SAN '" + value + "': expected " + std::string(expected),
            kSanHint);
    }
}

GeneralNamePtr string_name(int kind, const std::string& value) {
    GeneralNamePtr name(GENERAL_NAME_new());
    Asn1StringPtr text(ASN1_IA5STRING_new());
    if (!name || !text ||
        ASN1_STRING_set(text.get(), value.data(), static_cast<int>(value.size())) != 1) {
        throw_openssl(ErrorKind::Internal, "cannot build a SAN");
    }
    GENERAL_NAME_set0_value(name.get(), kind, text.release());
    return name;
}

GeneralNamePtr ip_name(const std::string& value) {
    const auto address = platform::parse_ip_address(value);
    check_san(address.has_value(), "ip", value,
              "an IPv4 or IPv6 address such as 192.0.2.1 or 2001:db8::1");
    const int size = static_cast<int>(address->size());
    GeneralNamePtr name(GENERAL_NAME_new());
    Asn1OctetStringPtr octets(ASN1_OCTET_STRING_new());
    if (!name || !octets || ASN1_OCTET_STRING_set(octets.get(), address->data(), size) != 1) {
        throw_openssl(ErrorKind::Internal, "cannot build an IP SAN");
    }
    GENERAL_NAME_set0_value(name.get(), GEN_IPADD, octets.release());
    return name;
}

GeneralNamePtr upn_name(const std::string& value) {
    GeneralNamePtr name(GENERAL_NAME_new());
    Asn1TypePtr any(ASN1_TYPE_new());
    Asn1StringPtr text(ASN1_UTF8STRING_new());
    Asn1ObjectPtr type = oid(kUpnOid);
    if (!name || !any || !text ||
        ASN1_STRING_set(text.get(), value.data(), static_cast<int>(value.size())) != 1) {
        throw_openssl(ErrorKind::Internal, "cannot build a UPN SAN");
    }
    ASN1_TYPE_set(any.get(), V_ASN1_UTF8STRING, text.release());
    if (GENERAL_NAME_set0_othername(name.get(), type.get(), any.get()) != 1) {
        throw_openssl(ErrorKind::Internal, "cannot build a UPN SAN");
    }
    static_cast<void>(type.release());
    static_cast<void>(any.release());
    return name;
}

void push(GENERAL_NAMES* names, GeneralNamePtr name) {
    if (sk_GENERAL_NAME_push(names, name.get()) <= 0) {
        throw_openssl(ErrorKind::Internal, "cannot collect SANs");
    }
    static_cast<void>(name.release());
}

GeneralNamesPtr general_names(const SubjectAltNames& sans) {
    GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
    if (!names) {
        throw_openssl(ErrorKind::Internal, "cannot allocate SANs");
    }
    for (const auto& dns : sans.dns) {
        check_san(valid_dns_name(dns), "dns", dns, "a host name such as web1.example.com");
        push(names.get(), string_name(GEN_DNS, dns));
    }
    for (const auto& ip : sans.ip) {
        push(names.get(), ip_name(ip));
    }
    for (const auto& email : sans.email) {
        const bool ok = email.find('@') != std::string::npos &&
                        email.find_first_of(" \t\r\n") == std::string::npos;
        check_san(ok, "email", email, "an address such as user@example.com");
        push(names.get(), string_name(GEN_EMAIL, email));
    }
    for (const auto& upn : sans.upn) {
        check_san(upn.find('@') != std::string::npos, "upn", upn,
                  "a user principal name such as user@example.com");
        push(names.get(), upn_name(upn));
    }
    for (const auto& uri : sans.uri) {
        const auto colon = uri.find(':');
        const bool ok = colon != std::string::npos && colon > 0 &&
                        uri.find_first_of(" \t\r\n") == std::string::npos;
        check_san(ok, "uri", uri, "an absolute URI such as https://example.com/");
        push(names.get(), string_name(GEN_URI, uri));
    }
    return names;
}

// A non-critical extension whose value is the given DER.
void add_raw_extension(STACK_OF(X509_EXTENSION) * extensions, const char* dotted,
                       const Bytes& der) {
    Asn1OctetStringPtr value(ASN1_OCTET_STRING_new());
    const Asn1ObjectPtr type = oid(dotted);
    if (!value ||
        ASN1_OCTET_STRING_set(value.get(), der.data(), static_cast<int>(der.size())) != 1) {
        throw_openssl(ErrorKind::Internal, "cannot build extension " + std::string(dotted));
    }
    X509ExtensionPtr extension(X509_EXTENSION_create_by_OBJ(nullptr, type.get(), 0, value.get()));
    if (!extension || sk_X509_EXTENSION_push(extensions, extension.get()) <= 0) {
        throw_openssl(ErrorKind::Internal, "cannot add extension " + std::string(dotted));
    }
    static_cast<void>(extension.release());
}

X509ExtensionStackPtr extensions_for(const CsrSpec& spec) {
    X509ExtensionStackPtr extensions(sk_X509_EXTENSION_new_null());
    if (!extensions) {
        throw_openssl(ErrorKind::Internal, "cannot allocate extensions");
    }
    STACK_OF(X509_EXTENSION)* raw = extensions.get();
    if (!spec.sans.empty()) {
        // RFC 5280: without a subject, the SAN extension carries the identity and is critical.
        const GeneralNamesPtr names = general_names(spec.sans);
        if (X509V3_add1_i2d(&raw, NID_subject_alt_name, names.get(), spec.subject.empty() ? 1 : 0,
                            X509V3_ADD_DEFAULT) != 1) {
            throw_openssl(ErrorKind::Internal, "cannot add the SAN extension");
        }
    }
    if (spec.key_usage_signature_only) {
        Asn1BitStringPtr usage(ASN1_BIT_STRING_new());
        if (!usage || ASN1_BIT_STRING_set_bit(usage.get(), 0, 1) != 1 ||
            X509V3_add1_i2d(&raw, NID_key_usage, usage.get(), 1, X509V3_ADD_DEFAULT) != 1) {
            throw_openssl(ErrorKind::Internal, "cannot add the keyUsage extension");
        }
    }
    if (!spec.template_name.empty()) {
        // A bare BMPString, as Windows and the spec's own examples encode it (protocol.md §3).
        add_raw_extension(raw, kTemplateNameOid, bmp_string_der(spec.template_name));
    }
    if (!spec.template_oid.empty()) {
        if (spec.template_major < 0 || spec.template_minor < 0) {
            throw Error(ErrorKind::Usage, "negative template version for " + spec.template_oid,
                        "template versions are the policy's revision numbers (0 or more)");
        }
        Bytes content = oid_der(spec.template_oid, "template OID");
        append(content, integer_der(spec.template_major));
        append(content, integer_der(spec.template_minor));
        add_raw_extension(raw, kTemplateOid, der_tlv(0x30, content));
    }
    return extensions;
}

void add_sequence_attribute(X509_REQ* request, const char* dotted, const Bytes& der) {
    const Asn1ObjectPtr type = oid(dotted);
    // V_ASN1_SEQUENCE makes OpenSSL store `der` as the complete encoded value.
    if (X509_REQ_add1_attr_by_OBJ(request, type.get(), V_ASN1_SEQUENCE, der.data(),
                                  static_cast<int>(der.size())) != 1) {
        throw_openssl(ErrorKind::Internal, "cannot add attribute " + std::string(dotted));
    }
}

void check_certificate_der(const Bytes& der) {
    const unsigned char* cursor = der.data();
    X509Ptr certificate(d2i_X509(nullptr, &cursor, static_cast<long>(der.size())));
    if (!certificate || cursor != der.data() + der.size()) {
        ERR_clear_error();
        throw Error(ErrorKind::Usage, "the certificate to renew is not a DER certificate",
                    "pass the PEM or DER file of the certificate being renewed");
    }
}

}  // namespace

std::string digest_name(std::string_view hash) {
    std::string normal;
    for (const char c : hash) {
        if (c != '-' && c != '_') {
            normal += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        }
    }
    if (normal == "SHA256" || normal == "SHA384" || normal == "SHA512" || normal == "SHA1") {
        return normal;
    }
    throw Error(ErrorKind::Usage, "unsupported hash algorithm '" + std::string(hash) + "'",
                "use SHA256, SHA384, SHA512 or SHA1");
}

Bytes bmp_string_der(std::string_view utf8) {
    ASN1_STRING* raw = nullptr;
    if (ASN1_mbstring_copy(&raw, reinterpret_cast<const unsigned char*>(utf8.data()),
                           static_cast<int>(utf8.size()), MBSTRING_UTF8, B_ASN1_BMPSTRING) < 0) {
        ERR_clear_error();
        throw Error(ErrorKind::Usage, "'" + std::string(utf8) + "' cannot be a BMPString",
                    "use valid UTF-8 text with characters from the Basic Multilingual Plane");
    }
    const Asn1StringPtr bmp(raw);
    return der_of(bmp.get(), i2d_ASN1_BMPSTRING);
}

bool is_ml_dsa(EVP_PKEY* key) {
    return EVP_PKEY_is_a(key, "ML-DSA-44") || EVP_PKEY_is_a(key, "ML-DSA-65") ||
           EVP_PKEY_is_a(key, "ML-DSA-87");
}

void begin_signing(EVP_MD_CTX* context, EVP_PKEY* key, std::string_view hash, bool rsa_pss) {
    // ML-DSA signs the message itself (FIPS 204 "pure" mode): OpenSSL refuses a digest for it.
    const bool ml_dsa = is_ml_dsa(key);
    const std::string digest = ml_dsa ? std::string() : digest_name(hash);
    const std::string what = ml_dsa ? std::string(EVP_PKEY_get0_type_name(key)) : digest;
    if (rsa_pss && !EVP_PKEY_is_a(key, "RSA")) {
        throw Error(ErrorKind::Usage, "RSA-PSS signatures need an RSA key",
                    "leave out --signature rsa-pss, or use an RSA key");
    }
    // Signing through an EVP_MD_CTX lets provider keys (TPM, PKCS#11) sign without exposing
    // their internals.
    EVP_PKEY_CTX* key_context = nullptr;
    const std::string query = provider_query_for(key);
    if (EVP_DigestSignInit_ex(context, &key_context, ml_dsa ? nullptr : digest.c_str(), nullptr,
                              query.empty() ? nullptr : query.c_str(), key, nullptr) != 1) {
        throw_openssl(ErrorKind::Local, "cannot sign with " + what,
                      "check that the key supports " + what + " signatures");
    }
    if (rsa_pss && (EVP_PKEY_CTX_set_rsa_padding(key_context, RSA_PKCS1_PSS_PADDING) != 1 ||
                    EVP_PKEY_CTX_set_rsa_pss_saltlen(key_context, RSA_PSS_SALTLEN_DIGEST) != 1)) {
        throw_openssl(ErrorKind::Local, "cannot sign with RSA-PSS",
                      "check that the key supports RSA-PSS (some tokens do not)");
    }
}

Bytes build_csr(const CsrSpec& spec, EVP_PKEY* key) {
    if (key == nullptr) {
        throw Error(ErrorKind::Internal, "build_csr without a key");
    }
    X509ReqPtr request(X509_REQ_new());
    if (!request || X509_REQ_set_version(request.get(), 0) != 1 ||
        X509_REQ_set_pubkey(request.get(), key) != 1) {
        throw_openssl(ErrorKind::Local, "cannot put the public key into the request",
                      "check that the key backend can export the public key");
    }
    const X509NamePtr subject(make_x509_name(spec.subject));
    if (X509_REQ_set_subject_name(request.get(), subject.get()) != 1) {
        throw_openssl(ErrorKind::Internal, "cannot set the request subject");
    }

    const X509ExtensionStackPtr extensions = extensions_for(spec);
    if (sk_X509_EXTENSION_num(extensions.get()) > 0 &&
        X509_REQ_add_extensions(request.get(), extensions.get()) != 1) {
        throw_openssl(ErrorKind::Internal, "cannot add the extension request");
    }
    if (spec.add_name_value_pair && !spec.template_name.empty()) {
        Bytes pair = bmp_string_der("CertificateTemplate");
        append(pair, bmp_string_der(spec.template_name));
        add_sequence_attribute(request.get(), kNameValuePairOid,
                               der_tlv(0x30, der_tlv(0x30, pair)));
    }
    if (!spec.renewal_certificate.empty()) {
        check_certificate_der(spec.renewal_certificate);
        add_sequence_attribute(request.get(), kRenewalCertificateOid, spec.renewal_certificate);
    }

    MdCtxPtr context(EVP_MD_CTX_new());
    if (!context) {
        throw_openssl(ErrorKind::Internal, "cannot allocate a signing context");
    }
    begin_signing(context.get(), key, spec.hash, spec.rsa_pss && EVP_PKEY_is_a(key, "RSA"));
    if (X509_REQ_sign_ctx(request.get(), context.get()) <= 0) {
        throw_openssl(ErrorKind::Local, "signing the request failed",
                      "check that the key is usable (token logged in, TPM reachable)");
    }
    return der_of(request.get(), i2d_X509_REQ);
}

}  // namespace certenroll::crypto
