#include "auth/channel_binding.hpp"

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "error.hpp"

namespace certenroll::auth {

namespace {

struct X509Deleter {
    void operator()(X509* cert) const { X509_free(cert); }
};

}  // namespace

ChannelBinding tls_server_end_point(const std::vector<std::uint8_t>& certificate_der) {
    const unsigned char* cursor = certificate_der.data();
    const std::unique_ptr<X509, X509Deleter> cert(
        d2i_X509(nullptr, &cursor, static_cast<long>(certificate_der.size())));
    if (!cert || cursor != certificate_der.data() + certificate_der.size()) {
        throw Error(ErrorKind::Tls, "the server's TLS certificate does not parse",
                    "check the server's certificate; run diagnose");
    }
    int signature_hash = NID_undef;
    if (X509_get_signature_info(cert.get(), &signature_hash, nullptr, nullptr, nullptr) != 1)
        signature_hash = NID_undef;
    // RFC 5929 §4.1: MD5 and SHA-1 are replaced by SHA-256; OpenSSL's X509_digest_sig() keeps
    // them, so the choice is made here.
    if (signature_hash == NID_undef || signature_hash == NID_md5 || signature_hash == NID_sha1 ||
        signature_hash == NID_md5_sha1)
        signature_hash = NID_sha256;
    const EVP_MD* md = EVP_get_digestbynid(signature_hash);
    if (md == nullptr)
        md = EVP_sha256();
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (X509_digest(cert.get(), md, hash, &length) != 1) {
        throw Error(ErrorKind::Internal, "cannot hash the server's TLS certificate",
                    "check the OpenSSL installation");
    }
    ChannelBinding binding;
    binding.hash = EVP_MD_get0_name(md);
    std::string data = "tls-server-end-point:";
    data.append(reinterpret_cast<const char*>(hash), length);
    binding.application_data.assign(data.begin(), data.end());
    return binding;
}

}  // namespace certenroll::auth
