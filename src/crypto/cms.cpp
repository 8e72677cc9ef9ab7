#include "crypto/cms.hpp"

#include "crypto/csr.hpp"
#include "crypto/ossl.hpp"

namespace certenroll::crypto {

encoding::Bytes sign_renewal_request(const encoding::Bytes& csr_der, const Certificate& old_cert,
                                     EVP_PKEY* old_key, std::string_view hash) {
    if (!old_cert.matches_key(old_key)) {
        throw Error(ErrorKind::Usage,
                    "the key given does not belong to the certificate being renewed (" +
                        old_cert.subject() + ")",
                    "renew with the key file of that certificate");
    }
    const std::string digest = digest_name(hash);
    MdPtr md(EVP_MD_fetch(nullptr, digest.c_str(), nullptr));
    if (!md) {
        throw_openssl(ErrorKind::Local, "digest " + digest + " is not available");
    }
    // CMS_PARTIAL: an empty SignedData to which the signer is added before the content is final.
    constexpr unsigned int kFlags = CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
    CmsPtr cms(CMS_sign(nullptr, nullptr, nullptr, nullptr, kFlags));
    if (!cms) {
        throw_openssl(ErrorKind::Internal, "cannot create a CMS SignedData");
    }
    // No signed attributes: what Windows sends, and the eContent's digest is then signed directly.
    if (CMS_add1_signer(cms.get(), old_cert.x509(), old_key, md.get(),
                        CMS_BINARY | CMS_NOATTR | CMS_PARTIAL) == nullptr) {
        throw_openssl(ErrorKind::Local, "cannot add the renewal signer",
                      "check that the old key supports " + digest + " signatures");
    }
    const BioPtr content = memory_bio(csr_der.data(), csr_der.size());
    if (CMS_final(cms.get(), content.get(), nullptr, CMS_BINARY) != 1) {
        throw_openssl(ErrorKind::Local, "signing the renewal request with the old key failed",
                      "check that the old key is usable (token logged in, TPM reachable)");
    }
    return der_of(cms.get(), i2d_CMS_ContentInfo);
}

}  // namespace certenroll::crypto
