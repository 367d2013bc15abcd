// TANPU_ASSERT: checks a programmer's invariant in every build type; on failure logs and aborts.
// Operating errors (bad input, lost connections) are answered with Result, never asserted.
#pragma once

namespace tanpu::detail {
[[noreturn]] void assert_failed(const char* expr, const char* file, int line, const char* why);
}

#define TANPU_ASSERT(cond)                                                \
  do {                                                                    \
    if (!(cond)) [[unlikely]]                                             \
      ::tanpu::detail::assert_failed(#cond, __FILE__, __LINE__, nullptr); \
  } while (false)

#define TANPU_ASSERT_MSG(cond, why)                                     \
  do {                                                                  \
    if (!(cond)) [[unlikely]]                                           \
      ::tanpu::detail::assert_failed(#cond, __FILE__, __LINE__, (why)); \
  } while (false)
