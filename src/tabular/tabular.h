// Spreadsheet uploads and exports: reads CSV and XLSX files into rows of text, writes CSV and
// XLSX. Used by the organisations' member import and transcript export, and by settlement exports.
// CSV goes through libcsv, XLSX reading through libzip and Expat (streamed, no DOM), XLSX writing
// through libxlsxwriter; docs/dependencies.md says why. Nothing here touches a database.
//
// Reading. The first non-blank row is the header; wholly blank rows are skipped; every cell is
// trimmed of surrounding whitespace (ASCII, U+00A0, U+3000). CSV is UTF-8 (a BOM is skipped),
// RFC 4180 quoting, comma separated, CRLF, LF or CR line ends. XLSX: the first sheet of the
// workbook; numbers keep the text as stored, except that an integral value stored in exponent or
// ".0" form becomes plain digits ("1.3800138E10" -> "13800138000", so phone and member numbers
// typed as numbers survive); dates come as Excel's serial day number ("45658" for 2025-01-01),
// because a sheet stores only a number and a display format; booleans as "TRUE"/"FALSE".
//
// Error codes of read() (ErrorKind::invalid unless noted); messages name the row and column as a
// spreadsheet does ("row 17, column C"):
//   empty_file           no bytes, or no non-blank row to be the header
//   file_too_large       over limits.bytes_max, or an XLSX part over limits.xml_bytes_max
//   too_many_rows, too_many_columns, cell_too_long   over the other limits (all four: too_large)
//   extra_cells          a row has a value right of the header's last column
//   formula_not_allowed  XLSX: a cell with a formula; CSV: a cell starting with '=' or '@'
//                        ('+' and '-' are data: phone numbers, negative numbers)
//   invalid_encoding     CSV that is not UTF-8
//   invalid_csv          a misplaced or unterminated quote
//   invalid_xlsx         not a ZIP, missing parts, malformed XML, bad cell references
//   invalid_cell         an XLSX cell holding an error value (#N/A, #DIV/0!, ...)
//   unsupported_format   an .xls or a password-protected workbook: save as .xlsx or .csv
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace tanpu::tabular {

// Upper bounds on what read() accepts; each is checked while reading, so an oversized file is
// refused before it is held in memory as a Table. Every limit error has ErrorKind::too_large.
struct Limits {
  std::size_t bytes_max = 20 << 20;       // the uploaded file ("file_too_large")
  std::size_t rows_max = 100'000;         // data rows, not counting the header ("too_many_rows")
  std::size_t columns_max = 64;           // columns holding a value ("too_many_columns")
  std::size_t cell_bytes_max = 1'000;     // one cell after trimming ("cell_too_long")
  std::size_t xml_bytes_max = 200 << 20;  // uncompressed size of one XLSX part: zip-bomb guard
};

// A sheet as text. Every row has exactly header.size() cells; missing cells are "".
struct Table {
  std::vector<std::string> header;             // the first non-blank row, trimmed
  std::vector<std::vector<std::string>> rows;  // data rows; wholly blank rows are left out
  // The row number a person sees in the file or spreadsheet (the header is row 1 when the file
  // starts with it); same length as rows. For CSV a quoted cell spanning lines is still one row.
  std::vector<std::size_t> row_numbers;
};

enum class Format : std::uint8_t { csv, xlsx };

// The format of an upload by its first bytes: a ZIP local header ("PK\3\4") is xlsx, anything
// else csv. read() calls it; callers may use it to choose a file name or a message.
Format detect(std::span<const std::uint8_t> bytes);

// Reads a CSV or XLSX upload (chosen by detect()) into a Table, under limits; the rules and error
// codes are at the top of this file.
Result<Table> read(std::span<const std::uint8_t> bytes, const Limits& limits = {});

// A CSV file: UTF-8 with a BOM (for Excel), libcsv's RFC 4180 quoting, CRLF. A cell that a
// spreadsheet would run as a formula (starting with = + - @ tab or CR, and not a plain number)
// gets a leading '; read() keeps that apostrophe. Every row must have header.size() cells.
std::string write_csv(std::span<const std::string> header,
                      std::span<const std::vector<std::string>> rows);

// An XLSX file with one sheet named sheet_name (made valid: at most 31 characters, []:*?/\ as _,
// "Sheet1" if nothing is left), bold frozen header, column widths from the content. Cells are
// text, never formulas ("=1+1" stays text), except in columns whose numeric_columns entry is true
// (empty span: none; else one per header cell): there "-12" or "3.50" (at most 15 significant
// digits, no leading zero, so "007" stays text) is a number, which reads back as "-12", "3.5".
// Every row must have header.size() cells. Errors: invalid_encoding (a cell not UTF-8, or with a
// NUL), cell_too_long (over Excel's 32,767 bytes), too_many_rows or too_many_columns (over
// Excel's sheet size), xlsx_write_failed (internal: the temporary file failed).
Result<std::vector<std::uint8_t>> write_xlsx(std::string_view sheet_name,
                                             std::span<const std::string> header,
                                             std::span<const std::vector<std::string>> rows,
                                             std::span<const bool> numeric_columns);

}  // namespace tanpu::tabular
