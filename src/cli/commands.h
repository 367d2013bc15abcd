// The subcommands of `tanpu`. Each returns the process exit code.
#pragma once

#include <string>

#include "cli/config.h"

namespace tanpu::cli {

int run_serve(const Config& config);
int run_migrate(const Config& config);
int run_verify(const Config& config, bool json);

struct CreateOperatorArgs {
  std::string login;  // e-mail or phone
  std::string name;
  std::string password;
  bool password_stdin = false;
};
int run_create_operator(const Config& config, CreateOperatorArgs args);

struct LedgerBenchArgs {
  std::string store = "sqlite";  // sqlite | postgres (TANPU_DATABASE_URL)
  std::int64_t transfers = 1'000'000;
  std::int64_t accounts = 100'000;
  std::int64_t clients = 16;           // concurrent submitters
  std::int64_t chunk = 4'000;          // transfers per submission
  std::int64_t baseline_max = 20'000;  // the conventional path is slow: measure at most this many
  bool json = false;
};
int run_bench_ledger(const Config& config, const LedgerBenchArgs& args);

}  // namespace tanpu::cli
