// TableBuilder (internal.h): the row rules of read(), shared by the CSV and XLSX readers.
#include <algorithm>
#include <string>
#include <utility>

#include "core/assert.h"
#include "tabular/internal.h"

namespace tanpu::tabular::detail {

TableBuilder::TableBuilder(const Limits& limits, bool refuse_formula_text)
    : limits_(limits), refuse_formula_text_(refuse_formula_text) {
  TANPU_ASSERT(limits.rows_max > 0 && limits.columns_max > 0 && limits.cell_bytes_max > 0);
}

Result<void> TableBuilder::cell(std::size_t row_number, std::size_t column, std::string_view text) {
  text = trim(text);
  if (text.empty()) return {};
  if (text.size() > limits_.cell_bytes_max) {
    return fail(ErrorKind::too_large, "cell_too_long",
                cell_name(row_number, column) + " holds " + std::to_string(text.size()) +
                    " bytes; at most " + std::to_string(limits_.cell_bytes_max) + " are allowed.");
  }
  if (refuse_formula_text_ && (text.front() == '=' || text.front() == '@')) {
    return fail(ErrorKind::invalid, "formula_not_allowed",
                cell_name(row_number, column) + " starts with '" + text.front() +
                    "', which a spreadsheet runs as a formula; enter the value itself.");
  }
  if (column >= limits_.columns_max) {
    return fail(ErrorKind::too_large, "too_many_columns",
                cell_name(row_number, column) + " holds a value; at most " +
                    std::to_string(limits_.columns_max) + " columns are allowed.");
  }
  if (have_header_ && column >= table_.header.size()) {
    return fail(ErrorKind::invalid, "extra_cells",
                "Row " + std::to_string(row_number) + " has a value in column " +
                    column_name(column) + ", right of the last header column (" +
                    column_name(table_.header.size() - 1) + ").");
  }
  if (!have_header_ && row_.size() <= column) row_.resize(column + 1);
  row_[column].assign(text);
  row_has_value_ = true;
  return {};
}

Result<void> TableBuilder::end_row(std::size_t row_number) {
  if (!row_has_value_) return {};  // wholly blank: skipped, and nothing was stored
  row_has_value_ = false;
  if (!have_header_) {
    have_header_ = true;
    table_.header = std::move(row_);  // ends at its last non-blank cell: see cell()
    row_.assign(table_.header.size(), std::string());
    return {};
  }
  if (table_.rows.size() >= limits_.rows_max) {
    return fail(ErrorKind::too_large, "too_many_rows",
                "The file has more than " + std::to_string(limits_.rows_max) + " data rows (row " +
                    std::to_string(row_number) + " is over); split it.");
  }
  TANPU_ASSERT(row_.size() == table_.header.size());
  if (table_.rows.capacity() == table_.rows.size()) {
    // Grow in large steps, and row_numbers with rows: few moves for a 50,000-row import.
    const std::size_t capacity = std::min(limits_.rows_max, table_.rows.size() * 2 + 1'024);
    table_.rows.reserve(capacity);
    table_.row_numbers.reserve(capacity);
  }
  table_.rows.push_back(std::move(row_));
  table_.row_numbers.push_back(row_number);
  row_.assign(table_.header.size(), std::string());
  return {};
}

Result<Table> TableBuilder::finish() && {
  if (!have_header_) {
    return fail(ErrorKind::invalid, "empty_file", "The file has no rows with values.");
  }
  TANPU_ASSERT(table_.rows.size() == table_.row_numbers.size());
  return std::move(table_);
}

}  // namespace tanpu::tabular::detail
