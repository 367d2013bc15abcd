// write_csv() (tabular.h): libcsv quotes each cell; we defuse cells a spreadsheet would run.
#include <csv.h>

#include <string>
#include <string_view>

#include "core/assert.h"
#include "tabular/internal.h"
#include "tabular/tabular.h"

namespace tanpu::tabular {

namespace {

// [+-]digits[.digits]: a number, which a spreadsheet shows as one, not a formula.
bool plain_number(std::string_view text) {
  if (!text.empty() && (text.front() == '+' || text.front() == '-')) text.remove_prefix(1);
  const std::size_t point = text.find('.');
  const std::string_view whole = text.substr(0, point);
  const std::string_view fraction =
      point == std::string_view::npos ? std::string_view("0") : text.substr(point + 1);
  auto digits = [](std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
  };
  return digits(whole) && digits(fraction);
}

// True if a spreadsheet opening the CSV would take text as a formula (OWASP's CSV injection list).
bool formula_like(std::string_view text) {
  if (text.empty()) return false;
  const char c = text.front();
  return (c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r') &&
         !plain_number(text);
}

void append_cell(std::string& out, std::string_view text) {
  const bool defuse = formula_like(text);
  const std::size_t size = text.size() + (defuse ? 1 : 0);
  const std::size_t at = out.size();
  out.resize(at + 2 * size + 2);  // worst case: every character a quote, plus the outer quotes
  std::string safe;
  if (defuse) {
    safe.reserve(size);
    safe.append("'").append(text);
    text = safe;
  }
  const std::size_t written = csv_write(out.data() + at, out.size() - at, text.data(), text.size());
  TANPU_ASSERT(written <= out.size() - at);
  out.resize(at + written);
}

void append_row(std::string& out, std::span<const std::string> cells) {
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i > 0) out += ',';
    append_cell(out, cells[i]);
  }
  out += "\r\n";
}

}  // namespace

std::string write_csv(std::span<const std::string> header,
                      std::span<const std::vector<std::string>> rows) {
  std::string out = "\xEF\xBB\xBF";  // UTF-8 BOM: without it Excel reads the file as ANSI
  append_row(out, header);
  for (const std::vector<std::string>& row : rows) {
    TANPU_ASSERT(row.size() == header.size());
    append_row(out, row);
  }
  return out;
}

}  // namespace tanpu::tabular
