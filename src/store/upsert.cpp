// store::upsert_rows (connection.h): multi-row upserts, arrays on PostgreSQL, VALUES chunks on
// SQLite.
#include <algorithm>
#include <bit>
#include <string>
#include <vector>

#include "core/assert.h"
#include "store/connection.h"
#include "store/key_rows.h"
#include "store/sql_text.h"

namespace tanpu::store {

namespace {

// PostgreSQL: every row in one statement, each column one array parameter expanded by unnest
// (a VALUES list costs PostgreSQL about twice as much per row to parse and plan, and a batch of
// rows several statements). Only for integer and text columns without NULL: false otherwise.
Result<bool> upsert_arrays(Connection& c, std::string_view table, std::string_view columns,
                           std::size_t width, std::string_view key, std::string_view update,
                           std::span<const Param> values) {
  std::vector<std::string> arrays;
  const auto unnest = pg_unnest(values, width, arrays);
  if (!unnest) return false;
  const std::string sql = "INSERT INTO " + std::string(table) + " (" + std::string(columns) +
                          ") SELECT * FROM " + *unnest + " ON CONFLICT (" + std::string(key) +
                          ") DO UPDATE SET " + std::string(update);
  std::vector<Param> params;
  params.reserve(arrays.size());
  for (const std::string& a : arrays) params.emplace_back(std::string_view(a));
  auto r = c.exec(sql, params);
  if (!r) return fail(r.error());
  return true;
}

}  // namespace

Result<void> upsert_rows(Connection& c, std::string_view table, std::string_view columns,
                         std::size_t width, std::string_view key, std::string_view update,
                         std::span<const Param> values) {
  TANPU_ASSERT(width > 0 && values.size() % width == 0);
  if (values.empty()) return {};
  if (c.dialect() == Dialect::postgres) {
    auto done = upsert_arrays(c, table, columns, width, key, update, values);
    if (!done) return fail(done.error());
    if (*done) return {};
  }
  // Rows per statement in powers of two (a row cannot be repeated to pad an upsert): at most 10
  // statement shapes per table, which the statement caches keep across batches.
  constexpr std::size_t kRowsPerStatement = 512;
  const std::size_t rows = values.size() / width;
  for (std::size_t at = 0; at < rows;) {
    const std::size_t n = std::bit_floor(std::min(kRowsPerStatement, rows - at));
    const std::string sql = "INSERT INTO " + std::string(table) + " (" + std::string(columns) +
                            ") VALUES " + placeholder_rows(n, width) + " ON CONFLICT (" +
                            std::string(key) + ") DO UPDATE SET " + std::string(update);
    auto r = c.exec(sql, values.subspan(at * width, n * width));
    if (!r) return fail(r.error());
    at += n;
  }
  return {};
}

}  // namespace tanpu::store
