#include "store/sql_text.h"

#include <bit>

#include "core/assert.h"

namespace tanpu::store {
namespace {

bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_ident_char(char c) {
  return is_ident_start(c) || (c >= '0' && c <= '9');
}

bool is_plain_identifier(std::string_view s) {
  if (s.empty() || !is_ident_start(s.front())) return false;
  for (char c : s) {
    if (!is_ident_char(c)) return false;
  }
  return true;
}

// The index just past the end of the quoted run that starts at sql[i] (a quote character). A
// doubled quote inside ('it''s') simply closes and reopens the run, which this handles for free.
std::size_t skip_quoted(std::string_view sql, std::size_t i) {
  const char quote = sql[i];
  const std::size_t end = sql.find(quote, i + 1);
  return end == std::string_view::npos ? sql.size() : end + 1;
}

std::size_t skip_comment(std::string_view sql, std::size_t i) {
  if (sql[i + 1] == '-') {
    const std::size_t end = sql.find('\n', i);
    return end == std::string_view::npos ? sql.size() : end + 1;
  }
  const std::size_t end = sql.find("*/", i + 2);
  return end == std::string_view::npos ? sql.size() : end + 2;
}

}  // namespace

bool is_sql_identifier(std::string_view s) {
  const std::size_t dot = s.find('.');
  if (dot == std::string_view::npos) return is_plain_identifier(s);
  return is_plain_identifier(s.substr(0, dot)) && is_plain_identifier(s.substr(dot + 1));
}

void append_table_columns(std::string& out, std::string_view table,
                          std::span<const std::string_view> columns) {
  TANPU_ASSERT_MSG(is_sql_identifier(table), "table name is not a plain identifier");
  TANPU_ASSERT(!columns.empty());
  out.append(table);
  out.push_back('(');
  for (std::size_t i = 0; i < columns.size(); ++i) {
    TANPU_ASSERT_MSG(is_sql_identifier(columns[i]), "column name is not a plain identifier");
    if (i > 0) out.push_back(',');
    out.append(columns[i]);
  }
  out.push_back(')');
}

std::string placeholder_list(std::size_t n) {
  std::string out = "(";
  out.reserve(n * 3 + 2);
  for (std::size_t i = 0; i < n; ++i) out += i == 0 ? "?" : ", ?";
  return out + ")";
}

std::string placeholder_rows(std::size_t rows, std::size_t cols) {
  const std::string one = placeholder_list(cols);
  std::string out;
  out.reserve(rows * (one.size() + 2));
  for (std::size_t r = 0; r < rows; ++r) {
    if (r > 0) out += ", ";
    out += one;
  }
  return out;
}

std::size_t padded_items(std::size_t n) {
  TANPU_ASSERT(n >= 1);
  return std::bit_ceil(n);
}

std::string savepoint_sql(std::string_view command, std::string_view name) {
  TANPU_ASSERT_MSG(is_plain_identifier(name), "savepoint name is not a plain identifier");
  std::string sql(command);
  sql += '"';
  sql += name;
  sql += '"';
  return sql;
}

std::string rewrite_placeholders(std::string_view sql, int* count) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  std::size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    const bool comment =
        i + 1 < sql.size() && ((c == '-' && sql[i + 1] == '-') || (c == '/' && sql[i + 1] == '*'));
    if (c == '\'' || c == '"' || comment) {
      const std::size_t end = comment ? skip_comment(sql, i) : skip_quoted(sql, i);
      out.append(sql.substr(i, end - i));
      i = end;
      continue;
    }
    if (c == '?') {
      out.push_back('$');
      out.append(std::to_string(++n));
    } else {
      out.push_back(c);
    }
    ++i;
  }
  *count = n;
  return out;
}

}  // namespace tanpu::store
