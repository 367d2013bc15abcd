// The store on each engine: group-committed writes, the read pool, retries, durability.
#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <atomic>

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store/rows_tail.h"
#include "store/store.h"
#include "support/test_store.h"

namespace tanpu::store {
namespace {

using test::EngineTest;
using test::TestStore;
using namespace std::chrono_literals;

class StoreTest : public EngineTest {
 protected:
  void open(std::function<void(Options&)> configure = {}) {
    db_.emplace(engine(), std::move(configure));
    ASSERT_OK(db_->store().write([](Connection& c) {
      return c.exec_script(
          "CREATE TABLE w (thread BIGINT NOT NULL, i BIGINT NOT NULL); "
          "CREATE TABLE u (k BIGINT PRIMARY KEY); INSERT INTO u (k) VALUES (0); "
          "CREATE TABLE counter (k BIGINT PRIMARY KEY, v BIGINT NOT NULL); "
          "INSERT INTO counter (k, v) VALUES (1, 0)");
    }));
  }
  void SetUp() override { open(); }
  Store& store() { return db_->store(); }
  std::int64_t scalar(std::string_view sql) {
    auto lease = store().acquire();
    EXPECT_OK(lease);
    if (!lease) return -1;
    auto rows = (*lease)->query(sql);
    EXPECT_OK(rows);
    return rows && !rows->empty() ? rows->i64(0, 0) : -1;
  }
  static Result<void> insert_w(Connection& c, std::int64_t thread, std::int64_t i) {
    auto r = c.exec("INSERT INTO w (thread, i) VALUES (?, ?)", {thread, i});
    if (!r) return std::unexpected(r.error());
    return {};
  }

  std::optional<TestStore> db_;
};

// Every 50th job writes a row and then fails on a unique violation, which must undo its own row
// (and, on PostgreSQL, recover the aborted transaction) without touching the others in its group.
TEST_P(StoreTest, SixteenThreadsOfJobsCommitExactlyOnceAndFailuresOnlyUndoThemselves) {
  constexpr int kThreads = 16;
  constexpr int kJobs = 500;
  std::atomic<int> ok{0};
  std::atomic<int> refused{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kJobs; ++i) {
        const bool bad = i % 50 == 49;
        auto r = store().write([&](Connection& c) -> Result<void> {
          if (auto w = insert_w(c, t, i); !w) return w;
          if (!bad) return {};
          auto dup = c.exec("INSERT INTO u (k) VALUES (0)");
          if (!dup) return std::unexpected(dup.error());
          return {};
        });
        if (r && !bad) ++ok;
        if (!r && bad && r.error().code == kUniqueViolation) ++refused;
        if (r.has_value() == bad) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(ok.load(), kThreads * (kJobs - kJobs / 50));
  EXPECT_EQ(refused.load(), kThreads * (kJobs / 50));
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM w"), kThreads * (kJobs - kJobs / 50));
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM (SELECT thread, i FROM w GROUP BY thread, i "
                   "HAVING COUNT(*) > 1) dup"),
            0);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM w WHERE i % 50 = 49"), 0);
}

// A deferred foreign key is checked only at COMMIT, so an orphan fails the whole group's commit:
// the other jobs of that group must still commit (each is run again alone).
TEST_P(StoreTest, AJobThatFailsTheGroupCommitFailsOnlyItself) {
  ASSERT_OK(store().write([](Connection& c) {
    return c.exec_script(
        "CREATE TABLE parent (k BIGINT PRIMARY KEY); INSERT INTO parent (k) VALUES (1); "
        "CREATE TABLE child (k BIGINT PRIMARY KEY, p BIGINT NOT NULL "
        "REFERENCES parent (k) DEFERRABLE INITIALLY DEFERRED)");
  }));
  constexpr int kThreads = 8;
  constexpr int kJobs = 40;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kJobs; ++i) {
        const std::int64_t k = t * kJobs + i;
        const bool orphan = i % 10 == 3;
        auto r = store().write([&](Connection& c) -> Result<void> {
          auto e = c.exec("INSERT INTO child (k, p) VALUES (?, ?)", {k, orphan ? 2 : 1});
          if (!e) return std::unexpected(e.error());
          return {};
        });
        if (r.has_value() == orphan) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM child"), kThreads * (kJobs - kJobs / 10));
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM child WHERE p <> 1"), 0);
}

// Jobs of many threads defer keys to their transaction's tail. A job that fails after deferring
// leaves no key; a job whose key makes the tail fail fails the group's COMMIT, and then only that
// job fails (the others run again alone); every other job's row and key are there exactly once.
TEST_P(StoreTest, TailsOfAGroupFinishOnceAndFailuresUndoOnlyTheirJob) {
  ASSERT_OK(store().write([](Connection& c) { return c.exec_script(test_tail::kTable); }));
  constexpr int kThreads = 8;
  constexpr int kJobs = 100;
  std::atomic<int> finishes{0};
  std::atomic<int> wrong{0};
  std::atomic<int> committed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kJobs; ++i) {
        const std::int64_t k = (t * kJobs) + i;
        const bool fails_itself = i % 10 == 4;
        const bool fails_tail = i % 25 == 7;
        auto r = store().write([&](Connection& c) -> Result<void> {
          if (auto w = insert_w(c, t, i); !w) return w;
          test_tail::defer_key(c, fails_tail ? -1 : k, finishes);
          if (fails_itself) return fail(ErrorKind::conflict, "job_refused", "refused");
          return {};
        });
        const bool ok = !fails_itself && !fails_tail;
        if (r.has_value() != ok) ++wrong;
        if (!r && fails_tail && !fails_itself && r.error().code != "negative_key") ++wrong;
        if (r) ++committed;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  const int expected = kThreads * (kJobs - (kJobs / 10) - (kJobs / 25));
  EXPECT_EQ(committed.load(), expected);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM w"), expected);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM t_tail"), expected);
  // Each committed key is its job's row.
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM t_tail JOIN w ON w.thread * 100 + w.i = t_tail.k"),
            expected);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM w WHERE i % 10 = 4 OR i % 25 = 7"), 0);
}

// PostgreSQL only: SQLite has no connection to lose.
TEST_P(StoreTest, WritesSurviveALostWriterConnection) {
  if (engine() != test::Engine::postgres) GTEST_SKIP() << "PostgreSQL only";
  for (int round = 0; round < 3; ++round) {
    auto writer_pid = store().write_value<std::int64_t>([](Connection& c) -> Result<std::int64_t> {
      auto rows = c.query("SELECT pg_backend_pid()");
      if (!rows) return std::unexpected(rows.error());
      return rows->i64(0, 0);
    });
    ASSERT_OK(writer_pid);
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM (SELECT pg_terminate_backend(" +
                     std::to_string(*writer_pid) + ")) killed"),
              1);
    for (std::int64_t i = 0; i < 10; ++i) {
      ASSERT_OK(store().write([&](Connection& c) { return insert_w(c, round, i); }));
    }
  }
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM w"), 30);
}

// PostgreSQL only: the write connections plan their statements once (generic plans), also after
// they reconnect; the read pool keeps PostgreSQL's default.
TEST_P(StoreTest, WriteConnectionsUseGenericPlansAndReadersTheDefault) {
  if (engine() != test::Engine::postgres) GTEST_SKIP() << "PostgreSQL only";
  open([](Options& o) { o.write_connections = 1; });  // so the writer asked is the one killed
  const auto writer_mode = [&] {
    auto mode = store().write_value<std::string>([](Connection& c) -> Result<std::string> {
      auto rows = c.query("SELECT current_setting('plan_cache_mode') || ' ' || pg_backend_pid()");
      if (!rows) return std::unexpected(rows.error());
      return std::string(rows->text(0, 0));
    });
    EXPECT_OK(mode);
    return mode ? *mode : std::string();
  };
  const std::string first = writer_mode();
  ASSERT_TRUE(first.starts_with("force_generic_plan ")) << first;
  const std::string pid = first.substr(first.find(' ') + 1);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM (SELECT pg_terminate_backend(" + pid + ")) killed"), 1);
  // The next write finds the session gone and reconnects (WritesSurviveALostWriterConnection).
  ASSERT_OK(store().write([](Connection& c) { return insert_w(c, 7, 7); }));
  const std::string again = writer_mode();
  EXPECT_TRUE(again.starts_with("force_generic_plan ")) << again;
  EXPECT_NE(again, first);  // a new session
  auto lease = store().acquire();
  ASSERT_OK(lease);
  auto rows = (*lease)->query("SELECT current_setting('plan_cache_mode')");
  ASSERT_OK(rows);
  EXPECT_EQ(rows->text(0, 0), "auto");
}

// Keyed jobs (write_keyed): two writers never run jobs with a key in common side by side, and run
// jobs without one side by side. On SQLite, with one writer, the keys change nothing.
TEST_P(StoreTest, KeyedJobsWithACommonKeyNeverRunSideBySide) {
  open([](Options& o) { o.write_connections = 2; });
  std::mutex mu;
  std::map<std::int64_t, int> running;  // key -> jobs running that hold it
  int overlaps = 0;
  const auto job = [&](std::span<const std::int64_t> keys) {
    return [&, keys](Connection& c) -> Result<void> {
      {
        const std::lock_guard lock(mu);
        for (const auto k : keys)
          if (running[k]++ > 0) ++overlaps;
      }
      std::this_thread::sleep_for(2ms);
      {
        const std::lock_guard lock(mu);
        for (const auto k : keys) --running[k];
      }
      return insert_w(c, keys.empty() ? -1 : keys.front(), 0);
    };
  };
  // 8 threads, 40 jobs each, keys from a small set so that many jobs share one.
  std::vector<std::thread> threads;
  threads.reserve(8);
  std::atomic<int> failed{0};
  for (std::int64_t t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (std::int64_t i = 0; i < 40; ++i) {
        std::vector<std::int64_t> keys{(t + i) % 5, 5 + (t * i) % 3};
        if (!store().write_keyed(job(keys), keys)) ++failed;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(overlaps, 0);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM w"), 8 * 40);
  // Two jobs without a key in common, queued together while both writers are idle, run side by
  // side on PostgreSQL (each waits until it sees the other running).
  if (engine() != test::Engine::postgres) return;
  std::atomic<int> started{0};
  const auto meet = [&](Connection& c) -> Result<void> {
    ++started;
    for (int i = 0; i < 2000 && started.load() < 2; ++i) std::this_thread::sleep_for(1ms);
    if (started.load() < 2) return fail(ErrorKind::internal, "alone", "the other job never ran");
    return insert_w(c, 99, 0);
  };
  const std::vector<std::int64_t> a{100};
  const std::vector<std::int64_t> b{200};
  std::thread other([&] { EXPECT_OK(store().write_keyed(meet, b)); });
  EXPECT_OK(store().write_keyed(meet, a));
  other.join();
}

// Counts the jobs of one transaction and, at its end, records the count.
struct JobsOfATransaction final : TransactionTail {
  JobsOfATransaction(std::mutex* m, std::vector<std::size_t>* c) : mu(m), counts(c) {}
  Result<void> finish(Connection& /*conn*/) override {
    const std::lock_guard lock(*mu);
    counts->push_back(jobs);
    return {};
  }
  [[nodiscard]] std::size_t size() const override { return jobs; }
  void truncate(std::size_t entries) override { jobs = entries; }
  std::mutex* mu;
  std::vector<std::size_t>* counts;
  std::size_t jobs = 0;
};

// Options::group_jobs_max bounds a group, keyed jobs or not: 30 jobs queued behind a slow one on a
// single writer commit in groups of at most 3, and every one of them commits once.
TEST_P(StoreTest, AGroupHoldsAtMostGroupJobsMaxJobs) {
  open([](Options& o) {
    o.write_connections = 1;
    o.group_jobs_max = 3;
  });
  static const int kTag = 0;
  std::mutex mu;
  std::vector<std::size_t> counts;
  const auto counted = [&](Connection& c, std::int64_t thread) -> Result<void> {
    auto* tail = static_cast<JobsOfATransaction*>(c.tail(&kTag));
    if (tail == nullptr)
      tail = static_cast<JobsOfATransaction*>(
          &c.add_tail(&kTag, std::make_unique<JobsOfATransaction>(&mu, &counts)));
    ++tail->jobs;
    return insert_w(c, thread, 0);
  };
  std::thread slow([&] {
    EXPECT_OK(store().write([&](Connection& c) {
      std::this_thread::sleep_for(200ms);  // the others queue meanwhile
      return counted(c, -1);
    }));
  });
  std::this_thread::sleep_for(50ms);
  std::vector<std::thread> threads;
  threads.reserve(30);
  for (std::int64_t t = 0; t < 30; ++t) {
    threads.emplace_back([&, t] {
      const std::vector<std::int64_t> keys{t % 4};
      EXPECT_OK(store().write_keyed([&](Connection& c) { return counted(c, t); }, keys));
    });
  }
  slow.join();
  for (auto& t : threads) t.join();
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM w"), 31);
  std::size_t jobs = 0;
  for (const std::size_t n : counts) {
    EXPECT_LE(n, 3U);
    jobs += n;
  }
  EXPECT_EQ(jobs, 31U);
  EXPECT_GE(std::count(counts.begin(), counts.end(), std::size_t{3}), 1) << "no group was full";
}

TEST_P(StoreTest, ConcurrentIncrementsAreNotLost) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        EXPECT_OK(store().write([](Connection& c) -> Result<void> {
          auto r = c.exec("UPDATE counter SET v = v + 1 WHERE k = 1");
          if (!r) return std::unexpected(r.error());
          return {};
        }));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(scalar("SELECT v FROM counter WHERE k = 1"), 800);
}

TEST_P(StoreTest, AWriteIsVisibleToReadersWhenWriteReturns) {
  for (std::int64_t i = 0; i < 50; ++i) {
    ASSERT_OK(store().write([i](Connection& c) { return insert_w(c, 0, i); }));
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM w"), i + 1);
  }
}

TEST_P(StoreTest, WriteValueReturnsTheJobsValue) {
  auto v = store().write_value<std::int64_t>([](Connection& c) -> Result<std::int64_t> {
    auto r = c.exec("UPDATE counter SET v = 41 WHERE k = 1");
    if (!r) return std::unexpected(r.error());
    auto rows = c.query("SELECT v + 1 FROM counter WHERE k = 1");
    if (!rows) return std::unexpected(rows.error());
    return rows->i64(0, 0);
  });
  ASSERT_OK(v);
  EXPECT_EQ(*v, 42);
}

TEST_P(StoreTest, AFailingJobReturnsItsErrorAndLeavesNoTrace) {
  auto r = store().write([](Connection& c) -> Result<void> {
    if (auto w = insert_w(c, 9, 9); !w) return w;
    return fail(ErrorKind::invalid, "not_today", "the job refuses");
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "not_today");
  EXPECT_EQ(r.error().kind, ErrorKind::invalid);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM w"), 0);
}

TEST_P(StoreTest, ARetryableJobRunsAgainFromTheStart) {
  int attempts = 0;
  auto r = store().write([&](Connection& c) -> Result<void> {
    ++attempts;
    if (auto w = insert_w(c, 1, attempts); !w) return w;
    if (attempts < 3) return fail(ErrorKind::unavailable, std::string(kRetryable), "try again");
    return {};
  });
  ASSERT_OK(r);
  EXPECT_EQ(attempts, 3);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM w"), 1);  // the failed attempts left nothing
  EXPECT_EQ(scalar("SELECT i FROM w"), 3);
}

TEST_P(StoreTest, RetriesAreBounded) {
  int attempts = 0;
  auto r = store().write([&](Connection&) -> Result<void> {
    ++attempts;
    return fail(ErrorKind::unavailable, std::string(kRetryable), "never");
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, kRetryable);
  EXPECT_EQ(attempts, 5);
}

TEST_P(StoreTest, CommittedDataSurvivesReopening) {
  for (std::int64_t i = 0; i < 20; ++i) {
    ASSERT_OK(store().write([i](Connection& c) { return insert_w(c, 7, i); }));
  }
  db_->reopen();
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM w WHERE thread = 7"), 20);
  EXPECT_EQ(scalar("SELECT SUM(i) FROM w"), 190);
}

TEST_P(StoreTest, AcquireFailsWhenThePoolStaysExhausted) {
  open([](Options& o) {
    o.read_connections = 2;
    o.acquire_timeout = 100ms;
  });
  auto a = store().acquire();
  auto b = store().acquire();
  ASSERT_OK(a);
  ASSERT_OK(b);
  const auto start = std::chrono::steady_clock::now();
  auto c = store().acquire();
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().kind, ErrorKind::unavailable);
  EXPECT_EQ(c.error().code, "pool_exhausted");
  EXPECT_GE(waited, 100ms);
  { Lease done = std::move(*a); }
  auto d = store().acquire();
  ASSERT_OK(d);
  EXPECT_OK((*d)->query("SELECT 1"));
}

TEST_P(StoreTest, MoveAssigningALeaseGivesBackTheConnectionItHeld) {
  open([](Options& o) {
    o.read_connections = 2;
    o.acquire_timeout = 100ms;
  });
  auto a = store().acquire();
  auto b = store().acquire();
  ASSERT_OK(a);
  ASSERT_OK(b);
  *a = std::move(*b);
  auto c = store().acquire();  // the connection a held is back in the pool
  ASSERT_OK(c);
  EXPECT_OK((*a)->query("SELECT 1"));
  EXPECT_OK((*c)->query("SELECT 1"));
}

TEST_P(StoreTest, AcquireWaitsForAConnectionToComeBack) {
  open([](Options& o) { o.read_connections = 1; });
  std::optional<Lease> held;
  {
    auto a = store().acquire();
    ASSERT_OK(a);
    held.emplace(std::move(*a));
  }
  std::thread giver([&] {
    std::this_thread::sleep_for(50ms);
    held.reset();
  });
  auto b = store().acquire();
  giver.join();
  ASSERT_OK(b);
  EXPECT_OK((*b)->query("SELECT 1"));
}

TEST_P(StoreTest, CloseFinishesQueuedJobsAndRefusesNewOnes) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  std::atomic<int> closed{0};
  std::atomic<int> other{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        auto r = store().write([&](Connection& c) { return insert_w(c, t, i); });
        if (r)
          ++ok;
        else if (r.error().code == "store_closed")
          ++closed;
        else
          ++other;
      }
    });
  }
  std::this_thread::sleep_for(20ms);
  store().close();
  for (auto& th : threads) th.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(ok.load() + closed.load(), 8 * 200);
  auto after = store().write([](Connection&) -> Result<void> { return {}; });
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, "store_closed");
  db_->reopen();  // every acknowledged write is there, and nothing else
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM w"), ok.load());
}

TEST_P(StoreTest, WriteFromInsideAJobIsCaught) {
  // The child of the death test opens its own store on this database (a fork has no writer
  // threads), so close this one first: forking is then safe, with only this thread running.
  db_->close();
  EXPECT_DEATH(
      {
        auto inner = db_->open_another();
        (void)inner->write([&](Connection&) {
          return inner->write([](Connection&) -> Result<void> { return {}; });
        });
      },
      "inside a write job");
}

TANPU_INSTANTIATE_ENGINES(StoreTest);

TEST(StoreOpen, RejectsUnsupportedUrlsAndBadOptions) {
  Options mysql;
  mysql.url = "mysql://localhost/tanpu";
  auto r = Store::open(mysql);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::invalid);
  EXPECT_EQ(r.error().code, "bad_database_url");
  Options zero;
  zero.read_connections = 0;
  auto z = Store::open(zero);
  ASSERT_FALSE(z);
  EXPECT_EQ(z.error().code, "bad_store_options");
}

TEST(StoreOpen, AnUnreachablePostgresIsUnavailable) {
  Options pg;
  pg.url = "postgresql://postgres@127.0.0.1:1/tanpu?connect_timeout=2";
  auto r = Store::open(pg);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::unavailable);
  EXPECT_EQ(r.error().code, "db_unavailable");
}

TEST(StoreOpen, SqliteCreatesTheFoldersOfItsFile) {
  const std::filesystem::path root =
      std::filesystem::temp_directory_path() / ("tanpu-open-" + std::to_string(::getpid()));
  for (const std::string& url :
       {"sqlite:" + (root / "a/b/one.db").string(), (root / "c/two.db").string()}) {
    Options o;
    o.url = url;
    auto s = Store::open(o);
    ASSERT_OK(s);
    ASSERT_OK(
        (*s)->write([](Connection& c) { return c.exec_script("CREATE TABLE t (k BIGINT)"); }));
    EXPECT_EQ((*s)->dialect(), Dialect::sqlite);
  }
  EXPECT_TRUE(std::filesystem::exists(root / "a/b/one.db"));
  EXPECT_TRUE(std::filesystem::exists(root / "c/two.db"));
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace tanpu::store
