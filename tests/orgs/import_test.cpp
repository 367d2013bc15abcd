// The one-click roster import on every engine: the dry run reports each row's fate and writes
// nothing, the real run creates people with activation codes, a re-import is idempotent, changes
// update (and move an activated member's membership), each kind of bad row fails alone, bad files
// fail whole, Chinese headers and XLSX work, phones are stored only encrypted, and 50,000 rows
// land in a 200-class university.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <regex>
#include <set>

#include "orgs/orgs_fixture.h"

namespace tanpu::test {
namespace {

using orgs::OrgType;
using orgs::RowFate;

class OrgsImportTest : public OrgsFixture {
 protected:
  void SetUp() override {
    OrgsFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    uni_ = must_org(op_, std::nullopt, OrgType::university, "Northeastern University");
    college_a_ = must_org(op_, uni_.id, OrgType::college, "College of Energy");
    college_b_ = must_org(op_, uni_.id, OrgType::college, "College of Arts");
    class_a1_ = must_org(op_, college_a_.id, OrgType::class_, "Class 1");
    class_a2_ = must_org(op_, college_a_.id, OrgType::class_, "Class 2");
    class_a9_ = must_org(op_, college_a_.id, OrgType::class_, "Class 9");
    class_b1_ = must_org(op_, college_b_.id, OrgType::class_, "Class 1");
    ASSERT_OK(orgs_->archive_org(op_, class_a9_.id));
    a_admin_ = role_holder(college_a_.id);
  }

  std::vector<orgs::Person> roster(std::int64_t org_id) {
    auto p = orgs_->people(op_, org_id, 1000, "");
    EXPECT_TRUE(p.has_value());
    return p ? *p : std::vector<orgs::Person>{};
  }

  orgs::Org uni_, college_a_, college_b_, class_a1_, class_a2_, class_a9_, class_b1_;
  orgs::Actor a_admin_;
};

void expect_fate(const orgs::ImportReport& r, std::size_t i, RowFate fate,
                 std::string_view code = {}) {
  ASSERT_LT(i, r.results.size());
  const auto& row = r.results[i];
  EXPECT_EQ(row.row, i + 2) << "result " << i;
  EXPECT_EQ(row.fate, fate) << "row " << row.row << " (" << row.member_number << ")"
                            << (row.error ? ": " + row.error->code : std::string());
  if (code.empty()) {
    EXPECT_FALSE(row.error.has_value()) << "row " << row.row;
  } else {
    ASSERT_TRUE(row.error.has_value()) << "row " << row.row;
    EXPECT_EQ(row.error->code, code) << "row " << row.row;
  }
}

// The mixed file of the dry-run and real-run tests, imported into college A by its admin; the
// roster holds A000 (college A itself), A010 (Class 2) and B001 (college B) beforehand.
std::vector<std::vector<std::string>> mixed_rows() {
  const auto ph = [](int n) { return mobile(n); };
  return {
      {"Li Lei", "A001", ph(1), "", "Class 1"},               // 2 created
      {"Han Mei", "A002", "", "Han@Example.com", "Class 2"},  // 3 created (e-mail only)
      {"Bad Phone", "A003", "12345", "", "Class 1"},          // 4 invalid_phone
      {"Bad Mail", "A004", "", "not-an-email", "Class 1"},    // 5 invalid_email
      {"Nothing", "A005", "", "", "Class 1"},                 // 6 phone_or_email_required
      {"Li Lei Again", "A001", ph(7), "", "Class 2"},         // 7 duplicate_member_number
      {"Lost", "A008", ph(8), "", "Class 7"},                 // 8 unknown_org_path
      {"Archived", "A009", ph(9), "", "Class 9"},             // 9 org_archived
      {"Taken Phone", "A011", ph(400), "", "Class 1"},        // 10 phone_taken (A000's)
      {"Elsewhere", "B001", ph(12), "", "Class 1"},           // 11 member_number_elsewhere
      {"Qian Yi", "A000", ph(400), "", ""},                   // 12 unchanged
      {"Sun Li", "A010", ph(410), "", "Class 2"},             // 13 updated (name)
      {"Slashes", "A014", ph(14), "", "/Class 2/"},           // 14 created
      {"Bad Number", "A 15", ph(15), "", "Class 1"},          // 15 invalid_member_number
      {"Same Phone", "A016", ph(1), "", "Class 1"},           // 16 phone_taken (row 2)
  };
}

void expect_mixed(const orgs::ImportReport& r) {
  EXPECT_EQ(r.rows, 15U);
  EXPECT_EQ(r.created, 3U);
  EXPECT_EQ(r.updated, 1U);
  EXPECT_EQ(r.unchanged, 1U);
  EXPECT_EQ(r.failed, 10U);
  ASSERT_EQ(r.results.size(), 15U);
  expect_fate(r, 0, RowFate::created);
  expect_fate(r, 1, RowFate::created);
  expect_fate(r, 2, RowFate::failed, "invalid_phone");
  expect_fate(r, 3, RowFate::failed, "invalid_email");
  expect_fate(r, 4, RowFate::failed, "phone_or_email_required");
  expect_fate(r, 5, RowFate::failed, "duplicate_member_number");
  EXPECT_NE(r.results[5].error->message.find("row 2"), std::string::npos)
      << r.results[5].error->message;
  EXPECT_EQ(r.results[5].error->field, "member_number");
  expect_fate(r, 6, RowFate::failed, "unknown_org_path");
  expect_fate(r, 7, RowFate::failed, "org_archived");
  expect_fate(r, 8, RowFate::failed, "phone_taken");
  EXPECT_NE(r.results[8].error->message.find("A000"), std::string::npos);
  expect_fate(r, 9, RowFate::failed, "member_number_elsewhere");
  expect_fate(r, 10, RowFate::unchanged);
  expect_fate(r, 11, RowFate::updated);
  expect_fate(r, 12, RowFate::created);
  expect_fate(r, 13, RowFate::failed, "invalid_member_number");
  expect_fate(r, 14, RowFate::failed, "phone_taken");
  EXPECT_NE(r.results[14].error->message.find("row 2"), std::string::npos);
}

TEST_P(OrgsImportTest, DryRunReportsEveryRowAndWritesNothing) {
  ASSERT_OK(import(
      op_, college_a_.id,
      {{"Qian Yi", "A000", phone(400), "", ""}, {"Sun", "A010", phone(410), "", "Class 2"}}));
  ASSERT_OK(import(op_, college_b_.id, {{"Zhao Wu", "B001", phone(500), "", "Class 1"}}));
  const auto people_before = count("orgs_people");
  ASSERT_EQ(people_before, 3);
  auto dry = import(a_admin_, college_a_.id, mixed_rows(), true);
  ASSERT_OK(dry);
  EXPECT_TRUE(dry->dry_run);
  expect_mixed(*dry);
  for (const auto& row : dry->results) EXPECT_FALSE(row.activation_code.has_value());
  EXPECT_EQ(count("orgs_people"), people_before);
  const auto a = roster(college_a_.id);
  ASSERT_EQ(a.size(), 2U);
  EXPECT_EQ(a[1].name, "Sun");  // not updated by the dry run
}

TEST_P(OrgsImportTest, RealRunCreatesWithCodesAndReimportIsUnchanged) {
  ASSERT_OK(import(
      op_, college_a_.id,
      {{"Qian Yi", "A000", phone(400), "", ""}, {"Sun", "A010", phone(410), "", "Class 2"}}));
  ASSERT_OK(import(op_, college_b_.id, {{"Zhao Wu", "B001", phone(500), "", "Class 1"}}));
  auto real = import(a_admin_, college_a_.id, mixed_rows());
  ASSERT_OK(real);
  EXPECT_FALSE(real->dry_run);
  expect_mixed(*real);
  const std::regex code_shape("[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}");
  for (const auto& row : real->results) {
    if (row.fate == RowFate::created) {
      ASSERT_TRUE(row.activation_code.has_value()) << row.member_number;
      EXPECT_TRUE(std::regex_match(*row.activation_code, code_shape)) << *row.activation_code;
    } else {
      EXPECT_FALSE(row.activation_code.has_value()) << row.member_number;
    }
  }
  EXPECT_EQ(count("orgs_people"), 3 + 3);
  const auto a = roster(college_a_.id);
  ASSERT_EQ(a.size(), 5U);  // by member number
  EXPECT_EQ(a[0].member_number, "A000");
  EXPECT_EQ(a[0].org_path_names, "College of Energy");  // relative to the root
  EXPECT_EQ(a[0].phone_masked, "+86 139****0400");
  EXPECT_EQ(a[1].member_number, "A001");
  EXPECT_EQ(a[1].org_path_names, "College of Energy/Class 1");
  EXPECT_EQ(a[1].name, "Li Lei");
  EXPECT_EQ(a[2].member_number, "A002");
  EXPECT_EQ(a[2].email_masked, "h***@example.com");
  EXPECT_FALSE(a[2].phone_masked.has_value());
  EXPECT_EQ(a[3].member_number, "A010");
  EXPECT_EQ(a[3].name, "Sun Li");
  EXPECT_EQ(a[4].member_number, "A014");
  EXPECT_EQ(a[4].org_path_names, "College of Energy/Class 2");
  EXPECT_FALSE(a[4].member_id.has_value());
  // The failed rows changed nothing: B001 is still college B's, under its own name.
  const auto b = roster(college_b_.id);
  ASSERT_EQ(b.size(), 1U);
  EXPECT_EQ(b[0].name, "Zhao Wu");
  EXPECT_EQ(b[0].org_path_names, "College of Arts/Class 1");
  // Pages by member number.
  auto page = orgs_->people(op_, college_a_.id, 2, "A001");
  ASSERT_OK(page);
  ASSERT_EQ(page->size(), 2U);
  EXPECT_EQ((*page)[0].member_number, "A002");
  EXPECT_EQ((*page)[1].member_number, "A010");

  // The same file again: every applied row is unchanged now, the failed ones fail again.
  auto again = import(a_admin_, college_a_.id, mixed_rows());
  ASSERT_OK(again);
  EXPECT_EQ(again->created, 0U);
  EXPECT_EQ(again->updated, 0U);
  EXPECT_EQ(again->unchanged, 5U);
  EXPECT_EQ(again->failed, 10U);
  for (const auto& row : again->results) EXPECT_FALSE(row.activation_code.has_value());
  EXPECT_EQ(count("orgs_people"), 6);
  // The first activation codes still work after the re-import.
  const auto m = new_member();
  auto p = orgs_->activate(m.id, *real->results[0].activation_code);
  ASSERT_OK(p);
  EXPECT_EQ(p->member_number, "A001");
}

TEST_P(OrgsImportTest, ChangesUpdateAndTheMembershipFollowsTheClass) {
  auto first = import(
      op_, college_a_.id,
      {{"Li Lei", "A001", phone(1), "", "Class 1"}, {"Han Mei", "A002", phone(2), "", "Class 1"}});
  ASSERT_OK(first);
  const auto m = new_member();
  ASSERT_OK(orgs_->activate(m.id, *first->results[0].activation_code));
  EXPECT_TRUE(*orgs_->eligible(m.id, class_a1_.id, std::nullopt));
  // A001 moves to Class 2; A002 changes name and phone.
  auto second = import(op_, college_a_.id,
                       {{"Li Lei", "A001", phone(1), "", "Class 2"},
                        {"Han Meimei", "A002", phone(22), "", "Class 1"}});
  ASSERT_OK(second);
  EXPECT_EQ(second->updated, 2U);
  EXPECT_EQ(second->created, 0U);
  EXPECT_FALSE(second->results[0].activation_code.has_value());
  auto mine = orgs_->memberships(m.id);
  ASSERT_OK(mine);
  ASSERT_EQ(mine->size(), 1U);
  EXPECT_EQ(mine->front().id, class_a2_.id);
  EXPECT_TRUE(*orgs_->eligible(m.id, class_a2_.id, std::nullopt));
  EXPECT_FALSE(*orgs_->eligible(m.id, class_a1_.id, std::nullopt));
  EXPECT_EQ(orgs_->dashboard(op_, class_a2_.id)->members, 1);
  EXPECT_EQ(orgs_->dashboard(op_, class_a1_.id)->members, 0);
  const auto a = roster(college_a_.id);
  ASSERT_EQ(a.size(), 2U);
  EXPECT_EQ(a[0].org_path_names, "College of Energy/Class 2");
  EXPECT_EQ(a[0].member_id, m.id);  // still activated
  EXPECT_EQ(a[1].name, "Han Meimei");
  EXPECT_EQ(a[1].phone_masked, "+86 139****0022");
  // The freed phone can go to someone else now.
  auto third = import(op_, college_a_.id, {{"Wu Tao", "A003", phone(2), "", "Class 1"}});
  ASSERT_OK(third);
  EXPECT_EQ(third->created, 1U);
}

TEST_P(OrgsImportTest, ARefusedRowDoesNotClaimItsPhoneOrEmail) {
  ASSERT_OK(import(op_, college_a_.id, {{"Qian Yi", "A000", phone(400), "qian@example.com", ""}}));
  auto r = import(op_, college_a_.id,
                  {{"New", "A020", phone(20), "qian@example.com", "Class 1"},  // e-mail is A000's
                   {"Other", "A021", phone(20), "other@example.com", "Class 1"},
                   {"Qian Yi", "A000", phone(400), "qian@example.com", ""},
                   {"Twin One", "A022", phone(22), "", "Class 2"},
                   {"Twin Two", "A023", phone(22), "", "Class 2"}});
  ASSERT_OK(r);
  expect_fate(*r, 0, RowFate::failed, "email_taken");
  EXPECT_NE(r->results[0].error->message.find("A000"), std::string::npos);
  expect_fate(*r, 1, RowFate::created);
  expect_fate(*r, 2, RowFate::unchanged);
  expect_fate(*r, 3, RowFate::created);
  expect_fate(*r, 4, RowFate::failed, "phone_taken");
  EXPECT_NE(r->results[4].error->message.find("row 5"), std::string::npos);
  EXPECT_EQ(count("orgs_people"), 3);
}

TEST_P(OrgsImportTest, WholeFileErrorsWriteNothing) {
  const auto write = [&](const std::string& text, bool dry) {
    const auto bytes = as_bytes(text);
    return orgs_->import_people(op_, college_a_.id, bytes, dry);
  };
  for (const bool dry : {true, false}) {
    EXPECT_ERROR(write("name,member_number,phone\r\n=SUM(A1:A2),A001,13900000001\r\n", dry),
                 "formula_not_allowed");
    EXPECT_ERROR(
        write("name,member_number,phone\r\nLi Lei,A001,13900000001\r\nHan,@cmd,1\r\n", dry),
        "formula_not_allowed");
    EXPECT_ERROR(write("name,phone\r\nLi Lei,13900000001\r\n", dry), "missing_column");
    EXPECT_ERROR(write("name,member_number\r\nLi Lei,A001\r\n", dry), "missing_column");
    EXPECT_ERROR(write("member_number,phone\r\nA001,13900000001\r\n", dry), "missing_column");
    EXPECT_ERROR(write("name,member_number,phone,mobile\r\nLi,A001,13900000001,1\r\n", dry),
                 "duplicate_column");
    EXPECT_ERROR(write("name,member_number,phone\r\nLi \"Lei,A001,13900000001\r\n", dry),
                 "invalid_csv");
    EXPECT_ERROR(write("", dry), "empty_file");
    std::string big = "name,member_number,phone\r\n";
    const std::string line = "Some Body With A Long Name,A000000001,13900000001\r\n";
    while (big.size() <= orgs::kImportBytesMax) big += line;
    EXPECT_ERROR(write(big, dry), "file_too_large");
    std::string many = "name,member_number,phone\r\n";
    for (std::size_t i = 0; i <= orgs::kImportRowsMax; ++i) many += "a,b,1\r\n";
    EXPECT_ERROR(write(many, dry), "too_many_rows");
    const std::vector<std::uint8_t> zip{'P', 'K', 3, 4, 0, 0, 0};
    EXPECT_ERROR(orgs_->import_people(op_, college_a_.id, zip, dry), "invalid_xlsx");
  }
  EXPECT_EQ(count("orgs_people"), 0);
  // Not an admin, or no such organisation.
  EXPECT_ERROR(import(orgs::Actor{new_member().id, false}, college_a_.id,
                      {{"Li Lei", "A001", phone(1), "", ""}}),
               "forbidden");
  EXPECT_ERROR(import(op_, 999'999, {{"Li Lei", "A001", phone(1), "", ""}}), "org_not_found");
  EXPECT_EQ(count("orgs_people"), 0);
}

TEST_P(OrgsImportTest, ChineseHeadersAndNames) {
  const auto college = must_org(op_, uni_.id, OrgType::college, "能源学院");
  const auto klass = must_org(op_, college.id, OrgType::class_, "2301班");
  const std::vector<std::string> header{"姓名", "学号", "手机号", "组织"};
  const auto bytes = csv({{"张三", "20230001", phone(1), "能源学院/2301班"},
                          {"李四", "20230002", phone(2), "能源学院"}},
                         header);
  auto r = orgs_->import_people(op_, uni_.id, bytes, false);
  ASSERT_OK(r);
  EXPECT_EQ(r->created, 2U) << (r->results[0].error ? r->results[0].error->code : "");
  const auto people = roster(college.id);
  ASSERT_EQ(people.size(), 2U);
  EXPECT_EQ(people[0].name, "张三");
  EXPECT_EQ(people[0].org_id, klass.id);
  EXPECT_EQ(people[0].org_path_names, "能源学院/2301班");
  EXPECT_EQ(people[1].name, "李四");
  EXPECT_EQ(people[1].org_id, college.id);
  // Mixed-case English headers and the 工号/邮箱 aliases.
  const std::vector<std::string> header2{"Name", "工号", "邮箱"};
  const auto bytes2 = csv({{"王五", "E001", "wang@example.com"}}, header2);
  auto r2 = orgs_->import_people(op_, klass.id, bytes2, false);
  ASSERT_OK(r2);
  EXPECT_EQ(r2->created, 1U);
  EXPECT_EQ(count("orgs_people"), 3);
}

TEST_P(OrgsImportTest, XlsxWithNumericPhones) {
  const std::vector<std::string> header{"name", "member_number", "phone", "org_path"};
  const std::vector<std::vector<std::string>> rows{{"Li Lei", "A001", phone(1), "Class 1"},
                                                   {"Han Mei", "A002", phone(2), "Class 2"}};
  const std::array<bool, 4> numeric{false, false, true, false};
  auto bytes = tabular::write_xlsx("Roster", header, rows, numeric);
  ASSERT_OK(bytes);
  auto r = orgs_->import_people(a_admin_, college_a_.id, *bytes, false);
  ASSERT_OK(r);
  EXPECT_EQ(r->created, 2U);
  const auto a = roster(college_a_.id);
  ASSERT_EQ(a.size(), 2U);
  EXPECT_EQ(a[0].phone_masked, "+86 139****0001");
  EXPECT_EQ(a[1].org_id, class_a2_.id);
}

TEST_P(OrgsImportTest, PhonesAndEmailsAreStoredEncrypted) {
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < 20; ++i)
    rows.push_back({"Person " + std::to_string(i), "P" + std::to_string(i), phone(1000 + i),
                    "person" + std::to_string(i) + "@example.com", "Class 1"});
  ASSERT_OK(import(op_, college_a_.id, rows));
  auto lease = db_->store().acquire();
  ASSERT_OK(lease);
  auto stored = (*lease)->query(
      "SELECT phone_enc, phone_index, email_enc, email_index, member_number FROM orgs_people "
      "ORDER BY member_number");
  ASSERT_OK(stored);
  ASSERT_EQ(stored->size(), 20U);
  const auto contains = [](std::span<const std::uint8_t> blob, std::string_view text) {
    return std::search(blob.begin(), blob.end(), text.begin(), text.end()) != blob.end();
  };
  for (std::size_t i = 0; i < stored->size(); ++i) {
    const int n = std::stoi(std::string(stored->text(i, 4)).substr(1));
    const std::string digits = phone(1000 + n);
    const std::string email = "person" + std::to_string(n) + "@example.com";
    for (std::size_t col = 0; col < 4; ++col) {
      ASSERT_FALSE(stored->is_null(i, col));
      const auto blob = stored->blob(i, col);
      EXPECT_GT(blob.size(), 16U);
      EXPECT_FALSE(contains(blob, digits)) << "row " << i << " column " << col;
      EXPECT_FALSE(contains(blob, digits.substr(3))) << "row " << i << " column " << col;
      EXPECT_FALSE(contains(blob, email)) << "row " << i << " column " << col;
      EXPECT_FALSE(contains(blob, "example.com")) << "row " << i << " column " << col;
    }
    auto phone_clear = members::decrypt_pii(keys_, members::PiiField::phone, stored->blob(i, 0));
    ASSERT_OK(phone_clear);
    EXPECT_EQ(*phone_clear, "+86" + digits);
  }
}

TEST_P(OrgsImportTest, FiftyThousandRowsIntoTwoHundredClasses) {
  const auto big = must_org(op_, std::nullopt, OrgType::university, "Big University");
  std::vector<orgs::Org> classes;
  for (int c = 0; c < 20; ++c) {
    const auto college = must_org(op_, big.id, OrgType::college, "College " + std::to_string(c));
    for (int k = 0; k < 10; ++k)
      classes.push_back(must_org(op_, college.id, OrgType::class_, "Class " + std::to_string(k)));
  }
  ASSERT_EQ(classes.size(), 200U);
  constexpr int kRows = 50'000;
  std::vector<std::vector<std::string>> rows;
  rows.reserve(kRows);
  for (int i = 0; i < kRows; ++i) {
    const int c = i % 200;
    rows.push_back({"Student " + std::to_string(i), "S" + std::to_string(100'000 + i), phone(i), "",
                    "College " + std::to_string(c / 10) + "/Class " + std::to_string(c % 10)});
  }
  const auto bytes = csv(rows);
  auto dry = orgs_->import_people(op_, big.id, bytes, true);
  ASSERT_OK(dry);
  EXPECT_EQ(dry->created, static_cast<std::size_t>(kRows));
  EXPECT_EQ(count("orgs_people"), 0);
  auto r = orgs_->import_people(op_, big.id, bytes, false);
  ASSERT_OK(r);
  EXPECT_EQ(r->rows, static_cast<std::size_t>(kRows));
  EXPECT_EQ(r->created, static_cast<std::size_t>(kRows));
  EXPECT_EQ(r->failed, 0U);
  EXPECT_EQ(count("orgs_people"), kRows);
  std::set<std::string> codes;
  for (const auto& row : r->results) codes.insert(row.activation_code.value_or(""));
  EXPECT_EQ(codes.size(), static_cast<std::size_t>(kRows));  // all distinct, none missing
  EXPECT_EQ(codes.count(""), 0U);
  auto whole = orgs_->dashboard(op_, big.id);
  ASSERT_OK(whole);
  EXPECT_EQ(whole->imported, kRows);
  EXPECT_EQ(whole->activated, 0);
  auto college0 = orgs_->dashboard(op_, classes[0].parent_id.value());
  ASSERT_OK(college0);
  EXPECT_EQ(college0->imported, kRows / 20);
  auto class37 = orgs_->dashboard(op_, classes[37].id);
  ASSERT_OK(class37);
  EXPECT_EQ(class37->imported, kRows / 200);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM orgs_people WHERE org_id = ?", {classes[199].id}),
            kRows / 200);
  // Re-importing the whole file changes nothing.
  auto again = orgs_->import_people(op_, big.id, bytes, false);
  ASSERT_OK(again);
  EXPECT_EQ(again->unchanged, static_cast<std::size_t>(kRows));
  EXPECT_EQ(count("orgs_people"), kRows);
}

TANPU_INSTANTIATE_ENGINES(OrgsImportTest);

}  // namespace
}  // namespace tanpu::test
