// The ledger on real databases (SQLite and PostgreSQL): postings, idempotency, two-phase transfers,
// expiry, linked chains, history, hot accounts, concurrency and tamper detection.
#include <map>
#include <mutex>
#include <thread>

#include "ledger/chain.h"
#include "ledger_fixture.h"

namespace tanpu::ledger::testing {
namespace {

using S = TransferStatus;

TEST_P(LedgerTest, PlatformAccountsExistAndAreHot) {
  const Account p = account(kPlatformPointsAccount);
  EXPECT_EQ(p.currency, Currency::points);
  EXPECT_EQ(p.flags, account_flags::hot);
  EXPECT_EQ(account(kPlatformCo2eAccount).currency, Currency::co2e_mg);
}

TEST_P(LedgerTest, CreditMovesBothSidesAndHotBalanceIsDerived) {
  const auto m = accounts(2);
  EXPECT_EQ(submit({transfer(kPlatformPointsAccount, m[0], 300),
                    transfer(kPlatformPointsAccount, m[1], 200)}),
            (std::vector<S>{S::ok, S::ok}));
  EXPECT_EQ(account(m[0]).balance(), 300);
  EXPECT_EQ(account(m[1]).balance(), 200);
  EXPECT_EQ(account(kPlatformPointsAccount).balance(), -500);
  // The platform row itself is never written by a batch: only its deltas are.
  EXPECT_EQ(count("SELECT debits_posted FROM ledger_balances WHERE account_id = 1"), 0);
  EXPECT_TRUE(verify_now().ok());
  ASSERT_TRUE(ledger->compact_hot_accounts().has_value());
  EXPECT_EQ(count("SELECT COUNT(*) FROM ledger_hot_deltas"), 0);
  EXPECT_EQ(account(kPlatformPointsAccount).balance(), -500);
  EXPECT_TRUE(verify_now().ok());
}

TEST_P(LedgerTest, SameIdAppliesOnceAndOtherContentConflicts) {
  const auto m = accounts(1);
  Transfer t = transfer(kPlatformPointsAccount, m[0], 100);
  EXPECT_EQ(submit({t}), std::vector<S>{S::ok});
  EXPECT_EQ(submit({t}), std::vector<S>{S::exists});
  Transfer other = t;
  other.amount = 101;
  EXPECT_EQ(submit({other}), std::vector<S>{S::conflict});
  EXPECT_EQ(account(m[0]).balance(), 100);
  EXPECT_EQ(count("SELECT COUNT(*) FROM ledger_transfers"), 1);
}

TEST_P(LedgerTest, RefusedTransfersWriteNothing) {
  const auto m = accounts(2);
  const auto co2 = accounts(1, Currency::co2e_mg);
  EXPECT_EQ(submit({transfer(m[0], m[1], 1), transfer(kPlatformPointsAccount, co2[0], 5),
                    transfer(kPlatformPointsAccount, 99999, 5), transfer(m[0], m[0], 5)}),
            (std::vector<S>{S::exceeds_credits, S::currency_mismatch, S::credit_account_not_found,
                            S::accounts_must_differ}));
  EXPECT_EQ(count("SELECT COUNT(*) FROM ledger_transfers"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM ledger_batches"), 0);
  EXPECT_TRUE(verify_now().ok());
}

TEST_P(LedgerTest, LinkedChainFailsWhole) {
  const auto m = accounts(2);
  EXPECT_EQ(submit({transfer(kPlatformPointsAccount, m[0], 50, transfer_flags::linked),
                    transfer(m[0], m[1], 60)}),
            (std::vector<S>{S::linked_event_failed, S::exceeds_credits}));
  EXPECT_EQ(account(m[0]).balance(), 0);
  EXPECT_EQ(account(kPlatformPointsAccount).balance(), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM ledger_transfers"), 0);
}

TEST_P(LedgerTest, AnOpenChainNeverLinksIntoAnotherRequest) {
  const auto m = accounts(2);
  // Two requests submitted together are coalesced into one batch; the first ends in an open
  // chain, which must fail alone instead of linking into the second request.
  std::vector<S> first, second;
  std::thread a([&] {
    first = submit({transfer(kPlatformPointsAccount, m[0], 5),
                    transfer(kPlatformPointsAccount, m[0], 7, transfer_flags::linked)});
  });
  std::thread b([&] { second = submit({transfer(kPlatformPointsAccount, m[1], 9)}); });
  a.join();
  b.join();
  EXPECT_EQ(first, (std::vector<S>{S::ok, S::linked_chain_open}));
  EXPECT_EQ(second, std::vector<S>{S::ok});
  EXPECT_EQ(account(m[0]).balance(), 5);
  EXPECT_EQ(account(m[1]).balance(), 9);
}

TEST_P(LedgerTest, PendingPostVoidAndExpiry) {
  const auto m = accounts(2);
  submit({transfer(kPlatformPointsAccount, m[0], 100)});
  Transfer hold = transfer(m[0], m[1], 40, transfer_flags::pending);
  hold.timeout_s = 60;
  EXPECT_EQ(submit({hold}), std::vector<S>{S::ok});
  EXPECT_EQ(account(m[0]).available(), 60);
  Transfer post;
  post.id = new_time_ordered_id();
  post.pending_id = hold.id;
  post.code = 5;
  post.flags = transfer_flags::post_pending;
  EXPECT_EQ(submit({post}), std::vector<S>{S::ok});
  EXPECT_EQ(account(m[1]).balance(), 40);
  EXPECT_EQ(account(m[0]).debits_pending, 0);
  Transfer again = post;
  again.id = new_time_ordered_id();
  EXPECT_EQ(submit({again}), std::vector<S>{S::pending_already_posted});

  Transfer hold2 = transfer(m[0], m[1], 30, transfer_flags::pending);
  hold2.timeout_s = 60;
  Transfer hold3 = transfer(m[0], m[1], 20, transfer_flags::pending);
  hold3.timeout_s = 10;
  submit({hold2, hold3});
  EXPECT_EQ(account(m[0]).available(), 10);
  Transfer void2;
  void2.id = new_time_ordered_id();
  void2.pending_id = hold2.id;
  void2.code = 5;
  void2.flags = transfer_flags::void_pending;
  EXPECT_EQ(submit({void2}), std::vector<S>{S::ok});
  EXPECT_EQ(account(m[0]).available(), 40);
  // hold3 times out: nothing before its time, then exactly it.
  EXPECT_EQ(ledger->expire_pending(clock.now_us()).value_or(-1), 0);
  clock.now += 11'000'000;
  Transfer late_post = post;
  late_post.id = new_time_ordered_id();
  late_post.pending_id = hold3.id;
  EXPECT_EQ(submit({late_post}), std::vector<S>{S::pending_expired});
  EXPECT_EQ(ledger->expire_pending(clock.now_us()).value_or(-1), 1);
  EXPECT_EQ(ledger->expire_pending(clock.now_us()).value_or(-1), 0);
  EXPECT_EQ(account(m[0]).available(), 60);
  EXPECT_EQ(account(m[0]).debits_pending, 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM ledger_pending WHERE state = 3"), 1);
  EXPECT_TRUE(verify_now().ok());
}

TEST_P(LedgerTest, JobErrorRollsBackItsTransfers) {
  const auto m = accounts(1);
  auto r = db->store().write([&](store::Connection& conn) -> Result<void> {
    std::vector<Transfer> ts = {transfer(kPlatformPointsAccount, m[0], 10)};
    auto b = ledger->create_transfers(conn, ts);
    EXPECT_TRUE(b.has_value());
    return fail(ErrorKind::invalid, "caller_changed_its_mind", "roll back");
  });
  EXPECT_FALSE(r.has_value());
  EXPECT_EQ(count("SELECT COUNT(*) FROM ledger_transfers"), 0);
  EXPECT_EQ(account(m[0]).balance(), 0);
  EXPECT_TRUE(verify_now().ok());
}

Error refused_for_test(TransferStatus s) {
  return Error{ErrorKind::conflict, "refused_" + std::string(to_string(s)), "refused", {}};
}

// Transfers deferred by the jobs of one transaction are written at its COMMIT as one batch (one
// chain link); a job rolled back takes its deferred transfers with it; one refused transfer fails
// the COMMIT with the caller's error for it and writes nothing.
TEST_P(LedgerTest, DeferredTransfersOfATransactionAreOneBatchAtCommit) {
  const auto m = accounts(3);
  auto r = db->store().write([&](store::Connection& conn) -> Result<void> {
    for (std::size_t job = 0; job < 3; ++job) {
      if (auto sp = conn.savepoint("job"); !sp) return sp;
      const Transfer t = transfer(kPlatformPointsAccount, m[job], 10);
      ledger->defer_transfers(conn, std::span(&t, 1), &refused_for_test);
      if (job == 1) {
        if (auto rb = conn.rollback_to("job"); !rb) return rb;
      }
      if (auto rel = conn.release("job"); !rel) return rel;
    }
    EXPECT_EQ(count("SELECT COUNT(*) FROM ledger_transfers"), 0);  // nothing before COMMIT
    return {};
  });
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(count("SELECT COUNT(*) FROM ledger_batches"), 1);
  EXPECT_EQ(account(m[0]).balance(), 10);
  EXPECT_EQ(account(m[1]).balance(), 0);
  EXPECT_EQ(account(m[2]).balance(), 10);

  // A refused one: the COMMIT fails with its error, and nothing of the transaction stays.
  r = db->store().write([&](store::Connection& conn) -> Result<void> {
    const Transfer ok = transfer(kPlatformPointsAccount, m[1], 5);
    const Transfer too_much = transfer(m[0], m[1], 11);
    ledger->defer_transfers(conn, std::span(&ok, 1), &refused_for_test);
    ledger->defer_transfers(conn, std::span(&too_much, 1), &refused_for_test);
    return {};
  });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "refused_exceeds_credits");
  EXPECT_EQ(count("SELECT COUNT(*) FROM ledger_batches"), 1);
  EXPECT_EQ(account(m[1]).balance(), 0);
  // The ledger's view after the rolled-back batch is the database's.
  EXPECT_EQ(submit({transfer(m[0], m[1], 10)}), std::vector<S>{S::ok});
  EXPECT_EQ(submit({transfer(m[0], m[1], 1)}), std::vector<S>{S::exceeds_credits});
  EXPECT_TRUE(verify_now().ok());
}

// The ledger keeps the balances it wrote in memory; a transaction that wrote them and then rolled
// back must not leave them behind for the next batch.
TEST_P(LedgerTest, ARolledBackBatchLeavesNothingForTheNextOne) {
  const auto m = accounts(2);
  ASSERT_EQ(submit({transfer(kPlatformPointsAccount, m[0], 100)}), std::vector<S>{S::ok});
  auto rolled_back = [&](Transfer t) {
    auto r = db->store().write([&](store::Connection& conn) -> Result<void> {
      std::vector<Transfer> ts = {t};
      auto b = ledger->create_transfers(conn, ts);
      EXPECT_TRUE(b.has_value());
      EXPECT_EQ(b ? b->statuses : std::vector<S>{}, std::vector<S>{S::ok});
      return fail(ErrorKind::invalid, "caller_changed_its_mind", "roll back");
    });
    EXPECT_FALSE(r.has_value());
  };
  // A spend undone: the points are still there.
  rolled_back(transfer(m[0], kPlatformPointsAccount, 100));
  EXPECT_EQ(submit({transfer(m[0], m[1], 60)}), std::vector<S>{S::ok});
  // A credit undone: it cannot be spent.
  rolled_back(transfer(kPlatformPointsAccount, m[1], 1'000));
  EXPECT_EQ(submit({transfer(m[1], m[0], 61)}), std::vector<S>{S::exceeds_credits});
  EXPECT_EQ(submit({transfer(m[1], m[0], 60)}), std::vector<S>{S::ok});
  EXPECT_EQ(account(m[0]).balance(), 100);
  EXPECT_EQ(account(m[1]).balance(), 0);
  EXPECT_EQ(account(m[0]).last_seq, count("SELECT MAX(seq) FROM ledger_transfers"));
  EXPECT_TRUE(verify_now().ok());
}

// A balance row deleted behind the ledger's back while its account is cached: on PostgreSQL the
// balance UPDATE changes fewer rows than the batch touched, and the batch fails and writes
// nothing, whether its writes are read (submit) or go with COMMIT (a transaction tail). (SQLite's
// multi-row upsert writes the row again; verify then names the account.)
TEST_P(LedgerTest, ABalanceRowMissingFailsTheBatchOnPostgres) {
  if (engine() != test::Engine::postgres) GTEST_SKIP() << "PostgreSQL's balance write only";
  const auto m = accounts(1);
  EXPECT_EQ(submit({transfer(kPlatformPointsAccount, m[0], 100)}), std::vector<S>{S::ok});
  exec("DELETE FROM ledger_balances WHERE account_id = " + std::to_string(m[0]));
  const Transfer more = transfer(kPlatformPointsAccount, m[0], 5);
  auto r = ledger->submit(std::span(&more, 1));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "ledger_write_mismatch");
  auto deferred = db->store().write([&](store::Connection& conn) -> Result<void> {
    ledger->defer_transfers(conn, std::span(&more, 1), &refused_for_test);
    return {};
  });
  EXPECT_FALSE(deferred.has_value());
  EXPECT_EQ(count("SELECT COUNT(*) FROM ledger_transfers"), 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM ledger_batches"), 1);
}

// A batch of a few transfers reads its accounts by index, not by scanning every account. An IN
// list padded far past its keys (64 for two) made PostgreSQL expect 64 rows and, with a few
// thousand accounts, read both tables whole: about 0.9 ms per batch, with the chain head held.
TEST_P(LedgerTest, ASmallBatchReadsItsAccountsByIndexOnPostgres) {
  if (engine() != test::Engine::postgres) GTEST_SKIP() << "PostgreSQL's planner";
  const auto m = accounts(4000);
  exec("ANALYZE ledger_accounts");
  exec("ANALYZE ledger_balances");
  Ledger fresh(db->store(), clock);  // nothing cached: it reads the accounts it needs
  std::vector<Transfer> ts{transfer(kPlatformPointsAccount, m[0], 100)};
  std::int64_t scans = -1;
  auto applied = db->store().write([&](store::Connection& conn) -> Result<void> {
    auto r = fresh.create_transfers(conn, ts);
    if (!r) return fail(r.error());
    EXPECT_EQ(r->statuses, std::vector<S>{S::ok});
    // This transaction's own counts so far.
    auto rows = conn.query(
        "SELECT COALESCE(SUM(seq_scan), 0) FROM pg_stat_xact_user_tables WHERE relname IN "
        "('ledger_accounts', 'ledger_balances')");
    if (!rows) return fail(rows.error());
    scans = rows->i64(0, 0);
    return {};
  });
  ASSERT_OK(applied);
  EXPECT_EQ(scans, 0);
  EXPECT_EQ(account(m[0]).balance(), 100);
}

// Two servers on one database: each sees the other's batches, though each keeps balances.
TEST_P(LedgerTest, TwoLedgersOnOneDatabaseSeeEachOthersBatches) {
  Ledger other(db->store(), clock);
  const auto m = accounts(2);
  auto on = [](Ledger& l, std::vector<Transfer> ts) {
    auto r = l.submit(ts);
    EXPECT_TRUE(r.has_value());
    return r.value_or(std::vector<S>{});
  };
  EXPECT_EQ(on(*ledger, {transfer(kPlatformPointsAccount, m[0], 100)}), std::vector<S>{S::ok});
  EXPECT_EQ(on(other, {transfer(m[0], m[1], 100)}), std::vector<S>{S::ok});
  EXPECT_EQ(on(*ledger, {transfer(m[0], m[1], 1)}), std::vector<S>{S::exceeds_credits});
  EXPECT_EQ(on(*ledger, {transfer(m[1], m[0], 30)}), std::vector<S>{S::ok});
  EXPECT_EQ(on(other, {transfer(m[0], m[1], 31)}), std::vector<S>{S::exceeds_credits});
  EXPECT_EQ(on(other, {transfer(m[0], m[1], 30)}), std::vector<S>{S::ok});
  EXPECT_EQ(on(*ledger, {transfer(m[0], m[1], 1)}), std::vector<S>{S::exceeds_credits});
  EXPECT_EQ(account(m[1]).balance(), 100);
  // Both servers' histories are one list per account.
  const std::int64_t one[] = {m[1]};
  auto page = ledger->list_transfers(one, "", 10);
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->transfers.size(), 3u);
  EXPECT_TRUE(verify_now().ok());
}

TEST_P(LedgerTest, HistoryPagesNewestFirstWithoutGapsOrOverlap) {
  const auto m = accounts(2);
  for (int i = 0; i < 25; ++i)
    submit({transfer(kPlatformPointsAccount, m[i % 2 == 0 ? 0 : 1], i + 1)});
  submit({transfer(m[0], m[1], 3)});
  std::vector<std::int64_t> seqs;
  std::string cursor;
  const std::int64_t both[] = {m[0], m[1]};
  for (int page = 0; page < 10; ++page) {
    auto p = ledger->list_transfers(both, cursor, 10);
    ASSERT_TRUE(p.has_value());
    for (const auto& t : p->transfers) seqs.push_back(t.seq);
    cursor = p->next_cursor;
    if (cursor.empty()) break;
  }
  EXPECT_EQ(seqs.size(), 26u);
  EXPECT_TRUE(std::is_sorted(seqs.rbegin(), seqs.rend()));
  EXPECT_EQ(std::adjacent_find(seqs.begin(), seqs.end()), seqs.end());
  EXPECT_FALSE(ledger->list_transfers(both, "zz", 10).has_value());
  EXPECT_EQ(ledger->list_transfers(both, "", 0).error().code, "limit_out_of_range");
}

TEST_P(LedgerTest, ConcurrentSubmittersKeepInvariants) {
  const auto m = accounts(20);
  std::vector<std::thread> threads;
  for (int c = 0; c < 8; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937 rng(static_cast<unsigned>(c));
      std::uniform_int_distribution<std::size_t> pick(0, m.size() - 1);
      std::uniform_int_distribution<std::int64_t> amount(1, 50);
      for (int round = 0; round < 20; ++round) {
        std::vector<Transfer> ts;
        for (int i = 0; i < 20; ++i) {
          const std::size_t a = pick(rng);
          const std::size_t b = (a + 1 + pick(rng) % (m.size() - 1)) % m.size();
          ts.push_back(rng() % 2 == 0 ? transfer(kPlatformPointsAccount, m[a], amount(rng))
                                      : transfer(m[a], m[b], amount(rng)));
        }
        (void)ledger->submit(ts);
      }
    });
  }
  for (auto& t : threads) t.join();
  const VerifyReport r = verify_now();
  EXPECT_TRUE(r.ok()) << (r.problems.empty() ? "" : r.problems.front());
  EXPECT_GT(r.transfers, 0);
  for (auto id : m) EXPECT_GE(account(id).balance(), 0);
}

TEST_P(LedgerTest, TwoLedgersSubmittingAtOnceKeepExactBalances) {
  two_ledgers_at_once(6, 8);
}

TEST_P(LedgerTest, TwoLedgersSubmittingLargeBatchesAtOnceKeepExactBalances) {
  two_ledgers_at_once(400, 150);
}

// A database migrated by an earlier tanpu (ledger schema 1: balances in ledger_accounts, seq a
// separate primary key) keeps every balance, history and chain link through migrations 2 and 3.
TEST_P(LedgerTest, AnEarlierSchemaKeepsItsLedgerThroughTheMigrations) {
  ledger.reset();
  db = std::make_unique<test::TestStore>(engine());
  auto lease = (*db)->acquire();
  ASSERT_TRUE(lease.has_value());
  ASSERT_TRUE(store::migrate(**lease, migrations().first(1)).has_value());
  Transfer t = transfer(kPlatformPointsAccount, 3, 500);
  t.seq = make_seq(1, 0);
  t.timestamp_us = 1'700'000'000'000'000;
  const Sha256Digest link = link_hash(Sha256Digest{}, 1, 1, std::span(&t, 1));
  const auto id = t.id.to_bytes();
  const std::string hash = to_hex(link);
  for (const std::string& sql :
       {std::string("INSERT INTO ledger_accounts (currency, owner_kind, owner_id, flags, "
                    "created_at_us, credits_posted, last_seq) VALUES (1, 'member', '7', 1, 0, "
                    "500, ") +
            std::to_string(t.seq) + ")",
        std::string("INSERT INTO ledger_batches (chain_pos, prev_hash, hash, transfer_count, "
                    "created_at_us) VALUES (1, '") +
            std::string(64, '0') + "', '" + hash + "', 1, 0)",
        "UPDATE ledger_chain_head SET chain_pos = 1, hash = '" + hash + "'",
        std::string("INSERT INTO ledger_hot_deltas (batch_id, account_id, debits_pending, "
                    "debits_posted, credits_pending, credits_posted) VALUES (1, 1, 0, 500, 0, "
                    "0)")}) {
    ASSERT_TRUE((*lease)->exec(sql).has_value()) << sql;
  }
  ASSERT_TRUE((*lease)
                  ->exec("INSERT INTO ledger_transfers (seq, id, debit_account_id, "
                         "credit_account_id, amount, pending_id, timeout_s, code, flags, "
                         "reference, timestamp_us, debit_prev_seq, credit_prev_seq) VALUES (?, ?, "
                         "1, 3, 500, NULL, 0, 5, 0, '', ?, 0, 0)",
                         {t.seq, std::span<const std::uint8_t>(id), t.timestamp_us})
                  .has_value());
  auto applied = store::migrate(**lease, migrations());
  ASSERT_TRUE(applied.has_value()) << applied.error().message;
  EXPECT_EQ(*applied, 3);
  ledger = std::make_unique<Ledger>(db->store(), clock);
  EXPECT_EQ(account(3).balance(), 500);
  EXPECT_EQ(account(3).last_seq, t.seq);
  EXPECT_EQ(account(kPlatformPointsAccount).balance(), -500);
  const std::int64_t one[] = {3};
  auto page = ledger->list_transfers(one, "", 10);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->transfers.size(), 1u);
  EXPECT_EQ(page->transfers[0].id, t.id);
  EXPECT_TRUE(verify_now().ok());
  // And the upgraded ledger goes on: a second batch links to the first.
  EXPECT_EQ(submit({transfer(3, kPlatformPointsAccount, 200)}), std::vector<S>{S::ok});
  EXPECT_EQ(account(3).balance(), 300);
  const VerifyReport r = verify_now();
  EXPECT_TRUE(r.ok()) << (r.problems.empty() ? "" : r.problems.front());
}

TEST_P(LedgerTest, VerifyNamesTheTamperedBatch) {
  const auto m = accounts(2);
  submit({transfer(kPlatformPointsAccount, m[0], 100)});
  submit({transfer(kPlatformPointsAccount, m[1], 200)});
  submit({transfer(kPlatformPointsAccount, m[1], 300)});
  ASSERT_TRUE(verify_now().ok());
  // Someone edits the second batch's transfer behind tanpu's back.
  exec("UPDATE ledger_transfers SET amount = 2000 WHERE amount = 200");
  const VerifyReport r = verify_now();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.problems.front().find("chain position 2"), std::string::npos) << r.problems.front();
}

TEST_P(LedgerTest, VerifyCatchesBalanceEditsAndDeletedTransfers) {
  const auto m = accounts(2);
  submit({transfer(kPlatformPointsAccount, m[0], 100)});
  exec("UPDATE ledger_balances SET credits_posted = 1000000 WHERE account_id = " +
       std::to_string(m[0]));
  VerifyReport r = verify_now();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.problems.front().find("account " + std::to_string(m[0])), std::string::npos);
  exec("UPDATE ledger_balances SET credits_posted = 100 WHERE account_id = " +
       std::to_string(m[0]));
  ASSERT_TRUE(verify_now().ok());
  exec("DELETE FROM ledger_transfers");
  r = verify_now();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.problems.front().find("chain position 1"), std::string::npos) << r.problems.front();
}

TEST_P(LedgerTest, VerifyCatchesAHeadWhoseBatchIdIsBehind) {
  const auto m = accounts(1);
  submit({transfer(kPlatformPointsAccount, m[0], 5)});
  submit({transfer(kPlatformPointsAccount, m[0], 6)});
  ASSERT_TRUE(verify_now().ok());
  exec("UPDATE ledger_chain_head SET last_batch_id = 1");
  const VerifyReport r = verify_now();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.problems.front().find("last batch id is behind"), std::string::npos)
      << r.problems.front();
}

TEST_P(LedgerTest, VerifyCatchesABrokenHistoryList) {
  const auto m = accounts(1);
  submit({transfer(kPlatformPointsAccount, m[0], 1)});
  submit({transfer(kPlatformPointsAccount, m[0], 2)});
  ASSERT_TRUE(verify_now().ok());
  exec("UPDATE ledger_transfers SET credit_prev_seq = 0 WHERE amount = 2");
  const VerifyReport r = verify_now();
  ASSERT_FALSE(r.ok());
  bool named = false;
  for (const auto& p : r.problems)
    named |= p.find("breaks the history of account") != std::string::npos;
  EXPECT_TRUE(named);
}

TEST(BalanceCache, ServesOnlyAtTheHeadItWasStoredAtAndStaysBounded) {
  BalanceCache cache(16);
  Snapshot written;
  for (std::int64_t id = 10; id < 40; ++id) {
    Account a;
    a.id = id;
    a.flags = account_flags::debits_must_not_exceed_credits;
    a.credits_posted = id * 100;
    a.last_seq = id;
    written.accounts.emplace(id, AccountState{a, true});
  }
  Account hot;
  hot.id = 1;
  hot.flags = account_flags::hot;
  written.accounts.emplace(1, AccountState{hot, true});
  const ChainLink h0{}, h1{1, Sha256Digest{1}}, h2{2, Sha256Digest{2}};
  cache.store(h0, h1, written);
  EXPECT_LE(cache.size(), 16u);  // 30 written, bounded; the hot account is never kept
  EXPECT_GE(cache.size(), 14u);
  std::vector<std::int64_t> ids;
  for (std::int64_t id = 10; id < 40; ++id) ids.push_back(id);
  Snapshot read;
  const auto missing = cache.take(h1, ids, read);
  EXPECT_EQ(missing.size() + read.accounts.size(), ids.size());
  for (const auto& [id, st] : read.accounts) {
    EXPECT_EQ(st.account.credits_posted, id * 100);
    EXPECT_EQ(st.account.last_seq, id);
    EXPECT_FALSE(st.touched);
  }
  // Another head: nothing is served, and the cache is empty until a batch stores again.
  Snapshot none;
  EXPECT_EQ(cache.take(h2, ids, none).size(), ids.size());
  EXPECT_TRUE(none.accounts.empty());
  EXPECT_EQ(cache.size(), 0u);
  // A batch that started at a head the cache was not stored at keeps only its own accounts.
  cache.store(h0, h1, written);
  Snapshot one;
  one.accounts.emplace(10, written.accounts.at(10));
  cache.store(h1, h2, one);  // started at h1: the rest stays
  EXPECT_GT(cache.size(), 1u);
  cache.store(h0, h2, one);  // started elsewhere: only its own
  EXPECT_EQ(cache.size(), 1u);
}

// Rows read ahead of the head lock are kept only when read at a link of the cache's run, and
// never over what a batch stored since.
TEST(BalanceCache, KeepsReadsAheadOnlyFromALinkOfItsRun) {
  auto account = [](std::int64_t id, std::int64_t credits) {
    Account a;
    a.id = id;
    a.credits_posted = credits;
    return a;
  };
  auto served = [](BalanceCache& cache, const ChainLink& head, std::int64_t id) {
    Snapshot s;
    const std::int64_t ids[] = {id};
    (void)cache.take(head, ids, s);
    return s.accounts.contains(id) ? s.accounts.at(id).account.credits_posted : -1;
  };
  BalanceCache cache(1000);
  const ChainLink h0{}, h1{1, Sha256Digest{1}}, h2{2, Sha256Digest{2}}, h3{3, Sha256Digest{3}};
  // Empty: a read ahead becomes the cache, at the head it was read with.
  const Account at_h0[] = {account(10, 5), account(11, 7)};
  EXPECT_TRUE(cache.prefill(h0, at_h0));
  EXPECT_EQ(cache.absent(std::vector<std::int64_t>{10, 11, 12}), std::vector<std::int64_t>{12});
  // A batch from h0 to h1 touches 11: a row of 11 read at h0 is stale and must not replace it,
  // and 12 (untouched since h0) is taken.
  Snapshot batch;
  batch.accounts.emplace(11, AccountState{account(11, 9), true});
  cache.store(h0, h1, batch);
  const Account late[] = {account(11, 7), account(12, 3)};
  EXPECT_TRUE(cache.prefill(h0, late));
  EXPECT_EQ(served(cache, h1, 11), 9);
  EXPECT_EQ(served(cache, h1, 12), 3);
  EXPECT_EQ(served(cache, h1, 10), 5);
  // Read at a head the cache never moved through (another server's): dropped.
  const Account foreign[] = {account(13, 1)};
  EXPECT_FALSE(cache.prefill(h2, foreign));
  EXPECT_EQ(cache.absent(std::vector<std::int64_t>{13}), std::vector<std::int64_t>{13});
  // Once the cache drops everything (its head was not the locked one), a batch's run starts at the
  // head it locked: reads ahead at that head are kept, at older ones not.
  EXPECT_EQ(served(cache, h2, 10), -1);
  cache.store(h2, h3, batch);
  EXPECT_TRUE(cache.prefill(h2, foreign));
  EXPECT_FALSE(cache.prefill(h1, std::vector<Account>{account(14, 1)}));
  EXPECT_EQ(served(cache, h3, 13), 1);
  EXPECT_EQ(served(cache, h3, 14), -1);
}

// Past capacity a batch drops arbitrary entries, so an absent account may have changed since any
// earlier link: reads ahead from before are refused.
TEST(BalanceCache, RefusesReadsAheadFromBeforeAnEviction) {
  BalanceCache cache(8);
  const ChainLink h0{}, h1{1, Sha256Digest{1}};
  Snapshot batch;
  for (std::int64_t id = 1; id <= 12; ++id) {
    Account a;
    a.id = id + 100;
    batch.accounts.emplace(a.id, AccountState{a, true});
  }
  cache.store(h0, h1, batch);
  EXPECT_LE(cache.size(), 8u);
  Account a;
  a.id = 5;
  EXPECT_FALSE(cache.prefill(h0, std::span<const Account>(&a, 1)));
  EXPECT_TRUE(cache.prefill(h1, std::span<const Account>(&a, 1)));
}

TANPU_INSTANTIATE_ENGINES(LedgerTest);

}  // namespace
}  // namespace tanpu::ledger::testing
