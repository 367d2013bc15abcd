// write_xlsx() (tabular.h) with libxlsxwriter. libxlsxwriter 1.1.4 writes only to a named file,
// so the workbook goes to a private temporary file (mkstemp) that is read back and always removed.
#include <fcntl.h>
#include <unistd.h>
#include <xlsxwriter.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "core/assert.h"
#include "tabular/internal.h"
#include "tabular/tabular.h"

namespace tanpu::tabular {

namespace {

constexpr std::size_t excel_cell_bytes_max = 32'767;  // Excel's limit on a cell
constexpr std::size_t sheet_name_chars_max = 31;
constexpr std::size_t significant_digits_max = 15;  // what a double, and Excel, keep exactly
constexpr double column_width_min = 8, column_width_max = 60;

std::unexpected<Error> write_failed(std::string_view why) {
  return fail(ErrorKind::internal, "xlsx_write_failed",
              "The spreadsheet could not be written: " + std::string(why));
}

// The length of the UTF-8 sequence that starts with byte lead (1 for ASCII and stray bytes).
std::size_t sequence_bytes(unsigned char lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

// A private temporary file, removed when this goes out of scope.
class TempFile {
 public:
  TempFile() {
    std::error_code ec;
    directory_ = std::filesystem::temp_directory_path(ec).string();
    if (ec) directory_ = "/tmp";
    std::string path = directory_ + "/tanpu-xlsx-XXXXXX";
    fd_ = mkstemp(path.data());
    if (fd_ >= 0) path_ = std::move(path);
  }
  ~TempFile() {
    if (fd_ >= 0) close(fd_);
    if (!path_.empty()) unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  TempFile(TempFile&&) = delete;
  TempFile& operator=(TempFile&&) = delete;

  [[nodiscard]] bool ok() const { return fd_ >= 0; }
  [[nodiscard]] const std::string& path() const { return path_; }
  std::string& directory() { return directory_; }

  // The file's whole content (libxlsxwriter rewrote it through its own handle).
  [[nodiscard]] Result<std::vector<std::uint8_t>> contents() const {
    if (lseek(fd_, 0, SEEK_SET) != 0) return write_failed("cannot read the temporary file.");
    std::vector<std::uint8_t> bytes;
    std::array<std::uint8_t, 64 << 10> buffer{};
    for (;;) {
      const ssize_t n = ::read(fd_, buffer.data(), buffer.size());
      if (n < 0) return write_failed("cannot read the temporary file.");
      if (n == 0) break;
      bytes.insert(bytes.end(), buffer.begin(), buffer.begin() + n);
    }
    return bytes;
  }

 private:
  std::string directory_, path_;
  int fd_ = -1;
};

// A sheet name Excel accepts: no []:*?/\ (each becomes '_'), no control characters, not starting
// or ending with an apostrophe, at most 31 characters; "Sheet1" if nothing is left.
std::string sheet_name_for(std::string_view wanted) {
  if (!detail::valid_utf8(wanted)) return "Sheet1";
  std::string name;
  std::size_t chars = 0;
  for (std::size_t i = 0; i < wanted.size() && chars < sheet_name_chars_max;) {
    const auto c = static_cast<unsigned char>(wanted[i]);
    const std::size_t length = sequence_bytes(c);
    if (c < 0x20 || c == 0x7F) {
      // dropped
    } else if (std::string_view("[]:*?/\\").find(static_cast<char>(c)) != std::string_view::npos) {
      name += '_', ++chars;
    } else {
      name.append(wanted.substr(i, length)), ++chars;
    }
    i += length;
  }
  std::string_view trimmed = detail::trim(name);
  while (trimmed.starts_with('\'')) trimmed.remove_prefix(1);
  while (trimmed.ends_with('\'')) trimmed.remove_suffix(1);
  return trimmed.empty() ? "Sheet1" : std::string(trimmed);
}

// Display width of text in Excel's character units: East Asian wide characters count twice.
double display_width(std::string_view text) {
  double width = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const std::size_t length = sequence_bytes(c);
    // Three-byte UTF-8 from U+1100 on is mostly CJK, Hangul and full-width forms; four-byte is
    // CJK extensions and emoji. Close enough for a column width.
    width += (length >= 3 && c >= 0xE1) || length == 4 ? 2 : 1;
    i += length;
  }
  return width;
}

std::vector<double> column_widths(std::span<const std::string> header,
                                  std::span<const std::vector<std::string>> rows) {
  std::vector<double> widths(header.size(), column_width_min);
  auto widen = [&](std::span<const std::string> cells) {
    for (std::size_t c = 0; c < cells.size(); ++c) {
      widths[c] = std::max(widths[c], display_width(cells[c]) + 2);
    }
  };
  widen(header);
  for (const std::vector<std::string>& row : rows) widen(row);
  for (double& w : widths) w = std::min(w, column_width_max);
  return widths;
}

// A decimal that Excel keeps exactly as a number: -?digits[.digits], at most 15 significant
// digits, no leading zero (a member number "007" must stay text to keep its zeros).
bool exact_number(std::string_view text, double& value) {
  const std::string_view digits = text.starts_with('-') ? text.substr(1) : text;
  const std::size_t point = digits.find('.');
  const std::string_view whole = digits.substr(0, point);
  const std::string_view fraction =
      point == std::string_view::npos ? std::string_view() : digits.substr(point + 1);
  auto all_digits = [](std::string_view s) {
    return s.find_first_not_of("0123456789") == std::string_view::npos;
  };
  if (whole.empty() || !all_digits(whole) || !all_digits(fraction)) return false;
  if (point != std::string_view::npos && fraction.empty()) return false;
  if (whole.size() > 1 && whole.front() == '0') return false;
  if (whole.size() + fraction.size() > significant_digits_max + (whole == "0" ? 1 : 0)) {
    return false;
  }
  char* end = nullptr;
  const std::string copy(text);  // strtod needs a terminator; from_chars<double> needs GCC 11+
  value = std::strtod(copy.c_str(), &end);
  return end == copy.c_str() + copy.size();
}

// Refuses a cell that would make an invalid workbook.
Result<void> check_cell(std::string_view text, std::size_t row_number, std::size_t column) {
  if (text.size() > excel_cell_bytes_max) {
    return fail(ErrorKind::too_large, "cell_too_long",
                detail::cell_name(row_number, column) + " holds more than " +
                    std::to_string(excel_cell_bytes_max) + " bytes, Excel's limit.");
  }
  if (!detail::valid_utf8(text) || text.find('\0') != std::string_view::npos) {
    return fail(ErrorKind::invalid, "invalid_encoding",
                detail::cell_name(row_number, column) + " is not valid UTF-8 text.");
  }
  return {};
}

struct WorkbookClose {
  void operator()(lxw_workbook* w) const { workbook_close(w); }
};

Result<void> write_row(lxw_worksheet* sheet, lxw_row_t row, std::span<const std::string> cells,
                       std::span<const bool> numeric_columns, lxw_format* format) {
  for (std::size_t c = 0; c < cells.size(); ++c) {
    const std::string& text = cells[c];
    if (auto r = check_cell(text, row + 1, c); !r) return r;
    if (text.empty()) continue;
    const auto column = static_cast<lxw_col_t>(c);
    double value = 0;
    const lxw_error e = !numeric_columns.empty() && numeric_columns[c] && exact_number(text, value)
                            ? worksheet_write_number(sheet, row, column, value, format)
                            : worksheet_write_string(sheet, row, column, text.c_str(), format);
    if (e != LXW_NO_ERROR) return write_failed(lxw_strerror(e));
  }
  return {};
}

Result<void> write_sheet(lxw_workbook* workbook, std::string_view sheet_name,
                         std::span<const std::string> header,
                         std::span<const std::vector<std::string>> rows,
                         std::span<const bool> numeric_columns) {
  std::string name = sheet_name_for(sheet_name);
  if (workbook_validate_sheet_name(workbook, name.c_str()) != LXW_NO_ERROR) name = "Sheet1";
  lxw_worksheet* sheet = workbook_add_worksheet(workbook, name.c_str());
  lxw_format* bold = workbook_add_format(workbook);
  if (sheet == nullptr || bold == nullptr) return write_failed("out of memory.");
  format_set_bold(bold);
  const std::vector<double> widths = column_widths(header, rows);
  for (std::size_t c = 0; c < widths.size(); ++c) {
    const auto column = static_cast<lxw_col_t>(c);
    worksheet_set_column(sheet, column, column, widths[c], nullptr);
  }
  worksheet_freeze_panes(sheet, 1, 0);
  if (auto r = write_row(sheet, 0, header, {}, bold); !r) return r;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    TANPU_ASSERT(rows[i].size() == header.size());
    const auto row = static_cast<lxw_row_t>(i + 1);
    if (auto r = write_row(sheet, row, rows[i], numeric_columns, nullptr); !r) return r;
  }
  return {};
}

Result<std::vector<std::uint8_t>> write_workbook(std::string_view sheet_name,
                                                 std::span<const std::string> header,
                                                 std::span<const std::vector<std::string>> rows,
                                                 std::span<const bool> numeric_columns) {
  TempFile file;
  if (!file.ok()) return write_failed("cannot create a temporary file.");
  lxw_workbook_options options{};
  options.constant_memory =
      LXW_TRUE;  // rows are streamed to disk, not held: big exports stay small
  options.tmpdir = file.directory().data();
  std::unique_ptr<lxw_workbook, WorkbookClose> workbook(
      workbook_new_opt(file.path().c_str(), &options));
  if (!workbook) return write_failed("cannot create the workbook.");
  if (auto r = write_sheet(workbook.get(), sheet_name, header, rows, numeric_columns); !r) {
    return fail(r.error());  // the unique_ptr still closes (and frees) the workbook
  }
  if (const lxw_error e = workbook_close(workbook.release()); e != LXW_NO_ERROR) {
    return write_failed(lxw_strerror(e));
  }
  return file.contents();
}

}  // namespace

Result<std::vector<std::uint8_t>> write_xlsx(std::string_view sheet_name,
                                             std::span<const std::string> header,
                                             std::span<const std::vector<std::string>> rows,
                                             std::span<const bool> numeric_columns) {
  TANPU_ASSERT(numeric_columns.empty() || numeric_columns.size() == header.size());
  if (rows.size() + 1 > detail::sheet_rows_max) {
    return fail(ErrorKind::too_large, "too_many_rows",
                "A sheet holds at most " + std::to_string(detail::sheet_rows_max - 1) +
                    " rows below its header.");
  }
  if (header.size() > detail::sheet_columns_max) {
    return fail(ErrorKind::too_large, "too_many_columns",
                "A sheet holds at most " + std::to_string(detail::sheet_columns_max) + " columns.");
  }
  try {
    return write_workbook(sheet_name, header, rows, numeric_columns);
  } catch (const std::exception&) {  // allocation failures: nothing else here throws
    return write_failed("out of memory.");
  }
}

}  // namespace tanpu::tabular
