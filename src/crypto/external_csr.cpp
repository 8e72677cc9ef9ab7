#include "crypto/external_csr.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

#include "crypto/csr.hpp"
#include "crypto/ossl.hpp"

namespace certenroll::crypto {

namespace {

constexpr const char* kRenewalCertificateOid = "1.3.6.1.4.1.311.13.1";

X509ReqPtr decode(const Bytes& der) {
    const unsigned char* cursor = der.data();
    X509ReqPtr request(d2i_X509_REQ(nullptr, &cursor, static_cast<long>(der.size())));
    if (!request || cursor != der.data() + der.size()) {
        ERR_clear_error();
        return nullptr;
    }
    return request;
}

// PEM (either label, as openssl and certmonger write them) or DER, to DER.
Bytes der_of_text(std::string_view text) {
    if (text.find("-----BEGIN") == std::string_view::npos)
        return Bytes(text.begin(), text.end());
    BioPtr bio = memory_bio(text.data(), text.size());
    X509ReqPtr request(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
    if (!request) {
        ERR_clear_error();
        return {};
    }
    return der_of(request.get(), i2d_X509_REQ);
}

std::string subject_text(const X509_NAME* name) {
    if (X509_NAME_entry_count(name) == 0)
        return {};
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0)
        throw_openssl(ErrorKind::Internal, "cannot print a request's subject");
    const Bytes text = bio_contents(bio.get());
    return std::string(text.begin(), text.end());
}

}  // namespace

ExternalCsr read_external_csr(std::string_view pem_or_der, std::string_view what) {
    const std::string hint = "give a PKCS#10 certificate request, PEM or DER";
    Bytes der = der_of_text(pem_or_der);
    X509ReqPtr request = der.empty() ? nullptr : decode(der);
    if (!request)
        throw Error(ErrorKind::Usage, std::string(what) + " is not a PKCS#10 request", hint);
    EVP_PKEY* key = X509_REQ_get0_pubkey(request.get());
    if (key == nullptr || X509_REQ_verify(request.get(), key) != 1) {
        ERR_clear_error();
        throw Error(ErrorKind::Usage,
                    std::string(what) + " is not signed by its own key (damaged or altered)", hint);
    }
    EVP_PKEY_up_ref(key);
    return {std::move(der), std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free),
            subject_text(X509_REQ_get_subject_name(request.get()))};
}

Bytes add_renewal_certificate(const Bytes& csr_der, const Certificate& renewal_certificate,
                              EVP_PKEY* key, std::string_view hash) {
    X509ReqPtr request = decode(csr_der);
    if (!request)
        throw Error(ErrorKind::Usage, "the request to renew with is not a PKCS#10 request");
    if (EVP_PKEY_eq(X509_REQ_get0_pubkey(request.get()), key) != 1) {
        ERR_clear_error();
        throw Error(ErrorKind::Usage, "the key given is not the key of the certificate request",
                    "a renewal request can only be signed again with its own key");
    }
    const Bytes certificate = renewal_certificate.to_der();
    const Asn1ObjectPtr type = oid(kRenewalCertificateOid);
    // V_ASN1_SEQUENCE stores the certificate's DER as the complete encoded value.
    if (X509_REQ_add1_attr_by_OBJ(request.get(), type.get(), V_ASN1_SEQUENCE, certificate.data(),
                                  static_cast<int>(certificate.size())) != 1) {
        throw_openssl(ErrorKind::Internal, "cannot add the renewal certificate attribute");
    }
    // Signed through an EVP_MD_CTX, as build_csr does, so that device keys sign in place.
    const std::string digest = digest_name(hash);
    const std::string query = provider_query_for(key);
    MdCtxPtr context(EVP_MD_CTX_new());
    if (!context ||
        EVP_DigestSignInit_ex(context.get(), nullptr, digest.c_str(), nullptr,
                              query.empty() ? nullptr : query.c_str(), key, nullptr) != 1 ||
        X509_REQ_sign_ctx(request.get(), context.get()) <= 0) {
        throw_openssl(ErrorKind::Local, "cannot sign the renewal request with " + digest);
    }
    return der_of(request.get(), i2d_X509_REQ);
}

}  // namespace certenroll::crypto
