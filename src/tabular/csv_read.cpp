// Reading CSV (read() in tabular.h) with libcsv's strict parser: UTF-8, RFC 4180 quoting, comma,
// CRLF, LF or CR line ends. Row numbers count every line a spreadsheet shows as a row, blank ones
// included, so an error names the row a person finds when they open the file.
#include <csv.h>

#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "tabular/internal.h"

namespace tanpu::tabular::detail {

namespace {

constexpr std::size_t chunk_bytes = 1 << 20;  // parsed per call, so an error stops the work soon
constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

// What the libcsv callbacks share. libcsv cannot be stopped from a callback, so after the first
// error they do nothing and the caller stops feeding chunks.
struct CsvState {
  explicit CsvState(TableBuilder& b) : builder(&b) {}
  TableBuilder* builder;
  std::size_t row_number = 1;  // the row being read, as a spreadsheet numbers it
  std::size_t column = 0;      // the next cell's column
  bool row_has_fields = false;
  int last_terminator = 0;  // the character that ended the previous row
  std::optional<Error> error;

  void keep(Result<void> r) {
    if (!r) error = std::move(r.error());
  }
};

Error out_of_memory() {
  return fail(ErrorKind::internal, "out_of_memory", "The file could not be read.").error();
}

// libcsv's field callback. It is C calling us: nothing may be thrown through it.
void on_field(void* data, std::size_t size, void* opaque) noexcept {
  auto& s = *static_cast<CsvState*>(opaque);
  if (s.error) return;
  try {
    const std::string_view text(static_cast<const char*>(data), data ? size : 0);
    if (!valid_utf8(text)) {
      s.error = fail(ErrorKind::invalid, "invalid_encoding",
                     "Row " + std::to_string(s.row_number) +
                         " is not valid UTF-8 text; save the file as \"CSV UTF-8\".")
                    .error();
      return;
    }
    s.keep(s.builder->cell(s.row_number, s.column, text));
    ++s.column;
    s.row_has_fields = true;
  } catch (const std::exception&) {
    s.error = out_of_memory();
  }
}

// libcsv's row callback (CSV_REPALL_NL: called for every line end outside quotes, and with -1 at
// the end of input).
void on_row(int terminator, void* opaque) noexcept {
  auto& s = *static_cast<CsvState*>(opaque);
  if (s.error) return;
  if (!s.row_has_fields && terminator == '\n' && s.last_terminator == '\r') {
    s.last_terminator = 0;  // the LF of a CRLF: the row already ended at the CR
    return;
  }
  try {
    s.keep(s.builder->end_row(s.row_number));
  } catch (const std::exception&) {
    s.error = out_of_memory();
  }
  ++s.row_number;
  s.column = 0;
  s.row_has_fields = false;
  s.last_terminator = terminator;
}

std::unexpected<Error> quote_error(std::size_t row_number, bool unterminated) {
  return fail(ErrorKind::invalid, "invalid_csv",
              "Row " + std::to_string(row_number) +
                  (unterminated ? " opens a quoted cell that is never closed."
                                : " has a misplaced quote: a quoted cell must be quoted whole, "
                                  "with quotes inside it doubled (\"\")."));
}

// Owns an initialised csv_parser.
struct Parser {
  csv_parser p{};
  bool ok = csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL) == 0;

  Parser() = default;
  ~Parser() {
    if (ok) csv_free(&p);
  }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;
  Parser(Parser&&) = delete;
  Parser& operator=(Parser&&) = delete;
};

}  // namespace

Result<Table> read_csv(std::span<const std::uint8_t> bytes, const Limits& limits) {
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (text.starts_with(utf8_bom)) text.remove_prefix(utf8_bom.size());
  TableBuilder builder(limits, /*refuse_formula_text=*/true);
  CsvState state(builder);
  Parser parser;
  if (!parser.ok) return fail(out_of_memory());
  while (!text.empty() && !state.error) {
    const std::string_view chunk = text.substr(0, chunk_bytes);
    const std::size_t parsed =
        csv_parse(&parser.p, chunk.data(), chunk.size(), on_field, on_row, &state);
    if (state.error) break;
    if (parsed != chunk.size()) {
      if (csv_error(&parser.p) == CSV_EPARSE) return quote_error(state.row_number, false);
      return fail(out_of_memory());
    }
    text.remove_prefix(chunk.size());
  }
  if (state.error) return fail(std::move(*state.error));
  if (csv_fini(&parser.p, on_field, on_row, &state) != 0) {
    return quote_error(state.row_number, true);
  }
  if (state.error) return fail(std::move(*state.error));
  return std::move(builder).finish();
}

}  // namespace tanpu::tabular::detail
