// Names for temporary files: ".tmp.<pid>.<hex>", the form store::remove_stale_temporaries reads.
#include <array>
#include <atomic>
#include <charconv>
#include <cstdint>
#include <random>
#include <string>
#include "platform/platform.hpp"

namespace certenroll::platform {

std::string temporary_suffix() {
    // One draw from the random device per process: constructing one probes the CPU (CPUID, a
    // trap to the hypervisor in a virtual machine), and an enrollment names six temporaries.
    // The counter keeps this process's names apart; the random part keeps them apart from a
    // crashed process's leftovers under a reused PID; O_EXCL refuses whatever still collides.
    static const std::uint32_t process_random = std::random_device{}();
    static std::atomic<std::uint32_t> counter{0};
    const std::uint32_t value = process_random + counter.fetch_add(1) * 0x9E3779B9u;

    // Two numbers of at most 20 and 8 digits.
    std::array<char, 20> pid{};
    std::array<char, 8> hex{};
    char* pid_end = std::to_chars(pid.data(), pid.data() + pid.size(), process_id()).ptr;
    char* hex_end = std::to_chars(hex.data(), hex.data() + hex.size(), value, 16).ptr;
    std::string suffix(".tmp.");
    suffix.append(pid.data(), pid_end).append(1, '.').append(hex.data(), hex_end);
    return suffix;
}

}  // namespace certenroll::platform
