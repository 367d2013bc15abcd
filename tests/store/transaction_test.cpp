// Transactions and savepoints on each engine.
#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <vector>

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
