// Academic carbon credit programmes: points earned inside the enrolment period become credits
// (500 points = 1 credit, at most 4 over 4 years for undergraduates). Earned points come from the
// per-member daily rollup written with every credit, so spending points never takes credits away.
#include <algorithm>
#include <map>

#include "orgs/internal.h"

namespace tanpu::orgs {

using detail::conflict;
using detail::forbidden;
using detail::invalid;

namespace {

constexpr std::size_t kProgrammeNameBytesMax = 120;

constexpr std::string_view kProgrammeColumns =
    "id, org_id, name, points_per_credit, credits_max, enrolment_starts, enrolment_ends, "
    "enrolment_years, created_at_us";

Programme programme_from_row(const store::Rows& rows, std::size_t i) {
  Programme p;
  p.id = rows.i64(i, 0);
  p.org_id = rows.i64(i, 1);
  p.name = rows.text(i, 2);
  p.points_per_credit = rows.i64(i, 3);
  p.credits_max = rows.i64(i, 4);
  p.enrolment_starts = static_cast<Day>(rows.i64(i, 5));
  p.enrolment_ends = static_cast<Day>(rows.i64(i, 6));
  p.enrolment_years = static_cast<std::int32_t>(rows.i64(i, 7));
  p.created_at_us = rows.i64(i, 8);
  return p;
}

// The same month and day `years` later (29 February becomes 1 March in a common year).
Day years_after(Day start, std::int32_t years) {
  const std::string s = format_date(start);
  const std::string y = std::to_string(std::stoi(s.substr(0, 4)) + years);
  if (auto d = parse_date(y + s.substr(4))) return *d;
  return *parse_date(y + "-03-01");
}

std::int64_t credits_for(const Programme& p, std::int64_t points) {
  return std::min(p.credits_max, points / p.points_per_credit);
}

}  // namespace

Result<Programme> Orgs::create_programme(const Actor& who, const ProgrammeInput& in) {
  if (in.name.empty()) return invalid("name_required", "a programme needs a name", "name");
  if (in.name.size() > kProgrammeNameBytesMax)
    return invalid("name_too_long", "the name is longer than 120 bytes", "name");
  if (in.points_per_credit <= 0 || in.points_per_credit > 10'000'000)
    return invalid("invalid_points_per_credit", "points per credit are 1 to 10,000,000",
                   "points_per_credit");
  if (in.credits_max <= 0 || in.credits_max > 100)
    return invalid("invalid_credits_max", "a programme awards 1 to 100 credits", "credits_max");
  if (in.enrolment_years < 1 || in.enrolment_years > 10)
    return invalid("invalid_enrolment_years", "enrolment lasts 1 to 10 years", "enrolment_years");
  if (in.enrolment_starts < *parse_date("2000-01-01") ||
      in.enrolment_starts > *parse_date("2100-01-01"))
    return invalid("invalid_enrolment_starts", "enrolment starts between 2000 and 2100",
                   "enrolment_starts");
  const Day ends = years_after(in.enrolment_starts, in.enrolment_years);
  const std::int64_t now = clock_.now_us();
  const std::string hash = detail::request_hash(
      {std::to_string(in.org_id), in.name, std::to_string(in.points_per_credit),
       std::to_string(in.credits_max), std::to_string(in.enrolment_starts),
       std::to_string(in.enrolment_years)});
  bool replayed = false;
  const auto job = [&](store::Connection& c) -> Result<std::int64_t> {
    auto earlier = detail::replay(c, who.member_id, in.idempotency_key, "programme", hash);
    if (!earlier) return fail(earlier.error());
    replayed = earlier->has_value();
    if (replayed) return **earlier;
    auto org = load_holding(c, who, in.org_id, OrgRole::admin, "create its programmes");
    if (!org) return fail(org.error());
    if (org->archived) return conflict("org_archived", "the organisation is archived");
    auto row = c.query(
        "INSERT INTO orgs_programmes (org_id, name, points_per_credit, credits_max, "
        "enrolment_starts, enrolment_ends, enrolment_years, created_by, created_at_us) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        {in.org_id, in.name, in.points_per_credit, in.credits_max,
         std::int64_t{in.enrolment_starts}, std::int64_t{ends}, std::int64_t{in.enrolment_years},
         who.member_id, now});
    if (!row) return fail(row.error());
    if (auto r = detail::remember(c, who.member_id, in.idempotency_key, "programme", hash,
                                  row->i64(0, 0), now);
        !r)
      return fail(r.error());
    return row->i64(0, 0);
  };
  auto id = detail::write_created(store_, in.idempotency_key, job);
  if (!id) return fail(id.error());
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto rows = (*lease)->query(
      "SELECT " + std::string(kProgrammeColumns) + " FROM orgs_programmes WHERE id = ?", {*id});
  if (!rows) return fail(rows.error());
  Programme p = programme_from_row(*rows, 0);
  p.replayed = replayed;
  return p;
}

Result<std::vector<Programme>> Orgs::programmes(const Actor& who, std::int64_t org_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto org = load_holding(**lease, who, org_id, OrgRole::reviewer, "see these");
  if (!org) return fail(org.error());
  auto rows = (*lease)->query("SELECT " + std::string(kProgrammeColumns) +
                                  " FROM orgs_programmes WHERE org_id = ? ORDER BY id",
                              {org_id});
  if (!rows) return fail(rows.error());
  std::vector<Programme> out;
  for (std::size_t i = 0; i < rows->size(); ++i) out.push_back(programme_from_row(*rows, i));
  return out;
}

Result<Transcript> Orgs::transcript(const Actor& who, std::int64_t programme_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto& c = **lease;
  auto prow =
      c.query("SELECT " + std::string(kProgrammeColumns) + " FROM orgs_programmes WHERE id = ?",
              {programme_id});
  if (!prow) return fail(prow.error());
  if (prow->empty())
    return fail(ErrorKind::not_found, "programme_not_found", "no such credit programme");
  Transcript t;
  t.programme = programme_from_row(*prow, 0);
  auto org = load_holding(c, who, t.programme.org_id, OrgRole::reviewer, "see transcripts");
  if (!org) return fail(org.error());
  auto [lo, hi] = detail::subtree_bounds(org->path);
  auto rows = c.query(
      "SELECT m.member_id, COALESCE(p.member_number, ''), COALESCE(p.name, ''), m.path, "
      "COALESCE((SELECT SUM(d.points) FROM orgs_member_points_day d WHERE d.member_id = "
      "m.member_id AND d.day >= ? AND d.day < ?), 0) FROM orgs_memberships m LEFT JOIN "
      "orgs_people p ON p.member_id = m.member_id AND p.root_id = m.root_id WHERE m.path >= ? "
      "AND m.path < ? ORDER BY 2, 1",
      {std::int64_t{t.programme.enrolment_starts}, std::int64_t{t.programme.enrolment_ends},
       std::string_view(lo), std::string_view(hi)});
  if (!rows) return fail(rows.error());
  std::map<std::string, std::string, std::less<>> names;  // path -> relative names
  for (std::size_t i = 0; i < rows->size(); ++i) {
    TranscriptLine l;
    l.member_id = rows->i64(i, 0);
    l.member_number = rows->text(i, 1);
    l.name = rows->text(i, 2);
    const std::string path(rows->text(i, 3));
    auto known = names.find(path);
    if (known == names.end()) {
      auto n = detail::path_names(c, path);
      if (!n) return fail(n.error());
      known = names.emplace(path, *n).first;
    }
    l.org_path_names = known->second;
    l.points_earned = rows->i64(i, 4);
    l.credits = credits_for(t.programme, l.points_earned);
    t.lines.push_back(std::move(l));
  }
  return t;
}

Result<std::vector<std::pair<Programme, TranscriptLine>>> Orgs::my_credits(std::int64_t member_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto& c = **lease;
  auto mine = c.query(
      "SELECT m.path, COALESCE(p.member_number, ''), COALESCE(p.name, '') FROM orgs_memberships m "
      "LEFT JOIN orgs_people p ON p.member_id = m.member_id AND p.root_id = m.root_id WHERE "
      "m.member_id = ?",
      {member_id});
  if (!mine) return fail(mine.error());
  std::vector<std::pair<Programme, TranscriptLine>> out;
  for (std::size_t i = 0; i < mine->size(); ++i) {
    const auto ids = detail::path_ids(mine->text(i, 0));
    std::vector<store::Param> params(ids.begin(), ids.end());
    auto rows = c.query("SELECT " + std::string(kProgrammeColumns) +
                            " FROM orgs_programmes WHERE org_id IN " +
                            store::placeholder_list(params.size()) + " ORDER BY id",
                        params);
    if (!rows) return fail(rows.error());
    auto names = detail::path_names(c, mine->text(i, 0));
    if (!names) return fail(names.error());
    for (std::size_t k = 0; k < rows->size(); ++k) {
      Programme p = programme_from_row(*rows, k);
      auto sum = c.query(
          "SELECT COALESCE(SUM(points), 0) FROM orgs_member_points_day WHERE member_id = ? AND "
          "day >= ? AND day < ?",
          {member_id, std::int64_t{p.enrolment_starts}, std::int64_t{p.enrolment_ends}});
      if (!sum) return fail(sum.error());
      TranscriptLine l{member_id,
                       std::string(mine->text(i, 1)),
                       std::string(mine->text(i, 2)),
                       *names,
                       sum->i64(0, 0),
                       0};
      l.credits = credits_for(p, l.points_earned);
      out.emplace_back(std::move(p), std::move(l));
    }
  }
  return out;
}

}  // namespace tanpu::orgs
