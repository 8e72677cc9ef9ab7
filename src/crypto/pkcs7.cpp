#include "crypto/pkcs7.hpp"

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>

#include "crypto/ossl.hpp"

namespace certenroll::crypto {

std::vector<Certificate> certificates_from_pkcs7(const encoding::Bytes& der) {
    const char* hint = "the CES response holds a malformed PKCS#7; report it to the CA admins";
    // CMS parsing (not PKCS7) because a CMC response has a non-id-data eContentType, which the
    // PKCS7 parser of OpenSSL cannot represent.
    const BioPtr bio = memory_bio(der.data(), der.size());
    CmsPtr cms(d2i_CMS_bio(bio.get(), nullptr));
    if (!cms) {
        throw_openssl(ErrorKind::Protocol, "the PKCS#7 is not valid DER CMS", hint);
    }
    if (BIO_pending(bio.get()) != 0) {
        throw Error(ErrorKind::Protocol, "trailing bytes after the PKCS#7", hint);
    }
    if (OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_pkcs7_signed) {
        throw Error(
            ErrorKind::Protocol,
            "the PKCS#7 is a " + oid_text(CMS_get0_type(cms.get())) + " content, not a SignedData",
            hint);
    }
    std::vector<Certificate> certificates;
    // CMS_get1_certs returns null both for "no certificates" and on failure.
    X509StackPtr stack(CMS_get1_certs(cms.get()));
    ERR_clear_error();
    if (!stack) {
        return certificates;
    }
    while (sk_X509_num(stack.get()) > 0) {
        certificates.emplace_back(sk_X509_shift(stack.get()));
    }
    return certificates;
}

namespace {

using Pkcs7Ptr = OsslPtr<PKCS7, PKCS7_free>;

Pkcs7Ptr certs_only(const std::vector<Certificate>& certificates) {
    // The PKCS7 (not CMS) API: its PEM writer uses the "PKCS7" label that importers expect.
    Pkcs7Ptr p7(PKCS7_new());
    if (!p7 || PKCS7_set_type(p7.get(), NID_pkcs7_signed) != 1 ||
        PKCS7_content_new(p7.get(), NID_pkcs7_data) != 1) {
        throw_openssl(ErrorKind::Internal, "cannot build a PKCS#7 certificate bundle");
    }
    for (const auto& certificate : certificates) {
        if (PKCS7_add_certificate(p7.get(), certificate.x509()) != 1)
            throw_openssl(ErrorKind::Internal, "cannot add a certificate to a PKCS#7 bundle");
    }
    return p7;
}

}  // namespace

encoding::Bytes certs_only_pkcs7_der(const std::vector<Certificate>& certificates) {
    return der_of(certs_only(certificates).get(), i2d_PKCS7);
}

std::string certs_only_pkcs7_pem(const std::vector<Certificate>& certificates) {
    const auto p7 = certs_only(certificates);
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PKCS7(bio.get(), p7.get()) != 1) {
        throw_openssl(ErrorKind::Internal, "cannot encode a PKCS#7 bundle as PEM");
    }
    const Bytes text = bio_contents(bio.get());
    return std::string(text.begin(), text.end());
}

}  // namespace certenroll::crypto
