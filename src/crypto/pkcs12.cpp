#include "crypto/pkcs12.hpp"

#include <openssl/err.h>
#include <openssl/objects.h>

#include "crypto/ossl.hpp"

namespace certenroll::crypto {

namespace {

// PKCS12 wants NUL-terminated text.
std::string c_string(std::string_view text, std::string_view what) {
    if (text.find('\0') != std::string_view::npos) {
        throw Error(ErrorKind::Usage, std::string(what) + " contains a NUL character",
                    "use printable text");
    }
    return std::string(text);
}

}  // namespace

encoding::Bytes build_pfx(EVP_PKEY* key, const Certificate& cert,
                          const std::vector<Certificate>& chain, std::string_view password,
                          std::string_view friendly_name, PfxEncryption encryption) {
    if (!cert.matches_key(key)) {
        throw Error(ErrorKind::Internal, "the PFX key does not belong to " + cert.subject());
    }
    const std::string pass = c_string(password, "the PFX password");
    const std::string name = c_string(friendly_name, "the PFX friendly name");
    X509StackPtr cas(sk_X509_new_null());
    if (!cas) {
        throw_openssl(ErrorKind::Internal, "cannot allocate a certificate list");
    }
    for (const auto& ca : chain) {
        if (X509_add_cert(cas.get(), ca.x509(), X509_ADD_FLAG_UP_REF) != 1) {
            throw_openssl(ErrorKind::Internal, "cannot collect the PFX chain");
        }
    }
    // The legacy PBE needs no legacy provider: its PKCS12KDF and DES-EDE3-CBC are in OpenSSL 3's
    // default provider (only RC2, RC4 and single DES moved to the legacy one).
    const bool legacy = encryption == PfxEncryption::Legacy3Des;
    const int pbe = legacy ? NID_pbe_WithSHA1And3_Key_TripleDES_CBC : NID_aes_256_cbc;
    // mac_iter -1: no MAC here, so that the MAC digest can be chosen explicitly below.
    Pkcs12Ptr pfx(PKCS12_create_ex(pass.c_str(), name.empty() ? nullptr : name.data(), key,
                                   cert.x509(), cas.get(), pbe, pbe, PKCS12_DEFAULT_ITER, -1, 0,
                                   nullptr, nullptr));
    if (!pfx) {
        throw_openssl(ErrorKind::Local, "cannot build the PFX",
                      "keys that cannot leave their token or TPM cannot go into a PFX; drop "
                      "the PFX output");
    }
    if (PKCS12_set_mac(pfx.get(), pass.c_str(), -1, nullptr, 0, PKCS12_DEFAULT_ITER,
                       legacy ? EVP_sha1() : EVP_sha256()) != 1) {
        throw_openssl(ErrorKind::Internal, "cannot add the PFX MAC");
    }
    return der_of(pfx.get(), i2d_PKCS12);
}

PfxContents read_pfx(const encoding::Bytes& der, std::string_view password) {
    const unsigned char* cursor = der.data();
    Pkcs12Ptr pfx(d2i_PKCS12(nullptr, &cursor, static_cast<long>(der.size())));
    if (!pfx) {
        throw_openssl(ErrorKind::Local, "not a DER PKCS#12 file");
    }
    const std::string pass = c_string(password, "the PFX password");
    if (PKCS12_mac_present(pfx.get()) && PKCS12_verify_mac(pfx.get(), pass.c_str(), -1) != 1) {
        ERR_clear_error();
        throw Error(ErrorKind::Usage, "wrong password for the PFX", "give the PFX's password");
    }
    EVP_PKEY* key = nullptr;
    X509* certificate = nullptr;
    STACK_OF(X509)* cas = nullptr;
    if (PKCS12_parse(pfx.get(), pass.c_str(), &key, &certificate, &cas) != 1) {
        throw_openssl(ErrorKind::Local, "cannot open the PFX");
    }
    PfxContents contents;
    contents.key = std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
    X509StackPtr chain(cas);
    if (certificate != nullptr) {
        int length = 0;
        const unsigned char* alias = X509_alias_get0(certificate, &length);
        if (alias != nullptr && length > 0) {
            contents.friendly_name.assign(reinterpret_cast<const char*>(alias),
                                          static_cast<std::size_t>(length));
        }
        contents.certificate.emplace(certificate);
    }
    while (chain && sk_X509_num(chain.get()) > 0) {
        contents.chain.emplace_back(sk_X509_shift(chain.get()));
    }
    return contents;
}

}  // namespace certenroll::crypto
