// The points policy and expiry on both engines: rates, local years, first-in-first-out expiry
// with spending and holds, idempotent reruns, the once-a-year scheduler run and the member's view.
#include <gtest/gtest.h>

#include "core/crypto.h"
#include "members/members_fixture.h"
#include "points/points.h"

namespace tanpu::test {
namespace {

std::int64_t at(const char* iso) {
  return parse_iso8601(iso).value_or(0);
}

TEST(PointsPolicy, RatesRoundDownAndFallBackToTheFormula) {
  points::Policy p;
  EXPECT_EQ(p.points_for("any", 980'000, 7), 7);  // no rate: the methodology's formula
  p.mg_per_point = 1000;                          // Wuhan: 1 g = 1 point
  EXPECT_EQ(p.points_for("any", 980'999, 7), 980);
  p.mg_per_point_by_methodology["metro"] = 44'000;  // Shenyang Metro: about 44 g a point
  EXPECT_EQ(p.points_for("metro", 980'000, 7), 22);
  EXPECT_EQ(p.points_for("metro", 43'999, 7), 0);
  EXPECT_EQ(p.points_for("checkin", 0, 5), 5);  // points-only behaviours keep their points
}

TEST(PointsPolicy, TheYearIsTheLocalOne) {
  points::Policy p;  // UTC+8
  EXPECT_EQ(p.year_of(at("2026-12-31T15:59:59Z")), 2026);
  EXPECT_EQ(p.year_of(at("2026-12-31T16:00:00Z")), 2027);
  p.utc_offset_minutes = 0;
  EXPECT_EQ(p.year_of(at("2026-12-31T16:00:00Z")), 2026);
}

TEST(PointsPolicy, RefusesWhatMakesNoSense) {
  const auto known = [](std::string_view code) { return code == "metro"; };
  EXPECT_TRUE(points::validate(points::Policy{}, known).has_value());
  const auto refused = [&](auto change, const char* setting) {
    points::Policy p;
    change(p);
    auto r = points::validate(p, known);
    ASSERT_FALSE(r.has_value()) << setting;
    EXPECT_EQ(r.error().code, "points_policy_invalid");
    EXPECT_EQ(r.error().field, setting);
  };
  refused([](points::Policy& p) { p.mg_per_point = -1; }, "points_mg_per_point");
  refused([](points::Policy& p) { p.mg_per_point_by_methodology["bus"] = 1000; },
          "points_mg_per_point_by_methodology");
  refused([](points::Policy& p) { p.mg_per_point_by_methodology["metro"] = 0; },
          "points_mg_per_point_by_methodology");
  refused([](points::Policy& p) { p.day_max = -5; }, "points_day_max");
  refused([](points::Policy& p) { p.expiry_years = 101; }, "points_expiry_years");
  refused([](points::Policy& p) { p.utc_offset_minutes = 900; }, "points_utc_offset_minutes");
}

class PointsTest : public MembersFixture {
 protected:
  void SetUp() override {
    MembersFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    auto lease = db_->store().acquire();
    ASSERT_OK(lease);
    std::vector<store::Migration> all(ledger::migrations().begin(), ledger::migrations().end());
    all.insert(all.end(), members::migrations().begin(), members::migrations().end());
    all.insert(all.end(), points::migrations().begin(), points::migrations().end());
    ASSERT_OK(store::migrate(**lease, all));
    points::Policy policy;
    policy.expiry_years = 1;  // earned in 2025: gone on 1 January 2027
    points_ = std::make_unique<points::Points>(db_->store(), *ledger_, clock_, policy);
    member_ = must_register(std::nullopt, "saver@example.com");
  }
  void TearDown() override {
    points_.reset();
    MembersFixture::TearDown();
  }

  static Id128 next_id() {
    static std::uint64_t n = 0;
    const auto digest = sha256("points-test-" + std::to_string(++n));
    return Id128::from_bytes(std::span<const std::uint8_t>(digest.data(), 16));
  }

  ledger::Transfer transfer(std::int64_t debit, std::int64_t credit, std::int64_t amount) {
    ledger::Transfer t;
    t.id = next_id();
    t.debit_account_id = debit;
    t.credit_account_id = credit;
    t.amount = amount;
    t.code = ledger::codes::operator_adjustment;
    return t;
  }

  // Credits `amount` points earned in `year`, as a crediting module does: one transaction.
  void earn(std::int64_t amount, std::int32_t year) {
    ASSERT_OK(db_->store().write([&](store::Connection& c) -> Result<void> {
      std::vector<ledger::Transfer> t{
          transfer(ledger::kPlatformPointsAccount, member_.points_account_id, amount)};
      auto applied = ledger_->create_transfers(c, t);
      if (!applied) return fail(applied.error());
      EXPECT_EQ(applied->statuses[0], ledger::TransferStatus::ok);
      const points::Earned e{member_.points_account_id, amount};
      return points::Points::record_earned(c, year, std::span(&e, 1));
    }));
  }

  ledger::TransferStatus spend(std::int64_t amount, std::uint32_t flags = 0) {
    auto t = transfer(member_.points_account_id, ledger::kPlatformPointsAccount, amount);
    t.flags = flags;
    last_spend_ = t.id;
    const std::vector<ledger::Transfer> one{t};
    auto r = ledger_->submit(one);
    EXPECT_TRUE(r.has_value());
    return r ? r->front() : ledger::TransferStatus::invalid_id;
  }

  std::int64_t balance() {
    auto a = ledger_->lookup_account(member_.points_account_id);
    EXPECT_TRUE(a.has_value());
    return a ? a->balance() : -1;
  }

  std::unique_ptr<points::Points> points_;
  members::MemberView member_;
  Id128 last_spend_;
};

TEST_P(PointsTest, OldestPointsExpireFirstAndSpendingCountsAgainstThem) {
  earn(1000, 2025);
  earn(500, 2026);
  ASSERT_EQ(spend(300), ledger::TransferStatus::ok);  // taken from 2025's points
  // Still 2026: nothing is due (2024 and before).
  auto now = points_->expire(at("2026-12-31T15:00:00Z"));
  ASSERT_OK(now);
  EXPECT_EQ(now->cutoff_year, 2024);
  EXPECT_EQ(now->points, 0);
  // The member sees what goes at the end of 2026.
  auto outlook = points_->outlook(member_.points_account_id, at("2026-11-20T00:00:00Z"));
  ASSERT_OK(outlook);
  EXPECT_EQ(outlook->balance, 1200);
  EXPECT_EQ(outlook->expiring_year, 2026);
  EXPECT_EQ(outlook->expiring_points, 700);
  ASSERT_EQ(outlook->earned_by_year.size(), 2u);
  EXPECT_EQ(outlook->earned_by_year[0].year, 2025);
  EXPECT_EQ(outlook->earned_by_year[0].points, 1000);
  // A dry run changes nothing.
  auto dry = points_->expire(at("2027-01-01T00:00:00+08:00"), true);
  ASSERT_OK(dry);
  EXPECT_EQ(dry->points, 700);
  EXPECT_EQ(balance(), 1200);
  // New Year in Beijing: the 700 left of 2025 expire; 2026's 500 stay.
  auto ran = points_->expire(at("2027-01-01T00:00:00+08:00"));
  ASSERT_OK(ran);
  EXPECT_EQ(ran->cutoff_year, 2025);
  EXPECT_EQ(ran->accounts, 1);
  EXPECT_EQ(ran->points, 700);
  EXPECT_EQ(balance(), 500);
  // Again: nothing more.
  auto again = points_->expire(at("2027-01-02T00:00:00+08:00"));
  ASSERT_OK(again);
  EXPECT_EQ(again->points, 0);
  EXPECT_EQ(balance(), 500);
  // The expiry went back to the issuer through the ledger.
  auto issuer = ledger_->lookup_account(ledger::kPlatformPointsAccount);
  ASSERT_OK(issuer);
}

TEST_P(PointsTest, HeldPointsAreNotTakenAndExpireOnceReleased) {
  earn(1000, 2025);
  ASSERT_EQ(spend(200, ledger::transfer_flags::pending), ledger::TransferStatus::ok);
  auto ran = points_->expire(at("2027-01-01T00:00:00+08:00"));
  ASSERT_OK(ran);
  EXPECT_EQ(ran->points, 800);  // the held 200 count as spent
  EXPECT_EQ(balance(), 200);
  // The order is cancelled: the hold is voided and its points come back, then expire too.
  ledger::Transfer v;
  v.id = next_id();
  v.pending_id = last_spend_;
  v.code = ledger::codes::operator_adjustment;
  v.flags = ledger::transfer_flags::void_pending;
  const std::vector<ledger::Transfer> one{v};
  auto voided = ledger_->submit(one);
  ASSERT_OK(voided);
  ASSERT_EQ(voided->front(), ledger::TransferStatus::ok);
  auto rerun = points_->expire(at("2027-01-01T01:00:00+08:00"));
  ASSERT_OK(rerun);
  EXPECT_EQ(rerun->points, 200);
  EXPECT_EQ(balance(), 0);
}

TEST_P(PointsTest, TheSchedulerRunsOncePerCutoffYear) {
  earn(100, 2025);
  auto first = points_->expire_if_due(at("2027-01-01T00:00:00+08:00"));
  ASSERT_OK(first);
  EXPECT_EQ(first->points, 100);
  earn(50, 2025);  // late: the year is done, the scheduler does not rescan it
  auto second = points_->expire_if_due(at("2027-01-01T00:10:00+08:00"));
  ASSERT_OK(second);
  EXPECT_EQ(second->points, 0);
  EXPECT_EQ(balance(), 50);
  // An operator's `tanpu points expire` still catches it.
  auto forced = points_->expire(at("2027-01-01T00:20:00+08:00"));
  ASSERT_OK(forced);
  EXPECT_EQ(forced->points, 50);
}

TEST_P(PointsTest, ManyAccountsAcrossChunks) {
  // 1,200 members' points accounts (more than two chunks of 500), 10 points of 2025 each.
  std::vector<std::int64_t> all;
  ASSERT_OK(db_->store().write([&](store::Connection& c) -> Result<void> {
    std::vector<ledger::NewAccount> accounts;
    for (int i = 0; i < 1'200; ++i) {
      accounts.push_back({ledger::Currency::points, "member", "m" + std::to_string(i),
                          ledger::account_flags::debits_must_not_exceed_credits});
    }
    auto ids = ledger_->create_accounts(c, accounts);
    if (!ids) return fail(ids.error());
    all = *ids;
    std::vector<ledger::Transfer> t;
    std::vector<points::Earned> e;
    for (const std::int64_t id : all) {
      t.push_back(transfer(ledger::kPlatformPointsAccount, id, 10));
      e.push_back({id, 10});
    }
    auto applied = ledger_->create_transfers(c, t);
    if (!applied) return fail(applied.error());
    return points::Points::record_earned(c, 2025, e);
  }));
  auto ran = points_->expire(at("2027-06-01T00:00:00+08:00"));
  ASSERT_OK(ran);
  EXPECT_EQ(ran->accounts, 1'200);
  EXPECT_EQ(ran->points, 12'000);
  for (const std::int64_t id : {all.front(), all[499], all[500], all.back()}) {
    auto a = ledger_->lookup_account(id);
    ASSERT_OK(a);
    EXPECT_EQ(a->balance(), 0);
  }
}

TEST_P(PointsTest, NoExpiryPolicyExpiresNothing) {
  points::Points never(db_->store(), *ledger_, clock_, points::Policy{});
  earn(100, 2020);
  auto ran = never.expire(at("2030-01-01T00:00:00Z"));
  ASSERT_OK(ran);
  EXPECT_FALSE(ran->enabled);
  EXPECT_EQ(balance(), 100);
  auto outlook = never.outlook(member_.points_account_id, at("2030-01-01T00:00:00Z"));
  ASSERT_OK(outlook);
  EXPECT_FALSE(outlook->expiry_enabled);
  EXPECT_EQ(outlook->expiring_points, 0);
}

TANPU_INSTANTIATE_ENGINES(PointsTest);

}  // namespace
}  // namespace tanpu::test
