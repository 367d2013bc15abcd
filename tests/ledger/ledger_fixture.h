// A migrated ledger on a fresh database, for the engine under test, with a clock tests can move.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "ledger/ledger.h"
#include "ledger/verify.h"
#include "support/test_store.h"

namespace tanpu::ledger::testing {

class FakeClock final : public Clock {
 public:
  std::int64_t now_us() const override { return now.load(); }
  std::atomic<std::int64_t> now{1'700'000'000'000'000};
};

class LedgerTest : public test::EngineTest {
 protected:
  void SetUp() override {
    db = std::make_unique<test::TestStore>(engine());
    {
      auto lease = (*db)->acquire();
      ASSERT_TRUE(lease.has_value());
      ASSERT_TRUE(store::migrate(**lease, migrations()).has_value());
    }
    ledger = std::make_unique<Ledger>(db->store(), clock);
  }
  void TearDown() override {
    ledger.reset();
    db.reset();
  }

  std::vector<std::int64_t> accounts(
      std::size_t n, Currency c = Currency::points,
      std::uint32_t flags = account_flags::debits_must_not_exceed_credits) {
    std::vector<NewAccount> na(n, NewAccount{c, "member", "m", flags});
    auto ids = db->store().write_value<std::vector<std::int64_t>>(
        [&](store::Connection& conn) { return ledger->create_accounts(conn, na); });
    EXPECT_TRUE(ids.has_value());
    return ids.value_or(std::vector<std::int64_t>{});
  }

  static Transfer transfer(std::int64_t dr, std::int64_t cr, std::int64_t amount,
                           std::uint32_t flags = 0) {
    Transfer t;
    t.id = new_time_ordered_id();
    t.debit_account_id = dr;
    t.credit_account_id = cr;
    t.amount = amount;
    t.code = 5;
    t.flags = flags;
    return t;
  }

  std::vector<TransferStatus> submit(std::vector<Transfer> ts) {
    auto r = ledger->submit(ts);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    return r.value_or(std::vector<TransferStatus>{});
  }

  Account account(std::int64_t id) {
    auto a = ledger->lookup_account(id);
    EXPECT_TRUE(a.has_value());
    return a.value_or(Account{});
  }

  // Two servers on one database, each with its own balance cache, submitting at once: every batch
  // of either locks the chain head first, so neither may serve a balance the other changed. The
  // balances must be exactly what the accepted transfers make them. Requests of `per_request`
  // transfers over `n_accounts` accounts: small ones read with the head lock, large ones (more than
  // 64) read the accounts their cache lacks ahead of it on PostgreSQL.
  void two_ledgers_at_once(std::size_t n_accounts, int per_request) {
    Ledger other(db->store(), clock);
    const auto m = accounts(n_accounts);
    std::map<std::int64_t, std::int64_t> expected;
    std::mutex expected_mu;
    auto run = [&](Ledger& l, unsigned seed) {
      std::mt19937 rng(seed);
      std::uniform_int_distribution<std::size_t> pick(0, m.size() - 1);
      std::uniform_int_distribution<std::int64_t> amount(1, 40);
      for (int round = 0; round < 40; ++round) {
        std::vector<Transfer> ts;
        for (int i = 0; i < per_request; ++i) {
          const std::size_t a = pick(rng);
          const std::size_t b = (a + 1 + pick(rng) % (m.size() - 1)) % m.size();
          ts.push_back(round % 4 == 0 ? transfer(kPlatformPointsAccount, m[a], amount(rng))
                                      : transfer(m[a], m[b], amount(rng)));
        }
        auto st = l.submit(ts);
        ASSERT_TRUE(st.has_value()) << st.error().message;
        std::lock_guard lock(expected_mu);
        for (std::size_t i = 0; i < ts.size(); ++i) {
          if ((*st)[i] != TransferStatus::ok) continue;
          expected[ts[i].debit_account_id] -= ts[i].amount;
          expected[ts[i].credit_account_id] += ts[i].amount;
        }
      }
    };
    std::vector<std::thread> threads;
    for (unsigned c = 0; c < 4; ++c) {
      threads.emplace_back([&, c] { run(c % 2 == 0 ? *ledger : other, c + 1); });
    }
    for (auto& t : threads) t.join();
    for (std::int64_t id : m) {
      EXPECT_EQ(account(id).balance(), expected[id]) << "account " << id;
      EXPECT_GE(account(id).balance(), 0);
    }
    const VerifyReport r = verify_now();
    EXPECT_TRUE(r.ok()) << (r.problems.empty() ? "" : r.problems.front());
  }

  VerifyReport verify_now() {
    auto lease = (*db)->acquire();
    EXPECT_TRUE(lease.has_value());
    auto r = ledger::verify(**lease);
    EXPECT_TRUE(r.has_value());
    return r.value_or(VerifyReport{});
  }

  std::int64_t count(const std::string& sql) {
    auto lease = (*db)->acquire();
    auto rows = (*lease)->query(sql);
    EXPECT_TRUE(rows.has_value());
    return rows ? rows->i64(0, 0) : -1;
  }

  void exec(const std::string& sql) {
    auto lease = (*db)->acquire();
    auto r = (*lease)->exec(sql);
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }

  FakeClock clock;
  std::unique_ptr<test::TestStore> db;
  std::unique_ptr<Ledger> ledger;
};

}  // namespace tanpu::ledger::testing
