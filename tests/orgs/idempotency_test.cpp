// Creating with an Idempotency-Key on every engine: a retry answers the first creation (replayed)
// and creates nothing; the key with other input is refused and changes nothing; keys are per
// member, and requests without a key create every time.
#include <gtest/gtest.h>

#include "orgs/orgs_fixture.h"

namespace tanpu::test {
namespace {

using orgs::OrgType;

class OrgsIdempotencyTest : public OrgsFixture {};

TEST_P(OrgsIdempotencyTest, ARetriedOrganisationIsAnsweredNotCreated) {
  orgs::OrgInput in;
  in.type = OrgType::university;
  in.name = "Shenyang Institute of Engineering";
  in.idempotency_key = "uni-1";
  auto first = orgs_->create_org(op_, in);
  ASSERT_OK(first);
  EXPECT_FALSE(first->replayed);
  auto again = orgs_->create_org(op_, in);
  ASSERT_OK(again);
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->id, first->id);
  EXPECT_EQ(count("orgs_orgs"), 1);
  // The same key with another body is refused, and nothing is created.
  in.name = "Another University";
  EXPECT_ERROR(orgs_->create_org(op_, in), "idempotency_conflict");
  EXPECT_EQ(count("orgs_orgs"), 1);
  // Without a key, a second request is a second request (here: a name clash).
  in.name = "Shenyang Institute of Engineering";
  in.idempotency_key.clear();
  EXPECT_ERROR(orgs_->create_org(op_, in), "sibling_name_taken");
}

TEST_P(OrgsIdempotencyTest, ActivitiesAndProgrammesReplayPerMember) {
  const auto uni = must_org(op_, std::nullopt, OrgType::university, "Uni");
  const auto college = must_org(op_, uni.id, OrgType::college, "College");
  const orgs::Actor admin = role_holder(college.id);
  orgs::ActivityInput a;
  a.org_id = college.id;
  a.title = "Tree planting";
  a.starts_at_us = kStartUs + kHourUs;
  a.ends_at_us = kStartUs + 3 * kHourUs;
  a.capacity = 10;
  a.points_per_checkin = 5;
  a.idempotency_key = "plant-1";
  auto first = orgs_->create_activity(admin, a);
  ASSERT_OK(first);
  auto again = orgs_->create_activity(admin, a);
  ASSERT_OK(again);
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->id, first->id);
  EXPECT_EQ(count("orgs_activities"), 1);
  // Another member's key space: the operator's "plant-1" is a new activity.
  auto other = orgs_->create_activity(op_, a);
  ASSERT_OK(other);
  EXPECT_FALSE(other->replayed);
  EXPECT_EQ(count("orgs_activities"), 2);
  // A key used for an activity cannot create a programme.
  orgs::ProgrammeInput p;
  p.org_id = college.id;
  p.name = "Undergraduate 2026";
  p.enrolment_starts = *parse_date("2026-09-01");
  p.idempotency_key = "plant-1";
  EXPECT_ERROR(orgs_->create_programme(admin, p), "idempotency_conflict");
  EXPECT_EQ(count("orgs_programmes"), 0);
  p.idempotency_key = "ug-2026";
  auto prog = orgs_->create_programme(admin, p);
  ASSERT_OK(prog);
  auto prog_again = orgs_->create_programme(admin, p);
  ASSERT_OK(prog_again);
  EXPECT_TRUE(prog_again->replayed);
  EXPECT_EQ(prog_again->id, prog->id);
  EXPECT_EQ(count("orgs_programmes"), 1);
}

TANPU_INSTANTIATE_ENGINES(OrgsIdempotencyTest);

}  // namespace
}  // namespace tanpu::test
