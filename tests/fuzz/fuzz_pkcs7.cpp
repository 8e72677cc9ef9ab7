/// libFuzzer target: PKCS#7 / CMC SignedData (src/crypto/pkcs7) as CES returns it, then every
/// certificate accessor and the chain builder on the certificates it yields.

#include "crypto/pkcs7.hpp"
#include "error.hpp"
#include "fuzz_common.hpp"

using namespace certenroll;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto certs = crypto::certificates_from_pkcs7(encoding::Bytes(data, data + size));
        for (const auto& cert : certs) {
            (void)cert.subject();
            (void)cert.issuer();
            (void)cert.dns_names();
            (void)cert.template_id();
        }
        if (!certs.empty()) {
            (void)crypto::build_chain(certs.front(), certs);
        }
    } catch (const Error&) {
    }
    return 0;
}
