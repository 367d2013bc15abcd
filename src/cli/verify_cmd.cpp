#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "ledger/verify.h"
#include "store/store.h"

namespace tanpu::cli {
namespace {

// Exit codes: 0 consistent, 1 inconsistent, 2 could not check.
int could_not(const Error& e) {
  std::fprintf(stderr, "tanpu verify: cannot check: %s\n", e.message.c_str());
  return 2;
}

}  // namespace

int run_verify(const Config& config, bool json) {
  store::Options options;
  options.url = config.database_url;
  options.read_connections = 1;
  auto store = store::Store::open(options);
  if (!store) return could_not(store.error());
  auto lease = (*store)->acquire();
  if (!lease) return could_not(lease.error());
  // One snapshot for the whole check, so concurrent writers cannot make it see half a batch.
  if (auto r = (*lease)->begin(); !r) return could_not(r.error());
  if ((*lease)->dialect() == store::Dialect::postgres) {
    if (auto r = (*lease)->exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"); !r) {
      return could_not(r.error());
    }
  }
  auto report = ledger::verify(**lease);
  (void)(*lease)->rollback();
  if (!report) return could_not(report.error());
  if (json) {
    nlohmann::json out = {{"ok", report->ok()},
                          {"batches", report->batches},
                          {"transfers", report->transfers},
                          {"accounts", report->accounts},
                          {"problems", report->problems}};
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("batches %lld, transfers %lld, accounts %lld\n",
                static_cast<long long>(report->batches), static_cast<long long>(report->transfers),
                static_cast<long long>(report->accounts));
    if (report->ok()) {
      std::printf("ok: hash chain intact, balances match the transfers, invariants hold\n");
    } else {
      std::printf("INCONSISTENT. First: %s\n", report->problems.front().c_str());
      for (std::size_t i = 1; i < report->problems.size(); ++i) {
        std::printf("  also: %s\n", report->problems[i].c_str());
      }
    }
  }
  return report->ok() ? 0 : 1;
}

}  // namespace tanpu::cli
