// Small pure helpers on SQL text shared by the two engines.
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace tanpu::store {

// Transparent hashing so the statement caches are searched with a string_view, without building
// a string on the hot path.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

// True if s is a plain identifier ([A-Za-z_][A-Za-z0-9_]*), optionally schema-qualified (a.b).
// Table, column and savepoint names are spliced into SQL, so they must pass this check.
bool is_sql_identifier(std::string_view s);

// Appends "table(c1,c2,…)" to out. TANPU_ASSERTs that every name is an identifier.
void append_table_columns(std::string& out, std::string_view table,
                          std::span<const std::string_view> columns);

// The statement `command "name"` (command: "SAVEPOINT ", "RELEASE SAVEPOINT ", …). The name is
// quoted so that a keyword of either engine ("inner", "outer" on PostgreSQL) is a valid name.
// TANPU_ASSERTs that name is a plain identifier.
std::string savepoint_sql(std::string_view command, std::string_view name);

// "(?, ?, …)": a parenthesised list of n placeholders, for IN lists.
std::string placeholder_list(std::size_t n);

// "(?, …), (?, …), …": `rows` tuples of `cols` placeholders, for VALUES.
std::string placeholder_rows(std::size_t rows, std::size_t cols);

// The number of items a chunked query of `n` items (n >= 1) is written for: the next power of two.
// The caller repeats its last item to fill the rest, which changes nothing for an IN list or a
// VALUES list that is joined, so generated statements come in a handful of shapes that the
// engines' statement caches keep, instead of a new text to prepare for every batch's remainder.
std::size_t padded_items(std::size_t n);

// PostgreSQL's form of sql: each `?` placeholder becomes $1, $2, … in order. A `?` inside a
// 'string literal', a "quoted identifier", a -- comment or a /* comment */ is left alone.
// Stores the number of placeholders in *count.
std::string rewrite_placeholders(std::string_view sql, int* count);

}  // namespace tanpu::store
