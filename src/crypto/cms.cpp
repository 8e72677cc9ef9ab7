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
    const std::string query = provider_query_for(old_key);  // sign where the key lives
    CmsPtr cms(CMS_sign_ex(nullptr, nullptr, nullptr, nullptr, kFlags, nullptr,
                           query.empty() ? nullptr : query.c_str()));
    if (!cms) {
        throw_openssl(ErrorKind::Internal, "cannot create a CMS SignedData");
    }
    // No signed attributes: what Windows sends, and the eContent's digest is then signed directly.
    CMS_SignerInfo* signer = CMS_add1_signer(cms.get(), old_cert.x509(), old_key, md.get(),
                                             CMS_BINARY | CMS_NOATTR | CMS_PARTIAL);
    if (signer == nullptr) {
        throw_openssl(ErrorKind::Local, "cannot add the renewal signer",
                      "check that the old key supports " + digest + " signatures");
    }
    // The signature is made here in one pass (as for the CSR) instead of by CMS_final, which
    // duplicates signing contexts: TPM and token keys cannot be duplicated.
    MdCtxPtr context(EVP_MD_CTX_new());
    std::size_t length = 0;
    if (!context ||
        EVP_DigestSignInit_ex(context.get(), nullptr, digest.c_str(), nullptr,
                              query.empty() ? nullptr : query.c_str(), old_key, nullptr) != 1 ||
        EVP_DigestSign(context.get(), nullptr, &length, csr_der.data(), csr_der.size()) != 1) {
        throw_openssl(ErrorKind::Local, "cannot sign the renewal request with the old key",
                      "check that the old key is usable (token logged in, TPM reachable)");
    }
    encoding::Bytes signature(length);
    if (EVP_DigestSign(context.get(), signature.data(), &length, csr_der.data(), csr_der.size()) !=
        1) {
        throw_openssl(ErrorKind::Local, "signing the renewal request with the old key failed",
                      "check that the old key is usable (token logged in, TPM reachable)");
    }
    signature.resize(length);
    ASN1_OCTET_STRING** content = CMS_get0_content(cms.get());
    if (content == nullptr) {
        throw_openssl(ErrorKind::Internal, "the CMS SignedData has no content slot");
    }
    if (*content == nullptr)
        *content = ASN1_OCTET_STRING_new();
    if (*content == nullptr ||
        ASN1_OCTET_STRING_set(*content, csr_der.data(), static_cast<int>(csr_der.size())) != 1 ||
        ASN1_STRING_set(CMS_SignerInfo_get0_signature(signer), signature.data(),
                        static_cast<int>(signature.size())) != 1) {
        throw_openssl(ErrorKind::Internal, "cannot assemble the renewal CMS");
    }
    return der_of(cms.get(), i2d_CMS_ContentInfo);
}

}  // namespace certenroll::crypto
