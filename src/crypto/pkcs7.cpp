#include "crypto/pkcs7.hpp"

#include <openssl/err.h>
#include <openssl/objects.h>

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

}  // namespace certenroll::crypto
