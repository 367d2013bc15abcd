// Key tuples sent to a query as a row source to join, the same query text on both engines:
//
//   KeyRows keys(c.dialect(), {KeyType::bigint, KeyType::text});
//   keys.add({member_id, std::string_view(period)});
//   keys.each(1024, [&](std::string_view rows, std::vector<Param>& params) {
//     params.emplace_back(source_id);  // the query's own parameters follow the keys'
//     auto r = c.query("WITH k (member_id, period) AS (" + std::string(rows) + ") SELECT … FROM k "
//                      "JOIN t ON t.member_id = k.member_id AND t.period = k.period …", params);
//     …
//   });
//
// PostgreSQL: one statement for every key, each column one array parameter expanded by unnest.
// Its plan probes the joined table's index once per key whatever the table's statistics say. (An
// IN list of parameters gets, after five executions, a generic plan that may scan every row of
// the index prefix and filter it against the list: a cost that grows with the table.)
// SQLite: VALUES lists of up to `chunk` rows, padded to a power of two by repeating the last row
// (padded_items), so that a handful of statement shapes are prepared once.
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

class KeyRows {
 public:
  using Value = std::variant<std::int64_t, std::string_view>;

  KeyRows(Dialect dialect, std::vector<KeyType> types);

  // One key tuple, one value per column in the types' order and of the column's type (asserted).
  // Text is copied.
  void add(std::initializer_list<Value> row);
  std::size_t size() const { return rows_; }
  bool empty() const { return rows_ == 0; }

  // Calls fn once per statement with the row source's SQL (to be named by the caller's WITH) and
  // the keys' parameters, to which fn appends the parameters that follow in its query. Stops at
  // the first error and returns it. Nothing is called when there are no keys.
  Result<void> each(std::size_t chunk,
                    const std::function<Result<void>(std::string_view rows,
                                                     std::vector<Param>& params)>& fn) const;

 private:
  Dialect dialect_;
  std::vector<KeyType> types_;
  std::size_t rows_ = 0;
  std::vector<std::int64_t> ints_;  // row-major, the bigint columns
  std::vector<std::string> texts_;  // row-major, the text columns
};

// The PostgreSQL row source "unnest(CAST(? AS BIGINT[]), CAST(? AS TEXT[]), …)" of the row-major
// `values` (`width` per row, at least one row), the literals of its arrays appended to `arrays`,
// one parameter each. nullopt unless each column holds integers only or text only (no NULL, bytes
// or mixed types).
std::optional<std::string> pg_unnest(std::span<const Param> values, std::size_t width,
                                     std::vector<std::string>& arrays);

// PostgreSQL array literals: '{1,2,3}', and '{"a","b\"c"}' with every element quoted and `"` and
// `\` escaped, for a parameter cast to BIGINT[] or TEXT[].
std::string pg_bigint_array(const std::vector<std::int64_t>& values);
std::string pg_text_array(const std::vector<std::string_view>& values);

}  // namespace tanpu::store
