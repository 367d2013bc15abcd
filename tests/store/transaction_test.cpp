// Transactions and savepoints on each engine.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/postgres_connection.h"
#include "store/rows_tail.h"
#include "support/one_connection_test.h"
#include "support/test_store.h"

namespace tanpu::store {
namespace {

using test::OneConnectionTest;

class TransactionTest : public OneConnectionTest {
 protected:
  void SetUp() override {
    OneConnectionTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_OK(conn().exec_script("CREATE TABLE t (k BIGINT PRIMARY KEY)"));
    ASSERT_OK(conn().exec_script(test_tail::kTable));
  }
  void insert(Connection& c, std::int64_t k) {
    ASSERT_OK(c.exec("INSERT INTO t (k) VALUES (?)", {k}));
  }
  std::vector<std::int64_t> keys(Connection& c) {
    std::vector<std::int64_t> out;
    auto rows = c.query("SELECT k FROM t ORDER BY k");
    EXPECT_OK(rows);
    if (!rows) return out;
    for (std::size_t r = 0; r < rows->size(); ++r) out.push_back(rows->i64(r, 0));
    return out;
  }

  std::vector<std::int64_t> tail_keys() {
    std::vector<std::int64_t> out;
    auto rows = conn().query("SELECT k FROM t_tail ORDER BY k");
    EXPECT_OK(rows);
    if (!rows) return out;
    for (std::size_t r = 0; r < rows->size(); ++r) out.push_back(rows->i64(r, 0));
    return out;
  }
  void defer(std::int64_t k) { test_tail::defer_key(conn(), k, finishes_); }

  std::atomic<int> finishes_{0};
};

using Keys = std::vector<std::int64_t>;

TEST_P(TransactionTest, RollbackUndoesAndCommitKeeps) {
  EXPECT_FALSE(conn().in_transaction());
  ASSERT_OK(conn().begin());
  EXPECT_TRUE(conn().in_transaction());
  insert(conn(), 1);
  ASSERT_OK(conn().rollback());
  EXPECT_FALSE(conn().in_transaction());
  EXPECT_EQ(keys(conn()), Keys{});
  ASSERT_OK(conn().begin());
  insert(conn(), 2);
  ASSERT_OK(conn().commit());
  EXPECT_FALSE(conn().in_transaction());
  EXPECT_EQ(keys(conn()), Keys{2});
}

TEST_P(TransactionTest, UncommittedWorkIsInvisibleToOtherConnections) {
  auto other = db_->store().acquire();
  ASSERT_OK(other);
  ASSERT_OK(conn().begin());
  insert(conn(), 1);
  EXPECT_EQ(keys(**other), Keys{});
  ASSERT_OK(conn().commit());
  EXPECT_EQ(keys(**other), Keys{1});
}

TEST_P(TransactionTest, RollbackToUndoesExactlyTheInnerWork) {
  ASSERT_OK(conn().begin());
  insert(conn(), 1);
  ASSERT_OK(conn().savepoint("inner"));
  insert(conn(), 2);
  insert(conn(), 3);
  ASSERT_OK(conn().rollback_to("inner"));
  EXPECT_TRUE(conn().in_transaction());
  insert(conn(), 4);
  ASSERT_OK(conn().release("inner"));
  ASSERT_OK(conn().commit());
  EXPECT_EQ(keys(conn()), (Keys{1, 4}));
}

TEST_P(TransactionTest, NestedSavepointsUnwindOneLevelAtATime) {
  ASSERT_OK(conn().begin());
  ASSERT_OK(conn().savepoint("outer"));
  insert(conn(), 1);
  ASSERT_OK(conn().savepoint("inner"));
  insert(conn(), 2);
  ASSERT_OK(conn().rollback_to("inner"));
  ASSERT_OK(conn().release("inner"));
  EXPECT_EQ(keys(conn()), Keys{1});
  ASSERT_OK(conn().rollback_to("outer"));
  ASSERT_OK(conn().release("outer"));
  insert(conn(), 3);
  ASSERT_OK(conn().commit());
  EXPECT_EQ(keys(conn()), Keys{3});
}

TEST_P(TransactionTest, RollbackToRecoversFromAFailedStatement) {
  insert(conn(), 1);
  ASSERT_OK(conn().begin());
  insert(conn(), 2);
  ASSERT_OK(conn().savepoint("attempt"));
  auto duplicate = conn().exec("INSERT INTO t (k) VALUES (1)");
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code, kUniqueViolation);
  // On PostgreSQL the transaction is now aborted until the savepoint is rolled back.
  ASSERT_OK(conn().rollback_to("attempt"));
  ASSERT_OK(conn().release("attempt"));
  insert(conn(), 3);
  ASSERT_OK(conn().commit());
  EXPECT_EQ(keys(conn()), (Keys{1, 2, 3}));
}

// On PostgreSQL SAVEPOINT and RELEASE go to the server with the next statement (in one pipeline)
// and a savepoint left with nothing sent in between is never sent: the semantics must be those of
// commands sent at once, on both engines.
TEST_P(TransactionTest, SavepointsActAsIfSentAtOnce) {
  insert(conn(), 1);
  ASSERT_OK(conn().begin());
  ASSERT_OK(conn().savepoint("empty"));
  ASSERT_OK(conn().release("empty"));
  ASSERT_OK(conn().savepoint("undone"));
  ASSERT_OK(conn().rollback_to("undone"));  // nothing to undo: still open
  insert(conn(), 2);
  ASSERT_OK(conn().savepoint("attempt"));
  auto duplicate = conn().exec("INSERT INTO t (k) VALUES (1)");  // fails in the same pipeline
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code, kUniqueViolation);
  ASSERT_OK(conn().rollback_to("attempt"));
  ASSERT_OK(conn().release("attempt"));
  ASSERT_OK(conn().rollback_to("undone"));  // takes 2 with it
  ASSERT_OK(conn().savepoint("script"));
  ASSERT_OK(conn().exec_script("INSERT INTO t (k) VALUES (3); INSERT INTO t (k) VALUES (4)"));
  ASSERT_OK(conn().rollback_to("script"));
  ASSERT_OK(conn().savepoint("bulk"));
  const Param rows[] = {std::int64_t{5}, std::int64_t{6}};
  static constexpr std::string_view kColumns[] = {"k"};
  ASSERT_OK(conn().bulk_insert("t", kColumns, rows));
  ASSERT_OK(conn().rollback_to("bulk"));
  insert(conn(), 7);
  ASSERT_OK(conn().release("script"));
  ASSERT_OK(conn().commit());
  EXPECT_EQ(keys(conn()), (Keys{1, 7}));
}

TEST_P(TransactionTest, SavepointsCostNoRoundTripOfTheirOwnOnPostgres) {
  auto* pg = dynamic_cast<PostgresConnection*>(&conn());
  if (pg == nullptr) GTEST_SKIP() << "PostgreSQL only";
  insert(conn(), 100);  // prepares the statement
  const std::size_t before = pg->round_trips();
  ASSERT_OK(conn().begin());
  for (std::int64_t k = 1; k <= 3; ++k) {
    ASSERT_OK(conn().savepoint("job"));
    insert(conn(), k);
    ASSERT_OK(conn().release("job"));
  }
  ASSERT_OK(conn().savepoint("nothing"));
  ASSERT_OK(conn().release("nothing"));
  ASSERT_OK(conn().commit());
  EXPECT_EQ(pg->round_trips() - before, 5u);  // BEGIN, three INSERTs, COMMIT
  EXPECT_EQ(keys(conn()), (Keys{1, 2, 3, 100}));
}

TEST_P(TransactionTest, RunAllRunsInOrderAndStopsAtTheFirstFailure) {
  insert(conn(), 1);
  ASSERT_OK(conn().begin());
  ASSERT_OK(conn().savepoint("all"));
  std::vector<Statement> ok;
  ok.emplace_back("INSERT INTO t (k) VALUES (?), (?)").bind(std::int64_t{2}).bind(std::int64_t{3});
  ok.emplace_back("UPDATE t SET k = k + 10 WHERE k >= ?").bind(std::int64_t{2});
  ok.emplace_back("SELECT k FROM t ORDER BY k");
  ok.emplace_back("SELECT CAST(? AS TEXT)").bind_owned(std::string("kept \"text\""));
  auto results = conn().run_all(ok);
  ASSERT_OK(results);
  ASSERT_EQ(results->size(), 4u);
  EXPECT_EQ((*results)[0].changed, 2);
  EXPECT_EQ((*results)[1].changed, 2);
  EXPECT_EQ((*results)[2].changed, 0);
  ASSERT_EQ((*results)[2].rows.size(), 3u);  // the read sees the writes before it
  EXPECT_EQ((*results)[2].rows.i64(2, 0), 13);
  EXPECT_EQ((*results)[3].rows.text(0, 0), "kept \"text\"");
  ASSERT_OK(conn().release("all"));

  ASSERT_OK(conn().savepoint("failing"));
  std::vector<Statement> failing;
  failing.emplace_back("INSERT INTO t (k) VALUES (?)").bind(std::int64_t{4});
  failing.emplace_back("INSERT INTO t (k) VALUES (?)").bind(std::int64_t{1});  // duplicate
  failing.emplace_back("INSERT INTO t (k) VALUES (?)").bind(std::int64_t{5});  // never runs
  auto failed = conn().run_all(failing);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, kUniqueViolation);
  ASSERT_OK(conn().rollback_to("failing"));
  ASSERT_OK(conn().release("failing"));
  ASSERT_OK(conn().commit());
  EXPECT_EQ(keys(conn()), (Keys{1, 12, 13}));
  EXPECT_OK(conn().run_all({}));
}

TEST_P(TransactionTest, RunAllIsOneRoundTripOnPostgres) {
  auto* pg = dynamic_cast<PostgresConnection*>(&conn());
  if (pg == nullptr) GTEST_SKIP() << "PostgreSQL only";
  std::vector<Statement> three;
  for (std::int64_t k = 1; k <= 3; ++k) three.emplace_back("INSERT INTO t (k) VALUES (?)").bind(k);
  ASSERT_OK(conn().begin());
  ASSERT_OK(conn().run_all(three));  // prepares the statement (once)
  ASSERT_OK(conn().rollback());
  const std::size_t before = pg->round_trips();
  ASSERT_OK(conn().begin());
  ASSERT_OK(conn().savepoint("job"));
  ASSERT_OK(conn().run_all(three));
  ASSERT_OK(conn().release("job"));
  ASSERT_OK(conn().commit());
  EXPECT_EQ(pg->round_trips() - before, 3u);  // BEGIN, the savepoint with the three, COMMIT
  EXPECT_EQ(keys(conn()), (Keys{1, 2, 3}));
}

std::vector<Statement> inserts(std::initializer_list<std::int64_t> keys) {
  std::vector<Statement> out;
  for (std::int64_t k : keys) out.emplace_back("INSERT INTO t (k) VALUES (?)").bind(k);
  return out;
}

// Deferred statements take effect before whatever the connection does next, in order with its
// savepoints, and are checked when their results come; on SQLite at once.
TEST_P(TransactionTest, DeferredStatementsRunBeforeTheNextCallInOrder) {
  ASSERT_OK(conn().begin());
  ASSERT_OK(conn().run_deferred(inserts({1, 2})));
  EXPECT_EQ(keys(conn()), (Keys{1, 2}));  // the read carries them
  ASSERT_OK(conn().savepoint("sp"));
  ASSERT_OK(conn().run_deferred(inserts({3})));
  ASSERT_OK(conn().rollback_to("sp"));  // undoes 3, whether or not it was sent
  ASSERT_OK(conn().release("sp"));
  ASSERT_OK(conn().run_deferred(inserts({4})));
  ASSERT_OK(conn().exec_script("INSERT INTO t (k) VALUES (5)"));
  ASSERT_OK(conn().run_deferred(inserts({6})));
  const Param rows[] = {std::int64_t{7}};
  static constexpr std::string_view kColumns[] = {"k"};
  ASSERT_OK(conn().bulk_insert("t", kColumns, rows));
  ASSERT_OK(conn().run_deferred(inserts({8})));
  ASSERT_OK(conn().commit());  // carries 8
  EXPECT_EQ(keys(conn()), (Keys{1, 2, 4, 5, 6, 7, 8}));
  ASSERT_OK(conn().begin());
  ASSERT_OK(conn().run_deferred(inserts({9})));
  ASSERT_OK(conn().rollback());
  EXPECT_EQ(keys(conn()), (Keys{1, 2, 4, 5, 6, 7, 8}));
}

// A deferred statement that fails fails the call that carries it: here COMMIT, which then commits
// nothing (on SQLite the deferring call itself fails, and the caller rolls back).
TEST_P(TransactionTest, AFailingDeferredStatementFailsTheCallThatCarriesIt) {
  insert(conn(), 1);
  ASSERT_OK(conn().begin());
  auto deferred = conn().run_deferred(inserts({2, 1}));  // 1 is a duplicate
  Result<void> carried = deferred ? conn().commit() : deferred;
  ASSERT_FALSE(carried);
  EXPECT_EQ(carried.error().code, kUniqueViolation);
  if (conn().in_transaction()) ASSERT_OK(conn().rollback());
  EXPECT_EQ(keys(conn()), Keys{1});
}

TEST_P(TransactionTest, DeferredStatementsGoWithCommitOnPostgres) {
  auto* pg = dynamic_cast<PostgresConnection*>(&conn());
  if (pg == nullptr) GTEST_SKIP() << "PostgreSQL only";
  ASSERT_OK(conn().begin());
  ASSERT_OK(conn().run_all(inserts({1})));  // prepares the statement
  const std::size_t before = pg->round_trips();
  ASSERT_OK(conn().run_deferred(inserts({2, 3})));
  ASSERT_OK(conn().commit());
  EXPECT_EQ(pg->round_trips() - before, 1u);
  EXPECT_EQ(keys(conn()), (Keys{1, 2, 3}));
}

TEST_P(TransactionTest, CommitAfterAFailedStatementIsAnError) {
  insert(conn(), 1);
  ASSERT_OK(conn().begin());
  insert(conn(), 2);
  auto duplicate = conn().exec("INSERT INTO t (k) VALUES (1)");
  ASSERT_FALSE(duplicate);
  if (engine() == test::Engine::postgres) {
    // PostgreSQL turns COMMIT of a failed transaction into ROLLBACK: that must not look like
    // success.
    EXPECT_FALSE(conn().commit());
    EXPECT_EQ(keys(conn()), Keys{1});
  } else {
    // SQLite undoes only the failed statement.
    ASSERT_OK(conn().commit());
    EXPECT_EQ(keys(conn()), (Keys{1, 2}));
  }
  EXPECT_FALSE(conn().in_transaction());
}

TEST_P(TransactionTest, ALeaseReturnedMidTransactionIsRolledBack) {
  lease_.reset();
  {
    auto lease = db_->store().acquire();
    ASSERT_OK(lease);
    ASSERT_OK((*lease)->begin());
    insert(**lease, 7);
  }
  auto lease = db_->store().acquire();
  ASSERT_OK(lease);
  EXPECT_FALSE((*lease)->in_transaction());
  EXPECT_EQ(keys(**lease), Keys{});
}

// A tail's entries go in at COMMIT, all in one finish; entries added under a savepoint that is
// rolled back go with it (a tail first added there too), and a released savepoint keeps them.
TEST_P(TransactionTest, TailsFinishOnceAtCommitAndFollowSavepoints) {
  ASSERT_OK(conn().begin());
  ASSERT_OK(conn().savepoint("job"));
  defer(1);  // the tail itself is added inside "job"
  ASSERT_OK(conn().rollback_to("job"));
  EXPECT_EQ(conn().tail(&test_tail::kTag), nullptr);
  defer(2);
  ASSERT_OK(conn().release("job"));
  ASSERT_OK(conn().savepoint("job"));
  defer(3);
  ASSERT_OK(conn().savepoint("job"));  // the same name nested: the inner one is meant
  defer(4);
  ASSERT_OK(conn().rollback_to("job"));
  defer(5);
  ASSERT_OK(conn().release("job"));
  ASSERT_OK(conn().savepoint("other"));
  defer(6);
  ASSERT_OK(conn().savepoint("inner"));
  defer(7);
  ASSERT_OK(conn().rollback_to("other"));  // takes "inner" and its entries with it
  ASSERT_OK(conn().release("other"));
  ASSERT_OK(conn().release("job"));
  EXPECT_EQ(tail_keys(), Keys{});  // nothing before COMMIT
  ASSERT_OK(conn().commit());
  EXPECT_EQ(finishes_.load(), 1);
  EXPECT_EQ(tail_keys(), (Keys{2, 3, 5}));
  // A new transaction starts with no tail.
  ASSERT_OK(conn().begin());
  insert(conn(), 1);
  ASSERT_OK(conn().commit());
  EXPECT_EQ(finishes_.load(), 1);
}

// Records its name when it finishes, at its rank.
struct NamedTail final : TransactionTail {
  NamedTail(std::vector<std::string>* o, std::string n, int r)
      : order(o), name(std::move(n)), rank_(r) {}
  Result<void> finish(Connection& /*conn*/) override {
    order->push_back(name);
    return {};
  }
  std::size_t size() const override { return 1; }
  void truncate(std::size_t /*entries*/) override {}
  int rank() const override { return rank_; }
  std::vector<std::string>* order;
  std::string name;
  int rank_;
};

TEST_P(TransactionTest, TailsFinishByRankThenInTheOrderAdded) {
  std::vector<std::string> order;
  const char keys[4] = {};
  ASSERT_OK(conn().begin());
  conn().add_tail(&keys[0], std::make_unique<NamedTail>(&order, "late", 1));
  conn().add_tail(&keys[1], std::make_unique<NamedTail>(&order, "first", 0));
  conn().add_tail(&keys[2], std::make_unique<NamedTail>(&order, "later", 2));
  conn().add_tail(&keys[3], std::make_unique<NamedTail>(&order, "second", 0));
  ASSERT_OK(conn().commit());
  EXPECT_EQ(order, (std::vector<std::string>{"first", "second", "late", "later"}));
}

TEST_P(TransactionTest, ATailThatFailsRollsTheTransactionBack) {
  ASSERT_OK(conn().begin());
  insert(conn(), 1);
  defer(10);
  defer(-1);
  auto c = conn().commit();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, "negative_key");
  EXPECT_FALSE(conn().in_transaction());  // rolled back: nothing of it can be committed
  EXPECT_EQ(keys(conn()), Keys{});
  EXPECT_EQ(tail_keys(), Keys{});
  // Rolled back: the next transaction does not see the old entries.
  ASSERT_OK(conn().begin());
  defer(11);
  ASSERT_OK(conn().rollback());
  ASSERT_OK(conn().begin());
  defer(12);
  ASSERT_OK(conn().commit());
  EXPECT_EQ(tail_keys(), Keys{12});
}

TANPU_INSTANTIATE_ENGINES(TransactionTest);

}  // namespace
}  // namespace tanpu::store
