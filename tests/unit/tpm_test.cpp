// The TPM backend against a real software TPM (swtpm) started on loopback for this test.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include "crypto/csr.hpp"
#include "csr_check.hpp"
#include "error.hpp"
#include "keys/software_key.hpp"
#include "keys/tpm_key.hpp"
#include "skip.hpp"
#include "temp_dir.hpp"

using namespace certenroll;
using namespace certenroll::keys;

namespace {

bool port_is_free(int port) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool free = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    close(fd);
    return free;
}

// The swtpm TCTI expects the control channel on the port after the server's.
int free_port_pair() {
    std::random_device random;
    for (int attempt = 0; attempt < 100; ++attempt) {
        const int port = 20000 + static_cast<int>(random() % 40000);
        if (port_is_free(port) && port_is_free(port + 1))
            return port;
    }
    return 0;
}

// swtpm in its own state directory; stopped (by PID file) when the test ends.
struct SoftwareTpm {
    test::TempDir dir{"certenroll-swtpm-"};
    std::string tcti;
    bool available = false;
    SoftwareTpm() {
        if (std::system("command -v swtpm >/dev/null 2>&1") != 0)
            return;
        // swtpm must be told its ports (the TCTI expects the control channel at port + 1): a
        // pair another process took between the check and swtpm's bind makes swtpm exit
        // non-zero before it daemonises, and another pair is tried.
        for (int attempt = 0; attempt < 5 && !available; ++attempt) {
            const int port = free_port_pair();
            const int control = port + 1;
            const std::string command =
                "swtpm socket --tpm2 --tpmstate dir=" + dir.path.string() +
                " --server type=tcp,port=" + std::to_string(port) +
                ",bindaddr=127.0.0.1 --ctrl type=tcp,port=" + std::to_string(control) +
                ",bindaddr=127.0.0.1 --flags not-need-init,startup-clear --daemon --pid file=" +
                (dir.path / "swtpm.pid").string() + " 2>/dev/null";
            available = std::system(command.c_str()) == 0;
            tcti = "swtpm:host=127.0.0.1,port=" + std::to_string(port);
        }
    }
    ~SoftwareTpm() {
        std::ifstream pid_file(dir.path / "swtpm.pid");
        pid_t pid = 0;
        if (pid_file >> pid && pid > 0)
            kill(pid, SIGTERM);
    }
};

}  // namespace

TEST_CASE("TPM keys are made in the TPM, stored wrapped, reloaded and sign there") {
    SoftwareTpm tpm;
    if (!tpm.available)
        return test::skip("swtpm is not installed or does not start");
    TpmKeyBackend backend({tpm.tcti});
    for (const char* type : {"ec:P-256", "rsa:2048"}) {
        CAPTURE(type);
        const KeySpec spec = parse_key_type(type);
        const Key key = backend.generate(spec);
        CHECK(key.backend() == "tpm");
        CHECK(describe(spec_of(key.get())) == describe(spec));
        const std::string blob = tpm_key_to_pem(key.get());
        CHECK(is_tpm_key_pem(blob));
        CHECK(blob.find("PRIVATE KEY-----\n") != std::string::npos);
        CHECK(blob.find("BEGIN PRIVATE KEY") == std::string::npos);  // never the clear key
        const auto file = tpm.dir.write(std::string("key-") + spec.ec_curve + ".pem", blob);
        const Key again = backend.load(file.string());
        crypto::CsrSpec csr;
        csr.subject = "CN=tpm.example.test";
        CHECK(test::csr_signed_by(crypto::build_csr(csr, again.get()), key.get()));
    }
    const auto software = tpm.dir.write("software.pem", "-----BEGIN PRIVATE KEY-----\n");
    CHECK_THROWS_AS(backend.load(software.string()), Error);
}

TEST_CASE("the TCTI in use: the setting, else TPM2OPENSSL_TCTI, else the provider's default") {
    const char* saved = std::getenv("TPM2OPENSSL_TCTI");
    const std::string previous = saved ? saved : "";
    CHECK(TpmKeyBackend({"device:/dev/tpmrm0"}).tcti() == "device:/dev/tpmrm0");
    setenv("TPM2OPENSSL_TCTI", "tabrmd", 1);
    CHECK(TpmKeyBackend({""}).tcti() == "tabrmd");
    CHECK(TpmKeyBackend({"swtpm:port=1"}).tcti() == "swtpm:port=1");
    unsetenv("TPM2OPENSSL_TCTI");
    CHECK(TpmKeyBackend({""}).tcti().empty());
    if (saved)
        setenv("TPM2OPENSSL_TCTI", previous.c_str(), 1);
}
