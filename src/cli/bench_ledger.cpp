// `tanpu bench ledger`: tanpu's ledger path against the conventional design and the engine's raw
// insert limit, each on a fresh database of the same engine, in one run.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/bench_db.h"
#include "cli/commands.h"
#include "cli/runtime.h"
#include "core/crypto.h"
#include "core/limits.h"
#include "core/log.h"
#include "ledger/baseline.h"
#include "ledger/chain.h"
#include "ledger/ledger.h"

namespace tanpu::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Member accounts 3..accounts+2 (1 and 2 are the platform's), created in chunks.
Result<std::vector<std::int64_t>> make_accounts(store::Store& store, ledger::Ledger& ledger,
                                                std::int64_t n) {
  std::vector<std::int64_t> ids;
  constexpr std::int64_t kChunk = 10'000;
  for (std::int64_t start = 0; start < n; start += kChunk) {
    std::vector<ledger::NewAccount> batch;
    for (std::int64_t i = start; i < std::min(n, start + kChunk); ++i) {
      batch.push_back({ledger::Currency::points, "member", std::to_string(i),
                       ledger::account_flags::debits_must_not_exceed_credits});
    }
    auto r = store.write_value<std::vector<std::int64_t>>(
        [&](store::Connection& c) { return ledger.create_accounts(c, batch); });
    if (!r) return std::unexpected(r.error());
    ids.insert(ids.end(), r->begin(), r->end());
  }
  return ids;
}

// Credits from the platform's points account to random members, amounts 1..1000.
std::vector<ledger::Transfer> make_transfers(std::int64_t n, const std::vector<std::int64_t>& to,
                                             std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::size_t> pick(0, to.size() - 1);
  std::uniform_int_distribution<std::int64_t> amount(1, 1000);
  std::vector<ledger::Transfer> out(static_cast<std::size_t>(n));
  for (auto& t : out) {
    t.id = new_time_ordered_id();
    t.debit_account_id = ledger::kPlatformPointsAccount;
    t.credit_account_id = to[pick(rng)];
    t.amount = amount(rng);
    t.code = ledger::codes::bench;
    t.reference = "bench";
  }
  return out;
}

struct Measured {
  std::int64_t count = 0;
  double seconds = 0;
  double per_s() const { return seconds > 0 ? static_cast<double>(count) / seconds : 0; }
};

Result<Measured> measure_tanpu(const LedgerBenchArgs& args) {
  auto db = BenchDb::create(args.store, args.clients, "tanpu");
  if (!db) return std::unexpected(db.error());
  auto rt = open_runtime((*db)->config());
  if (!rt) return std::unexpected(rt.error());
  Runtime& r = **rt;
  auto members = make_accounts(*r.store, *r.ledger, args.accounts);
  if (!members) return std::unexpected(members.error());
  const auto transfers = make_transfers(args.transfers, *members, 1);
  std::atomic<std::size_t> next{0};
  std::atomic<std::int64_t> refused{0};
  std::optional<Error> failure;
  std::mutex failure_mu;
  const auto t0 = Clock::now();
  std::vector<std::thread> clients;
  for (std::int64_t c = 0; c < args.clients; ++c) {
    clients.emplace_back([&] {
      for (;;) {
        const std::size_t start = next.fetch_add(static_cast<std::size_t>(args.chunk));
        if (start >= transfers.size()) return;
        const std::size_t n =
            std::min(static_cast<std::size_t>(args.chunk), transfers.size() - start);
        auto st = r.ledger->submit(std::span(transfers).subspan(start, n));
        if (!st) {
          std::lock_guard lock(failure_mu);
          failure = st.error();
          return;
        }
        for (auto s : *st) refused += s == ledger::TransferStatus::ok ? 0 : 1;
      }
    });
  }
  for (auto& t : clients) t.join();
  Measured m{args.transfers, seconds_since(t0)};
  if (failure) return std::unexpected(*failure);
  if (refused > 0) {
    return fail(ErrorKind::internal, "bench_refused", std::to_string(refused.load()) + " refused");
  }
  // Honesty check outside the timing: every milligram credited is on a member account.
  std::int64_t expected = 0;
  for (const auto& t : transfers) expected += t.amount;
  auto lease = r.store->acquire();
  if (!lease) return std::unexpected(lease.error());
  auto sum = (*lease)->query(
      "SELECT CAST(SUM(b.credits_posted) AS BIGINT) FROM ledger_accounts a JOIN ledger_balances b "
      "ON b.account_id = a.id WHERE a.owner_kind = 'member'");
  if (!sum) return std::unexpected(sum.error());
  if (sum->i64(0, 0) != expected) {
    return fail(ErrorKind::internal, "bench_mismatch", "member balances do not sum to the credits");
  }
  return m;
}

Result<Measured> measure_baseline(const LedgerBenchArgs& args) {
  auto db = BenchDb::create(args.store, args.clients, "baseline");
  if (!db) return std::unexpected(db.error());
  auto rt = open_runtime((*db)->config());
  if (!rt) return std::unexpected(rt.error());
  auto members = make_accounts(*(*rt)->store, *(*rt)->ledger, args.accounts);
  if (!members) return std::unexpected(members.error());
  const std::int64_t n = std::min(args.transfers, args.baseline_max);
  auto transfers = make_transfers(n, *members, 2);
  for (std::size_t i = 0; i < transfers.size(); ++i) {
    transfers[i].seq = static_cast<std::int64_t>(i) + 1;
  }
  // SQLite has one writer, so one client; PostgreSQL gets the same concurrency as tanpu's run.
  const std::int64_t clients = args.store == "sqlite" ? 1 : args.clients;
  std::atomic<std::size_t> next{0};
  std::optional<Error> failure;
  std::mutex failure_mu;
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (std::int64_t c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      auto lease = (*rt)->store->acquire();
      if (!lease) {
        std::lock_guard lock(failure_mu);
        failure = lease.error();
        return;
      }
      for (std::size_t i = next++; i < transfers.size(); i = next++) {
        if (auto r = ledger::baseline::conventional_transfer(**lease, transfers[i]); !r) {
          std::lock_guard lock(failure_mu);
          failure = r.error();
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  if (failure) return std::unexpected(*failure);
  return Measured{n, seconds_since(t0)};
}

Result<Measured> measure_limit(const LedgerBenchArgs& args) {
  auto db = BenchDb::create(args.store, args.clients, "limit");
  if (!db) return std::unexpected(db.error());
  int applied = 0;
  auto store = open_store((*db)->config(), &applied);
  if (!store) return std::unexpected(store.error());
  std::vector<std::int64_t> to(static_cast<std::size_t>(args.accounts));
  for (std::size_t i = 0; i < to.size(); ++i) to[i] = static_cast<std::int64_t>(i) + 3;
  auto transfers = make_transfers(args.transfers, to, 3);
  for (std::size_t i = 0; i < transfers.size(); ++i) {
    transfers[i].seq = static_cast<std::int64_t>(i) + 1;
  }
  auto lease = (*store)->acquire();
  if (!lease) return std::unexpected(lease.error());
  const std::size_t chunk = limits::transfers_per_batch_max;
  const auto t0 = Clock::now();
  for (std::size_t start = 0; start < transfers.size(); start += chunk) {
    const std::size_t n = std::min(chunk, transfers.size() - start);
    if (auto r = ledger::baseline::insert_rows(**lease, std::span(transfers).subspan(start, n));
        !r) {
      return std::unexpected(r.error());
    }
  }
  return Measured{args.transfers, seconds_since(t0)};
}

}  // namespace

int run_bench_ledger(const Config& config, const LedgerBenchArgs& args) {
  (void)config;
  log::set_min_level(log::Level::warn);
  auto say = [&](const char* what) {
    if (!args.json) std::fprintf(stderr, "bench ledger (%s): %s…\n", args.store.c_str(), what);
  };
  say("tanpu path");
  auto tanpu = measure_tanpu(args);
  if (!tanpu) {
    std::fprintf(stderr, "bench ledger: %s\n", tanpu.error().message.c_str());
    return 1;
  }
  say("conventional baseline");
  auto base = measure_baseline(args);
  if (!base) {
    std::fprintf(stderr, "bench ledger: baseline: %s\n", base.error().message.c_str());
    return 1;
  }
  say("engine insert limit");
  auto limit = measure_limit(args);
  if (!limit) {
    std::fprintf(stderr, "bench ledger: limit: %s\n", limit.error().message.c_str());
    return 1;
  }
  nlohmann::json out = {{"bench", "ledger"},
                        {"store", args.store},
                        {"transfers", args.transfers},
                        {"seconds", tanpu->seconds},
                        {"transfers_per_s", std::round(tanpu->per_s())},
                        {"baseline_per_s", std::round(base->per_s())},
                        {"limit_per_s", std::round(limit->per_s())},
                        {"baseline_transfers", base->count},
                        {"x_baseline", tanpu->per_s() / base->per_s()},
                        {"fraction_of_limit", tanpu->per_s() / limit->per_s()},
                        {"accounts", args.accounts},
                        {"clients", args.clients},
                        {"chunk", args.chunk}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace tanpu::cli
