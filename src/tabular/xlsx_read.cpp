// Reading XLSX (read() in tabular.h): libzip opens the workbook from memory, Expat streams each
// XML part (no DOM: a 50,000-row sheet is never held as a tree). The parts, in order:
//   xl/workbook.xml             the first <sheet> and its relationship id (r:id)
//   xl/_rels/workbook.xml.rels  that id's Target (relative to xl/, or absolute "/xl/...") and
//                               the shared string table's Target
//   xl/sharedStrings.xml        optional: the strings that cells of type "s" refer to by index
//   the sheet                   <sheetData><row r><c r t><v>|<is>|<f>, one cell at a time
// Each part's uncompressed size is checked before it is read (zip-bomb guard) and again while it
// is read, because the size in a ZIP's directory is only a claim.
#include <expat.h>
#include <zip.h>

#include <charconv>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tabular/internal.h"

namespace tanpu::tabular::detail {

namespace {

constexpr int chunk_bytes = 256 << 10;
constexpr char ns_separator = '|';  // Expat reports "namespace|local" names

std::unexpected<Error> invalid_xlsx(std::string message) {
  return fail(ErrorKind::invalid, "invalid_xlsx", std::move(message));
}

Error out_of_memory() {
  return fail(ErrorKind::internal, "out_of_memory", "The workbook could not be read.").error();
}

// --- XML parts -----------------------------------------------------------------------------

std::string_view local_name(const XML_Char* name) {
  const std::string_view n(name);
  const std::size_t bar = n.rfind(ns_separator);
  return bar == std::string_view::npos ? n : n.substr(bar + 1);
}

// The value of the attribute named `local`: one without a namespace, or, if namespaced, one in
// any namespace (r:id is in the relationships namespace, whose URI differs in Strict OOXML).
const char* attribute(const XML_Char** attrs, std::string_view local, bool namespaced = false) {
  for (; *attrs != nullptr; attrs += 2) {
    const std::string_view name(attrs[0]);
    const std::size_t bar = name.rfind(ns_separator);
    const bool match =
        namespaced ? bar != std::string_view::npos && name.substr(bar + 1) == local : name == local;
    if (match) return attrs[1];
  }
  return nullptr;
}

// One XML part's handler. Callbacks see local names; setting `error` stops the parse.
class XmlPart {
 public:
  XmlPart() = default;
  virtual ~XmlPart() = default;
  XmlPart(const XmlPart&) = delete;
  XmlPart& operator=(const XmlPart&) = delete;
  XmlPart(XmlPart&&) = delete;
  XmlPart& operator=(XmlPart&&) = delete;

  virtual void start(std::string_view name, const XML_Char** attrs) = 0;
  virtual void end(std::string_view /*name*/) {}
  virtual void text(std::string_view /*data*/) {}

  std::optional<Error> error;
  XML_Parser parser = nullptr;  // set while the part is parsed
};

// Expat is C: every callback catches, records the error and stops the parser.
template <class F>
void guarded(void* user, const F& f) noexcept {
  auto* part = static_cast<XmlPart*>(user);
  if (part->error) return;
  try {
    f(*part);
  } catch (const std::exception&) {
    part->error = out_of_memory();
  }
  if (part->error) XML_StopParser(part->parser, XML_FALSE);
}

void XMLCALL on_start(void* user, const XML_Char* name, const XML_Char** attrs) {
  guarded(user, [&](XmlPart& p) { p.start(local_name(name), attrs); });
}
void XMLCALL on_end(void* user, const XML_Char* name) {
  guarded(user, [&](XmlPart& p) { p.end(local_name(name)); });
}
void XMLCALL on_text(void* user, const XML_Char* data, int size) {
  guarded(user, [&](XmlPart& p) { p.text({data, static_cast<std::size_t>(size)}); });
}
// OOXML never has a DTD; refusing one rules out entity expansion tricks altogether.
void XMLCALL on_doctype(void* user, const XML_Char* /*name*/, const XML_Char* /*system_id*/,
                        const XML_Char* /*public_id*/, int /*has_internal_subset*/) {
  guarded(user, [](XmlPart& p) { p.error = invalid_xlsx("The workbook contains a DTD.").error(); });
}

struct ExpatFree {
  void operator()(XML_Parser p) const { XML_ParserFree(p); }
};
struct ZipDiscard {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct ZipFileClose {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};
using Archive = std::unique_ptr<zip_t, ZipDiscard>;

Result<Archive> open_archive(std::span<const std::uint8_t> bytes) {
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* source = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
  if (source == nullptr) {
    zip_error_fini(&error);
    return fail(out_of_memory());
  }
  zip_t* archive = zip_open_from_source(source, ZIP_RDONLY, &error);
  if (archive == nullptr) {
    const std::string why = zip_error_strerror(&error);
    zip_source_free(source);
    zip_error_fini(&error);
    return invalid_xlsx("The file is not a valid .xlsx workbook (ZIP: " + why + ").");
  }
  zip_error_fini(&error);
  return Archive(archive);
}

std::optional<zip_uint64_t> find_part(zip_t* archive, const std::string& path) {
  const zip_int64_t index = zip_name_locate(archive, path.c_str(), ZIP_FL_NOCASE);
  if (index < 0) return std::nullopt;
  return static_cast<zip_uint64_t>(index);
}

// The size of the part at index, refused if encrypted or over limits.xml_bytes_max.
Result<zip_uint64_t> part_size(zip_t* archive, zip_uint64_t index, const std::string& path,
                               const Limits& limits) {
  zip_stat_t stat;
  zip_stat_init(&stat);
  if (zip_stat_index(archive, index, 0, &stat) != 0 || (stat.valid & ZIP_STAT_SIZE) == 0) {
    return invalid_xlsx("The workbook's part " + path + " is damaged.");
  }
  if ((stat.valid & ZIP_STAT_ENCRYPTION_METHOD) != 0 && stat.encryption_method != ZIP_EM_NONE) {
    return fail(ErrorKind::invalid, "unsupported_format",
                "The workbook is encrypted; remove the password and save as .xlsx or .csv.");
  }
  if (stat.size > limits.xml_bytes_max) {
    return fail(ErrorKind::too_large, "file_too_large",
                "The workbook's part " + path + " unpacks to " + std::to_string(stat.size) +
                    " bytes; at most " + std::to_string(limits.xml_bytes_max) + " are allowed.");
  }
  return stat.size;
}

// Streams the part at `path` through `part`'s callbacks.
Result<void> parse_part(zip_t* archive, const std::string& path, XmlPart& part,
                        const Limits& limits) {
  const std::optional<zip_uint64_t> index = find_part(archive, path);
  if (!index) return invalid_xlsx("The workbook has no part " + path + ".");
  const Result<zip_uint64_t> size = part_size(archive, *index, path, limits);
  if (!size) return fail(size.error());
  const std::unique_ptr<zip_file_t, ZipFileClose> file(zip_fopen_index(archive, *index, 0));
  if (!file) return invalid_xlsx("The workbook's part " + path + " cannot be opened.");
  const std::unique_ptr<XML_ParserStruct, ExpatFree> parser(
      XML_ParserCreateNS(nullptr, ns_separator));
  if (!parser) return fail(out_of_memory());
  XML_SetUserData(parser.get(), &part);
  XML_SetElementHandler(parser.get(), on_start, on_end);
  XML_SetCharacterDataHandler(parser.get(), on_text);
  XML_SetStartDoctypeDeclHandler(parser.get(), on_doctype);
  part.parser = parser.get();
  zip_uint64_t total = 0;
  for (bool last = false; !last;) {
    void* buffer = XML_GetBuffer(parser.get(), chunk_bytes);
    if (buffer == nullptr) return fail(out_of_memory());
    const zip_int64_t n = zip_fread(file.get(), buffer, chunk_bytes);
    if (n < 0) return invalid_xlsx("The workbook's part " + path + " is damaged.");
    total += static_cast<zip_uint64_t>(n);
    if (total > *size) return invalid_xlsx("The workbook's part " + path + " is damaged.");
    last = n == 0;
    if (XML_ParseBuffer(parser.get(), static_cast<int>(n), last ? 1 : 0) != XML_STATUS_OK) {
      if (part.error) return fail(std::move(*part.error));
      return invalid_xlsx("The workbook's part " + path + " is not well-formed XML (line " +
                          std::to_string(XML_GetCurrentLineNumber(parser.get())) + ": " +
                          XML_ErrorString(XML_GetErrorCode(parser.get())) + ").");
    }
  }
  if (part.error) return fail(std::move(*part.error));
  return {};
}

// A relationship Target as a path in the archive: relative to xl/, or absolute ("/xl/...").
// Empty if it leaves the archive.
std::string part_path(std::string_view target) {
  std::vector<std::string_view> segments;
  if (!target.starts_with('/')) segments.emplace_back("xl");
  while (!target.empty()) {
    const std::size_t slash = target.find('/');
    const std::string_view segment = target.substr(0, slash);
    target = slash == std::string_view::npos ? std::string_view() : target.substr(slash + 1);
    if (segment.empty() || segment == ".") continue;
    if (segment != "..") {
      segments.push_back(segment);
    } else if (segments.empty()) {
      return {};
    } else {
      segments.pop_back();
    }
  }
  std::string path;
  for (const std::string_view s : segments) path.append(path.empty() ? "" : "/").append(s);
  return path;
}

// --- workbook.xml and its relationships ----------------------------------------------------

struct Workbook : XmlPart {
  std::optional<std::string> first_sheet_id;  // r:id of the first <sheet>

  void start(std::string_view name, const XML_Char** attrs) override {
    if (first_sheet_id || name != "sheet") return;
    const char* id = attribute(attrs, "id", /*namespaced=*/true);
    if (id == nullptr) {
      error = invalid_xlsx("The workbook's first sheet has no id.").error();
      return;
    }
    first_sheet_id = id;
  }
};

struct Relationships : XmlPart {
  explicit Relationships(std::string id) : sheet_id(std::move(id)) {}
  std::string sheet_id;
  std::string sheet_target;           // Target of sheet_id
  std::string shared_strings_target;  // Target of the relationship of type .../sharedStrings

  void start(std::string_view name, const XML_Char** attrs) override {
    if (name != "Relationship") return;
    const char* id = attribute(attrs, "Id");
    const char* type = attribute(attrs, "Type");
    const char* target = attribute(attrs, "Target");
    if (id == nullptr || target == nullptr) return;
    if (id == sheet_id) sheet_target = target;
    if (type != nullptr && std::string_view(type).ends_with("/sharedStrings")) {
      shared_strings_target = target;
    }
  }
};

// --- sharedStrings.xml ---------------------------------------------------------------------

// The shared string table, in one buffer: string i is text[ends[i-1]..ends[i]).
struct SharedStrings : XmlPart {
  std::string pool;
  std::vector<std::size_t> ends;

  [[nodiscard]] std::size_t size() const { return ends.size(); }
  [[nodiscard]] std::string_view at(std::size_t i) const {
    const std::size_t begin = i == 0 ? 0 : ends[i - 1];
    return std::string_view(pool).substr(begin, ends[i] - begin);
  }

  void start(std::string_view name, const XML_Char** /*attrs*/) override {
    if (name == "si") {
      in_item_ = true;
      item_begin_ = pool.size();
    } else if (name == "rPh") {
      ++phonetic_depth_;  // furigana over Japanese text: not part of the cell's value
    } else if (name == "t" && in_item_ && phonetic_depth_ == 0) {
      in_text_ = true;  // <si><t> or the runs <si><r><t>, concatenated
    }
  }
  void end(std::string_view name) override {
    if (name == "t") {
      in_text_ = false;
    } else if (name == "rPh") {
      --phonetic_depth_;
    } else if (name == "si") {
      decode_ooxml_escapes(pool, item_begin_);
      ends.push_back(pool.size());
      in_item_ = false;
    }
  }
  void text(std::string_view data) override {
    if (in_text_) pool.append(data);
  }

 private:
  bool in_item_ = false, in_text_ = false;
  int phonetic_depth_ = 0;
  std::size_t item_begin_ = 0;
};

// --- the sheet -----------------------------------------------------------------------------

std::optional<std::size_t> parse_count(std::string_view text) {
  std::size_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

struct CellRef {
  std::size_t column = 0;  // 0-based
  std::size_t row = 0;     // 1-based
};

// A cell reference like "C17"; nullopt if malformed or outside Excel's sheet size.
std::optional<CellRef> parse_cell_ref(std::string_view ref) {
  std::size_t i = 0;
  std::size_t letters_value = 0;
  for (; i < ref.size() && i < 3 && ref[i] >= 'A' && ref[i] <= 'Z'; ++i) {
    letters_value = letters_value * 26 + static_cast<std::size_t>(ref[i] - 'A' + 1);
  }
  if (i == 0 || ref.size() - i == 0 || ref.size() - i > 7) return std::nullopt;
  const std::optional<std::size_t> row = parse_count(ref.substr(i));
  if (!row || *row == 0 || *row > sheet_rows_max || letters_value > sheet_columns_max) {
    return std::nullopt;
  }
  return CellRef{.column = letters_value - 1, .row = *row};
}

enum class CellType : std::uint8_t { number, shared, inline_string, string, boolean, error, date };

std::optional<CellType> cell_type(const char* t) {
  if (t == nullptr) return CellType::number;
  const std::string_view type(t);
  if (type == "n") return CellType::number;
  if (type == "s") return CellType::shared;
  if (type == "inlineStr") return CellType::inline_string;
  if (type == "str") return CellType::string;
  if (type == "b") return CellType::boolean;
  if (type == "e") return CellType::error;
  if (type == "d") return CellType::date;
  return std::nullopt;
}

class Sheet : public XmlPart {
 public:
  Sheet(TableBuilder& builder, const SharedStrings& strings)
      : builder_(builder), strings_(strings) {}

  void start(std::string_view name, const XML_Char** attrs) override {
    if (name == "sheetData") {
      in_data_ = true;
    } else if (in_data_ && name == "row") {
      keep(start_row(attrs));
    } else if (in_row_ && name == "c") {
      keep(start_cell(attrs));
    } else if (in_cell_) {
      if (name == "f") has_formula_ = true;
      if (name == "v") in_value_ = true;
      if (name == "rPh") ++phonetic_depth_;
      if (name == "t" && phonetic_depth_ == 0) in_value_ = true;  // <is><t> or <is><r><t>
    }
  }

  void end(std::string_view name) override {
    if (name == "v" || name == "t") {
      in_value_ = false;
    } else if (name == "rPh") {
      --phonetic_depth_;
    } else if (name == "c" && in_cell_) {
      in_cell_ = false;
      keep(end_cell());
    } else if (name == "row" && in_row_) {
      in_row_ = false;
      keep(builder_.end_row(row_number_));
    } else if (name == "sheetData") {
      in_data_ = false;
    }
  }

  void text(std::string_view data) override {
    if (in_value_) value_.append(data);
  }

 private:
  void keep(Result<void> r) {
    if (!r) error = std::move(r.error());
  }

  Result<void> start_row(const XML_Char** attrs) {
    std::size_t number = row_number_ + 1;  // rows without r follow the previous one
    if (const char* r = attribute(attrs, "r")) {
      const std::optional<std::size_t> n = parse_count(r);
      if (!n || *n == 0 || *n > sheet_rows_max) {
        return invalid_xlsx("A row has the invalid number '" + std::string(r) + "'.");
      }
      number = *n;
    }
    if (number <= row_number_) {
      return invalid_xlsx("Row " + std::to_string(number) + " comes after row " +
                          std::to_string(row_number_) + " in the sheet.");
    }
    row_number_ = number;
    next_column_ = 0;
    in_row_ = true;
    return {};
  }

  Result<void> start_cell(const XML_Char** attrs) {
    std::size_t column = next_column_;  // cells without r follow the previous one
    if (const char* r = attribute(attrs, "r")) {
      const std::optional<CellRef> ref = parse_cell_ref(r);
      if (!ref || ref->row != row_number_) {
        return invalid_xlsx("Row " + std::to_string(row_number_) +
                            " has a cell with the invalid reference '" + std::string(r) + "'.");
      }
      column = ref->column;
    }
    if (column < next_column_) {
      return invalid_xlsx(cell_name(row_number_, column) + " comes after a cell to its right.");
    }
    const std::optional<CellType> type = cell_type(attribute(attrs, "t"));
    if (!type) return invalid_xlsx(cell_name(row_number_, column) + " has an unknown type.");
    column_ = column;
    next_column_ = column + 1;
    type_ = *type;
    has_formula_ = false;
    phonetic_depth_ = 0;
    value_.clear();
    in_cell_ = true;
    return {};
  }

  Result<void> end_cell() {
    if (has_formula_) {
      return fail(ErrorKind::invalid, "formula_not_allowed",
                  cell_name(row_number_, column_) +
                      " holds a formula; replace it with its value (Paste Special, Values).");
    }
    const std::string_view raw = trim(value_);
    if (raw.empty()) return {};  // a styled but empty cell
    switch (type_) {
      case CellType::shared:
        return shared_cell(raw);
      case CellType::inline_string:
      case CellType::string:
        decode_ooxml_escapes(value_, 0);
        return builder_.cell(row_number_, column_, value_);
      case CellType::boolean:
        if (raw != "0" && raw != "1") {
          return invalid_xlsx(cell_name(row_number_, column_) + " is not a boolean.");
        }
        return builder_.cell(row_number_, column_, raw == "1" ? "TRUE" : "FALSE");
      case CellType::error:
        return fail(ErrorKind::invalid, "invalid_cell",
                    cell_name(row_number_, column_) + " shows the error " + std::string(raw) +
                        "; correct or clear it.");
      case CellType::number:
        return builder_.cell(row_number_, column_, integral_text(raw));
      case CellType::date:
        return builder_.cell(row_number_, column_, raw);
    }
    return {};
  }

  Result<void> shared_cell(std::string_view raw) {
    const std::optional<std::size_t> index = parse_count(raw);
    if (!index || *index >= strings_.size()) {
      return invalid_xlsx(cell_name(row_number_, column_) + " refers to shared string " +
                          std::string(raw) + ", but the workbook has " +
                          std::to_string(strings_.size()) + ".");
    }
    return builder_.cell(row_number_, column_, strings_.at(*index));
  }

  TableBuilder& builder_;
  const SharedStrings& strings_;
  bool in_data_ = false, in_row_ = false, in_cell_ = false, in_value_ = false;
  bool has_formula_ = false;
  int phonetic_depth_ = 0;
  std::size_t row_number_ = 0;   // the row being read; 0 before the first
  std::size_t next_column_ = 0;  // where a cell without r goes
  std::size_t column_ = 0;       // the cell being read
  CellType type_ = CellType::number;
  std::string value_;  // the cell's <v> or inline text, reused from cell to cell
};

}  // namespace

Result<Table> read_xlsx(std::span<const std::uint8_t> bytes, const Limits& limits) {
  const Result<Archive> archive = open_archive(bytes);
  if (!archive) return fail(archive.error());
  zip_t* const zip = archive->get();

  Workbook workbook;
  if (auto r = parse_part(zip, "xl/workbook.xml", workbook, limits); !r) return fail(r.error());
  if (!workbook.first_sheet_id) return invalid_xlsx("The workbook has no sheets.");

  Relationships rels(*workbook.first_sheet_id);
  if (auto r = parse_part(zip, "xl/_rels/workbook.xml.rels", rels, limits); !r) {
    return fail(r.error());
  }
  const std::string sheet_path = part_path(rels.sheet_target);
  if (sheet_path.empty()) return invalid_xlsx("The workbook's first sheet has no part.");

  SharedStrings strings;
  const std::string strings_path = rels.shared_strings_target.empty()
                                       ? std::string("xl/sharedStrings.xml")
                                       : part_path(rels.shared_strings_target);
  if (!strings_path.empty() && find_part(zip, strings_path)) {
    if (auto r = parse_part(zip, strings_path, strings, limits); !r) return fail(r.error());
  }

  TableBuilder builder(limits, /*refuse_formula_text=*/false);
  Sheet sheet(builder, strings);
  if (auto r = parse_part(zip, sheet_path, sheet, limits); !r) return fail(r.error());
  return std::move(builder).finish();
}

}  // namespace tanpu::tabular::detail
