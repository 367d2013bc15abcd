// src/tabular: CSV and XLSX reading and writing. Fixtures are built here: XLSX files with
// libxlsxwriter (as Excel users' files are made by a real writer) or by zipping hand-written XML
// with libzip (for what libxlsxwriter never writes: rich text, phonetic runs, odd numbers).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <xlsxwriter.h>
#include <zip.h>

#include <array>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "tabular/internal.h"
#include "tabular/tabular.h"

namespace tanpu::tabular {
namespace {

using Rows = std::vector<std::vector<std::string>>;
using Parts = std::vector<std::pair<std::string, std::string>>;

std::vector<std::uint8_t> bytes_of(std::string_view text) {
  return {text.begin(), text.end()};
}

Result<Table> read_text(std::string_view text, const Limits& limits = {}) {
  return read(bytes_of(text), limits);
}

// The error code of a failed read, or "ok".
std::string code_of(const Result<Table>& r) {
  return r ? "ok" : r.error().code;
}

// A ZIP archive holding parts (name, content), deflated, built in memory with libzip; each part
// encrypted with AES-256 if password is given.
std::vector<std::uint8_t> make_zip(const Parts& parts, const char* password = nullptr) {
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* out = zip_source_buffer_create(nullptr, 0, 0, &error);
  zip_t* archive = zip_open_from_source(out, ZIP_TRUNCATE, &error);
  EXPECT_NE(archive, nullptr);
  zip_source_keep(out);
  for (const auto& [name, content] : parts) {
    zip_source_t* s = zip_source_buffer(archive, content.data(), content.size(), 0);
    const zip_int64_t index = zip_file_add(archive, name.c_str(), s, ZIP_FL_ENC_UTF_8);
    EXPECT_GE(index, 0);
    if (password != nullptr) {
      EXPECT_EQ(zip_file_set_encryption(archive, static_cast<zip_uint64_t>(index), ZIP_EM_AES_256,
                                        password),
                0);
    }
  }
  EXPECT_EQ(zip_close(archive), 0);
  std::vector<std::uint8_t> bytes;
  EXPECT_EQ(zip_source_open(out), 0);
  std::array<std::uint8_t, 4096> buffer{};
  for (zip_int64_t n = 0; (n = zip_source_read(out, buffer.data(), buffer.size())) > 0;) {
    bytes.insert(bytes.end(), buffer.begin(), buffer.begin() + n);
  }
  zip_source_close(out);
  zip_source_free(out);
  zip_error_fini(&error);
  return bytes;
}

// One part of an archive as text ("" if absent).
std::string unzip_part(const std::vector<std::uint8_t>& bytes, const std::string& name) {
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* source = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
  zip_t* archive = zip_open_from_source(source, ZIP_RDONLY, &error);
  zip_error_fini(&error);
  if (archive == nullptr) {
    zip_source_free(source);
    return {};
  }
  std::string text;
  if (zip_file_t* f = zip_fopen(archive, name.c_str(), 0)) {
    std::array<char, 4096> buffer{};
    for (zip_int64_t n = 0; (n = zip_fread(f, buffer.data(), buffer.size())) > 0;) {
      text.append(buffer.data(), static_cast<std::size_t>(n));
    }
    zip_fclose(f);
  }
  zip_discard(archive);
  return text;
}

constexpr std::string_view main_ns =
    R"(xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" )"
    R"(xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships")";
constexpr std::string_view rel_type =
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/";

// A workbook of hand-written XML: sheet_data is the sheet's <sheetData> content. The first sheet
// is named by a relationship whose Target is absolute, and a second sheet named sheet1.xml holds
// other data, so only a reader that follows workbook.xml and the rels finds the right one.
std::vector<std::uint8_t> hand_xlsx(const std::string& sheet_data,
                                    const std::string& shared_strings = {}) {
  const std::string ns(main_ns);
  const std::string type(rel_type);
  Parts parts = {
      {"xl/workbook.xml",
       R"(<?xml version="1.0" encoding="UTF-8"?><workbook )" + ns +
           R"(><sheets><sheet name="Members" sheetId="2" r:id="rId7"/>)"
           R"(<sheet name="Other" sheetId="1" r:id="rId1"/></sheets></workbook>)"},
      {"xl/_rels/workbook.xml.rels",
       R"(<?xml version="1.0" encoding="UTF-8"?><Relationships )"
       R"(xmlns="http://schemas.openxmlformats.org/package/2006/relationships">)"
       R"(<Relationship Id="rId1" Type=")" +
           type +
           R"(worksheet" Target="worksheets/sheet1.xml"/>)"
           R"(<Relationship Id="rId7" Type=")" +
           type +
           R"(worksheet" Target="/xl/worksheets/members.xml"/>)"
           R"(<Relationship Id="rId9" Type=")" +
           type +
           R"(sharedStrings" Target="sharedStrings.xml"/>)"
           "</Relationships>"},
      {"xl/worksheets/members.xml", R"(<?xml version="1.0" encoding="UTF-8"?><worksheet )" + ns +
                                        "><sheetData>" + sheet_data + "</sheetData></worksheet>"},
      {"xl/worksheets/sheet1.xml",
       "<worksheet " + ns +
           R"(><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>wrong sheet</t></is></c>)"
           "</row></sheetData></worksheet>"},
  };
  if (!shared_strings.empty()) {
    parts.emplace_back("xl/sharedStrings.xml", "<sst " + ns + ">" + shared_strings + "</sst>");
  }
  return make_zip(parts);
}

// An XLSX written by libxlsxwriter (default options: shared strings) through `fill`.
std::vector<std::uint8_t> libxlsxwriter_xlsx(
    const std::function<void(lxw_workbook*, lxw_worksheet*)>& fill) {
  std::string path = (std::filesystem::temp_directory_path() / "tanpu-test-XXXXXX").string();
  const int fd = mkstemp(path.data());
  EXPECT_GE(fd, 0);
  lxw_workbook* workbook = workbook_new(path.c_str());
  fill(workbook, workbook_add_worksheet(workbook, nullptr));
  EXPECT_EQ(workbook_close(workbook), LXW_NO_ERROR);
  std::vector<std::uint8_t> bytes;
  std::array<std::uint8_t, 4096> buffer{};
  for (ssize_t n = 0; (n = ::read(fd, buffer.data(), buffer.size())) > 0;) {
    bytes.insert(bytes.end(), buffer.begin(), buffer.begin() + n);
  }
  close(fd);
  unlink(path.c_str());
  return bytes;
}

// --- detect and format refusals ------------------------------------------------------------

TEST(Tabular, DetectsXlsxByZipSignature) {
  EXPECT_EQ(detect(bytes_of("PK\x03\x04rest")), Format::xlsx);
  EXPECT_EQ(detect(bytes_of("name,phone\r\n")), Format::csv);
  EXPECT_EQ(detect(bytes_of("PK")), Format::csv);
}

TEST(Tabular, EmptyInputIsRefused) {
  EXPECT_EQ(code_of(read_text("")), "empty_file");
  EXPECT_EQ(code_of(read_text("\xEF\xBB\xBF")), "empty_file");
  EXPECT_EQ(code_of(read_text("\r\n , \r\n\n")), "empty_file");
}

TEST(Tabular, OleFilesAreUnsupported) {
  std::string xls("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8);
  xls.append(512, '\0');
  const Result<Table> r = read_text(xls);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "unsupported_format");
  EXPECT_NE(r.error().message.find(".xlsx or .csv"), std::string::npos);
}

TEST(Tabular, EncryptedZipEntriesAreUnsupported) {
  const Result<Table> r =
      read(make_zip({{"xl/workbook.xml", "<workbook><sheets/></workbook>"}}, "secret"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "unsupported_format");
}

TEST(Tabular, FileOverBytesMaxIsRefused) {
  Limits limits;
  limits.bytes_max = 10;
  const Result<Table> r = read_text("name\nAlice\nBob\n", limits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "file_too_large");
  EXPECT_EQ(r.error().kind, ErrorKind::too_large);
  EXPECT_TRUE(read_text("name\nAl\n", limits).has_value());
}

// --- CSV ---------------------------------------------------------------------------------

TEST(TabularCsv, BomCrlfQuotesAndNewlinesInQuotes) {
  const Result<Table> r = read_text(
      "\xEF\xBB\xBF name , phone ,note\r\n"
      "Alice,+8613800138000,\"hello, world\"\r\n"
      "\"Bob \"\"B\"\"\",-5,\"line1\nline2\"\r\n"
      "\xE3\x80\x80\xE5\xBC\xA0\xE4\xB8\x89\xE3\x80\x80,\" 42 \",\r\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->header, (std::vector<std::string>{"name", "phone", "note"}));
  EXPECT_EQ(r->rows, (Rows{{"Alice", "+8613800138000", "hello, world"},
                           {R"(Bob "B")", "-5", "line1\nline2"},
                           {"\xE5\xBC\xA0\xE4\xB8\x89", "42", ""}}));
  EXPECT_EQ(r->row_numbers, (std::vector<std::size_t>{2, 3, 4}));
}

TEST(TabularCsv, BlankRowsAreSkippedAndRowNumbersAreThoseOfTheFile) {
  const Result<Table> r = read_text("\n,,\nname,phone\n\nAlice,1\n , \nBob,2\r\n\r\nCarol,3");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->header, (std::vector<std::string>{"name", "phone"}));
  EXPECT_EQ(r->rows, (Rows{{"Alice", "1"}, {"Bob", "2"}, {"Carol", "3"}}));
  EXPECT_EQ(r->row_numbers, (std::vector<std::size_t>{5, 7, 9}));
}

TEST(TabularCsv, ShortRowsArePaddedAndTrailingBlankCellsIgnored) {
  const Result<Table> r = read_text("a,b,c,,\n1\n2,3\n4,5,6,,  ,\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->header, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(r->rows, (Rows{{"1", "", ""}, {"2", "3", ""}, {"4", "5", "6"}}));
}

TEST(TabularCsv, HeaderOnlyGivesNoRows) {
  const Result<Table> r = read_text("name,phone\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header.size(), 2u);
  EXPECT_TRUE(r->rows.empty());
  EXPECT_TRUE(r->row_numbers.empty());
}

TEST(TabularCsv, ExtraCellsAreRefused) {
  const Result<Table> r = read_text("a,b\n1,2\n3,4,5\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "extra_cells");
  EXPECT_NE(r.error().message.find("Row 3"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("column C"), std::string::npos) << r.error().message;
}

TEST(TabularCsv, FormulasAreRefusedButSignsAreData) {
  const Result<Table> eq = read_text("name,score\nAlice,1\nBob,=1+1\n");
  ASSERT_FALSE(eq);
  EXPECT_EQ(eq.error().code, "formula_not_allowed");
  EXPECT_NE(eq.error().message.find("row 3, column B"), std::string::npos) << eq.error().message;
  EXPECT_EQ(code_of(read_text("name\n @SUM(A1)\n")), "formula_not_allowed");
  const Result<Table> signs = read_text("phone,delta\n+8613800138000,-12.5\n");
  ASSERT_TRUE(signs);
  EXPECT_EQ(signs->rows, (Rows{{"+8613800138000", "-12.5"}}));
}

TEST(TabularCsv, InvalidUtf8IsRefusedWithTheRow) {
  const Result<Table> r = read_text("name\nok\n\"a\nb\"\n\xC4\xE3\xBA\xC3\n");  // GBK "你好"
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "invalid_encoding");
  EXPECT_NE(r.error().message.find("Row 4"), std::string::npos) << r.error().message;
  const std::string utf16("\xFF\xFEn\0a\0m\0e\0", 10);
  EXPECT_EQ(code_of(read_text(utf16)), "invalid_encoding");
  EXPECT_EQ(code_of(read_text("name\n\xED\xA0\x80\n")), "invalid_encoding");  // a surrogate
  EXPECT_EQ(code_of(read_text("name\n\xC0\xAF\n")), "invalid_encoding");      // overlong
}

TEST(TabularCsv, QuoteErrorsNameTheRow) {
  const Result<Table> open = read_text("a,b\n1,2\n3,\"never closed\n4,5\n");
  ASSERT_FALSE(open);
  EXPECT_EQ(open.error().code, "invalid_csv");
  EXPECT_NE(open.error().message.find("Row 3"), std::string::npos) << open.error().message;
  const Result<Table> stray = read_text("a,b\n1,2\n3,ab\"c\n");
  ASSERT_FALSE(stray);
  EXPECT_EQ(stray.error().code, "invalid_csv");
  EXPECT_NE(stray.error().message.find("Row 3"), std::string::npos) << stray.error().message;
}

TEST(TabularCsv, LimitsOnRowsColumnsAndCells) {
  Limits limits;
  limits.rows_max = 2;
  limits.columns_max = 3;
  limits.cell_bytes_max = 5;
  EXPECT_TRUE(read_text("a,b,c\n1,2,3\n\n4,5,6\n", limits).has_value());

  const Result<Table> rows = read_text("a\n1\n2\n3\n", limits);
  ASSERT_FALSE(rows);
  EXPECT_EQ(rows.error().code, "too_many_rows");
  EXPECT_EQ(rows.error().kind, ErrorKind::too_large);

  const Result<Table> columns = read_text("a,b,c,d\n", limits);
  ASSERT_FALSE(columns);
  EXPECT_EQ(columns.error().code, "too_many_columns");
  EXPECT_EQ(columns.error().kind, ErrorKind::too_large);

  const Result<Table> cell = read_text("a,b\nx,  123456  \n", limits);
  ASSERT_FALSE(cell);
  EXPECT_EQ(cell.error().code, "cell_too_long");
  EXPECT_NE(cell.error().message.find("row 2, column B"), std::string::npos);
  EXPECT_TRUE(read_text("a,b\nx,  12345  \n", limits).has_value());  // trimmed first
}

TEST(TabularCsv, WriteQuotesEveryCellAndDefusesFormulas) {
  const std::vector<std::string> header = {"name", "note"};
  const Rows rows = {{"=1+1", R"(a,"b")"}, {"-5", "+8613800138000"}, {"-x", "@me"}, {"", "3.5"}};
  EXPECT_EQ(write_csv(header, rows),
            "\xEF\xBB\xBF\"name\",\"note\"\r\n"
            "\"'=1+1\",\"a,\"\"b\"\"\"\r\n"
            "\"-5\",\"+8613800138000\"\r\n"
            "\"'-x\",\"'@me\"\r\n"
            "\"\",\"3.5\"\r\n");
}

TEST(TabularCsv, WriteThenReadRoundTrips) {
  const std::vector<std::string> header = {"学号", "姓名", "备注"};
  const Rows rows = {{"20260001", "张三", "line1\nline2, with \"quotes\""},
                     {"20260002", "Li Lei", ""},
                     {"-7", "+8613800138000", "x"}};
  const std::string csv = write_csv(header, rows);
  const Result<Table> r = read_text(csv);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->header, header);
  EXPECT_EQ(r->rows, rows);
  EXPECT_EQ(r->row_numbers, (std::vector<std::size_t>{2, 3, 4}));
  // A defused formula comes back as text with its apostrophe: never as a formula error.
  const Result<Table> defused = read_text(write_csv(header, Rows{{"=HYPERLINK(1)", "", ""}}));
  ASSERT_TRUE(defused);
  EXPECT_EQ(defused->rows[0][0], "'=HYPERLINK(1)");
}

// --- XLSX --------------------------------------------------------------------------------

TEST(TabularXlsx, WriteThenReadRoundTrips) {
  const std::vector<std::string> header = {"学号", "姓名", "成绩", "备注"};
  const Rows rows = {{"20260001", "张三", "95.5", "=1+1"},
                     {"007", "Li Lei", "-3", "a, \"b\"\nc"},
                     {"13800138000", "", "100", ""}};
  const bool numeric[] = {true, false, true, false};
  const Result<std::vector<std::uint8_t>> xlsx = write_xlsx("成绩单", header, rows, numeric);
  ASSERT_TRUE(xlsx) << xlsx.error().message;
  EXPECT_EQ(detect(*xlsx), Format::xlsx);
  const Result<Table> r = read(*xlsx);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->header, header);
  EXPECT_EQ(r->rows, rows);
  EXPECT_EQ(r->row_numbers, (std::vector<std::size_t>{2, 3, 4}));

  const std::string sheet = unzip_part(*xlsx, "xl/worksheets/sheet1.xml");
  EXPECT_NE(sheet.find("<v>95.5</v>"), std::string::npos);         // a number
  EXPECT_NE(sheet.find("<v>13800138000</v>"), std::string::npos);  // a number, all digits
  EXPECT_EQ(sheet.find("<v>7</v>"), std::string::npos);            // "007" stayed text
  EXPECT_EQ(sheet.find("<f>"), std::string::npos);                 // "=1+1" is not a formula
  EXPECT_NE(sheet.find(R"(ySplit="1")"), std::string::npos);       // header frozen
  EXPECT_NE(sheet.find("<col "), std::string::npos);               // widths set
  EXPECT_NE(unzip_part(*xlsx, "xl/styles.xml").find("<b/>"), std::string::npos);  // bold
}

TEST(TabularXlsx, SheetNameIsMadeValid) {
  const std::vector<std::string> header = {"a"};
  const Result<std::vector<std::uint8_t>> named =
      write_xlsx("Grades: 2025/26 [final]* and more words", header, {}, {});
  ASSERT_TRUE(named);
  EXPECT_NE(unzip_part(*named, "xl/workbook.xml").find(R"(name="Grades_ 2025_26 _final__ and mo")"),
            std::string::npos);
  const Result<std::vector<std::uint8_t>> empty = write_xlsx("'*[]'", header, {}, {});
  ASSERT_TRUE(empty);
  EXPECT_NE(unzip_part(*empty, "xl/workbook.xml").find(R"(name="___")"), std::string::npos);
  const Result<std::vector<std::uint8_t>> blank = write_xlsx("", header, {}, {});
  ASSERT_TRUE(blank);
  EXPECT_NE(unzip_part(*blank, "xl/workbook.xml").find(R"(name="Sheet1")"), std::string::npos);
}

TEST(TabularXlsx, WriteRefusesInvalidText) {
  const std::vector<std::string> header = {"a", "b"};
  const Result<std::vector<std::uint8_t>> bad = write_xlsx("s", header, Rows{{"x", "\xFF"}}, {});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, "invalid_encoding");
  EXPECT_NE(bad.error().message.find("row 2, column B"), std::string::npos);
  const Result<std::vector<std::uint8_t>> big =
      write_xlsx("s", header, Rows{{std::string(40'000, 'x'), ""}}, {});
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, "cell_too_long");
}

TEST(TabularXlsx, FormulaCellsAreRefused) {
  const auto xlsx = libxlsxwriter_xlsx([](lxw_workbook*, lxw_worksheet* sheet) {
    worksheet_write_string(sheet, 0, 0, "name", nullptr);
    worksheet_write_string(sheet, 0, 1, "total", nullptr);
    worksheet_write_string(sheet, 1, 0, "Alice", nullptr);
    worksheet_write_formula(sheet, 1, 1, "=1+1", nullptr);
  });
  const Result<Table> r = read(xlsx);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "formula_not_allowed");
  EXPECT_NE(r.error().message.find("row 2, column B"), std::string::npos) << r.error().message;
}

TEST(TabularXlsx, SharedStringsFromLibxlsxwriterAndNumbersAsPhones) {
  const auto xlsx = libxlsxwriter_xlsx([](lxw_workbook*, lxw_worksheet* sheet) {
    worksheet_write_string(sheet, 0, 0, "name", nullptr);
    worksheet_write_string(sheet, 0, 1, "phone", nullptr);
    worksheet_write_string(sheet, 0, 2, "member_no", nullptr);
    worksheet_write_string(sheet, 2, 0, "王芳", nullptr);  // row 2 left empty
    worksheet_write_number(sheet, 2, 1, 13800138000.0, nullptr);
    worksheet_write_number(sheet, 2, 2, 20260001.0, nullptr);
    worksheet_write_string(sheet, 3, 0, "name", nullptr);  // a repeated shared string
    worksheet_write_boolean(sheet, 3, 1, 1, nullptr);
  });
  ASSERT_NE(unzip_part(xlsx, "xl/sharedStrings.xml").find("王芳"), std::string::npos);
  const Result<Table> r = read(xlsx);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->header, (std::vector<std::string>{"name", "phone", "member_no"}));
  EXPECT_EQ(r->rows, (Rows{{"王芳", "13800138000", "20260001"}, {"name", "TRUE", ""}}));
  EXPECT_EQ(r->row_numbers, (std::vector<std::size_t>{3, 4}));
}

TEST(TabularXlsx, FollowsWorkbookRelsAndReadsEveryCellType) {
  const std::string shared =
      "<si><t>name</t></si>"
      R"(<si><r><rPr><b/></rPr><t xml:space="preserve">member </t></r><r><t>no</t></r></si>)"
      R"(<si><t>山田</t><rPh sb="0" eb="2"><t>ヤマダ</t></rPh></si>)";
  const std::string data =
      R"(<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="inlineStr"><is><t>phone</t>)"
      R"(</is></c><c r="C1" t="s"><v>1</v></c><c r="D1" t="inlineStr"><is><t>active</t>)"
      "</is></c></row>"
      R"(<row r="3"><c r="A3" t="s"><v>2</v></c><c r="B3"><v>1.3800138E10</v></c>)"
      R"(<c r="C3" t="n"><v>20260001.0</v></c><c r="D3" t="b"><v>1</v></c></row>)"
      R"(<row><c t="inlineStr"><is><r><t xml:space="preserve">Li </t></r><r><t>Lei</t></r>)"
      R"(</is></c><c s="1"><v>12.5</v></c><c t="str"><v>x_x000A_y</v></c></row>)"
      R"(<row r="6"><c r="B6" s="3"/><c r="D6"><v>45658</v></c></row>)";
  const Result<Table> r = read(hand_xlsx(data, shared));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->header, (std::vector<std::string>{"name", "phone", "member no", "active"}));
  EXPECT_EQ(r->rows, (Rows{{"山田", "13800138000", "20260001", "TRUE"},
                           {"Li Lei", "12.5", "x\ny", ""},
                           {"", "", "", "45658"}}));
  EXPECT_EQ(r->row_numbers, (std::vector<std::size_t>{3, 4, 6}));
}

TEST(TabularXlsx, BadCellsAreRefused) {
  const std::string header = R"(<row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c></row>)";
  const Result<Table> error_cell = read(hand_xlsx(header + R"(<row r="2"><c r="A2" t="e">)"
                                                           "<v>#N/A</v></c></row>"));
  ASSERT_FALSE(error_cell);
  EXPECT_EQ(error_cell.error().code, "invalid_cell");
  EXPECT_NE(error_cell.error().message.find("row 2, column A"), std::string::npos);

  const Result<Table> index = read(
      hand_xlsx(header + R"(<row r="2"><c r="A2" t="s"><v>5</v></c></row>)", "<si><t>x</t></si>"));
  ASSERT_FALSE(index);
  EXPECT_EQ(index.error().code, "invalid_xlsx");

  const Result<Table> formula =
      read(hand_xlsx(header + R"(<row r="2"><c r="A2"><f>1+1</f><v>2</v></c></row>)"));
  EXPECT_EQ(code_of(formula), "formula_not_allowed");

  EXPECT_EQ(code_of(read(hand_xlsx(header + R"(<row r="1"/>)"))), "invalid_xlsx");  // order
  EXPECT_EQ(code_of(read(hand_xlsx(header + R"(<row r="2"><c r="A9"><v>1</v></c></row>)"))),
            "invalid_xlsx");  // a cell outside its row
  EXPECT_EQ(code_of(read(hand_xlsx(header + R"(<row r="2"><c r="B2"><v>1</v></c></row>)"))),
            "extra_cells");
}

TEST(TabularXlsx, LimitsApply) {
  std::string data = R"(<row r="1">)";
  for (const char* col : {"A", "B", "C"}) {
    data += R"(<c r=")" + std::string(col) + R"(1" t="inlineStr"><is><t>h</t></is></c>)";
  }
  data += R"(</row><row r="2"><c r="A2"><v>123456</v></c></row>)";
  Limits limits;
  limits.columns_max = 2;
  EXPECT_EQ(code_of(read(hand_xlsx(data), limits)), "too_many_columns");
  limits = {};
  limits.cell_bytes_max = 5;
  const Result<Table> cell = read(hand_xlsx(data), limits);
  EXPECT_EQ(code_of(cell), "cell_too_long");
  limits = {};
  limits.rows_max = 1;
  EXPECT_TRUE(read(hand_xlsx(data), limits).has_value());
  EXPECT_EQ(code_of(read(hand_xlsx(data + R"(<row r="3"><c r="A3"><v>1</v></c></row>)"), limits)),
            "too_many_rows");
}

TEST(TabularXlsx, ZipBombIsRefusedBeforeItIsRead) {
  const std::string header = R"(<row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c></row>)";
  const auto xlsx = hand_xlsx(header + std::string(4 << 20, ' '));
  ASSERT_LT(xlsx.size(), 64u << 10);  // 4 MiB of XML deflates to a few KiB
  Limits limits;
  limits.xml_bytes_max = 1 << 20;
  const Result<Table> r = read(xlsx, limits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "file_too_large");
  EXPECT_EQ(r.error().kind, ErrorKind::too_large);
  EXPECT_NE(r.error().message.find("members.xml"), std::string::npos) << r.error().message;
  EXPECT_TRUE(read(xlsx).has_value());  // within the default limit it is an ordinary sheet
}

TEST(TabularXlsx, NotAWorkbookIsInvalid) {
  std::mt19937 random(42);
  std::string noise = "PK\x03\x04";
  for (int i = 0; i < 4096; ++i) noise += static_cast<char>(random() & 0xFF);
  const Result<Table> r = read_text(noise);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "invalid_xlsx");

  const Result<Table> missing = read(make_zip({{"hello.txt", "hi"}}));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, "invalid_xlsx");
  EXPECT_NE(missing.error().message.find("xl/workbook.xml"), std::string::npos);

  const Result<Table> malformed = read(hand_xlsx(R"(<row r="1"><c r="A1"><v>1</v></row>)"));
  ASSERT_FALSE(malformed);
  EXPECT_EQ(malformed.error().code, "invalid_xlsx");
  EXPECT_NE(malformed.error().message.find("XML"), std::string::npos);

  Parts with_dtd = {
      {"xl/workbook.xml", R"(<!DOCTYPE x [<!ENTITY a "aaaa">]><workbook><sheets/></workbook>)"}};
  EXPECT_EQ(code_of(read(make_zip(with_dtd))), "invalid_xlsx");
}

// --- helpers -----------------------------------------------------------------------------

TEST(TabularText, IntegralNumbersInExponentOrPointFormBecomeDigits) {
  using detail::integral_text;
  EXPECT_EQ(integral_text("1.3800138E10"), "13800138000");
  EXPECT_EQ(integral_text("20260001.0"), "20260001");
  EXPECT_EQ(integral_text("-1.5E2"), "-150");
  EXPECT_EQ(integral_text("1E3"), "1000");
  EXPECT_EQ(integral_text("0.0"), "0");
  EXPECT_EQ(integral_text("12.5"), "12.5");
  EXPECT_EQ(integral_text("1.5E-1"), "1.5E-1");
  EXPECT_EQ(integral_text("1.23456789E2"), "1.23456789E2");
  EXPECT_EQ(integral_text("1E30"), "1E30");  // over 20 digits: left as written
  EXPECT_EQ(integral_text("0042"), "0042");  // no point, no exponent: as written
  EXPECT_EQ(integral_text("abc"), "abc");
  EXPECT_EQ(detail::column_name(0), "A");
  EXPECT_EQ(detail::column_name(27), "AB");
  EXPECT_EQ(detail::column_name(16'383), "XFD");
}

// --- size ----------------------------------------------------------------------------------

Rows generated_rows(std::size_t count) {
  Rows rows;
  rows.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const std::string n = std::to_string(i);
    rows.push_back({"M" + n, "会员" + n, "+86138" + std::to_string(10'000'000 + i),
                    "user" + n + "@example.org", std::to_string(i % 97),
                    i % 2 == 1 ? "yes" : "no"});
  }
  return rows;
}

TEST(TabularSize, FiftyThousandRowsOfCsvAndXlsx) {
  const std::vector<std::string> header = {"member_no", "name", "phone", "email", "points", "ok"};
  const Rows rows = generated_rows(50'000);
  for (const bool xlsx : {false, true}) {
    SCOPED_TRACE(xlsx ? "xlsx" : "csv");
    std::vector<std::uint8_t> file;
    if (xlsx) {
      const bool numeric[] = {false, false, false, false, true, false};
      Result<std::vector<std::uint8_t>> written = write_xlsx("members", header, rows, numeric);
      ASSERT_TRUE(written) << written.error().message;
      file = std::move(*written);
    } else {
      file = bytes_of(write_csv(header, rows));
    }
    const Result<Table> r = read(file);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->header, header);
    ASSERT_EQ(r->rows.size(), 50'000u);
    EXPECT_EQ(r->rows, rows);
    EXPECT_EQ(r->row_numbers.front(), 2u);
    EXPECT_EQ(r->row_numbers.back(), 50'001u);
  }
}

}  // namespace
}  // namespace tanpu::tabular
