#include "crypto/external_csr.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

#include "crypto/ossl.hpp"

namespace certenroll::crypto {

namespace {

constexpr const char* kRenewalCertificateOid = "1.3.6.1.4.1.311.13.1";

std::string_view as_text(const Bytes& data) {
    return {reinterpret_cast<const char*>(data.data()), data.size()};
}

X509ReqPtr parse_request(const Bytes& data, std::string_view what) {
    const std::string hint =
        "give a PKCS#10 request (PEM 'BEGIN CERTIFICATE REQUEST' or DER), e.g. from 'openssl req "
        "-new'";
    if (as_text(data).find("-----BEGIN") != std::string_view::npos) {
        const BioPtr bio = memory_bio(data.data(), data.size());
        // PEM_read_bio_X509_REQ accepts both "CERTIFICATE REQUEST" and "NEW CERTIFICATE REQUEST".
        X509ReqPtr request(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
        if (!request) {
            throw_openssl(ErrorKind::Usage,
                          std::string(what) + " holds no readable PEM certificate request", hint);
        }
        return request;
    }
    const unsigned char* cursor = data.data();
    X509ReqPtr request(d2i_X509_REQ(nullptr, &cursor, static_cast<long>(data.size())));
    if (!request) {
        throw_openssl(ErrorKind::Usage, std::string(what) + " is not a PKCS#10 request", hint);
    }
    if (cursor != data.data() + data.size()) {
        throw Error(ErrorKind::Usage, std::string(what) + " has bytes after the DER request", hint);
    }
    return request;
}

// A certificate-shaped holder of the request's subject and requested extensions, never signed
// nor written anywhere: the SAN and template-extension readers of Certificate then serve the
// request too, instead of a second copy of that parsing.
Certificate extension_view(X509_REQ* request) {
    X509Ptr view(X509_new());
    if (!view || X509_set_subject_name(view.get(), X509_REQ_get_subject_name(request)) != 1) {
        throw_openssl(ErrorKind::Internal, "cannot read the request's subject");
    }
    X509ExtensionStackPtr extensions(X509_REQ_get_extensions(request));
    ERR_clear_error();  // null both for "none" and for a malformed extensionRequest
    for (int i = 0; extensions && i < sk_X509_EXTENSION_num(extensions.get()); ++i) {
        if (X509_add_ext(view.get(), sk_X509_EXTENSION_value(extensions.get(), i), -1) != 1) {
            throw_openssl(ErrorKind::Internal, "cannot read the request's extensions");
        }
    }
    return Certificate(view.release());
}

}  // namespace

std::string ExternalCsr::pem() const {
    const std::string b64 = encoding::base64_encode(der);
    std::string text = "-----BEGIN CERTIFICATE REQUEST-----\n";
    for (std::size_t i = 0; i < b64.size(); i += 64)
        text += b64.substr(i, 64) + "\n";
    return text + "-----END CERTIFICATE REQUEST-----\n";
}

ExternalCsr read_external_csr(const Bytes& data, std::string_view what) {
    const X509ReqPtr request = parse_request(data, what);
    ExternalCsr csr;
    csr.der = der_of(request.get(), i2d_X509_REQ);
    EVP_PKEY* key = X509_REQ_get_pubkey(request.get());
    if (key == nullptr) {
        throw_openssl(ErrorKind::Usage, std::string(what) + " carries no usable public key",
                      "make the request again with an RSA or EC key");
    }
    csr.public_key = std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
    // The signature proves the requester holds the private key; a CA refuses the request
    // without it, so a request that fails here is not sent.
    if (X509_REQ_verify(request.get(), key) != 1) {
        ERR_clear_error();
        throw Error(ErrorKind::Usage,
                    "the signature of the request in " + std::string(what) + " does not verify",
                    "the file was changed after it was signed; make the request again");
    }
    const X509_ALGOR* algorithm = nullptr;
    X509_REQ_get0_signature(request.get(), nullptr, &algorithm);
    if (algorithm != nullptr) {
        const ASN1_OBJECT* object = nullptr;
        X509_ALGOR_get0(&object, nullptr, nullptr, algorithm);
        const int nid = OBJ_obj2nid(object);
        csr.signature_algorithm = nid != NID_undef ? OBJ_nid2ln(nid) : oid_text(object);
    }
    const Certificate view = extension_view(request.get());
    if (X509_NAME_entry_count(X509_REQ_get_subject_name(request.get())) > 0)
        csr.subject = view.subject();
    csr.sans = {view.dns_names(), view.ip_addresses(), view.emails(), view.upns(), view.uris()};
    csr.template_name = view.template_name();
    csr.template_id = view.template_id();
    return csr;
}

Bytes add_renewal_certificate(const Bytes& csr_der, const Certificate& renewal_certificate,
                              EVP_PKEY* key, std::string_view hash, bool rsa_pss) {
    const unsigned char* cursor = csr_der.data();
    X509ReqPtr request(d2i_X509_REQ(nullptr, &cursor, static_cast<long>(csr_der.size())));
    if (!request) {
        throw_openssl(ErrorKind::Usage, "the request to renew with is not a PKCS#10 request");
    }
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
    MdCtxPtr context(EVP_MD_CTX_new());
    if (!context) {
        throw_openssl(ErrorKind::Internal, "cannot allocate a signing context");
    }
    begin_signing(context.get(), key, hash, rsa_pss);
    if (X509_REQ_sign_ctx(request.get(), context.get()) <= 0) {
        throw_openssl(ErrorKind::Local,
                      "cannot sign the renewal request with " + std::string(hash));
    }
    return der_of(request.get(), i2d_X509_REQ);
}

std::string public_key_pem(EVP_PKEY* key) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) {
        throw_openssl(ErrorKind::Internal, "cannot encode a public key");
    }
    const Bytes text = bio_contents(bio.get());
    return std::string(text.begin(), text.end());
}

std::shared_ptr<EVP_PKEY> public_key_from_pem(std::string_view pem, std::string_view what) {
    const BioPtr bio = memory_bio(pem.data(), pem.size());
    EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
    if (key == nullptr) {
        throw_openssl(ErrorKind::Local, "no readable public key in " + std::string(what),
                      "the record was changed by hand; submit the request again");
    }
    return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
}

}  // namespace certenroll::crypto
