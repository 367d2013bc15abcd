// A migrated ledger on a fresh database, for the engine under test, with a clock tests can move.
#pragma once

#include <atomic>
#include <memory>
#include <random>

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
