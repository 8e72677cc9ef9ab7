#include "crypto/ossl.hpp"

#include <openssl/err.h>
#include <openssl/objects.h>

#include <algorithm>
#include <array>
#include <climits>

namespace certenroll::crypto {

std::string take_openssl_error() {
    const unsigned long code = ERR_get_error();
    std::string reason;
    if (code != 0) {
        const char* text = ERR_reason_error_string(code);
        if (text != nullptr) {
            reason = text;
        } else {
            std::array<char, 256> buffer{};
            ERR_error_string_n(code, buffer.data(), buffer.size());
            reason = buffer.data();
        }
    }
    // Later entries are consequences of the first; leaving them would taint the next call.
    ERR_clear_error();
    return reason;
}

std::string provider_query_for(EVP_PKEY* key) {
    const OSSL_PROVIDER* provider = key ? EVP_PKEY_get0_provider(key) : nullptr;
    const char* name = provider ? OSSL_PROVIDER_get0_name(provider) : nullptr;
    if (!name || std::string_view(name) == "default")
        return {};
    return "?provider=" + std::string(name);
}

void throw_openssl(ErrorKind kind, std::string what, std::string hint) {
    const std::string reason = take_openssl_error();
    if (!reason.empty()) {
        what += ": " + reason;
    }
    throw Error(kind, std::move(what), std::move(hint));
}

BioPtr memory_bio(const void* data, std::size_t size) {
    if (size > static_cast<std::size_t>(INT_MAX)) {
        throw Error(ErrorKind::Local,
                    "data too large for OpenSSL (" + std::to_string(size) + " bytes)");
    }
    // BIO_new_mem_buf refuses a null buffer, which an empty vector may have.
    static constexpr char kEmpty = 0;
    BioPtr bio(BIO_new_mem_buf(size == 0 ? &kEmpty : data, static_cast<int>(size)));
    if (!bio) {
        throw_openssl(ErrorKind::Internal, "cannot allocate a memory BIO");
    }
    return bio;
}

Bytes bio_contents(BIO* bio) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    if (size <= 0 || data == nullptr) {
        return {};
    }
    return Bytes(reinterpret_cast<const std::uint8_t*>(data),
                 reinterpret_cast<const std::uint8_t*>(data) + size);
}

Asn1ObjectPtr oid(const char* dotted) {
    Asn1ObjectPtr object(OBJ_txt2obj(dotted, 1));
    if (!object) {
        throw_openssl(ErrorKind::Internal, std::string("malformed OID literal ") + dotted);
    }
    return object;
}

std::string oid_text(const ASN1_OBJECT* object) {
    std::array<char, 128> buffer{};
    const int length = OBJ_obj2txt(buffer.data(), static_cast<int>(buffer.size()), object, 1);
    if (length <= 0) {
        return {};
    }
    return std::string(buffer.data(),
                       std::min(static_cast<std::size_t>(length), buffer.size() - 1));
}

std::string hex(const unsigned char* data, std::size_t size) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        out += kDigits[data[i] >> 4];
        out += kDigits[data[i] & 0x0f];
    }
    return out;
}

}  // namespace certenroll::crypto
