// The per-organisation rollups: every change (a credit, an import, an activation, a move) becomes
// deltas for each ancestor of the organisations involved, written as multi-row upserts in the
// transaction that made the change. Dashboards read only these rows.
#include "orgs/internal.h"

namespace tanpu::orgs::detail {

namespace {

constexpr std::string_view kAddSums =
    "records = {t}.records + excluded.records, reduction_mg = {t}.reduction_mg + "
    "excluded.reduction_mg, points = {t}.points + excluded.points";

std::string add_sums(std::string_view table) {
  std::string out(kAddSums);
  for (std::size_t at = out.find("{t}"); at != std::string::npos; at = out.find("{t}", at))
    out.replace(at, 3, table);
  return out;
}

}  // namespace

void RollupDeltas::member(std::string_view path, std::int64_t last_day, std::int64_t reduction_mg,
                          std::int64_t sign) {
  const std::int64_t level = level_for(reduction_mg);
  for (const std::int64_t org : path_ids(path)) {
    totals[org].members += sign;
    if (last_day >= 0) active[{org, last_day}] += sign;
    levels[{org, level}] += sign;
  }
}

void RollupDeltas::person(std::string_view path, bool activated, std::int64_t sign) {
  for (const std::int64_t org : path_ids(path)) {
    totals[org].imported += sign;
    if (activated) totals[org].activated += sign;
  }
}

Result<void> RollupDeltas::write(store::Connection& c) const {
  std::vector<store::Param> v;
  for (const auto& [org, t] : totals)
    v.insert(v.end(), {org, t.members, t.imported, t.activated, t.sums.records, t.sums.reduction_mg,
                       t.sums.points});
  if (auto r = store::upsert_rows(
          c, "orgs_rollup_total",
          "org_id, members, imported, activated, records, reduction_mg, points", 7, "org_id",
          "members = orgs_rollup_total.members + excluded.members, imported = "
          "orgs_rollup_total.imported + excluded.imported, activated = orgs_rollup_total.activated "
          "+ excluded.activated, " +
              add_sums("orgs_rollup_total"),
          v);
      !r)
    return r;
  v.clear();
  for (const auto& [key, n] : active)
    if (n != 0) v.insert(v.end(), {key.first, key.second, n});
  if (auto r = store::upsert_rows(c, "orgs_rollup_active", "org_id, day, members", 3, "org_id, day",
                                  "members = orgs_rollup_active.members + excluded.members", v);
      !r)
    return r;
  v.clear();
  for (const auto& [key, n] : levels)
    if (n != 0) v.insert(v.end(), {key.first, key.second, n});
  if (auto r =
          store::upsert_rows(c, "orgs_rollup_level", "org_id, level, members", 3, "org_id, level",
                             "members = orgs_rollup_level.members + excluded.members", v);
      !r)
    return r;
  v.clear();
  for (const auto& [key, s] : scenarios)
    v.insert(v.end(),
             {key.first, std::string_view(key.second), s.records, s.reduction_mg, s.points});
  if (auto r = store::upsert_rows(c, "orgs_rollup_scenario",
                                  "org_id, scenario, records, reduction_mg, points", 5,
                                  "org_id, scenario", add_sums("orgs_rollup_scenario"), v);
      !r)
    return r;
  v.clear();
  for (const auto& [key, s] : days)
    v.insert(v.end(), {std::get<0>(key), std::get<1>(key), std::string_view(std::get<2>(key)),
                       s.records, s.reduction_mg, s.points});
  return store::upsert_rows(c, "orgs_rollup_day",
                            "org_id, day, scenario, records, reduction_mg, points", 6,
                            "org_id, day, scenario", add_sums("orgs_rollup_day"), v);
}

Result<void> shift_org(store::Connection& c, std::int64_t org_id,
                       std::span<const std::int64_t> ancestors, std::int64_t sign) {
  if (ancestors.empty()) return {};
  auto total = c.query(
      "SELECT members, imported, activated, records, reduction_mg, points FROM "
      "orgs_rollup_total WHERE org_id = ?",
      {org_id});
  if (!total) return fail(total.error());
  auto active = c.query("SELECT day, members FROM orgs_rollup_active WHERE org_id = ?", {org_id});
  if (!active) return fail(active.error());
  auto levels = c.query("SELECT level, members FROM orgs_rollup_level WHERE org_id = ?", {org_id});
  if (!levels) return fail(levels.error());
  auto scenarios = c.query(
      "SELECT scenario, records, reduction_mg, points FROM orgs_rollup_scenario WHERE org_id = ?",
      {org_id});
  if (!scenarios) return fail(scenarios.error());
  auto days = c.query(
      "SELECT day, scenario, records, reduction_mg, points FROM orgs_rollup_day WHERE org_id = ?",
      {org_id});
  if (!days) return fail(days.error());
  RollupDeltas d;
  for (const std::int64_t a : ancestors) {
    if (!total->empty()) {
      auto& t = d.totals[a];
      t.members += sign * total->i64(0, 0);
      t.imported += sign * total->i64(0, 1);
      t.activated += sign * total->i64(0, 2);
      t.sums.records += sign * total->i64(0, 3);
      t.sums.reduction_mg += sign * total->i64(0, 4);
      t.sums.points += sign * total->i64(0, 5);
    }
    for (std::size_t i = 0; i < active->size(); ++i)
      d.active[{a, active->i64(i, 0)}] += sign * active->i64(i, 1);
    for (std::size_t i = 0; i < levels->size(); ++i)
      d.levels[{a, levels->i64(i, 0)}] += sign * levels->i64(i, 1);
    for (std::size_t i = 0; i < scenarios->size(); ++i) {
      auto& s = d.scenarios[{a, std::string(scenarios->text(i, 0))}];
      s.records += sign * scenarios->i64(i, 1);
      s.reduction_mg += sign * scenarios->i64(i, 2);
      s.points += sign * scenarios->i64(i, 3);
    }
    for (std::size_t i = 0; i < days->size(); ++i) {
      auto& s = d.days[{a, days->i64(i, 0), std::string(days->text(i, 1))}];
      s.records += sign * days->i64(i, 2);
      s.reduction_mg += sign * days->i64(i, 3);
      s.points += sign * days->i64(i, 4);
    }
  }
  return d.write(c);
}

}  // namespace tanpu::orgs::detail
