// store::KeyRows (key_rows.h): key tuples as a joined row source, per engine.
#include "store/key_rows.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "core/assert.h"
#include "store/sql_text.h"

namespace tanpu::store {

KeyRows::KeyRows(Dialect dialect, std::vector<KeyType> types)
    : dialect_(dialect), types_(std::move(types)) {
  TANPU_ASSERT(!types_.empty());
}

void KeyRows::add(std::initializer_list<Value> row) {
  TANPU_ASSERT(row.size() == types_.size());
  std::size_t col = 0;
  for (const Value& v : row) {
    if (types_[col++] == KeyType::bigint)
      ints_.push_back(std::get<std::int64_t>(v));
    else
      texts_.emplace_back(std::get<std::string_view>(v));
  }
  ++rows_;
}

namespace {

std::size_t count_of(const std::vector<KeyType>& types, KeyType t) {
  return static_cast<std::size_t>(std::count(types.begin(), types.end(), t));
}

}  // namespace

Result<void> KeyRows::each(
    std::size_t chunk,
    const std::function<Result<void>(std::string_view, std::vector<Param>&)>& fn) const {
  if (rows_ == 0) return {};
  const std::size_t n_ints = count_of(types_, KeyType::bigint);
  const std::size_t n_texts = types_.size() - n_ints;
  // Row-major parameters of every row; on SQLite a chunk's padding repeats its last row.
  const auto row_params = [&](std::size_t r, std::vector<Param>& out) {
    std::size_t int_col = 0;
    std::size_t text_col = 0;
    for (const KeyType t : types_) {
      if (t == KeyType::bigint)
        out.emplace_back(ints_[r * n_ints + int_col++]);
      else
        out.emplace_back(std::string_view(texts_[r * n_texts + text_col++]));
    }
  };
  std::vector<Param> params;
  if (dialect_ == Dialect::postgres) {
    std::vector<Param> values;
    values.reserve(rows_ * types_.size());
    for (std::size_t r = 0; r < rows_; ++r) row_params(r, values);
    std::vector<std::string> arrays;
    const auto unnest = pg_unnest(values, types_.size(), arrays);
    TANPU_ASSERT(unnest.has_value());
    for (const std::string& a : arrays) params.emplace_back(std::string_view(a));
    return fn("SELECT * FROM " + *unnest, params);
  }
  TANPU_ASSERT(chunk > 0);
  for (std::size_t at = 0; at < rows_; at += chunk) {
    const std::size_t n = padded_items(std::min(chunk, rows_ - at));
    params.clear();
    for (std::size_t k = 0; k < n; ++k) row_params(std::min(at + k, rows_ - 1), params);
    if (auto r = fn("VALUES " + placeholder_rows(n, types_.size()), params); !r) return r;
  }
  return {};
}

std::optional<std::string> pg_unnest(std::span<const Param> values, std::size_t width,
                                     std::vector<std::string>& arrays) {
  TANPU_ASSERT(width > 0 && !values.empty() && values.size() % width == 0);
  const std::size_t rows = values.size() / width;
  std::string sql = "unnest(";
  for (std::size_t col = 0; col < width; ++col) {
    if (col > 0) sql += ", ";
    const bool integers = std::holds_alternative<std::int64_t>(values[col]);
    if (!integers && !std::holds_alternative<std::string_view>(values[col])) return std::nullopt;
    std::vector<std::int64_t> ints;
    std::vector<std::string_view> texts;
    for (std::size_t r = 0; r < rows; ++r) {
      const Param& v = values[r * width + col];
      if (integers && std::holds_alternative<std::int64_t>(v))
        ints.push_back(std::get<std::int64_t>(v));
      else if (!integers && std::holds_alternative<std::string_view>(v))
        texts.push_back(std::get<std::string_view>(v));
      else
        return std::nullopt;
    }
    arrays.push_back(integers ? pg_bigint_array(ints) : pg_text_array(texts));
    sql += integers ? "CAST(? AS BIGINT[])" : "CAST(? AS TEXT[])";
  }
  return sql + ")";
}

std::string pg_bigint_array(const std::vector<std::int64_t>& values) {
  std::string out;
  out.reserve(values.size() * 12 + 2);
  out += '{';
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(values[i]);
  }
  out += '}';
  return out;
}

std::string pg_text_array(const std::vector<std::string_view>& values) {
  std::size_t size = 2;
  for (const std::string_view v : values) size += v.size() + 3;
  std::string out;
  out.reserve(size);
  out += '{';
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (const char ch : values[i]) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace tanpu::store
