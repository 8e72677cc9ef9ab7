/// libFuzzer target: X.509 certificates (src/crypto/certificate) in DER and PEM, and every fact
/// the tool reads from them. The validity that renew reads without OpenSSL
/// (encoding/certificate_validity) is checked against OpenSSL's: when both read a certificate,
/// they must agree.

#include <cstdlib>

#include "crypto/certificate.hpp"
#include "encoding/certificate_validity.hpp"
#include "error.hpp"
#include "fuzz_common.hpp"

using namespace certenroll;

namespace {

void read_facts(const crypto::Certificate& cert) {
    (void)cert.subject();
    (void)cert.issuer();
    (void)cert.common_name();
    (void)cert.serial_hex();
    (void)cert.not_before();
    (void)cert.not_after();
    (void)cert.sha256_thumbprint();
    (void)cert.dns_names();
    (void)cert.ip_addresses();
    (void)cert.emails();
    (void)cert.upns();
    (void)cert.uris();
    (void)cert.template_name();
    (void)cert.template_id();
    (void)cert.is_self_signed();
    (void)cert.to_pem();
}

void agree(const std::optional<encoding::CertificateValidity>& light,
           const crypto::Certificate& cert) {
    if (!light)
        return;  // left to the full parse: allowed
    crypto::Certificate::TimePoint not_before, not_after;
    try {
        not_before = cert.not_before();
        not_after = cert.not_after();
    } catch (const Error&) {
        return;  // OpenSSL cannot read a time that the light reader did: allowed (not due yet
                 // is then said from that time, the full parse runs once it is due)
    }
    if (light->not_before != not_before || light->not_after != not_after)
        std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto light_der = encoding::certificate_validity_from_der(data, size);
    try {
        const auto cert = crypto::Certificate::from_der(encoding::Bytes(data, data + size));
        read_facts(cert);
        agree(light_der, cert);
    } catch (const Error&) {
    }
    const auto light_pem = encoding::certificate_validity_from_pem(fuzz::as_text(data, size));
    try {
        const auto certs = crypto::Certificate::all_from_pem(fuzz::as_text(data, size));
        for (const auto& cert : certs) {
            read_facts(cert);
        }
        if (!certs.empty())
            agree(light_pem, certs.front());
    } catch (const Error&) {
    }
    return 0;
}
