// One connection on each engine: types, statement cache, placeholders, error mapping.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "store/migrate.h"
#include "store/postgres_connection.h"
#include "store/sql_text.h"
#include "store/sqlite_connection.h"
#include "support/one_connection_test.h"
#include "support/test_store.h"

namespace tanpu::store {
namespace {

using test::OneConnectionTest;

std::size_t cached_statements(Connection& conn) {
  if (auto* s = dynamic_cast<SqliteConnection*>(&conn)) return s->cached_statements();
  if (auto* p = dynamic_cast<PostgresConnection*>(&conn)) return p->cached_statements();
  ADD_FAILURE() << "unknown connection type";
  return 0;
}

std::span<const std::uint8_t> bytes(const std::vector<std::uint8_t>& v) {
  return v;
}

class ConnectionTest : public OneConnectionTest {
 protected:
  void run(std::string_view portable_sql) {
    ASSERT_OK(conn().exec_script(render_sql(portable_sql, conn().dialect())));
  }
};

TEST_P(ConnectionTest, IntegersRoundTripIncludingExtremes) {
  run("CREATE TABLE t (k BIGINT PRIMARY KEY, v BIGINT NOT NULL)");
  const std::vector<std::int64_t> values = {std::numeric_limits<std::int64_t>::min(), -1, 0, 1,
                                            std::numeric_limits<std::int64_t>::max()};
  for (std::size_t i = 0; i < values.size(); ++i) {
    ASSERT_OK(conn().exec("INSERT INTO t (k, v) VALUES (?, ?)",
                          {static_cast<std::int64_t>(i), values[i]}));
  }
  auto rows = conn().query("SELECT v FROM t ORDER BY k");
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), values.size());
  ASSERT_EQ(rows->columns(), 1u);
  for (std::size_t i = 0; i < values.size(); ++i) EXPECT_EQ(rows->i64(i, 0), values[i]);
  auto found =
      conn().query("SELECT k FROM t WHERE v = ?", {std::numeric_limits<std::int64_t>::min()});
  ASSERT_OK(found);
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ(found->i64(0, 0), 0);
}

TEST_P(ConnectionTest, BlobsRoundTripIncludingEmptyAndZeroBytes) {
  run("CREATE TABLE b (k BIGINT PRIMARY KEY, v {{blob}})");
  std::vector<std::uint8_t> all_bytes(256);
  for (std::size_t i = 0; i < all_bytes.size(); ++i) all_bytes[i] = static_cast<std::uint8_t>(i);
  std::vector<std::uint8_t> large(1 << 20);
  for (std::size_t i = 0; i < large.size(); ++i)
    large[i] = static_cast<std::uint8_t>(i * 7919 % 251);
  const std::vector<std::vector<std::uint8_t>> blobs = {
      {}, {0}, {0, 0, 0}, {'\\', 'x', '0'}, all_bytes, large};
  for (std::size_t i = 0; i < blobs.size(); ++i) {
    ASSERT_OK(conn().exec("INSERT INTO b (k, v) VALUES (?, ?)",
                          {static_cast<std::int64_t>(i), bytes(blobs[i])}));
  }
  auto rows = conn().query("SELECT v FROM b ORDER BY k");
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), blobs.size());
  for (std::size_t i = 0; i < blobs.size(); ++i) {
    EXPECT_FALSE(rows->is_null(i, 0)) << "blob " << i;
    const auto got = rows->blob(i, 0);
    EXPECT_EQ(std::vector<std::uint8_t>(got.begin(), got.end()), blobs[i]) << "blob " << i;
  }
}

TEST_P(ConnectionTest, TextRoundTripsIncludingUtf8AndEmpty) {
  run("CREATE TABLE s (k BIGINT PRIMARY KEY, v TEXT)");
  const std::vector<std::string> texts = {"", "plain", "héllo wörld — 炭素 🌱",
                                          "tab\tnew\nline\rcr back\\slash 'q' \"dq\" ?"};
  for (std::size_t i = 0; i < texts.size(); ++i) {
    ASSERT_OK(conn().exec("INSERT INTO s (k, v) VALUES (?, ?)",
                          {static_cast<std::int64_t>(i), std::string_view(texts[i])}));
  }
  // A default string_view has no data pointer: it is still the empty string, not NULL.
  ASSERT_OK(
      conn().exec("INSERT INTO s (k, v) VALUES (?, ?)", {std::int64_t{99}, std::string_view()}));
  auto rows = conn().query("SELECT v FROM s ORDER BY k");
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), texts.size() + 1);
  for (std::size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(rows->text(i, 0), texts[i]);
  EXPECT_FALSE(rows->is_null(texts.size(), 0));
  EXPECT_EQ(rows->text(texts.size(), 0), "");
}

TEST_P(ConnectionTest, NullsRoundTripInEveryType) {
  run("CREATE TABLE n (k BIGINT PRIMARY KEY, i BIGINT, t TEXT, b {{blob}})");
  ASSERT_OK(conn().exec("INSERT INTO n (k, i, t, b) VALUES (?, ?, ?, ?)",
                        {std::int64_t{1}, nullptr, nullptr, nullptr}));
  ASSERT_OK(conn().exec(
      "INSERT INTO n (k, i, t, b) VALUES (?, ?, ?, ?)",
      {std::int64_t{2}, std::int64_t{0}, std::string_view(""), std::span<const std::uint8_t>()}));
  auto rows = conn().query("SELECT i, t, b FROM n ORDER BY k");
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 2u);
  for (std::size_t c = 0; c < 3; ++c) {
    EXPECT_TRUE(rows->is_null(0, c)) << c;
    EXPECT_FALSE(rows->is_null(1, c)) << c;
  }
  auto is_null = conn().query("SELECT COUNT(*) FROM n WHERE i IS NULL AND t IS NULL AND b IS NULL");
  ASSERT_OK(is_null);
  EXPECT_EQ(is_null->i64(0, 0), 1);
}

TEST_P(ConnectionTest, AggregatesAndComparisonsReadAsIntegers) {
  run("CREATE TABLE a (v BIGINT NOT NULL)");
  const std::int64_t big = std::int64_t{1} << 62;
  ASSERT_OK(conn().exec("INSERT INTO a (v) VALUES (?), (?), (?)", {big, std::int64_t{5}, -big}));
  auto rows = conn().query("SELECT SUM(v), COUNT(*), MAX(v), 1 = 1, 1 = 2, ? + 1 FROM a",
                           {std::int64_t{41}});
  ASSERT_OK(rows);
  EXPECT_EQ(rows->i64(0, 0), 5);  // SUM is NUMERIC on PostgreSQL
  EXPECT_EQ(rows->i64(0, 1), 3);
  EXPECT_EQ(rows->i64(0, 2), big);
  EXPECT_EQ(rows->i64(0, 3), 1);  // booleans are 0/1 on both engines
  EXPECT_EQ(rows->i64(0, 4), 0);
  EXPECT_EQ(rows->i64(0, 5), 42);
}

TEST_P(ConnectionTest, StatementsArePreparedOnceAndReused) {
  run("CREATE TABLE c (k BIGINT PRIMARY KEY, v BIGINT NOT NULL)");
  const std::size_t before = cached_statements(conn());
  for (std::int64_t i = 0; i < 200; ++i) {
    ASSERT_OK(conn().exec("INSERT INTO c (k, v) VALUES (?, ?)", {i, i * i}));
  }
  EXPECT_EQ(cached_statements(conn()), before + 1);
  for (std::int64_t i = 0; i < 200; i += 37) {
    auto rows = conn().query("SELECT v FROM c WHERE k = ?", {i});
    ASSERT_OK(rows);
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ(rows->i64(0, 0), i * i);
  }
  EXPECT_EQ(cached_statements(conn()), before + 2);
}

TEST_P(ConnectionTest, CachedStatementWorksAgainAfterAnError) {
  run("CREATE TABLE e (k BIGINT PRIMARY KEY)");
  constexpr std::string_view kInsert = "INSERT INTO e (k) VALUES (?)";
  ASSERT_OK(conn().exec(kInsert, {std::int64_t{1}}));
  EXPECT_FALSE(conn().exec(kInsert, {std::int64_t{1}}));
  ASSERT_OK(conn().exec(kInsert, {std::int64_t{2}}));
  auto rows = conn().query("SELECT COUNT(*) FROM e");
  ASSERT_OK(rows);
  EXPECT_EQ(rows->i64(0, 0), 2);
}

TEST_P(ConnectionTest, QuestionMarksInLiteralsAndQuotedNamesAreNotPlaceholders) {
  auto rows = conn().query("SELECT '?', ?, 'it''s ?' /* ? */, ? -- ?\n",
                           {std::int64_t{7}, std::string_view("x?")});
  ASSERT_OK(rows);
  EXPECT_EQ(rows->text(0, 0), "?");
  EXPECT_EQ(rows->i64(0, 1), 7);
  EXPECT_EQ(rows->text(0, 2), "it's ?");
  EXPECT_EQ(rows->text(0, 3), "x?");
  run("CREATE TABLE q (\"a?b\" BIGINT NOT NULL)");
  ASSERT_OK(conn().exec("INSERT INTO q (\"a?b\") VALUES (?)", {std::int64_t{3}}));
  auto named = conn().query("SELECT \"a?b\" FROM q WHERE \"a?b\" = ?", {std::int64_t{3}});
  ASSERT_OK(named);
  ASSERT_EQ(named->size(), 1u);
  EXPECT_EQ(named->i64(0, 0), 3);
}

TEST_P(ConnectionTest, DuplicateKeysAreUniqueViolations) {
  run("CREATE TABLE u (k BIGINT PRIMARY KEY, email TEXT NOT NULL UNIQUE)");
  ASSERT_OK(conn().exec("INSERT INTO u (k, email) VALUES (?, ?)", {std::int64_t{1}, "a@x"}));
  auto same_key = conn().exec("INSERT INTO u (k, email) VALUES (?, ?)", {std::int64_t{1}, "b@x"});
  ASSERT_FALSE(same_key);
  EXPECT_EQ(same_key.error().code, kUniqueViolation);
  EXPECT_EQ(same_key.error().kind, ErrorKind::conflict);
  auto same_email = conn().exec("INSERT INTO u (k, email) VALUES (?, ?)", {std::int64_t{2}, "a@x"});
  ASSERT_FALSE(same_email);
  EXPECT_EQ(same_email.error().code, kUniqueViolation);
}

TEST_P(ConnectionTest, WriteConflictWithAConcurrentTransactionIsRetryable) {
  run("CREATE TABLE r (k BIGINT PRIMARY KEY, v BIGINT NOT NULL)");
  ASSERT_OK(conn().exec("INSERT INTO r (k, v) VALUES (1, 0)"));
  auto other = db_->store().acquire();
  ASSERT_OK(other);
  // Both engines refuse to write from a snapshot older than a concurrent committed change:
  // PostgreSQL with a serialization failure, SQLite (WAL) with SQLITE_BUSY_SNAPSHOT.
  ASSERT_OK(conn().exec(engine() == test::Engine::postgres ? "BEGIN ISOLATION LEVEL REPEATABLE READ"
                                                           : "BEGIN"));
  ASSERT_OK(conn().query("SELECT v FROM r WHERE k = 1"));
  ASSERT_OK((*other)->exec("UPDATE r SET v = v + 1 WHERE k = 1"));
  auto stale = conn().exec("UPDATE r SET v = v + 10 WHERE k = 1");
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, kRetryable);
  EXPECT_EQ(stale.error().kind, ErrorKind::unavailable);
  ASSERT_OK(conn().rollback());
  auto rows = conn().query("SELECT v FROM r WHERE k = 1");
  ASSERT_OK(rows);
  EXPECT_EQ(rows->i64(0, 0), 1);
}

// A lock not granted within lock_timeout (PostgreSQL's 55P03) is retryable, like a deadlock: the
// ingestion pipeline relies on it to run a job again in a transaction of its own.
TEST_P(ConnectionTest, ALockTimeoutIsRetryable) {
  if (engine() != test::Engine::postgres) GTEST_SKIP() << "lock_timeout is PostgreSQL's";
  run("CREATE TABLE r (k BIGINT PRIMARY KEY, v BIGINT NOT NULL)");
  ASSERT_OK(conn().exec("INSERT INTO r (k, v) VALUES (1, 0)"));
  auto other = db_->store().acquire();
  ASSERT_OK(other);
  ASSERT_OK((*other)->begin());
  ASSERT_OK((*other)->exec("UPDATE r SET v = 5 WHERE k = 1"));  // holds the row
  ASSERT_OK(conn().begin());
  ASSERT_OK(conn().exec("SET LOCAL lock_timeout = '10ms'"));
  auto waited = conn().exec("UPDATE r SET v = v + 10 WHERE k = 1");
  ASSERT_FALSE(waited);
  EXPECT_EQ(waited.error().code, kRetryable);
  EXPECT_EQ(waited.error().kind, ErrorKind::unavailable);
  ASSERT_OK(conn().rollback());
  ASSERT_OK((*other)->rollback());
  auto rows = conn().query("SELECT v FROM r WHERE k = 1");
  ASSERT_OK(rows);
  EXPECT_EQ(rows->i64(0, 0), 0);
}

TEST_P(ConnectionTest, OtherErrorsAreDbErrorsNamingTheSql) {
  auto bad = conn().query("SELEC 1 FROM nowhere");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, "db_error");
  EXPECT_EQ(bad.error().kind, ErrorKind::internal);
  EXPECT_NE(bad.error().message.find("SELEC 1 FROM nowhere"), std::string::npos)
      << bad.error().message;
  // The connection is still usable after the error.
  auto good = conn().query("SELECT 1");
  ASSERT_OK(good);
  EXPECT_EQ(good->i64(0, 0), 1);
}

TEST_P(ConnectionTest, ForeignKeysAreEnforced) {
  run("CREATE TABLE parent (k BIGINT PRIMARY KEY); "
      "CREATE TABLE child (k BIGINT PRIMARY KEY, p BIGINT NOT NULL REFERENCES parent (k))");
  auto orphan = conn().exec("INSERT INTO child (k, p) VALUES (1, 42)");
  ASSERT_FALSE(orphan);
  EXPECT_EQ(orphan.error().code, "db_error");
  ASSERT_OK(conn().exec("INSERT INTO parent (k) VALUES (42)"));
  EXPECT_OK(conn().exec("INSERT INTO child (k, p) VALUES (1, 42)"));
}

TEST_P(ConnectionTest, ExecReturnsTheNumberOfChangedRows) {
  run("CREATE TABLE x (k BIGINT PRIMARY KEY, v BIGINT NOT NULL)");
  auto inserted = conn().exec("INSERT INTO x (k, v) VALUES (1, 0), (2, 0), (3, 5)");
  ASSERT_OK(inserted);
  EXPECT_EQ(*inserted, 3);
  auto updated = conn().exec("UPDATE x SET v = v + 1 WHERE v = ?", {std::int64_t{0}});
  ASSERT_OK(updated);
  EXPECT_EQ(*updated, 2);
  auto none = conn().exec("DELETE FROM x WHERE k > ?", {std::int64_t{100}});
  ASSERT_OK(none);
  EXPECT_EQ(*none, 0);
}

TEST_P(ConnectionTest, ExecScriptRunsEveryStatementAndQueryTakesOnlyOne) {
  ASSERT_OK(
      conn().exec_script("CREATE TABLE m (k BIGINT PRIMARY KEY); INSERT INTO m (k) VALUES (1); "
                         "INSERT INTO m (k) VALUES (2);"));
  auto rows = conn().query("SELECT COUNT(*) FROM m");
  ASSERT_OK(rows);
  EXPECT_EQ(rows->i64(0, 0), 2);
  EXPECT_FALSE(conn().query("SELECT 1; SELECT 2"));
}

TEST_P(ConnectionTest, SessionsAreDurable) {
  if (engine() == test::Engine::sqlite) {
    auto mode = conn().query("PRAGMA journal_mode");
    auto sync = conn().query("PRAGMA synchronous");
    auto fk = conn().query("PRAGMA foreign_keys");
    ASSERT_OK(mode);
    ASSERT_OK(sync);
    ASSERT_OK(fk);
    EXPECT_EQ(mode->text(0, 0), "wal");
    EXPECT_EQ(sync->i64(0, 0), 2);  // FULL
    EXPECT_EQ(fk->i64(0, 0), 1);
    auto page = conn().query("PRAGMA page_size");
    ASSERT_OK(page);
    EXPECT_EQ(page->i64(0, 0), SqliteConnection::kPageBytes);  // a new database
  } else {
    auto sync = conn().query("SHOW synchronous_commit");
    ASSERT_OK(sync);
    EXPECT_EQ(sync->text(0, 0), "on");
  }
}

// PostgreSQL only: SQLite has no connection to lose.
TEST_P(ConnectionTest, ALostConnectionIsUnavailableAndThenReconnects) {
  if (engine() != test::Engine::postgres) GTEST_SKIP() << "PostgreSQL only";
  auto pid = conn().query("SELECT pg_backend_pid()");
  ASSERT_OK(pid);
  ASSERT_OK(conn().exec("CREATE TABLE kept (k BIGINT)"));
  auto other = db_->store().acquire();
  ASSERT_OK(other);
  ASSERT_OK((*other)->query("SELECT pg_terminate_backend(CAST(? AS INTEGER))", {pid->i64(0, 0)}));
  auto lost = conn().query("SELECT COUNT(*) FROM kept");
  ASSERT_FALSE(lost);
  EXPECT_EQ(lost.error().kind, ErrorKind::unavailable);
  EXPECT_EQ(lost.error().code, "db_unavailable");
  // The next call reconnects, and statements cached by the old session are prepared again.
  auto again = conn().query("SELECT COUNT(*) FROM kept");
  ASSERT_OK(again);
  EXPECT_EQ(again->i64(0, 0), 0);
  auto new_pid = conn().query("SELECT pg_backend_pid()");
  ASSERT_OK(new_pid);
  EXPECT_NE(new_pid->i64(0, 0), pid->i64(0, 0));
}

// The shape the ingestion pipeline reads by exact keys: a VALUES list with named columns, joined,
// padded to a power of two by repeating its last key. Both engines accept it and type the
// parameters from the join (BIGINT and text on PostgreSQL).
TEST_P(ConnectionTest, PaddedValuesListJoinsOnEitherEngine) {
  ASSERT_OK(conn().exec_script(
      "CREATE TABLE usage_rows (member_id BIGINT NOT NULL, period TEXT NOT NULL, "
      "n BIGINT NOT NULL, PRIMARY KEY (member_id, period))"));
  ASSERT_OK(
      conn().exec("INSERT INTO usage_rows VALUES (1, 'd:2025-06-01', 10), "
                  "(1, 'm:2025-06', 11), (2, 'd:2025-06-01', 20)"));
  ASSERT_EQ(padded_items(3), 4u);
  const std::string sql = "WITH k (member_id, period) AS (VALUES " + placeholder_rows(4, 2) +
                          ") SELECT u.member_id, u.period, u.n FROM k JOIN usage_rows u ON "
                          "u.member_id = k.member_id AND u.period = k.period ORDER BY u.n";
  auto rows = conn().query(sql, {std::int64_t{1}, "m:2025-06", std::int64_t{2}, "d:2025-06-01",
                                 std::int64_t{3}, "d:2025-06-01", std::int64_t{3}, "d:2025-06-01"});
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 2u);  // the padding repeats a key that has no row
  EXPECT_EQ(rows->i64(0, 2), 11);
  EXPECT_EQ(rows->i64(1, 2), 20);
}

TANPU_INSTANTIATE_ENGINES(ConnectionTest);

TEST(PlaceholderText, ListsRowsAndPaddedSizes) {
  EXPECT_EQ(placeholder_list(1), "(?)");
  EXPECT_EQ(placeholder_list(3), "(?, ?, ?)");
  EXPECT_EQ(placeholder_rows(2, 3), "(?, ?, ?), (?, ?, ?)");
  EXPECT_EQ(padded_items(1), 1u);
  EXPECT_EQ(padded_items(5), 8u);
  EXPECT_EQ(padded_items(1024), 1024u);
}

// The placeholder rewrite itself (PostgreSQL only uses it, but it is pure text).
TEST(RewritePlaceholders, NumbersOnlyRealPlaceholders) {
  int n = 0;
  EXPECT_EQ(rewrite_placeholders("SELECT ?, '?', \"?\", ? -- ?\n, /* ? */ ?", &n),
            "SELECT $1, '?', \"?\", $2 -- ?\n, /* ? */ $3");
  EXPECT_EQ(n, 3);
  EXPECT_EQ(rewrite_placeholders("'it''s ?' ?", &n), "'it''s ?' $1");
  EXPECT_EQ(n, 1);
  EXPECT_EQ(rewrite_placeholders("no params", &n), "no params");
  EXPECT_EQ(n, 0);
}

}  // namespace
}  // namespace tanpu::store
