// Academic credit programmes on every engine: validation, credits = min(max, earned / per credit)
// over the points earned inside the enrolment period only, unaffected by spending, the transcript
// of a subtree by member number, and each member's own standing.
#include <gtest/gtest.h>

#include "orgs/orgs_fixture.h"

namespace tanpu::test {
namespace {

using orgs::OrgType;

class OrgsCreditsTest : public OrgsFixture {
 protected:
  void SetUp() override {
    OrgsFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    uni_ = must_org(op_, std::nullopt, OrgType::university, "Northeastern University");
    college_a_ = must_org(op_, uni_.id, OrgType::college, "College A");
    college_b_ = must_org(op_, uni_.id, OrgType::college, "College B");
    class_a1_ = must_org(op_, college_a_.id, OrgType::class_, "Class 1");
    class_a2_ = must_org(op_, college_a_.id, OrgType::class_, "Class 2");
    class_b1_ = must_org(op_, college_b_.id, OrgType::class_, "Class 1");
    a_admin_ = role_holder(college_a_.id);
  }

  orgs::ProgrammeInput input(std::int64_t org_id) const {
    orgs::ProgrammeInput in;
    in.org_id = org_id;
    in.name = "Undergraduate 2026";
    in.points_per_credit = 100;
    in.credits_max = 3;
    in.enrolment_starts = *parse_date("2026-09-01");
    in.enrolment_years = 1;
    return in;
  }

  orgs::Org uni_, college_a_, college_b_, class_a1_, class_a2_, class_b1_;
  orgs::Actor a_admin_;
};

TEST_P(OrgsCreditsTest, ProgrammeValidation) {
  auto in = input(college_a_.id);
  in.points_per_credit = 0;
  EXPECT_ERROR(orgs_->create_programme(a_admin_, in), "invalid_points_per_credit");
  in.points_per_credit = -500;
  EXPECT_ERROR(orgs_->create_programme(a_admin_, in), "invalid_points_per_credit");
  in = input(college_a_.id);
  in.credits_max = 0;
  EXPECT_ERROR(orgs_->create_programme(a_admin_, in), "invalid_credits_max");
  in.credits_max = 101;
  EXPECT_ERROR(orgs_->create_programme(a_admin_, in), "invalid_credits_max");
  in = input(college_a_.id);
  in.enrolment_years = 0;
  EXPECT_ERROR(orgs_->create_programme(a_admin_, in), "invalid_enrolment_years");
  in.enrolment_years = 11;
  EXPECT_ERROR(orgs_->create_programme(a_admin_, in), "invalid_enrolment_years");
  in = input(college_a_.id);
  in.name = "";
  EXPECT_ERROR(orgs_->create_programme(a_admin_, in), "name_required");
  EXPECT_ERROR(orgs_->create_programme(a_admin_, input(college_b_.id)), "forbidden");
  EXPECT_ERROR(orgs_->create_programme(a_admin_, input(uni_.id)), "forbidden");
  EXPECT_ERROR(orgs_->create_programme(op_, input(999'999)), "org_not_found");
  EXPECT_EQ(count("orgs_programmes"), 0);
  // The bounds are accepted; the period ends the same day `years` later (29 February: 1 March).
  in = input(college_a_.id);
  in.credits_max = 100;
  in.enrolment_years = 10;
  auto p = orgs_->create_programme(a_admin_, in);
  ASSERT_OK(p);
  EXPECT_EQ(p->enrolment_ends, *parse_date("2036-09-01"));
  in = input(college_a_.id);
  in.enrolment_starts = *parse_date("2028-02-29");
  auto leap = orgs_->create_programme(a_admin_, in);
  ASSERT_OK(leap);
  EXPECT_EQ(leap->enrolment_ends, *parse_date("2029-03-01"));
  auto listed = orgs_->programmes(a_admin_, college_a_.id);
  ASSERT_OK(listed);
  EXPECT_EQ(listed->size(), 2U);
  EXPECT_EQ(count("orgs_programmes"), 2);
}

TEST_P(OrgsCreditsTest, CreditsCountOnlyPointsEarnedInsideTheEnrolment) {
  auto prog = orgs_->create_programme(a_admin_, input(college_a_.id));
  ASSERT_OK(prog);
  const Day s = prog->enrolment_starts;
  const Day e = prog->enrolment_ends;
  ASSERT_EQ(e, *parse_date("2027-09-01"));
  const auto m1 = must_join(class_a1_.id, "A001", "Li Lei");
  const auto m2 = must_join(class_a2_.id, "A002", "Han Mei");
  const auto m3 = must_join(class_b1_.id, "B001", "Wu Tao");
  const auto m4 = must_join(class_a1_.id, "A003", "Zhang Wei");
  record({
      {m1.id, s - 1, "transit", 1'000, 1'000},  // before: not counted
      {m1.id, s, "transit", 1'000, 100},
      {m1.id, s, "cycling", 1'000, 50},  // the same day twice
      {m1.id, s + 100, "transit", 1'000, 100},
      {m1.id, e - 1, "transit", 1'000, 60},  // the last day counts
      {m1.id, e, "transit", 1'000, 500},     // the end is exclusive
      {m2.id, s + 5, "transit", 1'000, 99},
      {m2.id, s + 6, "recycling", 5'000, 0},  // a reduction without points
      {m3.id, s, "transit", 1'000, 1'000},    // another college
  });
  record({{m4.id, s + 1, "transit", 0, 250},
          {m4.id, s + 2, "transit", 0, 250},
          {m4.id, s + 3, "transit", 0, 250},
          {m4.id, s + 4, "transit", 0, 250}});
  auto t = orgs_->transcript(a_admin_, prog->id);
  ASSERT_OK(t);
  EXPECT_EQ(t->programme.id, prog->id);
  ASSERT_EQ(t->lines.size(), 3U);  // college A's members, by member number
  EXPECT_EQ(t->lines[0].member_number, "A001");
  EXPECT_EQ(t->lines[0].member_id, m1.id);
  EXPECT_EQ(t->lines[0].name, "Li Lei");
  EXPECT_EQ(t->lines[0].org_path_names, "College A/Class 1");
  EXPECT_EQ(t->lines[0].points_earned, 310);
  EXPECT_EQ(t->lines[0].credits, 3);
  EXPECT_EQ(t->lines[1].member_number, "A002");
  EXPECT_EQ(t->lines[1].points_earned, 99);
  EXPECT_EQ(t->lines[1].credits, 0);
  EXPECT_EQ(t->lines[1].org_path_names, "College A/Class 2");
  EXPECT_EQ(t->lines[2].member_number, "A003");
  EXPECT_EQ(t->lines[2].points_earned, 1000);
  EXPECT_EQ(t->lines[2].credits, 3);  // capped at credits_max
  // Spending points afterwards changes no credit.
  fund(m1, 1'000);
  ledger::Transfer spend;
  spend.id = new_time_ordered_id();
  spend.debit_account_id = m1.points_account_id;
  spend.credit_account_id = ledger::kPlatformPointsAccount;
  spend.amount = 900;
  spend.code = ledger::codes::operator_adjustment;
  const std::vector<ledger::Transfer> one{spend};
  auto spent = ledger_->submit(one);
  ASSERT_OK(spent);
  ASSERT_EQ(spent->front(), ledger::TransferStatus::ok);
  auto after = orgs_->transcript(a_admin_, prog->id);
  ASSERT_OK(after);
  ASSERT_EQ(after->lines.size(), 3U);
  EXPECT_EQ(after->lines[0].points_earned, 310);
  EXPECT_EQ(after->lines[0].credits, 3);
  // Other scopes.
  const auto b_admin = role_holder(college_b_.id);
  EXPECT_ERROR(orgs_->transcript(b_admin, prog->id), "forbidden");
  EXPECT_ERROR(orgs_->transcript(a_admin_, 999'999), "programme_not_found");
  const auto reviewer = role_holder(class_a1_.id, orgs::OrgRole::reviewer);
  EXPECT_ERROR(orgs_->transcript(reviewer, prog->id), "forbidden");  // the programme is above
  auto class_prog = orgs_->create_programme(a_admin_, input(class_a1_.id));
  ASSERT_OK(class_prog);
  auto class_t = orgs_->transcript(reviewer, class_prog->id);
  ASSERT_OK(class_t);
  ASSERT_EQ(class_t->lines.size(), 2U);
  EXPECT_EQ(class_t->lines[0].member_number, "A001");
  EXPECT_EQ(class_t->lines[1].member_number, "A003");
}

TEST_P(OrgsCreditsTest, MyCredits) {
  auto college_prog = orgs_->create_programme(a_admin_, input(college_a_.id));
  ASSERT_OK(college_prog);
  auto in = input(uni_.id);
  in.name = "University-wide";
  in.points_per_credit = 500;
  in.credits_max = 4;
  in.enrolment_years = 4;
  auto uni_prog = orgs_->create_programme(op_, in);
  ASSERT_OK(uni_prog);
  const auto m1 = must_join(class_a1_.id, "A001", "Li Lei");
  const auto m3 = must_join(class_b1_.id, "B001", "Wu Tao");
  const Day s = college_prog->enrolment_starts;
  record({{m1.id, s, "transit", 0, 250},
          {m1.id, s + 400, "transit", 0, 800},  // after the college's year, inside the four
          {m3.id, s, "transit", 0, 1'000}});
  auto mine = orgs_->my_credits(m1.id);
  ASSERT_OK(mine);
  ASSERT_EQ(mine->size(), 2U);
  EXPECT_EQ((*mine)[0].first.id, college_prog->id);
  EXPECT_EQ((*mine)[0].second.member_number, "A001");
  EXPECT_EQ((*mine)[0].second.org_path_names, "College A/Class 1");
  EXPECT_EQ((*mine)[0].second.points_earned, 250);
  EXPECT_EQ((*mine)[0].second.credits, 2);
  EXPECT_EQ((*mine)[1].first.id, uni_prog->id);
  EXPECT_EQ((*mine)[1].second.points_earned, 1'050);
  EXPECT_EQ((*mine)[1].second.credits, 2);
  auto theirs = orgs_->my_credits(m3.id);
  ASSERT_OK(theirs);
  ASSERT_EQ(theirs->size(), 1U);  // only the university's programme reaches college B
  EXPECT_EQ(theirs->front().first.id, uni_prog->id);
  EXPECT_EQ(theirs->front().second.credits, 2);
  auto nobody = orgs_->my_credits(new_member().id);
  ASSERT_OK(nobody);
  EXPECT_TRUE(nobody->empty());
}

TANPU_INSTANTIATE_ENGINES(OrgsCreditsTest);

}  // namespace
}  // namespace tanpu::test
