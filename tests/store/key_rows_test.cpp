// store::KeyRows and the array form of upsert_rows on each engine: keys of any text reach the
// query unchanged, every key is looked up, and a statement per chunk (SQLite) or one (PostgreSQL).
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/connection.h"
#include "store/key_rows.h"
#include "store/migrate.h"
#include "support/one_connection_test.h"
#include "support/test_store.h"

namespace tanpu::store {
namespace {

using test::OneConnectionTest;

// Text that an array literal or a VALUES list must carry unchanged.
const std::vector<std::string> kAwkward = {
    "plain", "quote\"inside", "back\\slash", "comma,inside", "{braces}", " spaced ", "NULL",
    "",      "中文 ref",      "trailing\\",  "\"",           "a'b"};

class KeyRowsTest : public OneConnectionTest {
 protected:
  void SetUp() override {
    OneConnectionTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_OK(conn().exec_script(
        "CREATE TABLE keyed (member_id BIGINT NOT NULL, ref TEXT NOT NULL, n BIGINT NOT NULL, "
        "PRIMARY KEY (member_id, ref))"));
  }

  // The rows of `keyed` that the keys find, by (member, ref) → n, and how many statements ran.
  std::map<std::pair<std::int64_t, std::string>, std::int64_t> lookup(const KeyRows& keys,
                                                                      std::size_t chunk,
                                                                      int* statements) {
    std::map<std::pair<std::int64_t, std::string>, std::int64_t> found;
    *statements = 0;
    const Param min_n{std::int64_t{0}};  // a parameter of the join's own, after the keys'
    auto r = keys.join(
        conn(), "t.member_id, t.ref, t.n", "keyed", "t",
        "t.member_id = k.member_id AND t.ref = k.ref AND t.n > ?", {&min_n, 1},
        [&](const Rows& rows) {
          ++*statements;
          for (std::size_t i = 0; i < rows.size(); ++i)
            found[{rows.i64(i, 0), std::string(rows.text(i, 1))}] = rows.i64(i, 2);
        },
        chunk);
    EXPECT_OK(r);
    return found;
  }
};

TEST_P(KeyRowsTest, AwkwardTextKeysFindExactlyTheirRows) {
  for (std::size_t i = 0; i < kAwkward.size(); ++i)
    ASSERT_OK(conn().exec(
        "INSERT INTO keyed VALUES (?, ?, ?)",
        {std::int64_t{7}, std::string_view(kAwkward[i]), static_cast<std::int64_t>(i + 1)}));
  KeyRows keys(conn().dialect(), {{"member_id", KeyType::bigint}, {"ref", KeyType::text}});
  for (const std::string& ref : kAwkward) keys.add({std::int64_t{7}, std::string_view(ref)});
  keys.add({std::int64_t{8}, std::string_view("plain")});  // no such row
  keys.add({std::int64_t{7}, std::string_view("quote")});  // a prefix of a key, no such row
  int statements = 0;
  const auto found = lookup(keys, 1024, &statements);
  EXPECT_EQ(statements, 1);
  ASSERT_EQ(found.size(), kAwkward.size());
  for (std::size_t i = 0; i < kAwkward.size(); ++i) {
    const auto at = found.find({7, kAwkward[i]});
    ASSERT_NE(at, found.end()) << kAwkward[i];
    EXPECT_EQ(at->second, static_cast<std::int64_t>(i + 1));
  }
}

TEST_P(KeyRowsTest, ManyKeysAreChunkedOnSqliteAndOneStatementOnPostgres) {
  for (std::int64_t m = 0; m < 3000; m += 3)
    ASSERT_OK(conn().exec("INSERT INTO keyed VALUES (?, 'r', ?)", {m, m + 1}));
  KeyRows keys(conn().dialect(), {{"member_id", KeyType::bigint}, {"ref", KeyType::text}});
  for (std::int64_t m = 0; m < 3000; ++m) keys.add({m, std::string_view("r")});
  EXPECT_EQ(keys.size(), 3000u);
  int statements = 0;
  const auto found = lookup(keys, 1024, &statements);
  EXPECT_EQ(statements, conn().dialect() == Dialect::sqlite ? 3 : 1);
  ASSERT_EQ(found.size(), 1000u);
  for (const auto& [key, n] : found) {
    EXPECT_EQ(key.first % 3, 0);
    EXPECT_EQ(n, key.first + 1);
  }
}

TEST_P(KeyRowsTest, NoKeysRunsNoStatement) {
  KeyRows keys(conn().dialect(), {{"member_id", KeyType::bigint}, {"ref", KeyType::text}});
  EXPECT_TRUE(keys.empty());
  int statements = 0;
  EXPECT_TRUE(lookup(keys, 16, &statements).empty());
  EXPECT_EQ(statements, 0);
}

TEST_P(KeyRowsTest, AnErrorOfTheQueryStopsAndIsReturned) {
  KeyRows keys(conn().dialect(), {{"id", KeyType::bigint}});
  for (std::int64_t i = 0; i < 40; ++i) keys.add({i});
  int calls = 0;
  auto r = keys.join(
      conn(), "t.n", "keyed", "t", "t.no_such_column = k.id", {}, [&](const Rows&) { ++calls; }, 8);
  EXPECT_FALSE(r.has_value());
  EXPECT_EQ(calls, 0);
}

// upsert_rows: one array statement on PostgreSQL, VALUES chunks on SQLite; the same rows either
// way.
TEST_P(KeyRowsTest, UpsertRowsCarriesAwkwardTextAndAddsOnConflict) {
  std::vector<Param> values;
  for (std::size_t i = 0; i < kAwkward.size(); ++i)
    values.insert(values.end(), {std::int64_t{1}, std::string_view(kAwkward[i]),
                                 static_cast<std::int64_t>(i + 1)});
  for (int round = 0; round < 2; ++round)
    ASSERT_OK(upsert_rows(conn(), "keyed", "member_id, ref, n", 3, "member_id, ref",
                          "n = keyed.n + excluded.n", values));
  auto rows = conn().query("SELECT ref, n FROM keyed WHERE member_id = 1");
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), kAwkward.size());
  std::map<std::string, std::int64_t> got;
  for (std::size_t r = 0; r < rows->size(); ++r)
    got[std::string(rows->text(r, 0))] = rows->i64(r, 1);
  for (std::size_t i = 0; i < kAwkward.size(); ++i)
    EXPECT_EQ(got[kAwkward[i]], 2 * static_cast<std::int64_t>(i + 1)) << kAwkward[i];
}

// NULLs and bytes travel in the PostgreSQL arrays; a column of NULLs only (whose type an array
// cannot tell) falls back to VALUES.
TEST_P(KeyRowsTest, UpsertRowsCarriesNullsAndBytes) {
  ASSERT_OK(conn().exec_script(
      render_sql("CREATE TABLE maybe (id BIGINT NOT NULL PRIMARY KEY, note TEXT, raw {{blob}})",
                 conn().dialect())));
  const std::uint8_t bytes[] = {0x00, 0x5c, 0x22, 0xff};
  const std::vector<Param> values = {
      std::int64_t{1},       nullptr, std::span<const std::uint8_t>(bytes), std::int64_t{2},
      std::string_view("x"), nullptr};
  ASSERT_OK(upsert_rows(conn(), "maybe", "id, note, raw", 3, "id", "note = excluded.note", values));
  const std::vector<Param> all_null = {std::int64_t{3}, nullptr, nullptr};
  ASSERT_OK(
      upsert_rows(conn(), "maybe", "id, note, raw", 3, "id", "note = excluded.note", all_null));
  auto rows = conn().query("SELECT id, note, raw FROM maybe ORDER BY id");
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_TRUE(rows->is_null(0, 1));
  const auto raw = rows->blob(0, 2);
  EXPECT_EQ(std::vector<std::uint8_t>(raw.begin(), raw.end()),
            std::vector<std::uint8_t>(std::begin(bytes), std::end(bytes)));
  EXPECT_EQ(rows->text(1, 1), "x");
  EXPECT_TRUE(rows->is_null(1, 2));
  EXPECT_TRUE(rows->is_null(2, 1));
  EXPECT_TRUE(rows->is_null(2, 2));
}

TANPU_INSTANTIATE_ENGINES(KeyRowsTest);

TEST(PgUnnest, TypesEachColumnByItsValuesAndRefusesWhatItCannotType) {
  const std::uint8_t b[] = {0x0a, 0xff};
  std::vector<std::string> arrays;
  const std::vector<Param> rows = {
      std::int64_t{1},          nullptr, std::span<const std::uint8_t>(b), nullptr,
      std::string_view("a\"b"), nullptr};
  auto sql = pg_unnest(rows, 3, arrays);
  ASSERT_TRUE(sql.has_value());
  EXPECT_EQ(*sql, "unnest(CAST(? AS BIGINT[]), CAST(? AS TEXT[]), CAST(? AS BYTEA[]))");
  EXPECT_EQ(arrays,
            (std::vector<std::string>{"{1,NULL}", "{NULL,\"a\\\"b\"}", "{\"\\\\x0aff\",NULL}"}));
  arrays.clear();
  const std::vector<Param> only_null = {std::int64_t{1}, nullptr};
  EXPECT_FALSE(pg_unnest(only_null, 2, arrays).has_value());
  const std::vector<Param> mixed = {std::int64_t{1}, std::string_view("1")};
  EXPECT_FALSE(pg_unnest(mixed, 1, arrays).has_value());
}

TEST(PgArrayLiteral, QuotesEveryTextElementAndEscapesQuotesAndBackslashes) {
  EXPECT_EQ(pg_bigint_array({}), "{}");
  EXPECT_EQ(pg_bigint_array({1, -2, INT64_MAX}), "{1,-2,9223372036854775807}");
  EXPECT_EQ(pg_text_array({}), "{}");
  EXPECT_EQ(pg_text_array({"a", "", "b\"c", "d\\e", "NULL"}),
            "{\"a\",\"\",\"b\\\"c\",\"d\\\\e\",\"NULL\"}");
}

}  // namespace
}  // namespace tanpu::store
