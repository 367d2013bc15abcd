// Activation on every engine: a code works once, mistyped and replaced codes fail, typing is
// forgiving (case, spaces), one membership per tree, the first membership is primary, and market
// eligibility by organisation subtree and region prefix.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>

#include "orgs/orgs_fixture.h"

namespace tanpu::test {
namespace {

using orgs::OrgType;

class OrgsActivationTest : public OrgsFixture {
 protected:
  void SetUp() override {
    OrgsFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    uni_ = must_org(op_, std::nullopt, OrgType::university, "Northeastern University", "CN-LN");
    college_ = must_org(op_, uni_.id, OrgType::college, "College of Energy");
    class1_ = must_org(op_, college_.id, OrgType::class_, "Class 1", "CN-LN-SHE");
    class2_ = must_org(op_, college_.id, OrgType::class_, "Class 2", "CN-LN-DL");
  }

  struct Snapshot {
    std::int64_t memberships, activated;
    bool operator==(const Snapshot&) const = default;
  };
  Snapshot snapshot() {
    return {count("orgs_memberships"),
            scalar("SELECT COUNT(*) FROM orgs_people WHERE member_id IS NOT NULL")};
  }

  orgs::Org uni_, college_, class1_, class2_;
};

TEST_P(OrgsActivationTest, ACodeWorksOnce) {
  const auto code = must_import_one(class1_.id, "S001", "Li Lei");
  const auto m = new_member();
  auto p = orgs_->activate(m.id, code);
  ASSERT_OK(p);
  EXPECT_EQ(p->member_number, "S001");
  EXPECT_EQ(p->name, "Li Lei");
  EXPECT_EQ(p->member_id, m.id);
  EXPECT_EQ(p->org_id, class1_.id);
  EXPECT_EQ(p->org_path_names, "College of Energy/Class 1");
  EXPECT_EQ(p->activated_at_us, clock_.now_us());
  const auto before = snapshot();
  EXPECT_EQ(before, (Snapshot{1, 1}));
  // The same code again, by the same member or another: it is spent.
  EXPECT_ERROR(orgs_->activate(m.id, code), "invalid_activation_code");
  EXPECT_ERROR(orgs_->activate(new_member().id, code), "invalid_activation_code");
  EXPECT_EQ(snapshot(), before);
  // Reissuing for an activated person is refused.
  auto roster = orgs_->people(op_, class1_.id, 10, "");
  ASSERT_OK(roster);
  EXPECT_ERROR(orgs_->reissue_activation(op_, class1_.id, roster->front().id), "already_activated");
}

TEST_P(OrgsActivationTest, MistypedAndForgivingCodes) {
  const auto code = must_import_one(class1_.id, "S001", "Li Lei");
  ASSERT_EQ(code.size(), 14U);
  const auto m = new_member();
  // One character changed (to another alphabet character), one dropped, one added.
  std::string wrong = code;
  wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
  EXPECT_ERROR(orgs_->activate(m.id, wrong), "invalid_activation_code");
  EXPECT_ERROR(orgs_->activate(m.id, code.substr(1)), "invalid_activation_code");
  EXPECT_ERROR(orgs_->activate(m.id, code + "0"), "invalid_activation_code");
  EXPECT_ERROR(orgs_->activate(m.id, ""), "invalid_activation_code");
  EXPECT_EQ(snapshot(), (Snapshot{0, 0}));
  // Lower case, spaces instead of hyphens: accepted.
  std::string typed;
  for (const char c : code)
    typed += c == '-' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  typed = "  " + typed + " ";
  auto p = orgs_->activate(m.id, typed);
  ASSERT_OK(p);
  EXPECT_EQ(p->member_id, m.id);
  EXPECT_EQ(snapshot(), (Snapshot{1, 1}));
}

TEST_P(OrgsActivationTest, ReissueInvalidatesTheOldCode) {
  const auto old_code = must_import_one(class1_.id, "S001", "Li Lei");
  auto roster = orgs_->people(op_, class1_.id, 10, "");
  ASSERT_OK(roster);
  ASSERT_EQ(roster->size(), 1U);
  // Only admins of the person's organisation reissue.
  const orgs::Actor stranger{new_member().id, false};
  EXPECT_ERROR(orgs_->reissue_activation(stranger, class1_.id, roster->front().id), "forbidden");
  EXPECT_ERROR(orgs_->reissue_activation(op_, class2_.id, roster->front().id), "person_not_found");
  auto new_code = orgs_->reissue_activation(op_, college_.id, roster->front().id);
  ASSERT_OK(new_code);
  EXPECT_NE(*new_code, old_code);
  EXPECT_EQ(new_code->size(), 14U);
  const auto m = new_member();
  EXPECT_ERROR(orgs_->activate(m.id, old_code), "invalid_activation_code");
  EXPECT_EQ(snapshot(), (Snapshot{0, 0}));
  ASSERT_OK(orgs_->activate(m.id, *new_code));
  EXPECT_EQ(snapshot(), (Snapshot{1, 1}));
}

TEST_P(OrgsActivationTest, OneMembershipPerTree) {
  const auto code1 = must_import_one(class1_.id, "S001", "Li Lei");
  const auto code2 = must_import_one(class2_.id, "S002", "Li Lei (again)");
  const auto m = new_member();
  ASSERT_OK(orgs_->activate(m.id, code1));
  const auto before = snapshot();
  EXPECT_ERROR(orgs_->activate(m.id, code2), "already_in_tree");
  EXPECT_EQ(snapshot(), before);
  // The refused code was not spent: its own person can still use it.
  ASSERT_OK(orgs_->activate(new_member().id, code2));
}

TEST_P(OrgsActivationTest, TheFirstMembershipIsPrimary) {
  const auto other = must_org(op_, std::nullopt, OrgType::enterprise, "ACME", "CN-BJ");
  const auto dept = must_org(op_, other.id, OrgType::department, "Engineering");
  const auto code1 = must_import_one(class1_.id, "S001", "Li Lei");
  const auto code2 = must_import_one(dept.id, "E001", "Li Lei");
  const auto m = new_member();
  auto none = orgs_->memberships(m.id);
  ASSERT_OK(none);
  EXPECT_TRUE(none->empty());
  ASSERT_OK(orgs_->activate(m.id, code2));
  clock_.advance_us(kMinuteUs);
  ASSERT_OK(orgs_->activate(m.id, code1));
  auto mine = orgs_->memberships(m.id);
  ASSERT_OK(mine);
  ASSERT_EQ(mine->size(), 2U);
  EXPECT_EQ((*mine)[0].id, dept.id);  // primary first
  EXPECT_EQ((*mine)[1].id, class1_.id);
  EXPECT_EQ(scalar("SELECT is_primary FROM orgs_memberships WHERE member_id = ? AND root_id = ?",
                   {m.id, other.id}),
            1);
  EXPECT_EQ(scalar("SELECT is_primary FROM orgs_memberships WHERE member_id = ? AND root_id = ?",
                   {m.id, uni_.id}),
            0);
}

TEST_P(OrgsActivationTest, EligibilityBySubtreeAndRegion) {
  const auto m = must_join(class1_.id, "S001");
  EXPECT_TRUE(*orgs_->eligible(m.id, std::nullopt, std::nullopt));
  EXPECT_TRUE(*orgs_->eligible(m.id, uni_.id, std::nullopt));
  EXPECT_TRUE(*orgs_->eligible(m.id, college_.id, std::nullopt));
  EXPECT_TRUE(*orgs_->eligible(m.id, class1_.id, std::nullopt));
  EXPECT_FALSE(*orgs_->eligible(m.id, class2_.id, std::nullopt));
  EXPECT_FALSE(*orgs_->eligible(m.id, 999'999, std::nullopt));
  // Class 1 is in CN-LN-SHE.
  EXPECT_TRUE(*orgs_->eligible(m.id, std::nullopt, std::string("CN")));
  EXPECT_TRUE(*orgs_->eligible(m.id, std::nullopt, std::string("CN-LN")));
  EXPECT_TRUE(*orgs_->eligible(m.id, std::nullopt, std::string("CN-LN-SHE")));
  EXPECT_FALSE(*orgs_->eligible(m.id, std::nullopt, std::string("CN-L")));
  EXPECT_FALSE(*orgs_->eligible(m.id, std::nullopt, std::string("CN-LN-S")));
  EXPECT_FALSE(*orgs_->eligible(m.id, std::nullopt, std::string("CN-LN-DL")));
  EXPECT_FALSE(*orgs_->eligible(m.id, std::nullopt, std::string("CN-BJ")));
  EXPECT_TRUE(*orgs_->eligible(m.id, uni_.id, std::string("CN-LN")));
  EXPECT_FALSE(*orgs_->eligible(m.id, class2_.id, std::string("CN-LN")));
  // A member of no organisation is eligible only when nothing is asked.
  const auto outsider = new_member();
  EXPECT_TRUE(*orgs_->eligible(outsider.id, std::nullopt, std::nullopt));
  EXPECT_FALSE(*orgs_->eligible(outsider.id, uni_.id, std::nullopt));
  EXPECT_FALSE(*orgs_->eligible(outsider.id, std::nullopt, std::string("CN")));
}

TANPU_INSTANTIATE_ENGINES(OrgsActivationTest);

}  // namespace
}  // namespace tanpu::test
