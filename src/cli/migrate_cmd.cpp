#include <cstdio>

#include "cli/commands.h"
#include "cli/runtime.h"
#include "core/log.h"

namespace tanpu::cli {

int run_migrate(const Config& config) {
  int applied = 0;
  auto store = open_store(config, &applied);
  if (!store) {
    std::fprintf(stderr, "tanpu migrate: %s\n", store.error().message.c_str());
    return 1;
  }
  std::printf("migrations applied: %d\n", applied);
  return 0;
}

}  // namespace tanpu::cli
