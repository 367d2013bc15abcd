// Key tuples joined to a table, the same way on both engines:
//
//   KeyRows keys(c.dialect(), {{"member_id", KeyType::bigint}, {"period", KeyType::text}});
//   keys.add({member_id, std::string_view(period)});
//   keys.join(c, "u.code, u.n", "usage", "u", "u.member_id = k.member_id AND u.period = k.period "
//             "AND u.n > ?", {min_n}, [&](const Rows& rows) { … });
//
// PostgreSQL: one statement for every key, each key column one array parameter expanded by
// unnest, and the table read in a LATERAL subquery that the planner cannot pull up (OFFSET 0), so
// the plan probes the table's index once per key whatever its statistics say. (An IN list of
// parameters gets, after five executions, a generic plan that may scan every row of an index
// prefix and filter it against the list; a plain join of the unnest may put the table first when
// its statistics are missing or stale: both cost time that grows with the table.)
// SQLite: VALUES lists of up to `chunk` rows joined to the table, padded to a power of two by
// repeating the last key (padded_items), so a handful of statement shapes are prepared once; a
// padded key finds its rows again, so callers must tolerate a repeated row. The join is a CROSS
// JOIN, which keeps the keys as the outer loop: SQLite then reads the VALUES list as a co-routine
// instead of first copying it into a temporary table (opened and closed at every run).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.h"
#include "store/connection.h"

namespace tanpu::store {

enum class KeyType { bigint, text };

struct KeyColumn {
  std::string_view name;  // an identifier: k.<name> in the join condition
  KeyType type;
};

class KeyRows {
 public:
  using Value = std::variant<std::int64_t, std::string_view>;

  KeyRows(Dialect dialect, std::vector<KeyColumn> columns);

  // One key tuple, one value per column in the columns' order and of the column's type
  // (asserted). Text is copied.
  void add(std::initializer_list<Value> row);
  std::size_t size() const { return rows_; }
  bool empty() const { return rows_ == 0; }

  // Runs "SELECT <select> FROM (the keys) k JOIN <table> <alias> ON <on>", `params` binding the
  // placeholders of `on`, and calls fn with the rows of each statement: one statement on
  // PostgreSQL, one per `chunk` keys on SQLite. Nothing runs when there are no keys. Stops at the
  // first error and returns it. Table, alias and column names are the caller's code (asserted
  // identifiers), never input.
  Result<void> join(Connection& c, std::string_view select, std::string_view table,
                    std::string_view alias, std::string_view on, std::span<const Param> params,
                    const std::function<void(const Rows&)>& fn, std::size_t chunk = 1024) const;

 private:
  void row_params(std::size_t row, std::vector<Param>& out) const;

  Dialect dialect_;
  std::vector<std::string> names_;
  std::vector<KeyType> types_;
  std::size_t n_ints_ = 0;
  std::size_t rows_ = 0;
  std::vector<std::int64_t> ints_;  // row-major, the bigint columns
  std::vector<std::string> texts_;  // row-major, the text columns
};

// The PostgreSQL row source "unnest(CAST(? AS BIGINT[]), CAST(? AS BYTEA[]), …)" of the row-major
// `values` (`width` per row, at least one row), the literals of its arrays appended to `arrays`,
// one parameter each. A column is BIGINT[], TEXT[] or BYTEA[] after its values, and may hold
// NULLs; nullopt if a column mixes types or holds nothing but NULL (its type is then unknown).
std::optional<std::string> pg_unnest(std::span<const Param> values, std::size_t width,
                                     std::vector<std::string>& arrays);

// Up to this many rows, PostgreSQL's bulk_insert sends one INSERT from arrays (one round trip, and
// a statement that can share a pipeline); more go by COPY, faster per row but two round trips.
inline constexpr std::size_t kArrayInsertRowsMax = 256;

// The PostgreSQL statement "INSERT INTO table (columns) SELECT … FROM unnest(…)" of the row-major
// `values` (at least one row): one statement for any number of rows, its arrays kept by the
// statement. A column of NULLs only is inserted as NULL; nullopt if a column mixes types.
std::optional<Statement> pg_insert_from_arrays(std::string_view table,
                                               std::span<const std::string_view> columns,
                                               std::span<const Param> values);

// PostgreSQL array literals: '{1,2,3}', and '{"a","b\"c"}' with every element quoted and `"` and
// `\` escaped, for a parameter cast to BIGINT[] or TEXT[].
std::string pg_bigint_array(const std::vector<std::int64_t>& values);
std::string pg_text_array(const std::vector<std::string_view>& values);

}  // namespace tanpu::store
