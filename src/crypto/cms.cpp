#include "crypto/cms.hpp"

#include <openssl/core_names.h>

#include <array>

#include "crypto/csr.hpp"
#include "crypto/ossl.hpp"

namespace certenroll::crypto {

namespace {

using X509AlgorPtr = OsslPtr<X509_ALGOR, X509_ALGOR_free>;

// The AlgorithmIdentifier the signing context will produce (id-ml-dsa-65, or RSASSA-PSS with its
// parameters), which CMS_add1_signer does not derive for these algorithms.
void set_signature_algorithm(CMS_SignerInfo* signer, EVP_MD_CTX* context) {
    std::array<unsigned char, 256> der{};
    OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID,
                                                             der.data(), der.size()),
                           OSSL_PARAM_construct_end()};
    X509_ALGOR* target = nullptr;
    CMS_SignerInfo_get0_algs(signer, nullptr, nullptr, nullptr, &target);
    if (EVP_PKEY_CTX_get_params(EVP_MD_CTX_get_pkey_ctx(context), params) != 1 ||
        target == nullptr) {
        throw_openssl(ErrorKind::Local, "cannot tell the renewal signature's algorithm");
    }
    const unsigned char* cursor = der.data();
    X509AlgorPtr algorithm(
        d2i_X509_ALGOR(nullptr, &cursor, static_cast<long>(params[0].return_size)));
    const ASN1_OBJECT* object = nullptr;
    int parameter_type = V_ASN1_UNDEF;
    const void* parameter = nullptr;
    if (!algorithm) {
        throw_openssl(ErrorKind::Internal, "cannot decode the renewal signature's algorithm");
    }
    X509_ALGOR_get0(&object, &parameter_type, &parameter, algorithm.get());
    ASN1_TYPE* copy = nullptr;
    if (parameter_type != V_ASN1_UNDEF) {
        copy = ASN1_TYPE_new();
        if (copy == nullptr || ASN1_TYPE_set1(copy, parameter_type, parameter) != 1) {
            ASN1_TYPE_free(copy);
            throw_openssl(ErrorKind::Internal, "cannot copy the renewal signature's parameters");
        }
    }
    ASN1_OBJECT* object_copy = OBJ_dup(object);
    if (object_copy == nullptr ||
        X509_ALGOR_set0(target, object_copy, parameter_type,
                        copy != nullptr ? static_cast<void*>(copy->value.ptr) : nullptr) != 1) {
        throw_openssl(ErrorKind::Internal, "cannot set the renewal signature's algorithm");
    }
    if (copy != nullptr) {
        copy->value.ptr = nullptr;  // now owned by `target`
        ASN1_TYPE_free(copy);
    }
}

// RFC 9882 allows an ML-DSA SignerInfo with or without signed attributes, but OpenSSL 3.5 (3.5.9
// tested) signs and verifies ML-DSA in CMS only with them: without, its CMS code hashes the content
// and hands the digest to EVP_PKEY_sign/EVP_PKEY_verify, which the ML-DSA provider refuses
// ("provider signature not supported ... ML-DSA-65 sign_init", cms_sd.c
// cms_SignerInfo_content_sign; CMS_verify fails the same way). A CA verifying with OpenSSL 3.5
// could not check a signature without them, so ML-DSA signers carry contentType, signingTime and
// messageDigest (SHA-512, as RFC 9882 requires ML-DSA signers to support), and the ML-DSA signature
// covers their DER. ML-DSA keys are software keys here (TPM and PKCS#11 refuse them), so OpenSSL's
// own CMS_final may duplicate the signing context.
encoding::Bytes sign_with_ml_dsa(const encoding::Bytes& csr_der, const Certificate& old_cert,
                                 EVP_PKEY* old_key) {
    MdPtr md(EVP_MD_fetch(nullptr, "SHA512", nullptr));
    if (!md) {
        throw_openssl(ErrorKind::Local, "digest SHA512 is not available");
    }
    constexpr unsigned int kFlags = CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
    CmsPtr cms(CMS_sign_ex(nullptr, nullptr, nullptr, nullptr, kFlags, nullptr, nullptr));
    if (!cms) {
        throw_openssl(ErrorKind::Internal, "cannot create a CMS SignedData");
    }
    if (CMS_add1_signer(cms.get(), old_cert.x509(), old_key, md.get(), kFlags) == nullptr) {
        throw_openssl(ErrorKind::Local, "cannot add the ML-DSA renewal signer");
    }
    BioPtr content = memory_bio(csr_der.data(), csr_der.size());
    if (CMS_final(cms.get(), content.get(), nullptr, CMS_BINARY) != 1) {
        throw_openssl(ErrorKind::Local, "cannot sign the renewal request with the old ML-DSA key");
    }
    return der_of(cms.get(), i2d_CMS_ContentInfo);
}

}  // namespace

encoding::Bytes sign_renewal_request(const encoding::Bytes& csr_der, const Certificate& old_cert,
                                     EVP_PKEY* old_key, std::string_view hash, bool rsa_pss) {
    if (!old_cert.matches_key(old_key)) {
        throw Error(ErrorKind::Usage,
                    "the key given does not belong to the certificate being renewed (" +
                        old_cert.subject() + ")",
                    "renew with the key file of that certificate");
    }
    if (is_ml_dsa(old_key)) {
        return sign_with_ml_dsa(csr_der, old_cert, old_key);
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
    if (!context) {
        throw_openssl(ErrorKind::Internal, "cannot allocate a signing context");
    }
    begin_signing(context.get(), old_key, digest, rsa_pss);
    if (rsa_pss) {
        set_signature_algorithm(signer, context.get());
    }
    std::size_t length = 0;
    if (EVP_DigestSign(context.get(), nullptr, &length, csr_der.data(), csr_der.size()) != 1) {
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
