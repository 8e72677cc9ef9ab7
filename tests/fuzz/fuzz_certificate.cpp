/// libFuzzer target: X.509 certificates (src/crypto/certificate) in DER and PEM, and every fact
/// the tool reads from them; from_der and from_pem are what renew's due check reads the
/// certificate file with.

#include "crypto/certificate.hpp"
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
    (void)cert.is_self_issued();
    (void)cert.to_pem();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        read_facts(crypto::Certificate::from_der(encoding::Bytes(data, data + size)));
    } catch (const Error&) {
    }
    try {
        read_facts(crypto::Certificate::from_pem(fuzz::as_text(data, size)));
    } catch (const Error&) {
    }
    try {
        for (const auto& cert : crypto::Certificate::all_from_pem(fuzz::as_text(data, size))) {
            read_facts(cert);
        }
    } catch (const Error&) {
    }
    return 0;
}
