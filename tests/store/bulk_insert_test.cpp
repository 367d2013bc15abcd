// bulk_insert on each engine: every type, chunk boundaries, atomicity.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "store/migrate.h"
#include "store/sqlite_connection.h"
#include "support/one_connection_test.h"
#include "support/test_store.h"

namespace tanpu::store {
namespace {

using test::OneConnectionTest;

constexpr std::array<std::string_view, 6> kColumns = {"id", "n", "t", "b", "maybe_n", "maybe_t"};

// One row of the `wide` table, owning its text and bytes.
struct Row {
  std::array<std::uint8_t, 16> id{};
  std::int64_t n = 0;
  std::string t;
  std::vector<std::uint8_t> b;
  std::optional<std::int64_t> maybe_n;
  std::optional<std::string> maybe_t;
};

Row make_row(std::size_t i) {
  Row row;
  for (std::size_t k = 0; k < 8; ++k) row.id[15 - k] = static_cast<std::uint8_t>(i >> (8 * k));
  row.id[0] = 0xfe;  // a high first byte: ids are compared as unsigned bytes
  const auto s = static_cast<std::int64_t>(i);
  switch (i % 5) {
    case 0:
      row.n = std::numeric_limits<std::int64_t>::min() + s;
      break;
    case 1:
      row.n = std::numeric_limits<std::int64_t>::max() - s;
      break;
    default:
      row.n = s * (i % 2 == 0 ? -1 : 1);
      break;
  }
  static const std::array<std::string, 6> kTexts = {
      "", "tab\there", "line\nbreak\r\nwindows", "back\\slash \\N \\x00", "炭素 🌱 é", "plain"};
  row.t = kTexts[i % kTexts.size()] + std::to_string(i);
  row.b.resize(i % 40);  // includes empty blobs
  for (std::size_t k = 0; k < row.b.size(); ++k)
    row.b[k] = static_cast<std::uint8_t>((i + k * 31) % 256);
  if (i % 7 != 0) row.maybe_n = s;
  if (i % 3 != 0) row.maybe_t = "\\\t" + std::to_string(i);
  return row;
}

void append_params(std::vector<Param>& out, const Row& row) {
  out.emplace_back(std::span<const std::uint8_t>(row.id));
  out.emplace_back(row.n);
  out.emplace_back(std::string_view(row.t));
  out.emplace_back(std::span<const std::uint8_t>(row.b));
  out.emplace_back(row.maybe_n ? Param(*row.maybe_n) : Param(nullptr));
  out.emplace_back(row.maybe_t ? Param(std::string_view(*row.maybe_t)) : Param(nullptr));
}

class BulkInsertTest : public OneConnectionTest {
 protected:
  void SetUp() override {
    OneConnectionTest::SetUp();
    if (HasFatalFailure()) return;
    create_table("wide");
  }
  void create_table(std::string_view name) {
    ASSERT_OK(conn().exec_script(render_sql(
        "CREATE TABLE " + std::string(name) +
            " (id {{blob}} PRIMARY KEY, n BIGINT NOT NULL, t TEXT NOT NULL, b {{blob}} NOT NULL, "
            "maybe_n BIGINT, maybe_t TEXT)",
        conn().dialect())));
  }
  std::int64_t count(std::string_view table) {
    auto rows = conn().query("SELECT COUNT(*) FROM " + std::string(table));
    EXPECT_OK(rows);
    return rows ? rows->i64(0, 0) : -1;
  }
  Result<void> insert_rows(std::string_view table, std::size_t from, std::size_t to) {
    std::vector<Row> rows;
    for (std::size_t i = from; i < to; ++i) rows.push_back(make_row(i));
    std::vector<Param> params;
    for (const Row& r : rows) append_params(params, r);
    return conn().bulk_insert(table, kColumns, params);
  }
};

void expect_row_equal(const Rows& got, std::size_t r, const Row& want) {
  const auto id = got.blob(r, 0);
  ASSERT_EQ(std::vector<std::uint8_t>(id.begin(), id.end()),
            std::vector<std::uint8_t>(want.id.begin(), want.id.end()));
  EXPECT_EQ(got.i64(r, 1), want.n);
  EXPECT_EQ(got.text(r, 2), want.t);
  const auto b = got.blob(r, 3);
  EXPECT_FALSE(got.is_null(r, 3));
  EXPECT_EQ(std::vector<std::uint8_t>(b.begin(), b.end()), want.b);
  EXPECT_EQ(got.is_null(r, 4), !want.maybe_n.has_value());
  if (want.maybe_n) {
    EXPECT_EQ(got.i64(r, 4), *want.maybe_n);
  }
  EXPECT_EQ(got.is_null(r, 5), !want.maybe_t.has_value());
  if (want.maybe_t) {
    EXPECT_EQ(got.text(r, 5), *want.maybe_t);
  }
}

TEST_P(BulkInsertTest, HundredThousandRowsOfEveryTypeReadBackEqual) {
  constexpr std::size_t kRows = 100'000;
  ASSERT_OK(insert_rows("wide", 0, kRows));
  auto got = conn().query("SELECT id, n, t, b, maybe_n, maybe_t FROM wide ORDER BY id");
  ASSERT_OK(got);
  ASSERT_EQ(got->size(), kRows);
  for (std::size_t i = 0; i < kRows; ++i) {
    expect_row_equal(*got, i, make_row(i));
    if (::testing::Test::HasFailure()) FAIL() << "first difference at row " << i;
  }
}

TEST_P(BulkInsertTest, RowCountsAroundChunkBoundaries) {
  const std::size_t chunk = SqliteConnection::bulk_chunk_rows(kColumns.size());
  std::size_t next = 0;
  std::int64_t expected = 0;
  for (std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{3}, chunk - 1, chunk, chunk + 1,
                        2 * chunk + chunk / 2 + 3}) {
    ASSERT_OK(insert_rows("wide", next, next + n));
    next += n;
    expected += static_cast<std::int64_t>(n);
    EXPECT_EQ(count("wide"), expected) << "after inserting " << n << " rows";
  }
}

TEST_P(BulkInsertTest, NoRowsIsANoOp) {
  ASSERT_OK(conn().bulk_insert("wide", kColumns, {}));
  EXPECT_EQ(count("wide"), 0);
}

TEST_P(BulkInsertTest, ADuplicateKeyFailsTheWholeInsert) {
  ASSERT_OK(insert_rows("wide", 500, 501));
  auto r = insert_rows("wide", 0, 1000);  // includes row 500
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, kUniqueViolation);
  EXPECT_EQ(r.error().kind, ErrorKind::conflict);
  EXPECT_EQ(count("wide"), 1);
  EXPECT_FALSE(conn().in_transaction());
}

TEST_P(BulkInsertTest, JoinsTheCallersTransaction) {
  ASSERT_OK(conn().begin());
  ASSERT_OK(insert_rows("wide", 0, 300));
  EXPECT_TRUE(conn().in_transaction());
  ASSERT_OK(conn().rollback());
  EXPECT_EQ(count("wide"), 0);

  ASSERT_OK(conn().begin());
  ASSERT_OK(insert_rows("wide", 0, 10));
  ASSERT_OK(conn().savepoint("bulk"));
  EXPECT_FALSE(insert_rows("wide", 5, 400));  // overlaps: fails
  ASSERT_OK(conn().rollback_to("bulk"));
  ASSERT_OK(conn().release("bulk"));
  ASSERT_OK(conn().commit());
  EXPECT_EQ(count("wide"), 10);
}

TEST_P(BulkInsertTest, ManyTablesAndColumnSets) {
  create_table("wide2");
  ASSERT_OK(insert_rows("wide2", 0, 70));
  const std::array<std::string_view, 4> some = {"id", "n", "t", "b"};
  std::vector<Row> rows;
  for (std::size_t i = 1000; i < 1100; ++i) rows.push_back(make_row(i));
  std::vector<Param> params;
  for (const Row& r : rows) {
    params.emplace_back(std::span<const std::uint8_t>(r.id));
    params.emplace_back(r.n);
    params.emplace_back(std::string_view(r.t));
    params.emplace_back(std::span<const std::uint8_t>(r.b));
  }
  ASSERT_OK(conn().bulk_insert("wide2", some, params));
  EXPECT_EQ(count("wide2"), 170);
  auto nulls = conn().query("SELECT COUNT(*) FROM wide2 WHERE maybe_n IS NULL AND maybe_t IS NULL");
  ASSERT_OK(nulls);
  EXPECT_GE(nulls->i64(0, 0), 100);
}

TANPU_INSTANTIATE_ENGINES(BulkInsertTest);

}  // namespace
}  // namespace tanpu::store
