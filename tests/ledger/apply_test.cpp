// The transfer rules, exercised on an in-memory snapshot (no database).
#include "ledger/apply.h"

#include <gtest/gtest.h>

namespace tanpu::ledger {
namespace {

using S = TransferStatus;

class ApplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    add(1, Currency::points, account_flags::hot);
    add(10, Currency::points, account_flags::debits_must_not_exceed_credits);
    add(11, Currency::points, account_flags::debits_must_not_exceed_credits);
    add(20, Currency::co2e_mg, account_flags::debits_must_not_exceed_credits);
    add(30, Currency::points, account_flags::credit_only);
  }
  void add(std::int64_t id, Currency c, std::uint32_t flags) {
    Account a;
    a.id = id;
    a.currency = c;
    a.flags = flags;
    snap.accounts.emplace(id, AccountState{a, false});
  }
  static Transfer t(std::uint64_t id, std::int64_t dr, std::int64_t cr, std::int64_t amount,
                    std::uint32_t flags = 0) {
    Transfer x;
    x.id = Id128{0, id};
    x.debit_account_id = dr;
    x.credit_account_id = cr;
    x.amount = amount;
    x.code = 7;
    x.flags = flags;
    return x;
  }
  std::vector<S> run(std::vector<Transfer> ts, std::int64_t now = 1'000'000) {
    last = apply_batch(snap, ts, ApplyContext{now, false});
    return last.statuses;
  }
  const Account& acc(std::int64_t id) { return snap.accounts.at(id).account; }

  Snapshot snap;
  Outcome last;
};

TEST_F(ApplyTest, SinglePhaseMovesBalancesBothSides) {
  EXPECT_EQ(run({t(1, 1, 10, 500)}), std::vector<S>{S::ok});
  EXPECT_EQ(acc(10).credits_posted, 500);
  EXPECT_EQ(acc(1).debits_posted, 500);
  ASSERT_EQ(last.applied.size(), 1u);
  EXPECT_EQ(last.applied[0].timestamp_us, 1'000'000);
}

TEST_F(ApplyTest, MemberAccountCannotGoNegative) {
  EXPECT_EQ(run({t(1, 1, 10, 100), t(2, 10, 11, 101), t(3, 10, 11, 100)}),
            (std::vector<S>{S::ok, S::exceeds_credits, S::ok}));
  EXPECT_EQ(acc(10).balance(), 0);
  EXPECT_EQ(acc(11).balance(), 100);
}

TEST_F(ApplyTest, StaticChecks) {
  Transfer zero_id = t(0, 1, 10, 5);
  Transfer no_code = t(2, 1, 10, 5);
  no_code.code = 0;
  Transfer long_ref = t(3, 1, 10, 5);
  long_ref.reference.assign(129, 'x');
  Transfer bad_flags = t(4, 1, 10, 5, 1U << 9);
  Transfer timeout_plain = t(5, 1, 10, 5);
  timeout_plain.timeout_s = 10;
  Transfer pending_id_set = t(6, 1, 10, 5);
  pending_id_set.pending_id = Id128{0, 99};
  EXPECT_EQ(run({zero_id, no_code, long_ref, bad_flags, timeout_plain, pending_id_set,
                 t(7, 1, 10, 0), t(8, 1, 10, -3), t(9, 10, 10, 1), t(10, 1, 999, 1),
                 t(11, 999, 10, 1), t(12, 1, 20, 1), t(13, 30, 10, 1),
                 t(14, 1, 10, 1, transfer_flags::expired | transfer_flags::void_pending)}),
            (std::vector<S>{S::invalid_id, S::invalid_code, S::reference_too_long, S::invalid_flags,
                            S::timeout_without_pending, S::pending_id_must_be_zero,
                            S::amount_must_be_positive, S::amount_must_be_positive,
                            S::accounts_must_differ, S::credit_account_not_found,
                            S::debit_account_not_found, S::currency_mismatch,
                            S::debit_account_credit_only, S::invalid_flags}));
  EXPECT_TRUE(last.applied.empty());
  EXPECT_EQ(acc(10).credits_posted, 0);
}

TEST_F(ApplyTest, SameIdTwiceInOneBatchIsExistsOrConflict) {
  Transfer other = t(1, 1, 10, 6);
  EXPECT_EQ(run({t(1, 1, 10, 5), t(1, 1, 10, 5), other}),
            (std::vector<S>{S::ok, S::exists, S::conflict}));
  EXPECT_EQ(acc(10).credits_posted, 5);
}

TEST_F(ApplyTest, StoredIdIsExistsOrConflict) {
  Transfer stored = t(1, 1, 10, 5);
  snap.existing.emplace(stored.id, stored);
  Transfer changed = t(1, 1, 10, 5);
  changed.reference = "other";
  EXPECT_EQ(run({t(1, 1, 10, 5), changed}), (std::vector<S>{S::exists, S::conflict}));
  EXPECT_EQ(acc(10).credits_posted, 0);
}

TEST_F(ApplyTest, LinkedChainIsAllOrNothing) {
  EXPECT_EQ(run({t(1, 1, 10, 50, transfer_flags::linked), t(2, 10, 11, 80)}),
            (std::vector<S>{S::linked_event_failed, S::exceeds_credits}));
  EXPECT_EQ(acc(10).credits_posted, 0);
  EXPECT_EQ(acc(1).debits_posted, 0);
  EXPECT_FALSE(snap.accounts.at(10).touched);
  EXPECT_TRUE(last.applied.empty());
  // The ids of a failed chain are free again.
  EXPECT_EQ(run({t(1, 1, 10, 50, transfer_flags::linked), t(2, 10, 11, 50)}),
            (std::vector<S>{S::ok, S::ok}));
  EXPECT_EQ(acc(11).credits_posted, 50);
}

TEST_F(ApplyTest, OpenChainAtEndOfRequestFails) {
  EXPECT_EQ(run({t(1, 1, 10, 5), t(2, 1, 10, 5, transfer_flags::linked)}),
            (std::vector<S>{S::ok, S::linked_chain_open}));
  EXPECT_EQ(acc(10).credits_posted, 5);
}

TEST_F(ApplyTest, PendingThenPostPartial) {
  run({t(1, 1, 10, 100)});
  Transfer hold = t(2, 10, 11, 60, transfer_flags::pending);
  hold.timeout_s = 30;
  EXPECT_EQ(run({hold}), std::vector<S>{S::ok});
  EXPECT_EQ(acc(10).debits_pending, 60);
  EXPECT_EQ(acc(10).available(), 40);
  ASSERT_EQ(last.new_pendings.size(), 1u);
  EXPECT_EQ(last.new_pendings[0].expires_at_us, 1'000'000 + 30'000'000);
  const PendingRecord stored = last.new_pendings[0];
  // More than available while held.
  EXPECT_EQ(run({t(3, 10, 11, 41)}), std::vector<S>{S::exceeds_credits});
  // Snapshot the stored pending as the repository would for the next batch.
  snap.pendings.emplace(hold.id, stored);
  Transfer post = t(4, 0, 0, 45, transfer_flags::post_pending);
  post.pending_id = hold.id;
  EXPECT_EQ(run({post}), std::vector<S>{S::ok});
  EXPECT_EQ(acc(10).debits_pending, 0);
  EXPECT_EQ(acc(10).balance(), 55);
  EXPECT_EQ(acc(11).credits_posted, 45);
  ASSERT_EQ(last.resolved.size(), 1u);
  EXPECT_EQ(last.resolved[0].state, PendingState::posted);
  EXPECT_EQ(last.applied[0].debit_account_id, 10);
}

TEST_F(ApplyTest, SecondPhaseRules) {
  run({t(1, 1, 10, 100)});
  Transfer hold = t(2, 10, 11, 60, transfer_flags::pending);
  hold.timeout_s = 1;
  run({hold});
  PendingRecord rec = last.new_pendings[0];
  snap.pendings.emplace(hold.id, rec);
  Transfer post_big = t(3, 0, 0, 61, transfer_flags::post_pending);
  post_big.pending_id = hold.id;
  Transfer post_wrong = t(4, 10, 1, 0, transfer_flags::post_pending);
  post_wrong.pending_id = hold.id;
  Transfer void_part = t(5, 0, 0, 10, transfer_flags::void_pending);
  void_part.pending_id = hold.id;
  Transfer missing = t(6, 0, 0, 0, transfer_flags::void_pending);
  missing.pending_id = Id128{0, 4242};
  Transfer not_pending = t(7, 0, 0, 0, transfer_flags::void_pending);
  not_pending.pending_id = Id128{0, 1};
  snap.existing.emplace(Id128{0, 1}, t(1, 1, 10, 100));
  Transfer no_pid = t(8, 0, 0, 0, transfer_flags::void_pending);
  EXPECT_EQ(run({post_big, post_wrong, void_part, missing, not_pending, no_pid}),
            (std::vector<S>{S::post_amount_exceeds_pending, S::pending_accounts_mismatch,
                            S::amount_must_match_pending, S::pending_not_found,
                            S::pending_not_pending, S::pending_id_required}));
  Transfer void_all = t(9, 0, 0, 0, transfer_flags::void_pending);
  void_all.pending_id = hold.id;
  Transfer post_after = t(10, 0, 0, 0, transfer_flags::post_pending);
  post_after.pending_id = hold.id;
  EXPECT_EQ(run({void_all, post_after}), (std::vector<S>{S::ok, S::pending_already_voided}));
  EXPECT_EQ(acc(10).debits_pending, 0);
  EXPECT_EQ(acc(10).balance(), 100);
}

TEST_F(ApplyTest, TimedOutPendingCannotBePostedButCanExpire) {
  run({t(1, 1, 10, 100)});
  Transfer hold = t(2, 10, 11, 60, transfer_flags::pending);
  hold.timeout_s = 1;
  run({hold}, 0);
  snap.pendings.emplace(hold.id, last.new_pendings[0]);
  Transfer post = t(3, 0, 0, 0, transfer_flags::post_pending);
  post.pending_id = hold.id;
  EXPECT_EQ(run({post}, 1'000'000), std::vector<S>{S::pending_expired});
  Transfer expiry = t(4, 0, 0, 0, transfer_flags::void_pending | transfer_flags::expired);
  expiry.pending_id = hold.id;
  last = apply_batch(snap, std::span<Transfer>(&expiry, 1), ApplyContext{2'000'000, true});
  EXPECT_EQ(last.statuses, std::vector<S>{S::ok});
  EXPECT_EQ(last.resolved[0].state, PendingState::expired);
  EXPECT_EQ(acc(10).available(), 100);
}

TEST_F(ApplyTest, PendingAndPostInOneBatch) {
  run({t(1, 1, 10, 100)});
  Transfer hold = t(2, 10, 11, 70, transfer_flags::pending);
  Transfer post = t(3, 0, 0, 0, transfer_flags::post_pending);
  post.pending_id = hold.id;
  EXPECT_EQ(run({hold, post}), (std::vector<S>{S::ok, S::ok}));
  EXPECT_EQ(acc(11).credits_posted, 70);
  EXPECT_EQ(acc(10).debits_pending, 0);
  EXPECT_EQ(last.new_pendings.size(), 1u);
  EXPECT_EQ(last.resolved.size(), 1u);
}

TEST_F(ApplyTest, OverflowIsRefused) {
  EXPECT_EQ(run({t(1, 1, 10, INT64_MAX)}), std::vector<S>{S::ok});
  EXPECT_EQ(run({t(2, 1, 11, INT64_MAX), t(3, 1, 10, 1)}),
            (std::vector<S>{S::overflow, S::overflow}));
  EXPECT_EQ(acc(10).credits_posted, INT64_MAX);
}

TEST_F(ApplyTest, RetriedChainAnswersExists) {
  std::vector<Transfer> chain = {t(1, 1, 10, 5, transfer_flags::linked), t(2, 1, 11, 5)};
  run(chain);
  for (auto& x : last.applied) snap.existing.emplace(x.id, x);
  EXPECT_EQ(run(chain), (std::vector<S>{S::exists, S::exists}));
}

}  // namespace
}  // namespace tanpu::ledger
