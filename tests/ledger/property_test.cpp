// Randomised: thousands of transfers in random batches (single, pending, post, void, expiry,
// replays, conflicts, linked chains that fail, cross-currency), on both engines. After every batch:
// each answer is consistent with what is stored, balances equal a model built from the answers,
// per-currency sums are zero and no limited account is negative. Every 25 batches: full verify.
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "ledger_fixture.h"

namespace tanpu::ledger::testing {
namespace {

using S = TransferStatus;

struct ModelPending {
  std::int64_t debit, credit, amount, expires_at_us;
  bool open = true;
};

class PropertyTest : public LedgerTest {
 protected:
  void SetUp() override {
    LedgerTest::SetUp();
    points = accounts(6);
    co2 = accounts(2, Currency::co2e_mg);
    sink = accounts(1, Currency::points, account_flags::credit_only)[0];
    all = points;
    all.insert(all.end(), co2.begin(), co2.end());
    all.push_back(sink);
    all.push_back(kPlatformPointsAccount);
    all.push_back(kPlatformCo2eAccount);
  }

  std::int64_t pick(const std::vector<std::int64_t>& from) { return from[rng() % from.size()]; }
  std::int64_t amount() { return 1 + static_cast<std::int64_t>(rng() % 500); }

  Transfer random_transfer() {
    const auto kind = rng() % 100;
    if (kind < 25) return transfer(kPlatformPointsAccount, pick(points), amount());
    if (kind < 35) return transfer(kPlatformCo2eAccount, pick(co2), amount());
    if (kind < 55) {
      const auto a = pick(points);
      auto b = pick(points);
      if (b == a) b = sink;
      return transfer(a, b, amount());
    }
    if (kind < 70) {
      Transfer t = transfer(pick(points), rng() % 2 ? sink : pick(points), amount(),
                            transfer_flags::pending);
      if (t.debit_account_id == t.credit_account_id) t.credit_account_id = sink;
      t.timeout_s = rng() % 3 == 0 ? 0 : 1 + static_cast<std::int64_t>(rng() % 4);
      return t;
    }
    if (kind < 85 && !pending_ids.empty()) {
      Transfer t;
      t.id = new_time_ordered_id();
      t.code = 5;
      t.pending_id = pending_ids[rng() % pending_ids.size()];
      const bool post = rng() % 2 == 0;
      t.flags = post ? transfer_flags::post_pending : transfer_flags::void_pending;
      const std::int64_t held = model_pending.at(t.pending_id).amount;
      t.amount =
          post ? (rng() % 3 == 0 ? 0 : 1 + static_cast<std::int64_t>(rng()) % (held + 1)) : 0;
      return t;
    }
    if (kind < 90)
      return transfer(kPlatformPointsAccount, pick(co2), amount());  // currency mismatch
    if (kind < 95 && !applied.empty()) {
      Transfer t = applied[rng() % applied.size()];  // a replay, exactly as first sent
      return t;
    }
    if (!applied.empty()) {
      Transfer t = applied[rng() % applied.size()];
      t.reference = "changed";  // same id, other content
      return t;
    }
    return transfer(kPlatformPointsAccount, pick(points), amount());
  }

  // The effects of an applied transfer on the model, from what the client sent and the answer.
  void model_apply(const Transfer& t) {
    if ((t.flags & transfer_flags::pending) != 0) {
      const std::int64_t exp = t.timeout_s == 0 ? 0 : clock.now_us() + t.timeout_s * 1'000'000;
      model_pending[t.id] = {t.debit_account_id, t.credit_account_id, t.amount, exp, true};
      pending_ids.push_back(t.id);
      pend[t.debit_account_id].first += t.amount;
      pend[t.credit_account_id].second += t.amount;
      return;
    }
    if ((t.flags & (transfer_flags::post_pending | transfer_flags::void_pending)) != 0) {
      ModelPending& p = model_pending.at(t.pending_id);
      ASSERT_TRUE(p.open) << "a closed pending transfer was resolved again";
      p.open = false;
      pend[p.debit].first -= p.amount;
      pend[p.credit].second -= p.amount;
      if ((t.flags & transfer_flags::post_pending) != 0) {
        const std::int64_t amt = t.amount == 0 ? p.amount : t.amount;
        posted[p.debit].first += amt;
        posted[p.credit].second += amt;
      }
      return;
    }
    posted[t.debit_account_id].first += t.amount;
    posted[t.credit_account_id].second += t.amount;
  }

  void check_model() {
    std::map<Currency, std::int64_t> sums;
    for (std::int64_t id : all) {
      const Account a = account(id);
      ASSERT_EQ(a.debits_posted, posted[id].first) << "account " << id;
      ASSERT_EQ(a.credits_posted, posted[id].second) << "account " << id;
      ASSERT_EQ(a.debits_pending, pend[id].first) << "account " << id;
      ASSERT_EQ(a.credits_pending, pend[id].second) << "account " << id;
      sums[a.currency] += a.balance();
      if ((a.flags & account_flags::debits_must_not_exceed_credits) != 0) {
        ASSERT_GE(a.available(), 0) << "account " << id;
      }
      if ((a.flags & account_flags::credit_only) != 0) {
        ASSERT_EQ(a.debits_posted, 0);
      }
    }
    for (const auto& [c, s] : sums) ASSERT_EQ(s, 0) << "currency " << to_string(c);
  }

  void run_batch() {
    std::vector<Transfer> batch;
    const std::size_t n = 1 + rng() % 30;
    for (std::size_t i = 0; i < n; ++i) batch.push_back(random_transfer());
    // Sometimes a linked chain whose last transfer cannot apply.
    std::size_t chain_from = batch.size();
    if (rng() % 5 == 0) {
      chain_from = batch.size();
      batch.push_back(transfer(kPlatformPointsAccount, pick(points), 5, transfer_flags::linked));
      batch.push_back(transfer(pick(points), sink, INT64_MAX / 2));  // exceeds credits
    }
    const auto statuses = submit(batch);
    ASSERT_EQ(statuses.size(), batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const Transfer& t = batch[i];
      const bool seen = applied_ids.contains(t.id);
      if (i >= chain_from) {
        ASSERT_NE(statuses[i], S::ok) << "a failed chain applied";
      }
      if (statuses[i] == S::ok) {
        ASSERT_FALSE(seen) << "an id applied twice";
        applied_ids.insert(t.id);
        applied.push_back(t);
        model_apply(t);
      } else if (statuses[i] == S::exists) {
        ASSERT_TRUE(seen);
      } else if (statuses[i] == S::conflict) {
        ASSERT_TRUE(seen);
      } else {
        ASSERT_FALSE(seen && t.reference != "changed") << to_string(statuses[i]);
      }
    }
    ++transfers_sent;
  }

  void maybe_expire() {
    clock.now += static_cast<std::int64_t>(rng() % 1'500'000);
    if (rng() % 4 != 0) return;
    std::int64_t due = 0;
    for (auto& [id, p] : model_pending) {
      if (p.open && p.expires_at_us != 0 && p.expires_at_us <= clock.now_us()) {
        ++due;
        p.open = false;
        pend[p.debit].first -= p.amount;
        pend[p.credit].second -= p.amount;
      }
    }
    EXPECT_EQ(ledger->expire_pending(clock.now_us()).value_or(-1), due);
  }

  std::mt19937_64 rng{20261121};
  std::vector<std::int64_t> points, co2, all;
  std::int64_t sink = 0;
  std::vector<Transfer> applied;
  std::unordered_set<Id128, Id128Hash> applied_ids;
  std::vector<Id128> pending_ids;
  std::unordered_map<Id128, ModelPending, Id128Hash> model_pending;
  std::map<std::int64_t, std::pair<std::int64_t, std::int64_t>> posted, pend;  // debits, credits
  int transfers_sent = 0;
};

TEST_P(PropertyTest, RandomSequencesKeepEveryInvariant) {
  constexpr int kBatches = 200;
  for (int b = 0; b < kBatches; ++b) {
    ASSERT_NO_FATAL_FAILURE(run_batch());
    ASSERT_NO_FATAL_FAILURE(maybe_expire());
    ASSERT_NO_FATAL_FAILURE(check_model());
    if (b % 25 == 24) {
      const VerifyReport r = verify_now();
      ASSERT_TRUE(r.ok()) << r.problems.front();
    }
  }
  EXPECT_GT(applied.size(), 1000u);
  const VerifyReport r = verify_now();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.transfers, count("SELECT COUNT(*) FROM ledger_transfers"));
}

TANPU_INSTANTIATE_ENGINES(PropertyTest);

}  // namespace
}  // namespace tanpu::ledger::testing
