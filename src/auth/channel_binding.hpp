#pragma once
/// TLS channel binding for Kerberos (Extended Protection for Authentication): RFC 5929
/// "tls-server-end-point", the hash of the server's certificate, which binds the authenticator to
/// the TLS connection it travels on, so that a relay (or a TLS-terminating middlebox) cannot
/// reuse it on another connection.

#include <cstdint>
#include <string>
#include <vector>

namespace certenroll::auth {

struct ChannelBinding {
    /// The hash RFC 5929 §4.1 chooses for the certificate: "SHA256", "SHA384", "SHA512".
    std::string hash;
    /// "tls-server-end-point:" followed by the certificate hash (raw bytes): what goes into
    /// gss_channel_bindings_struct.application_data, as Windows (SChannel) and IIS expect it.
    std::vector<std::uint8_t> application_data;
};

/// The binding of a TLS connection whose server presented `certificate_der` (the end-entity
/// certificate, DER). The hash is the one of the certificate's signature algorithm, except that
/// MD5 and SHA-1 become SHA-256 (RFC 5929 §4.1); a signature without a separate hash (Ed25519)
/// also uses SHA-256, as RFC 5929 leaves it undefined. Throws Tls when the certificate does not
/// parse.
ChannelBinding tls_server_end_point(const std::vector<std::uint8_t>& certificate_der);

}  // namespace certenroll::auth
