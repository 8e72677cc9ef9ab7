#pragma once
// The tables the generated stubs (delay_load.cmake) and resolve.cpp share.

struct DelayLoadSymbol {
    const char* name;
    unsigned library;  ///< index into certenroll_delay_load_libraries
};

inline constexpr unsigned certenroll_delay_load_max_libraries = 8;

// Hidden: the executable exports none of this, nor the stubs, so nothing loaded later binds to
// them.
extern "C" {
__attribute__((visibility("hidden"))) extern const char* const certenroll_delay_load_libraries[];
__attribute__((visibility("hidden"))) extern const DelayLoadSymbol certenroll_delay_load_symbols[];
/// One per symbol: null until its first call binds it.
__attribute__((visibility("hidden"))) extern void* certenroll_delay_load_slots[];
}
