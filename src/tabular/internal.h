// Shared by the readers and writers of src/tabular: text helpers and the TableBuilder that turns
// cells streamed by a reader into a Table, enforcing the Limits and the row rules of read().
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "tabular/tabular.h"

namespace tanpu::tabular::detail {

// Excel's sheet size: the most rows and columns a spreadsheet shows.
inline constexpr std::size_t sheet_rows_max = 1'048'576;
inline constexpr std::size_t sheet_columns_max = 16'384;

// Column letters as a spreadsheet shows them: 0 → "A", 25 → "Z", 26 → "AA".
std::string column_name(std::size_t column);
// "row 17, column C" for row number 17 (1-based) and column index 2 (0-based).
std::string cell_name(std::size_t row_number, std::size_t column);
// text without surrounding ASCII whitespace, U+00A0 (no-break space) and U+3000 (ideographic
// space, which Chinese input methods type).
std::string_view trim(std::string_view text);
// True if text is well-formed UTF-8: no overlong forms, surrogates or code points past U+10FFFF.
bool valid_utf8(std::string_view text);
// Appends code point cp (at most U+10FFFF, not a surrogate) to out as UTF-8.
void append_utf8(std::string& out, std::uint32_t cp);
// Replaces OOXML's _xHHHH_ escapes (how XLSX stores control characters) in text[from..] with the
// characters, in place. Escapes of surrogates are left as they are.
void decode_ooxml_escapes(std::string& text, std::size_t from);
// An integral number in exponent or ".0" form as plain digits ("1.3800138E10" → "13800138000",
// "-20.00" → "-20"); any other text (not integral, not a number, over 20 digits) unchanged.
std::string integral_text(std::string_view number);

// Collects a sheet cell by cell, row by row, as read() defines it: the first non-blank row is the
// header, blank rows are skipped, rows are padded to the header, limits are checked on arrival.
class TableBuilder {
 public:
  // refuse_formula_text: refuse cells starting with '=' or '@' (CSV has no other way to mark a
  // formula).
  TableBuilder(const Limits& limits, bool refuse_formula_text);

  // Sets cell `column` (0-based) of the row being read. Columns must increase within a row; blank
  // cells may be left out.
  Result<void> cell(std::size_t row_number, std::size_t column, std::string_view text);
  // Ends the row being read: it becomes the header, a data row, or is skipped if blank.
  Result<void> end_row(std::size_t row_number);
  // The Table; "empty_file" if no row had a value.
  Result<Table> finish() &&;

 private:
  Limits limits_;
  bool refuse_formula_text_;
  bool have_header_ = false;
  bool row_has_value_ = false;
  std::vector<std::string> row_;  // the row being read: header.size() cells once there is a header
  Table table_;
};

// The readers behind read(): bytes are not empty and within limits.bytes_max.
Result<Table> read_csv(std::span<const std::uint8_t> bytes, const Limits& limits);
Result<Table> read_xlsx(std::span<const std::uint8_t> bytes, const Limits& limits);

}  // namespace tanpu::tabular::detail
