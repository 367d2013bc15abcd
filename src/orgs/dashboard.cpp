// Rollups written with the postings, and the dashboard of an organisation read from them: never
// a scan of raw behaviour records (docs/organisations.md, "Dashboards").
#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "orgs/internal.h"

namespace tanpu::orgs {

using detail::forbidden;

namespace {

constexpr std::array<std::int64_t, 5> kLevelFloorsMg{0, 1'000'000, 10'000'000, 100'000'000,
                                                     1'000'000'000};
constexpr std::array<std::string_view, 5> kLevelTitles{"seedling", "sprout", "sapling", "tree",
                                                       "forest"};
constexpr std::size_t kTopMembers = 10;
constexpr std::int32_t kTrendDays = 30;

using Sums = detail::RollupDeltas::Sums;

// A member's memberships as the rollups need them.
struct Membership {
  std::int64_t member_id = 0;
  std::int64_t root_id = 0;
  std::int64_t org_id = 0;
  std::string path;
  std::int64_t is_primary = 0;
  std::int64_t joined_at_us = 0;
  std::int64_t last_day = -1;
  std::int64_t reduction_mg = 0;
};

Result<std::vector<Membership>> load_memberships(store::Connection& c,
                                                 const std::set<std::int64_t>& members) {
  std::vector<Membership> out;
  std::vector<store::Param> ids;
  const auto flush = [&]() -> Result<void> {
    if (ids.empty()) return {};
    // The rows are read, then changed: locked on PostgreSQL (check-ins write them outside the
    // intake's lock); SQLite has one writer.
    auto rows = c.query(
        "SELECT member_id, root_id, org_id, path, is_primary, joined_at_us, last_day, "
        "reduction_mg FROM orgs_memberships WHERE member_id IN " +
            store::placeholder_list(ids.size()) +
            (c.dialect() == store::Dialect::postgres ? " FOR UPDATE" : ""),
        ids);
    if (!rows) return fail(rows.error());
    for (std::size_t i = 0; i < rows->size(); ++i)
      out.push_back({rows->i64(i, 0), rows->i64(i, 1), rows->i64(i, 2),
                     std::string(rows->text(i, 3)), rows->i64(i, 4), rows->i64(i, 5),
                     rows->i64(i, 6), rows->i64(i, 7)});
    ids.clear();
    return {};
  };
  for (const auto m : members) {
    ids.emplace_back(m);
    if (ids.size() == 500)
      if (auto r = flush(); !r) return fail(r.error());
  }
  if (auto r = flush(); !r) return fail(r.error());
  return out;
}

}  // namespace

std::int32_t level_for(std::int64_t reduction_mg) {
  std::int32_t level = 0;
  for (std::size_t i = 0; i < kLevelFloorsMg.size(); ++i)
    if (reduction_mg >= kLevelFloorsMg[i]) level = static_cast<std::int32_t>(i);
  return level;
}

std::string_view level_title(std::int32_t level) {
  if (level < 0 || static_cast<std::size_t>(level) >= kLevelTitles.size()) return "seedling";
  return kLevelTitles[static_cast<std::size_t>(level)];
}

Result<void> Orgs::record_credits(store::Connection& c, std::span<const Credit> credits) {
  if (credits.empty()) return {};
  // Points earned per member and day: academic credits count them (spending never subtracts).
  std::map<std::pair<std::int64_t, Day>, std::int64_t> points_day;
  std::map<std::int64_t, std::pair<Sums, Day>> by_member;
  for (const Credit& k : credits) {
    if (k.points > 0) points_day[{k.member_id, k.day}] += k.points;
    auto& [sums, last] = by_member[k.member_id];
    if (sums.records == 0) last = k.day;
    sums.records += 1;
    sums.reduction_mg += k.reduction_mg;
    sums.points += k.points;
    last = std::max(last, k.day);
  }
  std::vector<store::Param> values;
  for (const auto& [key, points] : points_day)
    values.insert(values.end(), {key.first, std::int64_t{key.second}, points});
  if (auto r = store::upsert_rows(
          c, "orgs_member_points_day", "member_id, day, points", 3, "member_id, day",
          "points = orgs_member_points_day.points + excluded.points", values);
      !r)
    return r;
  std::set<std::int64_t> members;
  for (const auto& [m, unused] : by_member) members.insert(m);
  auto memberships = load_memberships(c, members);
  if (!memberships) return fail(memberships.error());
  if (memberships->empty()) return {};
  // The member's running totals on each membership; the organisation rollups of every ancestor:
  // sums by day and scenario, and the member's move between active-day and level counts.
  values.clear();
  std::map<std::int64_t, std::vector<const Credit*>> credits_of;
  for (const Credit& k : credits) credits_of[k.member_id].push_back(&k);
  detail::RollupDeltas d;
  for (const Membership& m : *memberships) {
    const auto& [sums, last] = by_member[m.member_id];
    values.insert(values.end(), {m.member_id, m.root_id, m.org_id, std::string_view(m.path),
                                 m.is_primary, m.joined_at_us, sums.records, sums.reduction_mg,
                                 sums.points, std::int64_t{last}});
    d.member(m.path, m.last_day, m.reduction_mg, -1);
    d.member(m.path, std::max<std::int64_t>(m.last_day, last), m.reduction_mg + sums.reduction_mg,
             1);
    for (const std::int64_t org : detail::path_ids(m.path)) {
      auto& t = d.totals[org].sums;
      t.records += sums.records;
      t.reduction_mg += sums.reduction_mg;
      t.points += sums.points;
      for (const Credit* k : credits_of[m.member_id]) {
        for (auto* s : {&d.scenarios[{org, k->scenario}], &d.days[{org, k->day, k->scenario}]}) {
          s->records += 1;
          s->reduction_mg += k->reduction_mg;
          s->points += k->points;
        }
      }
    }
  }
  if (auto r = store::upsert_rows(
          c, "orgs_memberships",
          "member_id, root_id, org_id, path, is_primary, joined_at_us, records, reduction_mg, "
          "points, last_day",
          10, "member_id, root_id",
          "records = orgs_memberships.records + excluded.records, reduction_mg = "
          "orgs_memberships.reduction_mg + excluded.reduction_mg, points = orgs_memberships.points "
          "+ excluded.points, last_day = CASE WHEN excluded.last_day > orgs_memberships.last_day "
          "THEN excluded.last_day ELSE orgs_memberships.last_day END",
          values);
      !r)
    return r;
  return d.write(c);
}

namespace {

// Counts, activity and levels: a handful of rollup rows of the organisation itself.
Result<void> read_counts(store::Connection& c, std::int64_t org_id, Day today, Dashboard& d) {
  auto total = c.query(
      "SELECT members, imported, activated, records, reduction_mg, points FROM "
      "orgs_rollup_total WHERE org_id = ?",
      {org_id});
  if (!total) return fail(total.error());
  if (!total->empty()) {
    d.members = total->i64(0, 0);
    d.imported = total->i64(0, 1);
    d.activated = total->i64(0, 2);
    d.records = total->i64(0, 3);
    d.reduction_mg = total->i64(0, 4);
    d.points = total->i64(0, 5);
  }
  d.registration_rate =
      d.imported == 0 ? 0.0 : static_cast<double>(d.activated) / static_cast<double>(d.imported);
  // Members whose last active day is within the last 7 (30) days, today included.
  auto active = c.query(
      "SELECT COALESCE(SUM(CASE WHEN day > ? THEN members ELSE 0 END), 0), "
      "COALESCE(SUM(members), 0) FROM orgs_rollup_active WHERE org_id = ? AND day > ? AND "
      "day <= ?",
      {std::int64_t{today - 7}, org_id, std::int64_t{today - 30}, std::int64_t{today}});
  if (!active) return fail(active.error());
  d.active_7d = active->i64(0, 0);
  d.active_30d = active->i64(0, 1);
  auto levels = c.query("SELECT level, members FROM orgs_rollup_level WHERE org_id = ?", {org_id});
  if (!levels) return fail(levels.error());
  std::array<std::int64_t, kLevelFloorsMg.size()> at{};
  for (std::size_t i = 0; i < levels->size(); ++i) {
    const auto level = static_cast<std::size_t>(levels->i64(i, 0));
    if (level < at.size()) at[level] = levels->i64(i, 1);
  }
  for (std::size_t level = 0; level < at.size(); ++level)
    d.levels.push_back(
        {static_cast<std::int32_t>(level), std::string(kLevelTitles[level]), at[level]});
  return {};
}

Result<void> read_rollups(store::Connection& c, std::int64_t org_id, Day today, Dashboard& d) {
  auto scenarios =
      c.query("SELECT scenario, records, reduction_mg FROM orgs_rollup_scenario WHERE org_id = ?",
              {org_id});
  if (!scenarios) return fail(scenarios.error());
  std::int64_t all_records = 0, all_mg = 0;
  for (std::size_t i = 0; i < scenarios->size(); ++i) {
    if (scenarios->i64(i, 1) == 0) continue;  // moved away entirely
    d.scenarios.push_back(
        {std::string(scenarios->text(i, 0)), scenarios->i64(i, 1), scenarios->i64(i, 2), 0.0, 0.0});
    all_records += scenarios->i64(i, 1);
    all_mg += scenarios->i64(i, 2);
  }
  for (auto& s : d.scenarios) {
    if (all_records > 0)
      s.count_share = static_cast<double>(s.records) / static_cast<double>(all_records);
    if (all_mg > 0)
      s.volume_share = static_cast<double>(s.reduction_mg) / static_cast<double>(all_mg);
  }
  std::sort(d.scenarios.begin(), d.scenarios.end(), [](const auto& a, const auto& b) {
    return std::tie(b.reduction_mg, a.scenario) < std::tie(a.reduction_mg, b.scenario);
  });
  const Day first = today - kTrendDays + 1;
  auto trend = c.query(
      "SELECT day, SUM(records), SUM(reduction_mg), SUM(points) FROM orgs_rollup_day WHERE "
      "org_id = ? AND day >= ? AND day <= ? GROUP BY day",
      {org_id, std::int64_t{first}, std::int64_t{today}});
  if (!trend) return fail(trend.error());
  std::map<Day, DayPoint> days;
  for (std::size_t i = 0; i < trend->size(); ++i) {
    const Day day = static_cast<Day>(trend->i64(i, 0));
    days[day] = {day, trend->i64(i, 1), trend->i64(i, 2), trend->i64(i, 3)};
  }
  for (Day day = first; day <= today; ++day) {
    const auto it = days.find(day);
    d.trend.push_back(it == days.end() ? DayPoint{day, 0, 0, 0} : it->second);
  }
  return {};
}

Result<void> read_children(store::Connection& c, std::int64_t org_id, Dashboard& d) {
  auto rows = c.query(
      "SELECT o.id, o.name, COALESCE(t.members, 0), COALESCE(t.records, 0), "
      "COALESCE(t.reduction_mg, 0), COALESCE(t.points, 0) FROM orgs_orgs o LEFT JOIN "
      "orgs_rollup_total t ON t.org_id = o.id WHERE o.parent_id = ?",
      {org_id});
  if (!rows) return fail(rows.error());
  for (std::size_t i = 0; i < rows->size(); ++i)
    d.children.push_back({rows->i64(i, 0), std::string(rows->text(i, 1)), rows->i64(i, 2),
                          rows->i64(i, 3), rows->i64(i, 4), rows->i64(i, 5)});
  std::sort(d.children.begin(), d.children.end(), [](const ChildRank& a, const ChildRank& b) {
    return std::tie(b.reduction_mg, a.name) < std::tie(a.reduction_mg, b.name);
  });
  return {};
}

std::string hide_name(std::string_view name) {
  // The first character (UTF-8 aware), then one '*'.
  std::size_t n = 1;
  if (!name.empty()) {
    const auto lead = static_cast<unsigned char>(name[0]);
    n = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  }
  return std::string(name.substr(0, std::min(n, name.size()))) + "*";
}

std::vector<std::string> badges_for(std::int64_t records, std::int64_t reduction_mg) {
  std::vector<std::string> out;
  if (records >= 1) out.emplace_back("first_step");
  if (records >= 100) out.emplace_back("hundred_actions");
  if (reduction_mg >= 100'000'000) out.emplace_back("hundred_kg");
  if (reduction_mg >= 1'000'000'000) out.emplace_back("one_tonne");
  return out;
}

}  // namespace

Result<Dashboard> Orgs::dashboard(const Actor& who, std::int64_t org_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto& c = **lease;
  auto org = load_holding(c, who, org_id, OrgRole::reviewer, "see its dashboard");
  if (!org) return fail(org.error());
  Dashboard d;
  d.org = *org;
  d.today = local_day(clock_.now_us(), options_.utc_offset_minutes);
  if (auto r = read_counts(c, org_id, d.today, d); !r) return fail(r.error());
  if (auto r = read_rollups(c, org_id, d.today, d); !r) return fail(r.error());
  if (auto r = read_children(c, org_id, d); !r) return fail(r.error());
  // The largest reductions: for a whole tree, the first rows of an index by tree and reduction;
  // below the top, the subtree's range of the path index (a college: a few thousand rows).
  const auto top_sql = [](std::string_view where) {
    return "SELECT m.member_id, m.reduction_mg, m.records, COALESCE(p.name, ''), "
           "COALESCE(s.name_hidden, 0) FROM (SELECT member_id, root_id, reduction_mg, records "
           "FROM orgs_memberships WHERE " +
           std::string(where) +
           " ORDER BY reduction_mg DESC, member_id DESC LIMIT ?) m LEFT JOIN orgs_people p ON "
           "p.member_id = m.member_id AND p.root_id = m.root_id LEFT JOIN orgs_member_settings s "
           "ON s.member_id = m.member_id ORDER BY m.reduction_mg DESC, m.member_id DESC";
  };
  const auto limit = static_cast<std::int64_t>(kTopMembers);
  auto [lo, hi] = detail::subtree_bounds(org->path);
  auto top = org->parent_id ? c.query(top_sql("path >= ? AND path < ?"),
                                      {std::string_view(lo), std::string_view(hi), limit})
                            : c.query(top_sql("root_id = ?"), {org->id, limit});
  if (!top) return fail(top.error());
  for (std::size_t i = 0; i < top->size(); ++i) {
    TopMember t;
    t.member_id = top->i64(i, 0);
    t.reduction_mg = top->i64(i, 1);
    t.records = top->i64(i, 2);
    t.name = top->text(i, 3);
    if (t.name.empty()) {
      auto m = members_.get(t.member_id);
      if (m) t.name = m->display_name;
    }
    if (top->i64(i, 4) != 0) t.name = hide_name(t.name);
    t.level = level_for(t.reduction_mg);
    t.badges = badges_for(t.records, t.reduction_mg);
    d.top_members.push_back(std::move(t));
  }
  return d;
}

}  // namespace tanpu::orgs
