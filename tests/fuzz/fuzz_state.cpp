/// libFuzzer target: state records (src/store), a pending request and a managed certificate, read
/// back from a private state directory the way retrieve-pending and renew read them.

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "error.hpp"
#include "fuzz_common.hpp"
#include "store/state.hpp"

using namespace certenroll;
namespace fs = std::filesystem;

namespace {

const fs::path& state_root() {
    static const fs::path root = [] {
        const auto dir =
            fs::temp_directory_path() / ("certenroll-fuzz-state-" + std::to_string(getpid()));
        fs::create_directories(dir / "pending");
        fs::create_directories(dir / "certificates");
        // Removed at exit; the path is copied to the heap because `root` is destroyed first.
        static const fs::path* const leftover = new fs::path(dir);
        std::atexit([] {
            std::error_code ec;
            fs::remove_all(*leftover, ec);
        });
        return dir;
    }();
    return root;
}

void write(const fs::path& path, const std::uint8_t* data, std::size_t size) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto& root = state_root();
    write(root / "pending" / "r.json", data, size);
    write(root / "certificates" / "web1.json", data, size);
    const store::StateDirectory state(root);
    try {
        (void)state.list_pending();
    } catch (const Error&) {
    }
    try {
        (void)state.find_pending("1");
    } catch (const Error&) {
    }
    try {
        (void)state.list_certificates();
    } catch (const Error&) {
    }
    try {
        (void)state.find_certificate("web1");
    } catch (const Error&) {
    }
    return 0;
}
