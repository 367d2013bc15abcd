// Activities on every engine: validation, sign-up by members of the subtree within capacity
// (also from many threads at once), and check-in with the rotating code: the current and the
// previous 30-second code work, older or foreign codes do not, one check-in per member, credited
// once to the member's ledger accounts and to the dashboards.
#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <thread>

#include "orgs/orgs_fixture.h"

namespace tanpu::test {
namespace {

using orgs::OrgType;

class OrgsActivitiesTest : public OrgsFixture {
 protected:
  void SetUp() override {
    OrgsFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    uni_ = must_org(op_, std::nullopt, OrgType::university, "Northeastern University");
    college_ = must_org(op_, uni_.id, OrgType::college, "College of Energy");
    class1_ = must_org(op_, college_.id, OrgType::class_, "Class 1");
    class2_ = must_org(op_, college_.id, OrgType::class_, "Class 2");
    admin_ = role_holder(class1_.id);
  }

  orgs::Activity must_activity(const orgs::ActivityInput& in) {
    auto a = orgs_->create_activity(admin_, in);
    EXPECT_TRUE(a.has_value()) << (a ? "" : a.error().code);
    return a ? *a : orgs::Activity{};
  }

  std::string code_now(std::int64_t activity_id) {
    auto c = orgs_->checkin_code(admin_, activity_id);
    EXPECT_TRUE(c.has_value()) << (c ? "" : c.error().code);
    return c ? c->code : std::string();
  }

  // Moves the clock to one second after the start of the next 30-second step.
  void align_to_step() {
    const std::int64_t into = clock_.now_us() % orgs::kCheckinStepUs;
    clock_.advance_us(orgs::kCheckinStepUs - into + 1'000'000);
  }

  std::int64_t balance(std::int64_t account_id) {
    auto a = ledger_->lookup_account(account_id);
    EXPECT_TRUE(a.has_value());
    return a ? a->credits_posted - a->debits_posted : -1;
  }

  orgs::Org uni_, college_, class1_, class2_;
  orgs::Actor admin_;
};

TEST_P(OrgsActivitiesTest, CreateValidation) {
  auto in = activity_input(class1_.id);
  in.title = "";
  EXPECT_ERROR(orgs_->create_activity(admin_, in), "title_required");
  in = activity_input(class1_.id);
  in.title = std::string(121, 't');
  EXPECT_ERROR(orgs_->create_activity(admin_, in), "title_too_long");
  in = activity_input(class1_.id);
  in.ends_at_us = in.starts_at_us;
  EXPECT_ERROR(orgs_->create_activity(admin_, in), "invalid_window");
  in = activity_input(class1_.id);
  in.ends_at_us = in.starts_at_us + 31 * kDayUs + 1;
  EXPECT_ERROR(orgs_->create_activity(admin_, in), "invalid_window");
  in = activity_input(class1_.id);
  in.starts_at_us = clock_.now_us() - 3 * kHourUs;
  in.ends_at_us = clock_.now_us();  // over already
  EXPECT_ERROR(orgs_->create_activity(admin_, in), "invalid_window");
  in = activity_input(class1_.id, 0);
  EXPECT_ERROR(orgs_->create_activity(admin_, in), "invalid_capacity");
  in = activity_input(class1_.id, orgs::kActivityCapacityMax + 1);
  EXPECT_ERROR(orgs_->create_activity(admin_, in), "invalid_capacity");
  in = activity_input(class1_.id);
  in.points_per_checkin = -1;
  EXPECT_ERROR(orgs_->create_activity(admin_, in), "invalid_points");
  in.points_per_checkin = orgs::kActivityPointsMax + 1;
  EXPECT_ERROR(orgs_->create_activity(admin_, in), "invalid_points");
  in = activity_input(class1_.id);
  in.reduction_mg_per_checkin = -1;
  EXPECT_ERROR(orgs_->create_activity(admin_, in), "invalid_reduction");
  in = activity_input(class1_.id);
  in.scenario = "Tree Planting";
  EXPECT_ERROR(orgs_->create_activity(admin_, in), "invalid_scenario");
  EXPECT_ERROR(orgs_->create_activity(admin_, activity_input(class2_.id)), "forbidden");
  EXPECT_ERROR(orgs_->create_activity(admin_, activity_input(999'999)), "org_not_found");
  EXPECT_EQ(count("orgs_activities"), 0);
  // The limits themselves are fine.
  in = activity_input(class1_.id, orgs::kActivityCapacityMax);
  in.points_per_checkin = orgs::kActivityPointsMax;
  in.ends_at_us = in.starts_at_us + 31 * kDayUs;
  const auto a = must_activity(in);
  EXPECT_EQ(a.capacity, orgs::kActivityCapacityMax);
  EXPECT_EQ(a.signed_up, 0);
  EXPECT_EQ(a.created_by, admin_.member_id);
  EXPECT_EQ(count("orgs_activities"), 1);
}

TEST_P(OrgsActivitiesTest, SignUpOnlyForMembersOfTheSubtree) {
  const auto in_class1 = must_join(class1_.id, "S001");
  const auto in_class2 = must_join(class2_.id, "S002");
  const auto at_college = must_join(college_.id, "S003");
  const auto outsider = new_member();
  const auto a = must_activity(activity_input(class1_.id));
  auto college_activity = orgs_->create_activity(op_, activity_input(college_.id));
  ASSERT_OK(college_activity);
  EXPECT_ERROR(orgs_->sign_up(in_class2.id, a.id), "not_a_member");
  EXPECT_ERROR(orgs_->sign_up(at_college.id, a.id), "not_a_member");  // above, not inside
  EXPECT_ERROR(orgs_->sign_up(outsider.id, a.id), "not_a_member");
  EXPECT_ERROR(orgs_->sign_up(in_class1.id, 999'999), "activity_not_found");
  EXPECT_EQ(count("orgs_signups"), 0);
  EXPECT_EQ(orgs_->get_activity(a.id)->signed_up, 0);
  auto s = orgs_->sign_up(in_class1.id, a.id);
  ASSERT_OK(s);
  EXPECT_EQ(s->signed_up, 1);
  EXPECT_ERROR(orgs_->sign_up(in_class1.id, a.id), "already_signed_up");
  EXPECT_EQ(orgs_->get_activity(a.id)->signed_up, 1);
  // Everyone in the college may join the college's activity.
  ASSERT_OK(orgs_->sign_up(in_class1.id, college_activity->id));
  ASSERT_OK(orgs_->sign_up(in_class2.id, college_activity->id));
  ASSERT_OK(orgs_->sign_up(at_college.id, college_activity->id));
  EXPECT_EQ(orgs_->get_activity(college_activity->id)->signed_up, 3);
  EXPECT_EQ(count("orgs_signups"), 4);
  // What each member sees: their organisations' and their ancestors' activities.
  auto for_class1 = orgs_->activities_for(in_class1.id);
  ASSERT_OK(for_class1);
  EXPECT_EQ(for_class1->size(), 2U);
  auto for_class2 = orgs_->activities_for(in_class2.id);
  ASSERT_OK(for_class2);
  ASSERT_EQ(for_class2->size(), 1U);
  EXPECT_EQ(for_class2->front().id, college_activity->id);
  EXPECT_TRUE(orgs_->activities_for(outsider.id)->empty());
  auto listed = orgs_->activities_of(admin_, class1_.id);
  ASSERT_OK(listed);
  ASSERT_EQ(listed->size(), 1U);
  EXPECT_EQ(listed->front().id, a.id);
}

TEST_P(OrgsActivitiesTest, CapacityAndEnd) {
  const auto m1 = must_join(class1_.id, "S001");
  const auto m2 = must_join(class1_.id, "S002");
  const auto a = must_activity(activity_input(class1_.id, 1));
  ASSERT_OK(orgs_->sign_up(m1.id, a.id));
  EXPECT_ERROR(orgs_->sign_up(m2.id, a.id), "activity_full");
  EXPECT_EQ(orgs_->get_activity(a.id)->signed_up, 1);
  EXPECT_EQ(count("orgs_signups"), 1);
  const auto b = must_activity(activity_input(class1_.id, 5));
  clock_.advance_us(2 * kHourUs);  // b ends now
  EXPECT_ERROR(orgs_->sign_up(m2.id, b.id), "activity_ended");
  EXPECT_EQ(orgs_->get_activity(b.id)->signed_up, 0);
  EXPECT_EQ(count("orgs_signups"), 1);
  EXPECT_TRUE(orgs_->activities_for(m2.id)->empty());  // both over
}

TEST_P(OrgsActivitiesTest, ConcurrentSignUpsNeverOverfill) {
  constexpr int kMembers = 16;
  constexpr std::int64_t kCapacity = 5;
  std::vector<std::int64_t> ids;
  for (int i = 0; i < kMembers; ++i)
    ids.push_back(must_join(class1_.id, "S" + std::to_string(i)).id);
  const auto a = must_activity(activity_input(class1_.id, kCapacity));
  std::atomic<int> ok{0}, full{0}, other{0};
  std::vector<std::thread> threads;
  for (const auto id : ids)
    threads.emplace_back([&, id] {
      auto r = orgs_->sign_up(id, a.id);
      if (r)
        ++ok;
      else if (r.error().code == "activity_full")
        ++full;
      else
        ++other;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kCapacity);
  EXPECT_EQ(full.load(), kMembers - kCapacity);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(orgs_->get_activity(a.id)->signed_up, kCapacity);
  EXPECT_EQ(count("orgs_signups"), kCapacity);
}

TEST_P(OrgsActivitiesTest, CheckInWithTheRotatingCode) {
  std::vector<members::MemberView> m;
  for (int i = 0; i < 5; ++i) m.push_back(must_join(class1_.id, "S00" + std::to_string(i)));
  const auto a = must_activity(activity_input(class1_.id));
  const auto other = must_activity(activity_input(class1_.id));
  for (int i = 0; i < 4; ++i) ASSERT_OK(orgs_->sign_up(m[static_cast<std::size_t>(i)].id, a.id));
  ASSERT_OK(orgs_->sign_up(m[3].id, other.id));
  align_to_step();
  auto shown = orgs_->checkin_code(admin_, a.id);
  ASSERT_OK(shown);
  const std::string code0 = shown->code;
  EXPECT_EQ(code0.size(), orgs::kCheckinCodeChars);
  EXPECT_EQ(shown->qr_text, "tanpu:checkin:v1:" + std::to_string(a.id) + ":" + code0);
  EXPECT_EQ(shown->valid_until_us,
            (clock_.now_us() / orgs::kCheckinStepUs + 1) * orgs::kCheckinStepUs);
  EXPECT_ERROR(orgs_->checkin_code(orgs::Actor{m[0].id, false}, a.id), "forbidden");
  // The current code.
  auto c0 = orgs_->check_in(m[0].id, a.id, code0);
  ASSERT_OK(c0);
  EXPECT_EQ(c0->points, 50);
  EXPECT_EQ(c0->reduction_mg, 2'500'000);
  EXPECT_EQ(c0->checked_in_at_us, clock_.now_us());
  // Lower case works too.
  std::string lower = code0;
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  // The previous step's code, 30 s later.
  clock_.advance_us(orgs::kCheckinStepUs);
  EXPECT_NE(code_now(a.id), code0);
  ASSERT_OK(orgs_->check_in(m[1].id, a.id, lower));
  // Two steps old: refused.
  clock_.advance_us(orgs::kCheckinStepUs);
  const auto before = count("orgs_rollup_total");
  EXPECT_ERROR(orgs_->check_in(m[2].id, a.id, code0), "invalid_code");
  // Another activity's current code, and a mistyped one.
  EXPECT_ERROR(orgs_->check_in(m[2].id, a.id, code_now(other.id)), "invalid_code");
  EXPECT_ERROR(orgs_->check_in(m[2].id, a.id, "00000000"), "invalid_code");
  EXPECT_ERROR(orgs_->check_in(m[2].id, a.id, ""), "invalid_code");
  // Not signed up.
  EXPECT_ERROR(orgs_->check_in(m[4].id, a.id, code_now(a.id)), "not_signed_up");
  EXPECT_EQ(balance(m[2].points_account_id), 0);
  EXPECT_EQ(balance(m[4].points_account_id), 0);
  EXPECT_EQ(count("orgs_rollup_total"), before);
  ASSERT_OK(orgs_->check_in(m[2].id, a.id, code_now(a.id)));
  // Twice: refused, credited once.
  EXPECT_ERROR(orgs_->check_in(m[0].id, a.id, code_now(a.id)), "already_checked_in");
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(balance(m[i].points_account_id), 50) << i;
    EXPECT_EQ(balance(m[i].co2e_account_id), 2'500'000) << i;
  }
  EXPECT_EQ(balance(m[3].points_account_id), 0);
  EXPECT_EQ(orgs_->get_activity(a.id)->checked_in, 3);
  // The dashboards of the class and everything above count the three check-ins.
  for (const auto org : {class1_.id, college_.id, uni_.id}) {
    auto d = orgs_->dashboard(op_, org);
    ASSERT_OK(d);
    EXPECT_EQ(d->records, 3) << org;
    EXPECT_EQ(d->reduction_mg, 7'500'000) << org;
    EXPECT_EQ(d->points, 150) << org;
    ASSERT_EQ(d->scenarios.size(), 1U);
    EXPECT_EQ(d->scenarios[0].scenario, "activity");
    EXPECT_EQ(d->scenarios[0].records, 3);
    EXPECT_DOUBLE_EQ(d->scenarios[0].count_share, 1.0);
    ASSERT_EQ(d->trend.size(), 30U);
    EXPECT_EQ(d->trend.back().day, today());
    EXPECT_EQ(d->trend.back().records, 3);
    EXPECT_EQ(d->active_7d, 3);
    EXPECT_EQ(d->members, 5);
  }
  EXPECT_EQ(orgs_->dashboard(op_, class2_.id)->records, 0);
  // Outside the window: after the end.
  clock_.advance_us(3 * kHourUs);
  EXPECT_ERROR(orgs_->check_in(m[3].id, a.id, code_now(a.id)), "outside_window");
  EXPECT_EQ(balance(m[3].points_account_id), 0);
}

TEST_P(OrgsActivitiesTest, ArchivingTheOrganisationClosesItsRunningActivities) {
  const auto m1 = must_join(class1_.id, "S001");
  const auto m2 = must_join(class1_.id, "S002");
  const auto a = must_activity(activity_input(class1_.id));
  ASSERT_OK(orgs_->sign_up(m1.id, a.id));
  ASSERT_OK(orgs_->sign_up(m2.id, a.id));
  align_to_step();
  const std::string code = code_now(a.id);
  ASSERT_OK(orgs_->check_in(m1.id, a.id, code));
  // The college above the class is archived while the activity runs: no more check-ins.
  ASSERT_OK(orgs_->archive_org(op_, college_.id));
  const auto before = count("orgs_rollup_total");
  EXPECT_ERROR(orgs_->check_in(m2.id, a.id, code), "org_archived");
  EXPECT_EQ(balance(m2.points_account_id), 0);
  EXPECT_EQ(orgs_->get_activity(a.id)->checked_in, 1);
  EXPECT_EQ(count("orgs_rollup_total"), before);
  // What was credited before stays.
  EXPECT_EQ(balance(m1.points_account_id), 50);
}

TEST_P(OrgsActivitiesTest, CheckInBeforeTheStartIsOutsideTheWindow) {
  const auto m = must_join(class1_.id, "S001");
  auto in = activity_input(class1_.id);
  in.starts_at_us = clock_.now_us() + kDayUs;
  in.ends_at_us = in.starts_at_us + kHourUs;
  const auto a = must_activity(in);
  ASSERT_OK(orgs_->sign_up(m.id, a.id));
  EXPECT_ERROR(orgs_->check_in(m.id, a.id, code_now(a.id)), "outside_window");
  EXPECT_EQ(orgs_->get_activity(a.id)->checked_in, 0);
  clock_.advance_us(kDayUs + kMinuteUs);
  ASSERT_OK(orgs_->check_in(m.id, a.id, code_now(a.id)));
  EXPECT_EQ(balance(m.points_account_id), 50);
}

TEST_P(OrgsActivitiesTest, CheckinCodesDependOnSecretActivityAndStep) {
  const std::vector<std::uint8_t> secret(32, 7), other(32, 8);
  const auto c = orgs::checkin_code_at(secret, 1, 100);
  EXPECT_EQ(c.size(), orgs::kCheckinCodeChars);
  EXPECT_EQ(c, orgs::checkin_code_at(secret, 1, 100));
  EXPECT_NE(c, orgs::checkin_code_at(secret, 1, 101));
  EXPECT_NE(c, orgs::checkin_code_at(secret, 2, 100));
  EXPECT_NE(c, orgs::checkin_code_at(other, 1, 100));
  for (const char ch : c) EXPECT_EQ(std::string_view("ILOU").find(ch), std::string_view::npos);
}

TANPU_INSTANTIATE_ENGINES(OrgsActivitiesTest);

}  // namespace
}  // namespace tanpu::test
