#pragma once
/// PKCS#10 certificate requests as AD CS expects them: subject, SANs, and the template
/// identification extensions and attributes of MS-WCCE.

#include <string>
#include <string_view>
#include <vector>

#include "encoding/base64.hpp"

// OpenSSL's types, forward-declared so this header stays free of OpenSSL includes.
struct evp_pkey_st;
struct evp_md_ctx_st;
struct X509_name_st;

namespace certenroll::crypto {

using encoding::Bytes;

/// Subject alternative names to request, by kind.
struct SubjectAltNames {
    std::vector<std::string> dns, ip, email, upn, uri;
    bool empty() const {
        return dns.empty() && ip.empty() && email.empty() && upn.empty() && uri.empty();
    }
};

/// Everything that goes into one PKCS#10 request besides the key.
struct CsrSpec {
    std::string subject;  ///< "CN=web1,O=Example" (RFC 4514, "\," escapes), or empty
    SubjectAltNames sans;
    std::string template_name;  ///< v1 extension 1.3.6.1.4.1.311.20.2 (BMPString) when non-empty
    std::string template_oid;   ///< v2 extension 1.3.6.1.4.1.311.21.7 when non-empty
    int template_major = 0, template_minor = 0;
    bool add_name_value_pair =
        true;                     ///< attribute 1.3.6.1.4.1.311.13.2.1 CertificateTemplate=<name>
    std::string hash = "SHA256";  ///< signing digest: SHA256, SHA384, SHA512 or SHA1 (not used
                                  ///< by ML-DSA, which signs the message itself: FIPS 204)
    /// RSASSA-PSS instead of PKCS#1 v1.5 (the template's CT_FLAG_REQUIRE_ALTERNATE_SIGNATURE_
    /// ALGORITHM, MS-WCCE §3.1.2.4.2.2.2.8, or --signature rsa-pss) when the key is RSA; other
    /// keys ignore it, as that section says.
    bool rsa_pss = false;
    Bytes renewal_certificate;  ///< attribute 1.3.6.1.4.1.311.13.1 (DER of the renewed cert) when
                                ///< non-empty
    bool key_usage_signature_only = false;  ///< keySpec 2: keyUsage digitalSignature, critical
};

/// A DER PKCS#10 request for `key`'s public key, signed by `key` (provider keys work too).
/// A bad subject, SAN or hash name throws a usage Error naming the bad part.
Bytes build_csr(const CsrSpec& spec, evp_pkey_st* key);

/// Starts `context` signing with `key` as requests are signed: `hash`'s digest, or none for
/// ML-DSA keys (a digest is an error there); RSASSA-PSS (salt as long as the digest, MGF1 with the
/// same digest, RFC 4055) when `rsa_pss`, which a non-RSA key refuses with a usage Error.
/// Provider keys (TPM, PKCS#11) sign where they live.
void begin_signing(evp_md_ctx_st* context, evp_pkey_st* key, std::string_view hash, bool rsa_pss);

/// True for ML-DSA keys of any parameter set.
bool is_ml_dsa(evp_pkey_st* key);

/// One attribute of a distinguished name, as written ("CN", "web1").
struct NameAttribute {
    std::string type;
    std::string value;
    bool joined_to_previous = false;  ///< "+" before it: same RDN as the previous attribute
};

/// Splits an RFC 4514 string into attributes, in the order written, with escapes resolved.
/// Throws a usage Error naming the bad part and the expected format.
std::vector<NameAttribute> parse_subject(std::string_view text);

/// The X509_NAME for `text` (RFC 4514: the first attribute written is the most specific, so it is
/// encoded last). The caller owns the result (X509_NAME_free). Throws a usage Error.
X509_name_st* make_x509_name(std::string_view text);

/// The OpenSSL digest name for a hash given as "SHA256", "sha-256", "sha384", ...; throws a
/// usage Error for anything but SHA-1 and SHA-2 (256/384/512).
std::string digest_name(std::string_view hash);

/// The DER BMPString (tag 0x1E, UTF-16BE) of a UTF-8 string; throws a usage Error when the text
/// is not valid UTF-8 or does not fit in the BMP.
Bytes bmp_string_der(std::string_view utf8);

}  // namespace certenroll::crypto
