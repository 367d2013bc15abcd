// store::upsert_rows (connection.h): chunked multi-row upserts, the same SQL on both engines.
#include <algorithm>
#include <bit>
#include <string>

#include "store/connection.h"
#include "store/sql_text.h"

namespace tanpu::store {

Result<void> upsert_rows(Connection& c, std::string_view table, std::string_view columns,
                         std::size_t width, std::string_view key, std::string_view update,
                         std::span<const Param> values) {
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
