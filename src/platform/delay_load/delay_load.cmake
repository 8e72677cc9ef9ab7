# Delay-loading: libcrypto, libssl and libp11 are loaded on the first call of one of their
# functions instead of at start. On these virtual machines a process's start-up is mostly page
# faults, and loading and relocating libcrypto is 120 of them: a cron run of `renew` with nothing
# due, which needs no cryptography, started in twice the time it needs (tests/bench/README.md).
#
# For each function of symbols.txt a small stub is linked into the executable under the
# function's own name (hidden, so nothing else binds to it): it jumps through a slot that is
# null until the first call, which goes through resolve.cpp (dlopen + dlsym) with every argument
# register saved. x86-64 only; elsewhere the libraries are linked as usual. With --as-needed the
# linker then records no dependency on a library whose every function has a stub.

function(certenroll_delay_load target)
  set(here ${CMAKE_CURRENT_FUNCTION_LIST_DIR})
  set(out ${CMAKE_CURRENT_BINARY_DIR}/delay_load_stubs.cpp)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${here}/symbols.txt)
  file(STRINGS ${here}/symbols.txt lines REGEX "^[^#]")

  set(libraries "")
  set(table "")
  set(stubs "")
  set(index 0)
  foreach(line IN LISTS lines)
    if(NOT line MATCHES "^([A-Za-z0-9_.+-]+) +([A-Za-z_][A-Za-z0-9_]*)$")
      message(FATAL_ERROR "${here}/symbols.txt: bad line '${line}'")
    endif()
    set(library ${CMAKE_MATCH_1})
    set(symbol ${CMAKE_MATCH_2})
    list(FIND libraries ${library} library_index)
    if(library_index EQUAL -1)
      list(LENGTH libraries library_index)
      list(APPEND libraries ${library})
    endif()
    math(EXPR offset "${index} * 8")
    string(APPEND table "    {\"${symbol}\", ${library_index}},\n")
    string(APPEND stubs "
    .globl ${symbol}
    .hidden ${symbol}
    .type ${symbol}, @function
    .p2align 4
${symbol}:
    movq certenroll_delay_load_slots+${offset}(%rip), %r11
    testq %r11, %r11
    jz 1f
    jmpq *%r11
1:  movl $${index}, %r11d
    jmp certenroll_delay_load_enter
    .size ${symbol}, .-${symbol}
")
    math(EXPR index "${index} + 1")
  endforeach()
  list(LENGTH libraries library_count)
  if(library_count GREATER 8)
    message(FATAL_ERROR "delay_load: more libraries than certenroll_delay_load_max_libraries")
  endif()
  list(JOIN libraries "\", \"" library_names)
  set(library_names "\"${library_names}\"")

  file(CONFIGURE OUTPUT ${out} @ONLY CONTENT [=[
// Generated from src/platform/delay_load/symbols.txt by delay_load.cmake: do not edit.
#include "platform/delay_load/delay_load.hpp"

extern "C" {
const char* const certenroll_delay_load_libraries[] = {
    @library_names@};
const DelayLoadSymbol certenroll_delay_load_symbols[] = {
@table@};
void* certenroll_delay_load_slots[@index@] = {};
}

// The common entry of the first calls: the stub left its index in r11. Saves the argument
// registers of the System V ABI (rax counts the vector registers of a variadic call), asks
// resolve.cpp for the function, restores them and jumps to it as if it had been called.
asm(R"(
    .pushsection .text
    .p2align 4
    .globl certenroll_delay_load_enter
    .hidden certenroll_delay_load_enter
    .type certenroll_delay_load_enter, @function
certenroll_delay_load_enter:
    .cfi_startproc
    pushq %rbp
    .cfi_def_cfa_offset 16
    .cfi_offset %rbp, -16
    movq %rsp, %rbp
    .cfi_def_cfa_register %rbp
    subq $192, %rsp
    movq %rdi, 0(%rsp)
    movq %rsi, 8(%rsp)
    movq %rdx, 16(%rsp)
    movq %rcx, 24(%rsp)
    movq %r8, 32(%rsp)
    movq %r9, 40(%rsp)
    movq %rax, 48(%rsp)
    movdqu %xmm0, 64(%rsp)
    movdqu %xmm1, 80(%rsp)
    movdqu %xmm2, 96(%rsp)
    movdqu %xmm3, 112(%rsp)
    movdqu %xmm4, 128(%rsp)
    movdqu %xmm5, 144(%rsp)
    movdqu %xmm6, 160(%rsp)
    movdqu %xmm7, 176(%rsp)
    movl %r11d, %edi
    call certenroll_delay_load_resolve
    movq %rax, %r11
    movq 0(%rsp), %rdi
    movq 8(%rsp), %rsi
    movq 16(%rsp), %rdx
    movq 24(%rsp), %rcx
    movq 32(%rsp), %r8
    movq 40(%rsp), %r9
    movq 48(%rsp), %rax
    movdqu 64(%rsp), %xmm0
    movdqu 80(%rsp), %xmm1
    movdqu 96(%rsp), %xmm2
    movdqu 112(%rsp), %xmm3
    movdqu 128(%rsp), %xmm4
    movdqu 144(%rsp), %xmm5
    movdqu 160(%rsp), %xmm6
    movdqu 176(%rsp), %xmm7
    leave
    .cfi_def_cfa %rsp, 8
    jmpq *%r11
    .cfi_endproc
    .size certenroll_delay_load_enter, .-certenroll_delay_load_enter
@stubs@
    .popsection
)");
]=])

  target_sources(${target} PRIVATE ${out} ${here}/resolve.cpp)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${target} PRIVATE ${CMAKE_DL_LIBS})
  # Libraries that no longer resolve anything are not recorded as dependencies.
  target_link_options(${target} PRIVATE -Wl,--as-needed)
endfunction()
