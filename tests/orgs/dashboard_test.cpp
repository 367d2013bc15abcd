// Dashboards and rollups on every engine: random credits (fixed seed) over 60 days and several
// scenarios for members across two trees, a class moved to another college midway, and every
// organisation's dashboard checked against a brute-force recomputation from the credits.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>
#include <random>
#include <set>

#include "orgs/orgs_fixture.h"

namespace tanpu::test {
namespace {

using orgs::OrgType;

// What the test knows independently of the module.
struct Model {
  std::map<std::int64_t, std::int64_t> parent;                // org -> parent (0: first tier)
  std::map<std::int64_t, std::string> name;                   // org -> name
  std::map<std::int64_t, std::vector<std::int64_t>> orgs_of;  // member -> org of each membership
  std::map<std::pair<std::int64_t, std::int64_t>, std::string> person_name;  // (member, root)
  std::vector<std::int64_t> imported_at;   // the org of every person on a roster
  std::vector<std::int64_t> activated_at;  // the org of every activated person
  std::set<std::int64_t> hidden;
  std::vector<orgs::Credit> credits;

  std::int64_t root_of(std::int64_t org) const {
    while (parent.at(org) != 0) org = parent.at(org);
    return org;
  }
  bool within(std::int64_t org, std::int64_t top) const {
    for (; org != 0; org = parent.at(org))
      if (org == top) return true;
    return false;
  }
};

struct MemberSums {
  std::int64_t records = 0, reduction_mg = 0, points = 0;
  Day last_day = -1;
};

std::string hidden_form(const std::string& name) {
  const auto lead = static_cast<unsigned char>(name[0]);
  const std::size_t n = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  return name.substr(0, n) + "*";
}

class OrgsDashboardTest : public OrgsFixture {
 protected:
  orgs::Org add(std::optional<std::int64_t> parent, OrgType type, const std::string& name) {
    const auto o = must_org(op_, parent, type, name);
    model_.parent[o.id] = parent.value_or(0);
    model_.name[o.id] = name;
    return o;
  }

  // Imports a person into org (through its root) and, if `activate`, activates them as member
  // (a new member when member_id is 0). Returns the member id (0 if not activated).
  std::int64_t person(std::int64_t org, const std::string& name, bool activate,
                      std::int64_t member_id = 0) {
    const std::int64_t root = model_.root_of(org);
    std::string path;
    for (std::int64_t o = org; o != root; o = model_.parent.at(o))
      path = model_.name.at(o) + (path.empty() ? "" : "/" + path);
    const std::string number = "N" + std::to_string(++numbers_);
    const auto code = must_import_one(root, number, name, path);
    model_.imported_at.push_back(org);
    if (!activate) return 0;
    if (member_id == 0) member_id = new_member().id;
    auto p = orgs_->activate(member_id, code);
    EXPECT_TRUE(p.has_value()) << (p ? "" : p.error().code);
    EXPECT_EQ(p ? p->org_id : 0, org);
    model_.activated_at.push_back(org);
    model_.orgs_of[member_id].push_back(org);
    model_.person_name[{member_id, root}] = name;
    return member_id;
  }

  void check_dashboard(std::int64_t org_id, const std::map<std::int64_t, MemberSums>& sums) {
    SCOPED_TRACE("dashboard of " + model_.name.at(org_id));
    auto d = orgs_->dashboard(op_, org_id);
    ASSERT_OK(d);
    const Day now = today();
    EXPECT_EQ(d->today, now);
    EXPECT_EQ(d->org.id, org_id);
    // Roster.
    const auto in_subtree = [&](std::int64_t org) { return model_.within(org, org_id); };
    const auto imported =
        std::count_if(model_.imported_at.begin(), model_.imported_at.end(), in_subtree);
    const auto activated =
        std::count_if(model_.activated_at.begin(), model_.activated_at.end(), in_subtree);
    EXPECT_EQ(d->imported, imported);
    EXPECT_EQ(d->activated, activated);
    EXPECT_DOUBLE_EQ(
        d->registration_rate,
        imported == 0 ? 0.0 : static_cast<double>(activated) / static_cast<double>(imported));
    // Members of the subtree and their running totals.
    std::vector<std::int64_t> members;
    for (const auto& [m, orgs] : model_.orgs_of)
      for (const auto o : orgs)
        if (in_subtree(o)) members.push_back(m);
    const auto sums_of = [&](std::int64_t m) {
      const auto it = sums.find(m);
      return it == sums.end() ? MemberSums{} : it->second;
    };
    EXPECT_EQ(d->members, static_cast<std::int64_t>(members.size()));
    std::int64_t active7 = 0, active30 = 0;
    std::array<std::int64_t, 5> levels{};
    for (const auto m : members) {
      const auto s = sums_of(m);
      if (s.last_day > now - 7) ++active7;
      if (s.last_day > now - 30) ++active30;
      ++levels[static_cast<std::size_t>(orgs::level_for(s.reduction_mg))];
    }
    EXPECT_EQ(d->active_7d, active7);
    EXPECT_EQ(d->active_30d, active30);
    ASSERT_EQ(d->levels.size(), 5U);
    for (std::size_t l = 0; l < 5; ++l) {
      EXPECT_EQ(d->levels[l].level, static_cast<std::int32_t>(l));
      EXPECT_EQ(d->levels[l].title, orgs::level_title(static_cast<std::int32_t>(l)));
      EXPECT_EQ(d->levels[l].members, levels[l]) << "level " << l;
    }
    // Totals, scenarios and the trend from the credits of the subtree's members.
    const std::set<std::int64_t> member_set(members.begin(), members.end());
    MemberSums total;
    std::map<std::string, std::pair<std::int64_t, std::int64_t>> scenarios;
    std::map<Day, MemberSums> days;
    for (const auto& k : model_.credits) {
      if (!member_set.contains(k.member_id)) continue;
      ++total.records;
      total.reduction_mg += k.reduction_mg;
      total.points += k.points;
      auto& sc = scenarios[k.scenario];
      ++sc.first;
      sc.second += k.reduction_mg;
      auto& day = days[k.day];
      ++day.records;
      day.reduction_mg += k.reduction_mg;
      day.points += k.points;
    }
    EXPECT_EQ(d->records, total.records);
    EXPECT_EQ(d->reduction_mg, total.reduction_mg);
    EXPECT_EQ(d->points, total.points);
    std::vector<orgs::ScenarioShare> want_sc;
    for (const auto& [name, rs] : scenarios)
      want_sc.push_back({name, rs.first, rs.second,
                         static_cast<double>(rs.first) / static_cast<double>(total.records),
                         total.reduction_mg == 0 ? 0.0
                                                 : static_cast<double>(rs.second) /
                                                       static_cast<double>(total.reduction_mg)});
    std::sort(want_sc.begin(), want_sc.end(), [](const auto& a, const auto& b) {
      return a.reduction_mg != b.reduction_mg ? a.reduction_mg > b.reduction_mg
                                              : a.scenario < b.scenario;
    });
    ASSERT_EQ(d->scenarios.size(), want_sc.size());
    for (std::size_t i = 0; i < want_sc.size(); ++i) {
      EXPECT_EQ(d->scenarios[i].scenario, want_sc[i].scenario) << i;
      EXPECT_EQ(d->scenarios[i].records, want_sc[i].records) << i;
      EXPECT_EQ(d->scenarios[i].reduction_mg, want_sc[i].reduction_mg) << i;
      EXPECT_DOUBLE_EQ(d->scenarios[i].count_share, want_sc[i].count_share) << i;
      EXPECT_DOUBLE_EQ(d->scenarios[i].volume_share, want_sc[i].volume_share) << i;
    }
    ASSERT_EQ(d->trend.size(), 30U);
    for (std::size_t i = 0; i < 30; ++i) {
      const Day day = now - 29 + static_cast<Day>(i);
      const auto it = days.find(day);
      const MemberSums want = it == days.end() ? MemberSums{} : it->second;
      EXPECT_EQ(d->trend[i].day, day);
      EXPECT_EQ(d->trend[i].records, want.records) << format_date(day);
      EXPECT_EQ(d->trend[i].reduction_mg, want.reduction_mg) << format_date(day);
      EXPECT_EQ(d->trend[i].points, want.points) << format_date(day);
    }
    check_children(*d, org_id, sums);
    check_top(*d, members, sums);
  }

  void check_children(const orgs::Dashboard& d, std::int64_t org_id,
                      const std::map<std::int64_t, MemberSums>& sums) {
    std::vector<orgs::ChildRank> want;
    for (const auto& [child, parent] : model_.parent) {
      if (parent != org_id) continue;
      orgs::ChildRank r{child, model_.name.at(child), 0, 0, 0, 0};
      for (const auto& [m, orgs] : model_.orgs_of)
        for (const auto o : orgs)
          if (model_.within(o, child)) {
            ++r.members;
            const auto it = sums.find(m);
            if (it == sums.end()) continue;
            r.records += it->second.records;
            r.reduction_mg += it->second.reduction_mg;
            r.points += it->second.points;
          }
      want.push_back(r);
    }
    std::sort(want.begin(), want.end(), [](const auto& a, const auto& b) {
      return a.reduction_mg != b.reduction_mg ? a.reduction_mg > b.reduction_mg : a.name < b.name;
    });
    ASSERT_EQ(d.children.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(d.children[i].org_id, want[i].org_id) << i;
      EXPECT_EQ(d.children[i].name, want[i].name) << i;
      EXPECT_EQ(d.children[i].members, want[i].members) << i;
      EXPECT_EQ(d.children[i].records, want[i].records) << i;
      EXPECT_EQ(d.children[i].reduction_mg, want[i].reduction_mg) << i;
      EXPECT_EQ(d.children[i].points, want[i].points) << i;
    }
  }

  void check_top(const orgs::Dashboard& d, std::vector<std::int64_t> members,
                 const std::map<std::int64_t, MemberSums>& sums) {
    const auto reduction = [&](std::int64_t m) {
      const auto it = sums.find(m);
      return it == sums.end() ? 0 : it->second.reduction_mg;
    };
    std::sort(members.begin(), members.end(), [&](std::int64_t a, std::int64_t b) {
      return reduction(a) != reduction(b) ? reduction(a) > reduction(b) : a < b;
    });
    if (members.size() > 10) members.resize(10);
    ASSERT_EQ(d.top_members.size(), members.size());
    const std::int64_t root = model_.root_of(d.org.id);
    for (std::size_t i = 0; i < members.size(); ++i) {
      const auto m = members[i];
      const auto& t = d.top_members[i];
      const auto it = sums.find(m);
      const MemberSums s = it == sums.end() ? MemberSums{} : it->second;
      EXPECT_EQ(t.member_id, m) << i;
      EXPECT_EQ(t.reduction_mg, s.reduction_mg) << i;
      EXPECT_EQ(t.records, s.records) << i;
      EXPECT_EQ(t.level, orgs::level_for(s.reduction_mg)) << i;
      const std::string& name = model_.person_name.at({m, root});
      EXPECT_EQ(t.name, model_.hidden.contains(m) ? hidden_form(name) : name) << i;
      std::vector<std::string> badges;
      if (s.records >= 1) badges.emplace_back("first_step");
      if (s.records >= 100) badges.emplace_back("hundred_actions");
      if (s.reduction_mg >= 100'000'000) badges.emplace_back("hundred_kg");
      if (s.reduction_mg >= 1'000'000'000) badges.emplace_back("one_tonne");
      EXPECT_EQ(t.badges, badges) << i;
    }
  }

  Model model_;
  int numbers_ = 0;
};

TEST_P(OrgsDashboardTest, RandomCreditsMatchABruteForceRecomputation) {
  // Tree 1: a university, three colleges, five classes. Tree 2: an enterprise.
  const auto uni = add(std::nullopt, OrgType::university, "Northeastern University");
  std::vector<orgs::Org> colleges, classes;
  for (int c = 0; c < 3; ++c)
    colleges.push_back(add(uni.id, OrgType::college, "College " + std::to_string(c)));
  for (int c = 0; c < 3; ++c)
    for (int k = 0; k < (c == 2 ? 1 : 2); ++k)
      classes.push_back(add(colleges[static_cast<std::size_t>(c)].id, OrgType::class_,
                            "Class " + std::to_string(c) + std::to_string(k)));
  const auto acme = add(std::nullopt, OrgType::enterprise, "ACME");
  const auto dept = add(acme.id, OrgType::department, "Engineering");
  const auto team = add(dept.id, OrgType::team, "Platform");

  std::mt19937_64 rng(20261118);
  const auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  const std::vector<std::string> names{"张伟", "王芳", "Li Lei", "Han Mei", "Wu Tao", "刘洋"};
  std::vector<std::int64_t> active;
  for (int i = 0; i < 30; ++i) {
    // Mostly in classes, some directly in a college or the university.
    std::int64_t org = classes[pick(classes.size())].id;
    if (i % 7 == 3) org = colleges[pick(colleges.size())].id;
    if (i == 11) org = uni.id;
    const std::string name = names[pick(names.size())] + std::to_string(i);
    active.push_back(person(org, name, true));
  }
  for (int i = 0; i < 4; ++i) person(classes[pick(classes.size())].id, "Absent", false);
  for (int i = 0; i < 3; ++i) active.push_back(person(i == 0 ? dept.id : team.id, "工程师", true));
  person(team.id, "Absent", false);
  // Two university members also belong to ACME.
  person(team.id, "Shared One", true, active[0]);
  person(dept.id, "Shared Two", true, active[5]);
  // Names hidden: first character and '*'.
  for (const std::size_t i : {std::size_t{0}, std::size_t{2}, std::size_t{7}, std::size_t{31}}) {
    ASSERT_OK(orgs_->set_name_hidden(active[i], true));
    model_.hidden.insert(active[i]);
  }
  ASSERT_OK(orgs_->set_name_hidden(active[7], false));
  model_.hidden.erase(active[7]);
  const auto outsider = new_member();  // credits of a member of no organisation count nowhere
  // Quiet members: one without any credit (a seedling, never active), one with a single small
  // credit ten days ago (a sprout, active in 30 days but not in 7).
  person(classes[0].id, "Quiet Zero", true);
  const auto quiet = person(colleges[2].id, "Quiet One", true);

  const Day today0 = today();
  const std::vector<orgs::Credit> quiet_credit{{quiet, today0 - 10, "cycling", 2'000'000, 5}};
  record(quiet_credit);
  model_.credits.push_back(quiet_credit.front());
  const std::vector<std::string> scenarios{"transit", "cycling", "activity", "recycling"};
  constexpr int kCredits = 600;
  for (int i = 0; i < kCredits;) {
    std::vector<orgs::Credit> batch;
    const int size = 1 + static_cast<int>(pick(12));
    for (int j = 0; j < size && i < kCredits; ++j, ++i) {
      orgs::Credit k;
      k.member_id = pick(40) == 0 ? outsider.id : active[pick(active.size())];
      k.day = today0 - static_cast<Day>(pick(60));
      k.scenario = scenarios[pick(scenarios.size())];
      k.reduction_mg = static_cast<std::int64_t>(pick(3'000'000));
      if (pick(25) == 0) k.reduction_mg = static_cast<std::int64_t>(pick(400'000'000));
      k.points = static_cast<std::int64_t>(pick(200));
      batch.push_back(k);
    }
    if (const int n = static_cast<int>(batch.size()); i >= kCredits / 2 && i - n < kCredits / 2) {
      // One member reaches the forest level.
      batch.push_back({active[3], today0 - 1, "activity", 1'200'000'000, 10});
      // Midway: class 01 moves from college 0 to college 1, with its history.
      record(batch);
      model_.credits.insert(model_.credits.end(), batch.begin(), batch.end());
      auto moved = orgs_->move_org(op_, classes[1].id, colleges[1].id);
      ASSERT_OK(moved);
      model_.parent[classes[1].id] = colleges[1].id;
      continue;
    }
    record(batch);
    model_.credits.insert(model_.credits.end(), batch.begin(), batch.end());
  }
  // Three days pass: the newest days of the trend are empty, some members are no longer active.
  clock_.advance_us(3 * kDayUs);
  ASSERT_EQ(today(), today0 + 3);

  std::map<std::int64_t, MemberSums> sums;
  for (const auto& k : model_.credits) {
    if (!model_.orgs_of.contains(k.member_id)) continue;
    auto& s = sums[k.member_id];
    ++s.records;
    s.reduction_mg += k.reduction_mg;
    s.points += k.points;
    s.last_day = std::max(s.last_day, k.day);
  }
  // The scenario is not trivial: the moved class has members with credits, some member is at
  // each level, some credits are older than the trend and some members inactive for a week.
  std::int64_t moved_records = 0;
  std::set<std::int32_t> levels_seen;
  for (const auto& [m, orgs] : model_.orgs_of) {
    const auto it = sums.find(m);
    const MemberSums s = it == sums.end() ? MemberSums{} : it->second;
    if (model_.within(orgs.front(), classes[1].id)) moved_records += s.records;
    levels_seen.insert(orgs::level_for(s.reduction_mg));
  }
  EXPECT_GT(moved_records, 0);
  EXPECT_EQ(levels_seen.size(), 5U);
  EXPECT_TRUE(std::any_of(model_.credits.begin(), model_.credits.end(),
                          [&](const orgs::Credit& k) { return k.day < today() - 29; }));
  EXPECT_TRUE(std::any_of(sums.begin(), sums.end(),
                          [&](const auto& e) { return e.second.last_day <= today() - 7; }));
  for (const auto& [org, unused] : model_.parent) check_dashboard(org, sums);
  // Nothing else changed the ledger: rollups are not postings.
  EXPECT_EQ(ledger_->lookup_account(outsider.points_account_id)->credits_posted, 0);
}

TEST_P(OrgsDashboardTest, EmptyDashboardHasThirtyZeroDaysAndFiveLevels) {
  const auto uni = add(std::nullopt, OrgType::university, "Empty University");
  auto d = orgs_->dashboard(op_, uni.id);
  ASSERT_OK(d);
  EXPECT_EQ(d->members, 0);
  EXPECT_EQ(d->records, 0);
  EXPECT_DOUBLE_EQ(d->registration_rate, 0.0);
  EXPECT_TRUE(d->scenarios.empty());
  EXPECT_TRUE(d->children.empty());
  EXPECT_TRUE(d->top_members.empty());
  ASSERT_EQ(d->trend.size(), 30U);
  EXPECT_EQ(d->trend.front().day, today() - 29);
  for (const auto& p : d->trend) EXPECT_EQ(p.records, 0);
  ASSERT_EQ(d->levels.size(), 5U);
  for (const auto& l : d->levels) EXPECT_EQ(l.members, 0);
  EXPECT_ERROR(orgs_->dashboard(op_, 999'999), "org_not_found");
}

TEST_P(OrgsDashboardTest, HiddenNamesShowTheFirstCharacterOnly) {
  const auto uni = add(std::nullopt, OrgType::university, "Northeastern University");
  const auto zhang = person(uni.id, "张伟", true);
  const auto li = person(uni.id, "Li Lei", true);
  const auto wang = person(uni.id, "王芳", true);
  record({{zhang, today(), "transit", 3'000, 1},
          {li, today(), "transit", 2'000, 1},
          {wang, today(), "transit", 1'000, 1}});
  ASSERT_OK(orgs_->set_name_hidden(zhang, true));
  ASSERT_OK(orgs_->set_name_hidden(li, true));
  auto d = orgs_->dashboard(op_, uni.id);
  ASSERT_OK(d);
  ASSERT_EQ(d->top_members.size(), 3U);
  EXPECT_EQ(d->top_members[0].name, "张*");
  EXPECT_EQ(d->top_members[1].name, "L*");
  EXPECT_EQ(d->top_members[2].name, "王芳");
  ASSERT_OK(orgs_->set_name_hidden(zhang, false));
  d = orgs_->dashboard(op_, uni.id);
  ASSERT_OK(d);
  EXPECT_EQ(d->top_members[0].name, "张伟");
}

TEST_P(OrgsDashboardTest, LevelsByLifetimeReduction) {
  EXPECT_EQ(orgs::level_for(0), 0);
  EXPECT_EQ(orgs::level_for(999'999), 0);
  EXPECT_EQ(orgs::level_for(1'000'000), 1);
  EXPECT_EQ(orgs::level_for(10'000'000), 2);
  EXPECT_EQ(orgs::level_for(99'999'999), 2);
  EXPECT_EQ(orgs::level_for(100'000'000), 3);
  EXPECT_EQ(orgs::level_for(1'000'000'000), 4);
  EXPECT_EQ(orgs::level_title(0), "seedling");
  EXPECT_EQ(orgs::level_title(4), "forest");
}

TANPU_INSTANTIATE_ENGINES(OrgsDashboardTest);

}  // namespace
}  // namespace tanpu::test
