#include "core/assert.h"

#include <cstdio>
#include <cstdlib>

namespace tanpu::detail {

void assert_failed(const char* expr, const char* file, int line, const char* why) {
  std::fprintf(
      stderr,
      "{\"level\":\"fatal\",\"event\":\"assertion_failed\",\"expr\":\"%s\",\"file\":\"%s\","
      "\"line\":%d,\"why\":\"%s\"}\n",
      expr, file, line, why != nullptr ? why : "");
  std::fflush(stderr);
  std::abort();
}

}  // namespace tanpu::detail
