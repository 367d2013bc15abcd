// store::KeyRows (key_rows.h): key tuples as a joined row source, per engine.
#include "store/key_rows.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "core/assert.h"
#include "store/sql_text.h"

namespace tanpu::store {

KeyRows::KeyRows(Dialect dialect, std::vector<KeyColumn> columns) : dialect_(dialect) {
  TANPU_ASSERT(!columns.empty());
  for (const KeyColumn& col : columns) {
    TANPU_ASSERT(is_sql_identifier(col.name));
    names_.emplace_back(col.name);
    types_.push_back(col.type);
    if (col.type == KeyType::bigint) ++n_ints_;
  }
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

void KeyRows::row_params(std::size_t row, std::vector<Param>& out) const {
  const std::size_t n_texts = types_.size() - n_ints_;
  std::size_t int_col = 0;
  std::size_t text_col = 0;
  for (const KeyType t : types_) {
    if (t == KeyType::bigint)
      out.emplace_back(ints_[row * n_ints_ + int_col++]);
    else
      out.emplace_back(std::string_view(texts_[row * n_texts + text_col++]));
  }
}

Result<void> KeyRows::join(Connection& c, std::string_view select, std::string_view table,
                           std::string_view alias, std::string_view on,
                           std::span<const Param> params,
                           const std::function<void(const Rows&)>& fn, std::size_t chunk) const {
  TANPU_ASSERT(c.dialect() == dialect_ && is_sql_identifier(table) && is_sql_identifier(alias));
  if (rows_ == 0) return {};
  std::string names;
  for (const std::string& n : names_) names += (names.empty() ? "" : ", ") + n;
  std::vector<Param> all;
  if (dialect_ == Dialect::postgres) {
    std::vector<Param> values;
    values.reserve(rows_ * types_.size());
    for (std::size_t r = 0; r < rows_; ++r) row_params(r, values);
    std::vector<std::string> arrays;
    const auto unnest = pg_unnest(values, types_.size(), arrays);
    TANPU_ASSERT(unnest.has_value());
    for (const std::string& a : arrays) all.emplace_back(std::string_view(a));
    all.insert(all.end(), params.begin(), params.end());
    auto rows = c.query("SELECT " + std::string(select) + " FROM " + *unnest + " AS k (" + names +
                            ") CROSS JOIN LATERAL (SELECT * FROM " + std::string(table) + " " +
                            std::string(alias) + " WHERE " + std::string(on) + " OFFSET 0) AS " +
                            std::string(alias),
                        all);
    if (!rows) return fail(rows.error());
    fn(*rows);
    return {};
  }
  TANPU_ASSERT(chunk > 0);
  for (std::size_t at = 0; at < rows_; at += chunk) {
    const std::size_t n = padded_items(std::min(chunk, rows_ - at));
    all.clear();
    for (std::size_t k = 0; k < n; ++k) row_params(std::min(at + k, rows_ - 1), all);
    all.insert(all.end(), params.begin(), params.end());
    auto rows =
        c.query("WITH k (" + names + ") AS (VALUES " + placeholder_rows(n, types_.size()) +
                    ") SELECT " + std::string(select) + " FROM k CROSS JOIN " + std::string(table) +
                    " " + std::string(alias) + " ON " + std::string(on),
                all);
    if (!rows) return fail(rows.error());
    fn(*rows);
  }
  return {};
}

namespace {

enum class ArrayKind { none, bigint, text, bytea };

ArrayKind kind_of(const Param& v) {
  if (std::holds_alternative<std::int64_t>(v)) return ArrayKind::bigint;
  if (std::holds_alternative<std::string_view>(v)) return ArrayKind::text;
  if (std::holds_alternative<std::span<const std::uint8_t>>(v)) return ArrayKind::bytea;
  return ArrayKind::none;  // NULL
}

void append_quoted(std::string& out, std::string_view text) {
  out += '"';
  for (const char ch : text) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  out += '"';
}

// One array literal element: NULL unquoted; bytes as "\\x…" (the escaped backslash of bytea's hex
// input form).
void append_element(std::string& out, const Param& v) {
  constexpr char kHex[] = "0123456789abcdef";
  if (const auto* i = std::get_if<std::int64_t>(&v)) {
    out += std::to_string(*i);
  } else if (const auto* t = std::get_if<std::string_view>(&v)) {
    append_quoted(out, *t);
  } else if (const auto* b = std::get_if<std::span<const std::uint8_t>>(&v)) {
    out += "\"\\\\x";
    for (const std::uint8_t byte : *b) {
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0f];
    }
    out += '"';
  } else {
    out += "NULL";
  }
}

}  // namespace

namespace {

// Each column's array literal appended to arrays (none for a column of NULLs only) and its kind;
// false if a column mixes types.
bool array_columns(std::span<const Param> values, std::size_t width,
                   std::vector<std::string>& arrays, std::vector<ArrayKind>& kinds) {
  TANPU_ASSERT(width > 0 && !values.empty() && values.size() % width == 0);
  const std::size_t rows = values.size() / width;
  for (std::size_t col = 0; col < width; ++col) {
    ArrayKind kind = ArrayKind::none;
    for (std::size_t r = 0; r < rows; ++r) {
      const ArrayKind k = kind_of(values[r * width + col]);
      if (k == ArrayKind::none) continue;
      if (kind != ArrayKind::none && k != kind) return false;
      kind = k;
    }
    kinds.push_back(kind);
    if (kind == ArrayKind::none) continue;
    std::string array = "{";
    for (std::size_t r = 0; r < rows; ++r) {
      if (r > 0) array += ',';
      append_element(array, values[r * width + col]);
    }
    array += '}';
    arrays.push_back(std::move(array));
  }
  return true;
}

std::string_view array_cast(ArrayKind kind) {
  return kind == ArrayKind::bigint ? "CAST(? AS BIGINT[])"
         : kind == ArrayKind::text ? "CAST(? AS TEXT[])"
                                   : "CAST(? AS BYTEA[])";
}

}  // namespace

std::optional<std::string> pg_unnest(std::span<const Param> values, std::size_t width,
                                     std::vector<std::string>& arrays) {
  // A column of NULLs only has no type an array could carry.
  std::vector<ArrayKind> kinds;
  if (!array_columns(values, width, arrays, kinds)) return std::nullopt;
  std::string sql = "unnest(";
  for (std::size_t col = 0; col < kinds.size(); ++col) {
    if (kinds[col] == ArrayKind::none) return std::nullopt;
    if (col > 0) sql += ", ";
    sql += array_cast(kinds[col]);
  }
  return sql + ")";
}

std::optional<Statement> pg_insert_from_arrays(std::string_view table,
                                               std::span<const std::string_view> columns,
                                               std::span<const Param> values) {
  std::vector<std::string> arrays;
  std::vector<ArrayKind> kinds;
  if (!array_columns(values, columns.size(), arrays, kinds)) return std::nullopt;
  // A column of NULLs only is the NULL literal, typed by its column.
  std::string select;
  std::string source;
  std::string names;
  for (std::size_t col = 0; col < kinds.size(); ++col) {
    if (col > 0) select += ", ";
    if (kinds[col] == ArrayKind::none) {
      select += "NULL";
      continue;
    }
    const std::string name = "c" + std::to_string(col);
    select += "k." + name;
    source += (source.empty() ? "" : ", ") + std::string(array_cast(kinds[col]));
    names += (names.empty() ? "" : ", ") + name;
  }
  if (source.empty()) return std::nullopt;
  std::string sql = "INSERT INTO ";
  append_table_columns(sql, table, columns);
  sql += " SELECT " + select + " FROM unnest(" + source + ") AS k (" + names + ")";
  Statement st(std::move(sql));
  for (std::string& a : arrays) st.bind_owned(std::move(a));
  return st;
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
    append_quoted(out, values[i]);
  }
  out += '}';
  return out;
}

}  // namespace tanpu::store
