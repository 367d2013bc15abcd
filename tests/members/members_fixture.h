// A members module over a fresh store on one engine, with a clock the test moves. Shared by the
// members tests and the route tests of tests/http/routes_members_test.cpp.
#pragma once

#include <atomic>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/crypto.h"
#include "core/id.h"
#include "ledger/ledger.h"
#include "members/members.h"
#include "store/migrate.h"
#include "support/test_store.h"

namespace tanpu::test {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::int64_t start_us) : now_(start_us) {}
  std::int64_t now_us() const override { return now_.load(); }
  void advance_us(std::int64_t delta_us) { now_ += delta_us; }

 private:
  std::atomic<std::int64_t> now_;
};

// Cheap argon2id parameters: the tests check behaviour, not cost.
inline constexpr members::PasswordParams kTestPasswordParams{256, 1, 1, 16, 32};

inline members::Keys fixed_test_keys() {
  members::Keys keys;
  for (std::size_t i = 0; i < 32; ++i) {
    keys.data_key[i] = static_cast<std::uint8_t>(0x10 + i);
    keys.index_key[i] = static_cast<std::uint8_t>(0x80 + i);
  }
  return keys;
}

class MembersFixture : public EngineTest {
 protected:
  static constexpr std::int64_t kStartUs = 1'795'000'000'000'000;  // 2026-11-18

  void SetUp() override {
    db_ = std::make_unique<TestStore>(engine());
    std::vector<store::Migration> all(ledger::migrations().begin(), ledger::migrations().end());
    all.insert(all.end(), members::migrations().begin(), members::migrations().end());
    auto lease = db_->store().acquire();
    ASSERT_OK(lease);
    ASSERT_OK(store::migrate(**lease, all));
    ledger_ = std::make_unique<tanpu::ledger::Ledger>(db_->store(), clock_);
    members_ = make_members(options());
  }

  void TearDown() override {
    members_.reset();
    ledger_.reset();
    db_.reset();
  }

  static members::Options options() {
    members::Options o;
    o.password = kTestPasswordParams;
    return o;
  }

  std::unique_ptr<members::Members> make_members(members::Options o) {
    return std::make_unique<members::Members>(db_->store(), *ledger_, keys_, clock_, std::move(o));
  }

  // Applies the ledger's and the members' migrations and then `extra` (a module tested on top).
  void migrate_with(std::span<const store::Migration> extra) {
    std::vector<store::Migration> all(ledger::migrations().begin(), ledger::migrations().end());
    all.insert(all.end(), members::migrations().begin(), members::migrations().end());
    all.insert(all.end(), extra.begin(), extra.end());
    auto lease = db_->store().acquire();
    ASSERT_OK(lease);
    ASSERT_OK(store::migrate(**lease, all));
  }

  // Gives an account points as an operator would: one adjustment from the platform's issuing
  // account, which must apply.
  void fund(std::int64_t account_id, std::int64_t points) {
    ledger::Transfer t;
    t.id = new_time_ordered_id();
    t.debit_account_id = ledger::kPlatformPointsAccount;
    t.credit_account_id = account_id;
    t.amount = points;
    t.code = ledger::codes::operator_adjustment;
    const std::vector<ledger::Transfer> one{t};
    auto r = ledger_->submit(one);
    ASSERT_OK(r);
    ASSERT_EQ(r->front(), ledger::TransferStatus::ok);
  }
  void fund(const members::MemberView& m, std::int64_t points) {
    fund(m.points_account_id, points);
  }

  // Rows in table (a name from the test itself, never input).
  std::int64_t count(const std::string& table) {
    auto lease = db_->store().acquire();
    EXPECT_TRUE(lease.has_value());
    if (!lease) return -1;
    auto rows = (*lease)->query("SELECT COUNT(*) FROM " + table);
    EXPECT_TRUE(rows.has_value());
    return rows ? rows->i64(0, 0) : -1;
  }

  members::MemberView must_register(std::optional<std::string> phone,
                                    std::optional<std::string> email,
                                    members::Role role = members::Role::member) {
    auto view = members_->register_member(
        {std::move(phone), std::move(email), "s3cret-pass", "Test Member"}, role);
    EXPECT_TRUE(view.has_value()) << (view ? "" : view.error().code);
    return view ? *view : members::MemberView{};
  }

  // A live session of `token` for the member, written as login writes one: for tokens login no
  // longer issues (the format before tokens named their member).
  void insert_session(const std::string& token, std::int64_t member_id) {
    const Sha256Digest hash = sha256(token);
    auto written = db_->store().write([&](store::Connection& c) -> Result<void> {
      auto n = c.exec(
          "INSERT INTO member_sessions (token_hash, member_id, created_at_us, expires_at_us) "
          "VALUES (?, ?, ?, ?)",
          {std::span<const std::uint8_t>(hash), member_id, clock_.now_us(),
           clock_.now_us() + 3'600'000'000});
      if (!n) return fail(n.error());
      return {};
    });
    ASSERT_OK(written);
  }

  members::Keys keys_ = fixed_test_keys();
  FakeClock clock_{kStartUs};
  std::unique_ptr<TestStore> db_;
  std::unique_ptr<ledger::Ledger> ledger_;
  std::unique_ptr<members::Members> members_;
};

}  // namespace tanpu::test
