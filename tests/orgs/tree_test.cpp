// The organisation tree on every engine: creation by the operator and by admins, the type and
// depth rules, sibling names, rename, move (with its refusals and the paths it rewrites),
// archiving, and the scope of admin and reviewer roles. Every refusal leaves the rows as they were.
#include <gtest/gtest.h>

#include "orgs/orgs_fixture.h"

namespace tanpu::test {
namespace {

using orgs::OrgRole;
using orgs::OrgType;

class OrgsTreeTest : public OrgsFixture {
 protected:
  void SetUp() override {
    OrgsFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    uni_ = must_org(op_, std::nullopt, OrgType::university, "Northeastern University", "CN-LN");
    uni_admin_ = role_holder(uni_.id);
    college_a_ = must_org(uni_admin_, uni_.id, OrgType::college, "College of Energy");
    college_b_ = must_org(uni_admin_, uni_.id, OrgType::college, "College of Arts");
    class_a1_ = must_org(uni_admin_, college_a_.id, OrgType::class_, "Class 2301");
    class_a2_ = must_org(uni_admin_, college_a_.id, OrgType::class_, "Class 2302");
    class_b1_ = must_org(uni_admin_, college_b_.id, OrgType::class_, "Class 2301");
  }

  orgs::Org org(std::int64_t id) {
    auto o = orgs_->get_org(op_, id);
    EXPECT_TRUE(o.has_value());
    return o ? *o : orgs::Org{};
  }

  orgs::Org uni_, college_a_, college_b_, class_a1_, class_a2_, class_b1_;
  orgs::Actor uni_admin_;
};

TEST_P(OrgsTreeTest, OperatorCreatesAUniversityAndAdminsBuildItsTree) {
  EXPECT_EQ(uni_.depth, 1);
  EXPECT_EQ(uni_.depth_max, 3);
  EXPECT_FALSE(uni_.parent_id.has_value());
  EXPECT_EQ(uni_.root_id, uni_.id);
  EXPECT_EQ(uni_.path, "/" + std::to_string(uni_.id) + "/");
  EXPECT_EQ(uni_.region, "CN-LN");
  EXPECT_EQ(college_a_.depth, 2);
  EXPECT_EQ(college_a_.parent_id, uni_.id);
  EXPECT_EQ(college_a_.root_id, uni_.id);
  EXPECT_EQ(college_a_.path, uni_.path + std::to_string(college_a_.id) + "/");
  EXPECT_EQ(college_a_.region, "CN-LN");  // inherited
  EXPECT_EQ(college_a_.depth_max, 3);     // the root's setting
  EXPECT_EQ(class_a1_.depth, 3);
  EXPECT_EQ(class_a1_.type, OrgType::class_);
  EXPECT_EQ(class_a1_.path, college_a_.path + std::to_string(class_a1_.id) + "/");
  // The same class name under two colleges is fine.
  EXPECT_EQ(class_b1_.name, class_a1_.name);
  auto kids = orgs_->children(uni_admin_, uni_.id);
  ASSERT_OK(kids);
  ASSERT_EQ(kids->size(), 2U);
  EXPECT_EQ((*kids)[0].name, "College of Arts");  // by name
  EXPECT_EQ((*kids)[1].name, "College of Energy");
  auto roots = orgs_->roots(uni_admin_);
  ASSERT_OK(roots);
  ASSERT_EQ(roots->size(), 1U);
  EXPECT_EQ(roots->front().id, uni_.id);
  auto all = orgs_->roots(op_);
  ASSERT_OK(all);
  EXPECT_EQ(all->size(), 1U);
  EXPECT_EQ(count("orgs_orgs"), 6);
}

TEST_P(OrgsTreeTest, OnlyTheOperatorCreatesFirstTierOrganisations) {
  const auto before = count("orgs_orgs");
  EXPECT_ERROR(try_org(uni_admin_, std::nullopt, OrgType::university, "Another University"),
               "forbidden");
  EXPECT_ERROR(
      try_org(orgs::Actor{new_member().id, false}, std::nullopt, OrgType::enterprise, "ACME"),
      "forbidden");
  // The operator: first tier needs a first-tier type and a sane depth_max.
  EXPECT_ERROR(try_org(op_, std::nullopt, OrgType::college, "Floating College"), "invalid_type");
  orgs::OrgInput in{std::nullopt, OrgType::enterprise, "ACME", std::nullopt, 7, ""};
  EXPECT_ERROR(orgs_->create_org(op_, in), "invalid_depth_max");
  in.depth_max = 0;
  EXPECT_ERROR(orgs_->create_org(op_, in), "invalid_depth_max");
  in = {std::nullopt, OrgType::enterprise, "ACME", std::string("cn-ln"), 3, ""};
  EXPECT_ERROR(orgs_->create_org(op_, in), "invalid_region");
  EXPECT_ERROR(try_org(op_, std::nullopt, OrgType::university, ""), "name_required");
  EXPECT_ERROR(try_org(op_, std::nullopt, OrgType::university, std::string(121, 'x')),
               "name_too_long");
  EXPECT_ERROR(try_org(op_, std::nullopt, OrgType::university, "A/B"), "invalid_name");
  // Two first-tier organisations cannot share a name.
  EXPECT_ERROR(try_org(op_, std::nullopt, OrgType::university, "Northeastern University"),
               "sibling_name_taken");
  EXPECT_EQ(count("orgs_orgs"), before);
}

TEST_P(OrgsTreeTest, TypeRulesAndDepthLimit) {
  const auto before = count("orgs_orgs");
  EXPECT_ERROR(try_org(uni_admin_, uni_.id, OrgType::class_, "Class under a university"),
               "invalid_type");
  EXPECT_ERROR(try_org(uni_admin_, college_a_.id, OrgType::college, "College in a college"),
               "invalid_type");
  EXPECT_ERROR(try_org(uni_admin_, uni_.id, OrgType::department, "Department"), "invalid_type");
  // A group fits under a class by type, but would be the fourth tier of a three-tier tree.
  EXPECT_ERROR(try_org(uni_admin_, class_a1_.id, OrgType::group, "Study group"), "depth_exceeded");
  EXPECT_ERROR(try_org(uni_admin_, 999'999, OrgType::college, "Nowhere"), "org_not_found");
  EXPECT_EQ(count("orgs_orgs"), before);
  // A group under a college is depth 3: allowed.
  const auto g = must_org(uni_admin_, college_a_.id, OrgType::group, "Cycling club");
  EXPECT_EQ(g.depth, 3);
}

TEST_P(OrgsTreeTest, SiblingNamesAreUnique) {
  const auto before = count("orgs_orgs");
  EXPECT_ERROR(try_org(uni_admin_, uni_.id, OrgType::college, "College of Energy"),
               "sibling_name_taken");
  EXPECT_ERROR(try_org(uni_admin_, college_a_.id, OrgType::class_, "Class 2302"),
               "sibling_name_taken");
  EXPECT_EQ(count("orgs_orgs"), before);
}

TEST_P(OrgsTreeTest, RenameAndItsConflict) {
  auto r = orgs_->rename_org(uni_admin_, class_a1_.id, "Class 2303");
  ASSERT_OK(r);
  EXPECT_EQ(r->name, "Class 2303");
  EXPECT_EQ(org(class_a1_.id).name, "Class 2303");
  EXPECT_ERROR(orgs_->rename_org(uni_admin_, class_a1_.id, "Class 2302"), "sibling_name_taken");
  EXPECT_EQ(org(class_a1_.id).name, "Class 2303");
  EXPECT_ERROR(orgs_->rename_org(uni_admin_, class_a1_.id, ""), "name_required");
  EXPECT_ERROR(orgs_->rename_org(uni_admin_, college_a_.id, "College of Arts"),
               "sibling_name_taken");
  EXPECT_EQ(org(college_a_.id).name, "College of Energy");
  // Renaming to its own name, or to a cousin's name, is fine.
  ASSERT_OK(orgs_->rename_org(uni_admin_, class_a1_.id, "Class 2303"));
  ASSERT_OK(orgs_->rename_org(uni_admin_, class_b1_.id, "Class 2303"));
  // The first-tier organisation's name is unique among first-tier organisations too.
  must_org(op_, std::nullopt, OrgType::enterprise, "ACME");
  EXPECT_ERROR(orgs_->rename_org(op_, uni_.id, "ACME"), "sibling_name_taken");
  EXPECT_EQ(org(uni_.id).name, "Northeastern University");
}

TEST_P(OrgsTreeTest, MoveWithinTheTreeRewritesPaths) {
  // A person on the roster and an activated member in class A2 move with it.
  const auto m = must_join(class_a2_.id, "S001", "Li Lei");
  auto moved = orgs_->move_org(uni_admin_, class_a2_.id, college_b_.id);
  ASSERT_OK(moved);
  EXPECT_EQ(moved->parent_id, college_b_.id);
  EXPECT_EQ(moved->depth, 3);
  EXPECT_EQ(moved->path, college_b_.path + std::to_string(class_a2_.id) + "/");
  auto kids = orgs_->children(op_, college_b_.id);
  ASSERT_OK(kids);
  EXPECT_EQ(kids->size(), 2U);
  auto in_b = orgs_->people(op_, college_b_.id, 100, "");
  ASSERT_OK(in_b);
  ASSERT_EQ(in_b->size(), 1U);
  EXPECT_EQ(in_b->front().member_number, "S001");
  EXPECT_EQ(in_b->front().org_path_names, "College of Arts/Class 2302");
  auto in_a = orgs_->people(op_, college_a_.id, 100, "");
  ASSERT_OK(in_a);
  EXPECT_TRUE(in_a->empty());
  EXPECT_TRUE(*orgs_->eligible(m.id, college_b_.id, std::nullopt));
  EXPECT_FALSE(*orgs_->eligible(m.id, college_a_.id, std::nullopt));
  auto dash_b = orgs_->dashboard(op_, college_b_.id);
  ASSERT_OK(dash_b);
  EXPECT_EQ(dash_b->members, 1);
  EXPECT_EQ(dash_b->imported, 1);
  EXPECT_EQ(orgs_->dashboard(op_, college_a_.id)->members, 0);
  // A group moved under a class would be the fourth tier of a three-tier tree.
  const auto club = must_org(uni_admin_, college_a_.id, OrgType::group, "Club");
  auto g = orgs_->move_org(uni_admin_, club.id, class_a1_.id);
  EXPECT_ERROR(g, "depth_exceeded");
}

TEST_P(OrgsTreeTest, MoveRefusals) {
  struct Snapshot {
    std::vector<std::string> paths;
    bool operator==(const Snapshot&) const = default;
  };
  const auto snapshot = [&] {
    Snapshot s;
    for (const auto id :
         {uni_.id, college_a_.id, college_b_.id, class_a1_.id, class_a2_.id, class_b1_.id}) {
      const auto o = org(id);
      s.paths.push_back(o.path + ":" + std::to_string(o.depth) + ":" +
                        std::to_string(o.parent_id.value_or(0)));
    }
    return s;
  };
  const auto before = snapshot();
  EXPECT_ERROR(orgs_->move_org(op_, uni_.id, college_a_.id), "move_root");
  EXPECT_ERROR(orgs_->move_org(op_, college_a_.id, class_a1_.id), "move_into_descendant");
  EXPECT_ERROR(orgs_->move_org(op_, college_a_.id, college_a_.id), "move_into_descendant");
  // Same name in the new parent.
  EXPECT_ERROR(orgs_->move_org(op_, class_b1_.id, college_a_.id), "sibling_name_taken");
  // Type: a class cannot sit under a university.
  EXPECT_ERROR(orgs_->move_org(op_, class_a1_.id, uni_.id), "invalid_type");
  const auto other = must_org(op_, std::nullopt, OrgType::university, "Other University");
  const auto other_college = must_org(op_, other.id, OrgType::college, "College of Energy");
  EXPECT_ERROR(orgs_->move_org(op_, class_a1_.id, other_college.id), "other_tree");
  EXPECT_ERROR(orgs_->move_org(op_, class_a1_.id, 999'999), "org_not_found");
  EXPECT_EQ(snapshot(), before);
}

TEST_P(OrgsTreeTest, ACopiedRegionFollowsAMoveAGivenOneStays) {
  const auto uni =
      must_org(op_, std::nullopt, OrgType::university, "Liaoning University", "CN-LN", 5);
  const auto dalian = must_org(op_, uni.id, OrgType::college, "Dalian campus", "CN-LN-DAL");
  const auto shenyang = must_org(op_, uni.id, OrgType::college, "Shenyang campus", "CN-LN-SHE");
  const auto club = must_org(op_, dalian.id, OrgType::group, "Cycling club");
  const auto team = must_org(op_, club.id, OrgType::group, "Road team");
  const auto anshan = must_org(op_, club.id, OrgType::group, "Anshan team", "CN-LN-ANS");
  const auto anshan_sub = must_org(op_, anshan.id, OrgType::group, "Juniors");
  EXPECT_EQ(org(club.id).region, "CN-LN-DAL");
  EXPECT_EQ(org(team.id).region, "CN-LN-DAL");
  EXPECT_EQ(org(anshan_sub.id).region, "CN-LN-ANS");
  ASSERT_OK(orgs_->move_org(op_, club.id, shenyang.id));
  EXPECT_EQ(org(club.id).region, "CN-LN-SHE");
  EXPECT_EQ(org(team.id).region, "CN-LN-SHE");
  EXPECT_EQ(org(anshan.id).region, "CN-LN-ANS");      // its own
  EXPECT_EQ(org(anshan_sub.id).region, "CN-LN-ANS");  // copied from its own parent, unmoved
  EXPECT_EQ(org(dalian.id).region, "CN-LN-DAL");
  // Up to the university itself.
  ASSERT_OK(orgs_->move_org(op_, club.id, uni.id));
  EXPECT_EQ(org(club.id).region, "CN-LN");
  EXPECT_EQ(org(team.id).region, "CN-LN");
  EXPECT_EQ(org(anshan.id).region, "CN-LN-ANS");
  // Under a team with a region of its own, the team takes that one.
  ASSERT_OK(orgs_->move_org(op_, team.id, anshan_sub.id));
  EXPECT_EQ(org(team.id).region, "CN-LN-ANS");
  // A refused move changes no region.
  EXPECT_ERROR(orgs_->move_org(op_, club.id, shenyang.id + 1000), "org_not_found");
  EXPECT_ERROR(orgs_->move_org(op_, anshan.id, team.id), "move_into_descendant");
  EXPECT_EQ(org(anshan.id).region, "CN-LN-ANS");
  EXPECT_EQ(org(club.id).region, "CN-LN");
}

TEST_P(OrgsTreeTest, MovingASubtreeThatWouldBeTooDeepIsRefused) {
  const auto uni =
      must_org(op_, std::nullopt, OrgType::university, "Deep University", std::nullopt, 4);
  const auto college = must_org(op_, uni.id, OrgType::college, "College");
  const auto klass = must_org(op_, college.id, OrgType::class_, "Class");
  const auto club = must_org(op_, college.id, OrgType::group, "Club");        // depth 3
  const auto team = must_org(op_, club.id, OrgType::group, "Team");           // depth 4
  const auto lone = must_org(op_, college.id, OrgType::group, "Lone group");  // depth 3
  // The club alone would fit under the class (depth 4), its team (depth 5) would not.
  EXPECT_ERROR(orgs_->move_org(op_, club.id, klass.id), "depth_exceeded");
  EXPECT_EQ(org(club.id).parent_id, college.id);
  EXPECT_EQ(org(team.id).depth, 4);
  EXPECT_EQ(org(team.id).path, club.path + std::to_string(team.id) + "/");
  // A childless group fits.
  auto moved = orgs_->move_org(op_, lone.id, klass.id);
  ASSERT_OK(moved);
  EXPECT_EQ(moved->depth, 4);
  // Moving a subtree up shifts every depth.
  auto up = orgs_->move_org(op_, team.id, college.id);
  ASSERT_OK(up);
  EXPECT_EQ(up->depth, 3);
  EXPECT_EQ(up->path, college.path + std::to_string(team.id) + "/");
}

TEST_P(OrgsTreeTest, ArchiveReachesTheSubtreeAndStopsNewWork) {
  const auto code = must_import_one(class_a1_.id, "S001", "Li Lei");
  const auto m = new_member();
  ASSERT_OK(orgs_->activate(m.id, code));
  auto activity = orgs_->create_activity(uni_admin_, activity_input(class_a1_.id));
  ASSERT_OK(activity);
  auto archived = orgs_->archive_org(uni_admin_, college_a_.id);
  ASSERT_OK(archived);
  EXPECT_TRUE(archived->archived);
  EXPECT_TRUE(org(class_a1_.id).archived);
  EXPECT_TRUE(org(class_a2_.id).archived);
  EXPECT_FALSE(org(uni_.id).archived);
  EXPECT_FALSE(org(college_b_.id).archived);
  EXPECT_FALSE(org(class_b1_.id).archived);
  const auto orgs_before = count("orgs_orgs");
  const auto people_before = count("orgs_people");
  const auto activities_before = count("orgs_activities");
  EXPECT_ERROR(try_org(uni_admin_, college_a_.id, OrgType::class_, "Class 2399"),
               "parent_archived");
  EXPECT_ERROR(try_org(uni_admin_, class_a1_.id, OrgType::group, "Group"), "parent_archived");
  EXPECT_ERROR(import(uni_admin_, class_a1_.id, {{"Han Mei", "S002", phone(9001), "", ""}}),
               "org_archived");
  // Importing from above: the rows aimed at the archived classes fail, the others apply.
  auto from_top = import(uni_admin_, uni_.id,
                         {{"Han Mei", "S002", phone(9002), "", "College of Energy/Class 2301"},
                          {"Wu Tao", "S003", phone(9003), "", "College of Arts/Class 2301"}});
  ASSERT_OK(from_top);
  EXPECT_EQ(from_top->failed, 1U);
  EXPECT_EQ(from_top->results[0].error->code, "org_archived");
  EXPECT_EQ(from_top->created, 1U);
  EXPECT_ERROR(orgs_->create_activity(uni_admin_, activity_input(class_a2_.id)), "org_archived");
  const auto signups_before = count("orgs_signups");
  EXPECT_ERROR(orgs_->sign_up(m.id, activity->id), "org_archived");
  EXPECT_EQ(count("orgs_signups"), signups_before);
  EXPECT_EQ(count("orgs_orgs"), orgs_before);
  EXPECT_EQ(count("orgs_people"), people_before + 1);
  EXPECT_EQ(count("orgs_activities"), activities_before);
  // Moving into an archived organisation is refused as well.
  EXPECT_ERROR(orgs_->move_org(op_, class_b1_.id, college_a_.id), "parent_archived");
}

// Roles and scope.

TEST_P(OrgsTreeTest, CollegeAdminActsInItsCollegeOnly) {
  const auto a_admin = role_holder(college_a_.id);
  const auto orgs_before = count("orgs_orgs");
  // In A and A's classes.
  const auto c = must_org(a_admin, college_a_.id, OrgType::class_, "Class 2304");
  ASSERT_OK(orgs_->rename_org(a_admin, class_a1_.id, "Class 2301A"));
  ASSERT_OK(import(a_admin, class_a2_.id, {{"Li Lei", "S001", phone(1), "", ""}}));
  ASSERT_OK(orgs_->dashboard(a_admin, class_a2_.id));
  ASSERT_OK(orgs_->dashboard(a_admin, college_a_.id));
  ASSERT_OK(orgs_->create_activity(a_admin, activity_input(class_a2_.id)));
  EXPECT_TRUE(*orgs_->has_role(a_admin, class_a1_.id, OrgRole::admin));
  EXPECT_TRUE(*orgs_->has_role(a_admin, college_a_.id, OrgRole::reviewer));
  EXPECT_FALSE(*orgs_->has_role(a_admin, college_b_.id, OrgRole::admin));
  EXPECT_FALSE(*orgs_->has_role(a_admin, uni_.id, OrgRole::admin));
  EXPECT_EQ(count("orgs_orgs"), orgs_before + 1);
  // Not in the sibling college B nor the university.
  const auto people_before = count("orgs_people");
  const auto activities_before = count("orgs_activities");
  const auto roles_before = count("orgs_roles");
  EXPECT_ERROR(try_org(a_admin, college_b_.id, OrgType::class_, "Class 2399"), "forbidden");
  EXPECT_ERROR(try_org(a_admin, uni_.id, OrgType::college, "College of Law"), "forbidden");
  EXPECT_ERROR(orgs_->rename_org(a_admin, class_b1_.id, "Mine now"), "forbidden");
  EXPECT_ERROR(orgs_->rename_org(a_admin, uni_.id, "Mine now"), "forbidden");
  EXPECT_ERROR(orgs_->move_org(a_admin, c.id, college_b_.id), "forbidden");
  EXPECT_ERROR(orgs_->archive_org(a_admin, college_b_.id), "forbidden");
  EXPECT_ERROR(import(a_admin, college_b_.id, {{"Wu Tao", "S002", phone(2), "", ""}}), "forbidden");
  EXPECT_ERROR(orgs_->dashboard(a_admin, college_b_.id), "forbidden");
  EXPECT_ERROR(orgs_->dashboard(a_admin, uni_.id), "forbidden");
  EXPECT_ERROR(orgs_->people(a_admin, uni_.id, 10, ""), "forbidden");
  EXPECT_ERROR(orgs_->create_activity(a_admin, activity_input(uni_.id)), "forbidden");
  const auto someone = new_member();
  EXPECT_ERROR(orgs_->grant_role(a_admin, college_b_.id, someone.id, OrgRole::admin), "forbidden");
  EXPECT_ERROR(orgs_->grant_role(a_admin, uni_.id, someone.id, OrgRole::reviewer), "forbidden");
  EXPECT_EQ(count("orgs_orgs"), orgs_before + 1);
  EXPECT_EQ(count("orgs_people"), people_before);
  EXPECT_EQ(count("orgs_activities"), activities_before);
  EXPECT_EQ(count("orgs_roles"), roles_before);
  EXPECT_EQ(org(class_b1_.id).name, "Class 2301");
  EXPECT_EQ(org(c.id).parent_id, college_a_.id);
  EXPECT_FALSE(org(college_b_.id).archived);
  // Within A an admin grants roles.
  ASSERT_OK(orgs_->grant_role(a_admin, class_a1_.id, someone.id, OrgRole::reviewer));
  EXPECT_EQ(count("orgs_roles"), roles_before + 1);
  EXPECT_ERROR(orgs_->grant_role(a_admin, class_a1_.id, 999'999, OrgRole::admin),
               "member_not_found");
  EXPECT_EQ(count("orgs_roles"), roles_before + 1);
}

TEST_P(OrgsTreeTest, ReviewersReadButDoNotWrite) {
  const auto reviewer = role_holder(college_a_.id, OrgRole::reviewer);
  ASSERT_OK(import(uni_admin_, class_a1_.id, {{"Li Lei", "S001", phone(1), "", ""}}));
  ASSERT_OK(orgs_->dashboard(reviewer, college_a_.id));
  ASSERT_OK(orgs_->dashboard(reviewer, class_a1_.id));
  auto people = orgs_->people(reviewer, college_a_.id, 10, "");
  ASSERT_OK(people);
  EXPECT_EQ(people->size(), 1U);
  ASSERT_OK(orgs_->get_org(reviewer, class_a1_.id));
  ASSERT_OK(orgs_->activities_of(reviewer, class_a1_.id));
  ASSERT_OK(orgs_->programmes(reviewer, college_a_.id));
  EXPECT_TRUE(*orgs_->has_role(reviewer, class_a1_.id, OrgRole::reviewer));
  EXPECT_FALSE(*orgs_->has_role(reviewer, class_a1_.id, OrgRole::admin));
  const auto orgs_before = count("orgs_orgs");
  const auto people_before = count("orgs_people");
  EXPECT_ERROR(try_org(reviewer, college_a_.id, OrgType::class_, "Class 2399"), "forbidden");
  EXPECT_ERROR(orgs_->rename_org(reviewer, class_a1_.id, "Renamed"), "forbidden");
  EXPECT_ERROR(orgs_->archive_org(reviewer, class_a1_.id), "forbidden");
  EXPECT_ERROR(import(reviewer, class_a1_.id, {{"Han Mei", "S002", phone(2), "", ""}}),
               "forbidden");
  EXPECT_ERROR(orgs_->create_activity(reviewer, activity_input(class_a1_.id)), "forbidden");
  orgs::ProgrammeInput p;
  p.org_id = college_a_.id;
  p.name = "Undergraduate 2026";
  p.enrolment_starts = *parse_date("2026-09-01");
  EXPECT_ERROR(orgs_->create_programme(reviewer, p), "forbidden");
  EXPECT_ERROR(orgs_->grant_role(reviewer, class_a1_.id, reviewer.member_id, OrgRole::admin),
               "forbidden");
  EXPECT_ERROR(orgs_->dashboard(reviewer, college_b_.id), "forbidden");
  EXPECT_EQ(count("orgs_orgs"), orgs_before);
  EXPECT_EQ(count("orgs_people"), people_before);
  EXPECT_EQ(count("orgs_activities"), 0);
  EXPECT_EQ(count("orgs_programmes"), 0);
  EXPECT_FALSE(org(class_a1_.id).archived);
}

TEST_P(OrgsTreeTest, RevokeEndsTheRole) {
  const auto a_admin = role_holder(college_a_.id);
  ASSERT_OK(orgs_->dashboard(a_admin, college_a_.id));
  // First-tier roles are the operator's to grant and revoke.
  EXPECT_ERROR(orgs_->revoke_role(uni_admin_, uni_.id, a_admin.member_id, OrgRole::admin),
               "forbidden");
  ASSERT_OK(orgs_->revoke_role(uni_admin_, college_a_.id, a_admin.member_id, OrgRole::admin));
  EXPECT_FALSE(*orgs_->has_role(a_admin, college_a_.id, OrgRole::admin));
  EXPECT_ERROR(orgs_->dashboard(a_admin, college_a_.id), "forbidden");
  EXPECT_ERROR(try_org(a_admin, college_a_.id, OrgType::class_, "Class 2399"), "forbidden");
  EXPECT_ERROR(orgs_->revoke_role(uni_admin_, college_a_.id, a_admin.member_id, OrgRole::admin),
               "role_not_found");
  // The operator revokes the university admin; that admin loses the whole tree.
  ASSERT_OK(orgs_->revoke_role(op_, uni_.id, uni_admin_.member_id, OrgRole::admin));
  EXPECT_ERROR(orgs_->dashboard(uni_admin_, class_a1_.id), "forbidden");
  EXPECT_EQ(count("orgs_roles"), 0);
  auto roots = orgs_->roots(uni_admin_);
  ASSERT_OK(roots);
  EXPECT_TRUE(roots->empty());
}

TEST_P(OrgsTreeTest, OperatorDoesEverything) {
  const auto c = must_org(op_, college_b_.id, OrgType::class_, "Class 2399");
  ASSERT_OK(orgs_->rename_org(op_, c.id, "Class 2398"));
  ASSERT_OK(orgs_->move_org(op_, c.id, college_a_.id));
  ASSERT_OK(import(op_, c.id, {{"Li Lei", "S001", phone(1), "", ""}}));
  ASSERT_OK(orgs_->create_activity(op_, activity_input(c.id)));
  ASSERT_OK(orgs_->dashboard(op_, uni_.id));
  ASSERT_OK(orgs_->grant_role(op_, c.id, new_member().id, OrgRole::reviewer));
  EXPECT_TRUE(*orgs_->has_role(op_, c.id, OrgRole::admin));
  ASSERT_OK(orgs_->archive_org(op_, c.id));
  EXPECT_TRUE(org(c.id).archived);
  EXPECT_EQ(org(c.id).parent_id, college_a_.id);
}

TEST_P(OrgsTreeTest, MembersSeeTheirOwnOrganisationsOnly) {
  const auto m = must_join(class_a1_.id, "S001");
  const orgs::Actor as_member{m.id, false};
  ASSERT_OK(orgs_->get_org(as_member, class_a1_.id));
  ASSERT_OK(orgs_->get_org(as_member, college_a_.id));
  ASSERT_OK(orgs_->get_org(as_member, uni_.id));
  EXPECT_ERROR(orgs_->get_org(as_member, class_a2_.id), "forbidden");
  EXPECT_ERROR(orgs_->get_org(as_member, college_b_.id), "forbidden");
  EXPECT_ERROR(orgs_->dashboard(as_member, class_a1_.id), "forbidden");
}

TANPU_INSTANTIATE_ENGINES(OrgsTreeTest);

// Organisations made before regions knew whether they were copied: the migration takes a child's
// region as copied when it equals its parent's.
class OrgsRegionMigrationTest : public MembersFixture {};

TEST_P(OrgsRegionMigrationTest, ARegionEqualToTheParentsIsTakenAsCopied) {
  const auto all = orgs::migrations();
  ASSERT_GE(all.size(), 4U);
  migrate_with(all.first(3));
  if (HasFatalFailure()) return;
  struct Row {
    std::int64_t id;
    std::optional<std::int64_t> parent;
    std::int64_t depth;
    std::string region, path;
    std::int64_t inherited_after;
  };
  // A root; a child with its region; a child with another; a grandchild with the latter's.
  const std::vector<Row> rows = {{1, std::nullopt, 1, "CN-LN", "/1/", 0},
                                 {2, 1, 2, "CN-LN", "/1/2/", 1},
                                 {3, 1, 2, "CN-LN-SHE", "/1/3/", 0},
                                 {4, 3, 3, "CN-LN-SHE", "/1/3/4/", 1}};
  {
    auto lease = db_->store().acquire();
    ASSERT_OK(lease);
    for (const Row& r : rows) {
      ASSERT_OK((*lease)->exec(
          "INSERT INTO orgs_orgs (id, parent_id, root_id, depth, type, name, region, path, "
          "depth_max, created_at_us) VALUES (?, ?, 1, ?, 'group', ?, ?, ?, 5, 0)",
          {r.id, store::nullable(r.parent), r.depth, std::string_view(r.path),
           std::string_view(r.region), std::string_view(r.path)}));
    }
  }
  migrate_with(all);
  if (HasFatalFailure()) return;
  auto lease = db_->store().acquire();
  ASSERT_OK(lease);
  auto got = (*lease)->query("SELECT id, region_inherited FROM orgs_orgs ORDER BY id");
  ASSERT_OK(got);
  ASSERT_EQ(got->size(), rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i)
    EXPECT_EQ(got->i64(i, 1), rows[i].inherited_after) << rows[i].id;
}

TANPU_INSTANTIATE_ENGINES(OrgsRegionMigrationTest);

}  // namespace
}  // namespace tanpu::test
