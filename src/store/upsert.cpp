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

std::vector<Statement> upsert_statements(Dialect dialect, std::string_view table,
                                         std::string_view columns, std::size_t width,
                                         std::string_view key, std::string_view update,
                                         std::span<const Param> values) {
  TANPU_ASSERT(width > 0 && values.size() % width == 0);
  std::vector<Statement> out;
  if (values.empty()) return out;
  const std::string conflict =
      " ON CONFLICT (" + std::string(key) + ") DO UPDATE SET " + std::string(update);
  if (dialect == Dialect::postgres) {
    // Every row in one statement, each column one array parameter expanded by unnest (a VALUES
    // list costs PostgreSQL about twice as much per row to parse and plan, and a batch of rows
    // several statements), unless a column's type cannot be told (only NULLs, or mixed).
    std::vector<std::string> arrays;
    if (const auto unnest = pg_unnest(values, width, arrays)) {
      Statement& st =
          out.emplace_back("INSERT INTO " + std::string(table) + " (" + std::string(columns) +
                           ") SELECT * FROM " + *unnest + conflict);
      for (std::string& a : arrays) st.bind_owned(std::move(a));
      return out;
    }
  }
  // Rows per statement in powers of two (a row cannot be repeated to pad an upsert): at most 10
  // statement shapes per table, which the statement caches keep across batches.
  constexpr std::size_t kRowsPerStatement = 512;
  const std::size_t rows = values.size() / width;
  for (std::size_t at = 0; at < rows;) {
    const std::size_t n = std::bit_floor(std::min(kRowsPerStatement, rows - at));
    Statement& st =
        out.emplace_back("INSERT INTO " + std::string(table) + " (" + std::string(columns) +
                         ") VALUES " + placeholder_rows(n, width) + conflict);
    for (const Param& p : values.subspan(at * width, n * width)) st.bind(p);
    at += n;
  }
  return out;
}

Result<void> upsert_rows(Connection& c, std::string_view table, std::string_view columns,
                         std::size_t width, std::string_view key, std::string_view update,
                         std::span<const Param> values) {
  const auto statements =
      upsert_statements(c.dialect(), table, columns, width, key, update, values);
  auto r = c.run_all(statements);
  if (!r) return fail(r.error());
  return {};
}

}  // namespace tanpu::store
