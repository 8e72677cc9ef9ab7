// Binds a delay-loaded function on its first call (see delay_load.cmake): loads its library if
// needed, looks the function up and stores it in its slot, so that later calls jump straight to
// it. Called from the stubs' common entry with every argument register saved.

#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <string>

#include "platform/delay_load/delay_load.hpp"

namespace {

[[noreturn]] void fail(const char* library, const std::string& what) {
    // No Error can travel through the stub, and nothing can run without the library: say what
    // is missing and stop with the exit code of local errors.
    const std::string line = "certenroll-cli: local error: cannot load " + std::string(library) +
                             ": " + what +
                             "\n  hint: install OpenSSL 3 and libp11 (Debian: libssl3 libp11-3, "
                             "Fedora: openssl-libs libp11)\n";
    (void)!::write(STDERR_FILENO, line.data(), line.size());
    ::_exit(9);
}

}  // namespace

extern "C" __attribute__((visibility("hidden"))) void* certenroll_delay_load_resolve(
    unsigned index) {
    static std::mutex mutex;
    static void* handles[certenroll_delay_load_max_libraries] = {};
    const int saved_errno = errno;
    const std::lock_guard lock(mutex);
    const DelayLoadSymbol& symbol = certenroll_delay_load_symbols[index];
    const char* library = certenroll_delay_load_libraries[symbol.library];
    void*& handle = handles[symbol.library];
    if (handle == nullptr) {
        // Global, as a library loaded at start would be: providers and engines that OpenSSL
        // loads later find the same libcrypto.
        handle = ::dlopen(library, RTLD_NOW | RTLD_GLOBAL);
        if (handle == nullptr) {
            const char* detail = ::dlerror();
            fail(library, detail != nullptr ? detail : "dlopen failed");
        }
    }
    void* address = ::dlsym(handle, symbol.name);
    if (address == nullptr)
        fail(library, std::string("no function ") + symbol.name);
    __atomic_store_n(&certenroll_delay_load_slots[index], address, __ATOMIC_RELEASE);
    errno = saved_errno;
    return address;
}
