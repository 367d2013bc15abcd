// Low-carbon activities: sign-up within capacity, a check-in code that changes every 30 seconds
// (HMAC of the activity's secret and the time step, shown as a QR code on a screen), one check-in
// per member inside the window, credited through the ledger and the rollups in one transaction.
#include <algorithm>

#include "core/crypto.h"
#include "orgs/internal.h"

namespace tanpu::orgs {

using detail::conflict;
using detail::forbidden;
using detail::invalid;

namespace {

constexpr std::int64_t kActivityLengthMaxUs = 31LL * 86'400'000'000;
constexpr std::size_t kActivitySecretBytes = 32;
constexpr std::size_t kScenarioBytesMax = 40;

constexpr std::string_view kActivityColumns =
    "id, org_id, title, place, starts_at_us, ends_at_us, capacity, points_per_checkin, "
    "reduction_mg_per_checkin, scenario, signed_up, checked_in, created_by, created_at_us, "
    "methodology";

Activity activity_from_row(const store::Rows& rows, std::size_t i) {
  Activity a;
  a.id = rows.i64(i, 0);
  a.org_id = rows.i64(i, 1);
  a.title = rows.text(i, 2);
  a.place = rows.text(i, 3);
  a.starts_at_us = rows.i64(i, 4);
  a.ends_at_us = rows.i64(i, 5);
  a.capacity = rows.i64(i, 6);
  a.points_per_checkin = rows.i64(i, 7);
  a.reduction_mg_per_checkin = rows.i64(i, 8);
  a.scenario = rows.text(i, 9);
  a.signed_up = rows.i64(i, 10);
  a.checked_in = rows.i64(i, 11);
  a.created_by = rows.i64(i, 12);
  a.created_at_us = rows.i64(i, 13);
  a.methodology = rows.text(i, 14);
  return a;
}

Result<void> validate(const ActivityInput& in) {
  if (in.title.empty()) return invalid("title_required", "an activity needs a title", "title");
  if (in.title.size() > kActivityTitleBytesMax)
    return invalid("title_too_long", "the title is longer than 120 bytes", "title");
  if (in.place.size() > kActivityPlaceBytesMax)
    return invalid("place_too_long", "the place is longer than 200 bytes", "place");
  if (in.ends_at_us <= in.starts_at_us || in.ends_at_us - in.starts_at_us > kActivityLengthMaxUs)
    return invalid("invalid_window", "an activity ends after it starts, within 31 days", "ends_at");
  if (in.capacity < 1 || in.capacity > kActivityCapacityMax)
    return invalid("invalid_capacity", "capacity is 1 to 100,000", "capacity");
  if (in.points_per_checkin < 0 || in.points_per_checkin > kActivityPointsMax)
    return invalid("invalid_points", "points per check-in are 0 to 10,000", "points_per_checkin");
  if (in.reduction_mg_per_checkin < 0 || in.reduction_mg_per_checkin > kActivityReductionMgMax)
    return invalid("invalid_reduction", "the reduction per check-in is 0 to 1 t",
                   "reduction_mg_per_checkin");
  if (in.scenario.empty() || in.scenario.size() > kScenarioBytesMax ||
      !std::all_of(in.scenario.begin(), in.scenario.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      }))
    return invalid("invalid_scenario", "a scenario is 1 to 40 of a-z, 0-9 and _", "scenario");
  return {};
}

Result<Activity> load_activity(store::Connection& c, std::int64_t id) {
  auto rows = c.query(
      "SELECT " + std::string(kActivityColumns) + " FROM orgs_activities WHERE id = ?", {id});
  if (!rows) return fail(rows.error());
  if (rows->empty()) return fail(ErrorKind::not_found, "activity_not_found", "no such activity");
  return activity_from_row(*rows, 0);
}

// Deterministic transfer ids for one member's check-in: a retried check-in cannot credit twice.
Id128 checkin_transfer_id(std::int64_t activity_id, std::int64_t member_id, std::string_view what) {
  const auto d = sha256("tanpu-checkin|" + std::to_string(activity_id) + "|" +
                        std::to_string(member_id) + "|" + std::string(what));
  return Id128::from_bytes(std::span<const std::uint8_t>(d.data(), 16));
}

bool same_code(std::string_view a, std::string_view b) {
  const auto bytes = [](std::string_view s) {
    return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  };
  return a.size() == b.size() && constant_time_equal(bytes(a), bytes(b));
}

}  // namespace

std::string checkin_code_at(std::span<const std::uint8_t> secret, std::int64_t activity_id,
                            std::int64_t step) {
  static constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  const auto mac = hmac_sha256(
      secret, "tanpu-checkin-v1|" + std::to_string(activity_id) + "|" + std::to_string(step));
  // 40 bits: five characters of 5 bits from the first five bytes… eight characters in all.
  std::uint64_t bits = 0;
  for (std::size_t i = 0; i < 5; ++i) bits = (bits << 8) | mac[i];
  std::string out(kCheckinCodeChars, '0');
  for (std::size_t i = 0; i < kCheckinCodeChars; ++i)
    out[kCheckinCodeChars - 1 - i] = kAlphabet[(bits >> (5 * i)) & 31u];
  return out;
}

Result<Activity> Orgs::create_activity(const Actor& who, const ActivityInput& input) {
  if (auto v = validate(input); !v) return fail(v.error());
  std::array<std::uint8_t, kActivitySecretBytes> secret{};
  random_bytes(secret);
  const std::int64_t now = clock_.now_us();
  const std::string hash = detail::request_hash(
      {std::to_string(input.org_id), input.title, input.place, std::to_string(input.starts_at_us),
       std::to_string(input.ends_at_us), std::to_string(input.capacity),
       std::to_string(input.points_per_checkin), std::to_string(input.reduction_mg_per_checkin),
       input.scenario, input.methodology});
  bool replayed = false;
  const auto job = [&](store::Connection& c) -> Result<std::int64_t> {
    auto earlier = detail::replay(c, who.member_id, input.idempotency_key, "activity", hash);
    if (!earlier) return fail(earlier.error());
    replayed = earlier->has_value();
    if (replayed) return **earlier;
    auto org = load_holding(c, who, input.org_id, OrgRole::admin, "create its activities");
    if (!org) return fail(org.error());
    if (org->archived) return conflict("org_archived", "the organisation is archived");
    if (input.ends_at_us <= now)
      return invalid("invalid_window", "the activity would have ended already", "ends_at");
    auto row = c.query(
        "INSERT INTO orgs_activities (org_id, title, place, starts_at_us, ends_at_us, capacity, "
        "points_per_checkin, reduction_mg_per_checkin, scenario, secret, signed_up, checked_in, "
        "created_by, created_at_us, methodology) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, "
        "?) RETURNING id",
        {input.org_id, input.title, input.place, input.starts_at_us, input.ends_at_us,
         input.capacity, input.points_per_checkin, input.reduction_mg_per_checkin, input.scenario,
         std::span<const std::uint8_t>(secret), who.member_id, now, input.methodology});
    if (!row) return fail(row.error());
    if (auto r = detail::remember(c, who.member_id, input.idempotency_key, "activity", hash,
                                  row->i64(0, 0), now);
        !r)
      return fail(r.error());
    return row->i64(0, 0);
  };
  auto id = detail::write_created(store_, input.idempotency_key, job);
  if (!id) return fail(id.error());
  auto activity = get_activity(*id);
  if (activity) activity->replayed = replayed;
  return activity;
}

Result<Activity> Orgs::get_activity(std::int64_t activity_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  return load_activity(**lease, activity_id);
}

Result<std::vector<Activity>> Orgs::activities_of(const Actor& who, std::int64_t org_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto org = load_holding(**lease, who, org_id, OrgRole::reviewer, "list these");
  if (!org) return fail(org.error());
  auto rows = (*lease)->query("SELECT " + std::string(kActivityColumns) +
                                  " FROM orgs_activities WHERE org_id = ? ORDER BY starts_at_us "
                                  "DESC, id DESC LIMIT 500",
                              {org_id});
  if (!rows) return fail(rows.error());
  std::vector<Activity> out;
  for (std::size_t i = 0; i < rows->size(); ++i) out.push_back(activity_from_row(*rows, i));
  return out;
}

Result<std::vector<Activity>> Orgs::activities_for(std::int64_t member_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto paths =
      (*lease)->query("SELECT path FROM orgs_memberships WHERE member_id = ?", {member_id});
  if (!paths) return fail(paths.error());
  std::vector<store::Param> ids;
  for (std::size_t i = 0; i < paths->size(); ++i)
    for (const auto id : detail::path_ids(paths->text(i, 0))) ids.emplace_back(id);
  if (ids.empty()) return std::vector<Activity>{};
  ids.emplace_back(clock_.now_us());
  auto rows = (*lease)->query("SELECT " + std::string(kActivityColumns) +
                                  " FROM orgs_activities WHERE org_id IN " +
                                  store::placeholder_list(ids.size() - 1) +
                                  " AND ends_at_us > ? ORDER BY starts_at_us, id LIMIT 500",
                              ids);
  if (!rows) return fail(rows.error());
  std::vector<Activity> out;
  for (std::size_t i = 0; i < rows->size(); ++i) out.push_back(activity_from_row(*rows, i));
  return out;
}

Result<Activity> Orgs::sign_up(std::int64_t member_id, std::int64_t activity_id) {
  const std::int64_t now = clock_.now_us();
  auto done = store_.write([&](store::Connection& c) -> Result<void> {
    auto a = load_activity(c, activity_id);
    if (!a) return fail(a.error());
    auto org = load_org(c, a->org_id);
    if (!org) return fail(org.error());
    if (org->archived) return conflict("org_archived", "the organisation is archived");
    auto mine = c.query("SELECT path FROM orgs_memberships WHERE member_id = ? AND root_id = ?",
                        {member_id, org->root_id});
    if (!mine) return fail(mine.error());
    if (mine->empty() || !std::string_view(mine->text(0, 0)).starts_with(org->path))
      return fail(ErrorKind::forbidden, "not_a_member",
                  "this activity is for the members of " + org->name);
    if (now >= a->ends_at_us) return conflict("activity_ended", "this activity has ended");
    auto had = c.query("SELECT 1 FROM orgs_signups WHERE activity_id = ? AND member_id = ?",
                       {activity_id, member_id});
    if (!had) return fail(had.error());
    if (!had->empty()) return conflict("already_signed_up", "you signed up already");
    // The capacity check and the count are one statement: sign-ups at once cannot overfill it.
    auto seat = c.exec(
        "UPDATE orgs_activities SET signed_up = signed_up + 1 WHERE id = ? AND signed_up < "
        "capacity",
        {activity_id});
    if (!seat) return fail(seat.error());
    if (*seat != 1) return conflict("activity_full", "every place is taken");
    auto ins = c.exec(
        "INSERT INTO orgs_signups (activity_id, member_id, signed_up_at_us) VALUES (?, ?, ?)",
        {activity_id, member_id, now});
    if (!ins) return fail(ins.error());
    return {};
  });
  if (!done && done.error().code == store::kUniqueViolation)
    return conflict("already_signed_up", "you signed up already");
  if (!done) return fail(done.error());
  return get_activity(activity_id);
}

Result<CheckinCode> Orgs::checkin_code(const Actor& who, std::int64_t activity_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto a = load_activity(**lease, activity_id);
  if (!a) return fail(a.error());
  auto org = load_org(**lease, a->org_id);
  if (!org) return fail(org.error());
  auto ok = holds(**lease, who, *org, OrgRole::admin);
  if (!ok) return fail(ok.error());
  if (!*ok) return forbidden("only an admin of this organisation may show the check-in code");
  auto secret = (*lease)->query("SELECT secret FROM orgs_activities WHERE id = ?", {activity_id});
  if (!secret) return fail(secret.error());
  const std::int64_t step = clock_.now_us() / kCheckinStepUs;
  CheckinCode out;
  out.code = checkin_code_at(secret->blob(0, 0), activity_id, step);
  out.qr_text = "tanpu:checkin:v1:" + std::to_string(activity_id) + ":" + out.code;
  out.valid_until_us = (step + 1) * kCheckinStepUs;
  return out;
}

Result<Checkin> Orgs::check_in(std::int64_t member_id, std::int64_t activity_id,
                               std::string_view code) {
  const std::string typed = detail::normalise_code(code);
  const std::int64_t now = clock_.now_us();
  Checkin out;
  auto done = store_.write([&](store::Connection& c) -> Result<void> {
    auto rows = c.query(
        "SELECT a.starts_at_us, a.ends_at_us, a.points_per_checkin, a.reduction_mg_per_checkin, "
        "a.scenario, a.secret, s.checked_in_at_us, o.archived_at_us FROM orgs_activities a JOIN "
        "orgs_orgs o ON o.id = a.org_id LEFT JOIN orgs_signups s ON s.activity_id = a.id AND "
        "s.member_id = ? WHERE a.id = ?",
        {member_id, activity_id});
    if (!rows) return fail(rows.error());
    if (rows->empty()) return fail(ErrorKind::not_found, "activity_not_found", "no such activity");
    // Archiving an organisation closes its activities at once, those already running included.
    if (!rows->is_null(0, 7)) return conflict("org_archived", "the organisation is archived");
    const std::int64_t starts = rows->i64(0, 0), ends = rows->i64(0, 1);
    const std::int64_t points = rows->i64(0, 2), reduction = rows->i64(0, 3);
    const std::string scenario(rows->text(0, 4));
    auto signup = c.query("SELECT 1 FROM orgs_signups WHERE activity_id = ? AND member_id = ?",
                          {activity_id, member_id});
    if (!signup) return fail(signup.error());
    if (signup->empty())
      return fail(ErrorKind::forbidden, "not_signed_up", "sign up for the activity first");
    if (now < starts || now >= ends)
      return conflict("outside_window", "check-in is open only while the activity runs");
    const std::int64_t step = now / kCheckinStepUs;
    bool matches = false;
    for (std::int64_t back = 0; back < options_.checkin_steps_accepted; ++back)
      matches |= same_code(typed, checkin_code_at(rows->blob(0, 5), activity_id, step - back));
    if (!matches)
      return invalid("invalid_code", "this code is not the activity's current code", "code");
    if (!rows->is_null(0, 6)) return conflict("already_checked_in", "you checked in already");
    auto mark = c.exec(
        "UPDATE orgs_signups SET checked_in_at_us = ? WHERE activity_id = ? AND member_id = ? "
        "AND checked_in_at_us IS NULL",
        {now, activity_id, member_id});
    if (!mark) return fail(mark.error());
    if (*mark != 1) return conflict("already_checked_in", "you checked in already");
    if (auto u = c.exec("UPDATE orgs_activities SET checked_in = checked_in + 1 WHERE id = ?",
                        {activity_id});
        !u)
      return fail(u.error());
    const std::array<std::int64_t, 1> who{member_id};
    auto accounts = members_.ledger_accounts(c, who);
    if (!accounts) return fail(accounts.error());
    const auto acc = accounts->find(member_id);
    if (acc == accounts->end()) return fail(ErrorKind::not_found, "member_not_found", "no member");
    std::vector<ledger::Transfer> t;
    const std::string reference = "activity:" + std::to_string(activity_id);
    const auto credit = [&](std::int64_t from, std::int64_t to, std::int64_t amount,
                            std::string_view what) {
      ledger::Transfer x;
      x.id = checkin_transfer_id(activity_id, member_id, what);
      x.debit_account_id = from;
      x.credit_account_id = to;
      x.amount = amount;
      x.code = ledger::codes::activity_checkin;
      x.reference = reference;
      t.push_back(std::move(x));
    };
    if (points > 0)
      credit(ledger::kPlatformPointsAccount, acc->second.points_account_id, points, "points");
    if (reduction > 0)
      credit(ledger::kPlatformCo2eAccount, acc->second.co2e_account_id, reduction, "co2e");
    if (!t.empty()) {
      auto applied = ledger_.create_transfers(c, t);
      if (!applied) return fail(applied.error());
      for (const auto s : applied->statuses)
        if (s != ledger::TransferStatus::ok)
          return fail(
              ErrorKind::internal, "ledger_refused",
              "the ledger refused the check-in's credit: " + std::string(ledger::to_string(s)));
    }
    const Credit rolled{member_id, local_day(now, options_.utc_offset_minutes), scenario, reduction,
                        points};
    if (auto r = record_credits(c, std::span(&rolled, 1)); !r) return r;
    out = Checkin{activity_id, member_id, points, reduction, now};
    return {};
  });
  if (!done) return fail(done.error());
  return out;
}

}  // namespace tanpu::orgs
