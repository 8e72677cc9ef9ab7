#pragma once
/// What the OpenSSL this build is compiled against can do, decided in this one place.

#include <openssl/opensslv.h>

#include <string>

namespace certenroll::crypto {

/// ML-DSA (FIPS 204) keys and signatures came with OpenSSL 3.5 (its default provider).
#if OPENSSL_VERSION_NUMBER >= 0x30500000L
inline constexpr bool kHaveMlDsa = true;
#else
inline constexpr bool kHaveMlDsa = false;
#endif

/// The OpenSSL version an ML-DSA key or template needs, for messages.
inline constexpr const char* kMlDsaMinimumOpenssl = "OpenSSL 3.5";

/// "OpenSSL 3.0.17": the version this build was compiled against.
inline std::string built_openssl_version() {
    return "OpenSSL " OPENSSL_VERSION_STR;
}

}  // namespace certenroll::crypto
