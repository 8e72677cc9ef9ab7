#pragma once
/// Checks a CSR signed by a device key (PKCS#11 token, TPM) with plain OpenSSL in software.

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <vector>

namespace certenroll::test {

/// True when `der` is a CSR carrying exactly `key`'s public key and its signature verifies with
/// that public key, taken out of the device into a software key first.
inline bool csr_signed_by(const std::vector<unsigned char>& der, EVP_PKEY* key) {
    const unsigned char* in = der.data();
    const std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> request(
        d2i_X509_REQ(nullptr, &in, static_cast<long>(der.size())), X509_REQ_free);
    if (!request)
        return false;
    const auto public_der = [](EVP_PKEY* pkey) {
        unsigned char* out = nullptr;
        const int length = i2d_PUBKEY(pkey, &out);
        std::vector<unsigned char> bytes(out, out + (length > 0 ? length : 0));
        OPENSSL_free(out);
        return bytes;
    };
    const auto expected = public_der(key);
    if (expected.empty() || public_der(X509_REQ_get0_pubkey(request.get())) != expected)
        return false;
    const unsigned char* p = expected.data();
    const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> software(
        d2i_PUBKEY(nullptr, &p, static_cast<long>(expected.size())), EVP_PKEY_free);
    return software && X509_REQ_verify(request.get(), software.get()) == 1;
}

}  // namespace certenroll::test
