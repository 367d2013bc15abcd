#include "market/donations.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>

#include "core/assert.h"
#include "core/crypto.h"
#include "core/limits.h"

namespace tanpu::market {
namespace {

// charity_projects: one row per project; account_id is its ledger points account (set in the
// transaction that creates the row, never null after it commits). charity_donations: one row per
// donation, written in the transaction of its ledger transfer; serial is the certificate's,
// derived from the id (so set right after the insert, in the same transaction). Idempotency keys
// are per creator (projects) and per member (donations), with the hash of the request they
// answered.
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE charity_projects (
  id {{serial_pk}},
  title TEXT NOT NULL,
  description TEXT NOT NULL,
  beneficiary TEXT NOT NULL,
  target_points BIGINT NOT NULL CHECK (target_points > 0),
  min_points BIGINT NOT NULL CHECK (min_points > 0),
  max_points BIGINT NOT NULL CHECK (max_points >= min_points),
  starts_at_us BIGINT,
  ends_at_us BIGINT,
  account_id BIGINT REFERENCES ledger_accounts (id),
  created_by BIGINT NOT NULL REFERENCES members (id),
  created_at_us BIGINT NOT NULL,
  closed_at_us BIGINT,
  closed_by BIGINT REFERENCES members (id),
  idempotency_key TEXT,
  request_hash {{blob}},
  UNIQUE (created_by, idempotency_key)
);
CREATE TABLE charity_donations (
  id {{serial_pk}},
  project_id BIGINT NOT NULL REFERENCES charity_projects (id),
  member_id BIGINT NOT NULL REFERENCES members (id),
  points BIGINT NOT NULL CHECK (points > 0),
  anonymous INTEGER NOT NULL,
  serial TEXT UNIQUE,
  transfer_id {{blob}} NOT NULL,
  idempotency_key TEXT NOT NULL,
  request_hash {{blob}} NOT NULL,
  created_at_us BIGINT NOT NULL,
  UNIQUE (member_id, idempotency_key)
);
CREATE INDEX charity_donations_project ON charity_donations (project_id, member_id);
CREATE INDEX charity_donations_member ON charity_donations (member_id, id);
)sql";

constexpr std::array kMigrations{
    store::Migration{"charity", 1, "projects_and_donations", kSchemaV1},
};

constexpr std::string_view kProjectColumns =
    "id, title, description, beneficiary, target_points, min_points, max_points, starts_at_us, "
    "ends_at_us, account_id, created_by, created_at_us, closed_at_us FROM charity_projects";

constexpr std::string_view kDonationColumns =
    "d.id, d.serial, d.member_id, d.project_id, p.title, d.points, d.anonymous, d.transfer_id, "
    "d.created_at_us, d.request_hash FROM charity_donations d JOIN charity_projects p ON p.id = "
    "d.project_id";

std::unexpected<Error> invalid(std::string code, std::string message, std::string field) {
  return fail(ErrorKind::invalid, std::move(code), std::move(message), std::move(field));
}

std::unexpected<Error> conflict(std::string code, std::string message) {
  return fail(ErrorKind::conflict, std::move(code), std::move(message));
}

std::optional<std::int64_t> opt_i64(const store::Rows& rows, std::size_t r, std::size_t c) {
  if (rows.is_null(r, c)) return std::nullopt;
  return rows.i64(r, c);
}

Result<void> validate_text(const ProjectInput& in) {
  if (in.title.empty()) return invalid("title_required", "a project needs a title", "title");
  if (in.title.size() > kProjectTitleBytesMax) {
    return invalid("title_too_long", "the title is over 120 bytes", "title");
  }
  if (in.description.size() > kProjectDescriptionBytesMax) {
    return invalid("description_too_long", "the description is over 4,000 bytes", "description");
  }
  if (in.beneficiary.empty()) {
    return invalid("beneficiary_required", "name the organisation the points go to", "beneficiary");
  }
  if (in.beneficiary.size() > kBeneficiaryBytesMax) {
    return invalid("beneficiary_too_long", "the beneficiary is over 200 bytes", "beneficiary");
  }
  return {};
}

Result<void> validate(const ProjectInput& in) {
  if (auto r = validate_text(in); !r) return r;
  if (in.target_points <= 0 || in.target_points > kTargetPointsMax) {
    return invalid("target_points_out_of_range", "target_points must be 1 to 10^12",
                   "target_points");
  }
  if (in.max_points <= 0 || in.max_points > kDonationPointsMax) {
    return invalid("max_points_out_of_range", "max_points must be 1 to 100,000,000", "max_points");
  }
  if (in.min_points <= 0 || in.min_points > in.max_points) {
    return invalid("min_points_out_of_range", "min_points must be 1 to max_points", "min_points");
  }
  if (in.starts_at_us && in.ends_at_us && *in.ends_at_us <= *in.starts_at_us) {
    return invalid("window_ends_before_start", "ends_at must be after starts_at", "ends_at");
  }
  return {};
}

// The canonical bytes of a request, hashed: what an idempotency key is held to.
Sha256Digest project_hash(const ProjectInput& in) {
  Sha256 h;
  const auto field = [&h](std::string_view text) {
    h.update(std::to_string(text.size()) + ":");
    h.update(text);
  };
  field("tanpu-charity-project");
  field(in.title);
  field(in.description);
  field(in.beneficiary);
  field(std::to_string(in.target_points));
  field(in.starts_at_us ? std::to_string(*in.starts_at_us) : "-");
  field(in.ends_at_us ? std::to_string(*in.ends_at_us) : "-");
  field(std::to_string(in.min_points));
  field(std::to_string(in.max_points));
  return h.finish();
}

Sha256Digest donation_hash(const DonationInput& in) {
  return sha256("tanpu-charity-donation\n" + std::to_string(in.project_id) + "\n" +
                std::to_string(in.points) + "\n" + (in.anonymous ? "1" : "0"));
}

Project project_from_row(const store::Rows& rows, std::size_t r) {
  Project p;
  p.id = rows.i64(r, 0);
  p.title = std::string(rows.text(r, 1));
  p.description = std::string(rows.text(r, 2));
  p.beneficiary = std::string(rows.text(r, 3));
  p.target_points = rows.i64(r, 4);
  p.min_points = rows.i64(r, 5);
  p.max_points = rows.i64(r, 6);
  p.starts_at_us = opt_i64(rows, r, 7);
  p.ends_at_us = opt_i64(rows, r, 8);
  // Set in the transaction that inserted the row: a committed project always has its account.
  TANPU_ASSERT(!rows.is_null(r, 9) && rows.i64(r, 9) > 0);
  p.account_id = rows.i64(r, 9);
  p.created_by = rows.i64(r, 10);
  p.created_at_us = rows.i64(r, 11);
  p.closed_at_us = opt_i64(rows, r, 12);
  return p;
}

ProjectStatus status_at(const Project& p, std::int64_t now_us) {
  if (p.closed_at_us) return ProjectStatus::closed;
  if (p.starts_at_us && now_us < *p.starts_at_us) return ProjectStatus::upcoming;
  if (p.ends_at_us && now_us >= *p.ends_at_us) return ProjectStatus::ended;
  return ProjectStatus::open;
}

// A donation of `points` to p at now: p must be open and the points within its bounds.
Result<void> check_donation(const Project& p, std::int64_t now, std::int64_t points) {
  switch (status_at(p, now)) {
    case ProjectStatus::upcoming:
      return conflict("project_not_open", "the project does not take donations yet");
    case ProjectStatus::ended:
      return conflict("project_closed", "the project's donation window has ended");
    case ProjectStatus::closed:
      return conflict("project_closed", "the project is closed");
    case ProjectStatus::open:
      break;
  }
  if (points < p.min_points) {
    return invalid(
        "amount_below_minimum",
        "this project takes at least " + std::to_string(p.min_points) + " points per donation",
        "points");
  }
  if (points > p.max_points) {
    return invalid(
        "amount_above_maximum",
        "this project takes at most " + std::to_string(p.max_points) + " points per donation",
        "points");
  }
  return {};
}

// raised / target in basis points, rounded down, without overflow (target ≤ 10^12).
std::int64_t percent_bp(std::int64_t raised, std::int64_t target) {
  TANPU_ASSERT(target > 0 && raised >= 0);
  constexpr std::int64_t kWholeMax = std::numeric_limits<std::int64_t>::max() / 10'000 - 1;
  const std::int64_t whole = std::min(raised / target, kWholeMax);
  return whole * 10'000 + (raised % target) * 10'000 / target;
}

Result<void> fill_progress(store::Connection& c, ledger::Ledger& ledger, Project& p) {
  auto account = ledger.lookup_account(c, p.account_id);
  if (!account) return fail(account.error());
  auto rows = c.query(
      "SELECT COUNT(*), COUNT(DISTINCT member_id), COALESCE(SUM(points), 0) FROM "
      "charity_donations WHERE project_id = ?",
      {p.id});
  if (!rows) return fail(rows.error());
  // Every donation credited the account in its own transaction, and nothing here debits credits
  // back: what was credited covers what the rows say was donated.
  TANPU_ASSERT(account->credits_posted >= rows->i64(0, 2));
  Progress& g = p.progress;
  g.raised_points = account->credits_posted;
  g.balance_points = account->balance();
  g.donations = rows->i64(0, 0);
  g.donors = rows->i64(0, 1);
  g.target_points = p.target_points;
  g.percent_bp = percent_bp(g.raised_points, p.target_points);
  return {};
}

// A page cursor: the decimal id to continue below; empty for the first page.
Result<std::optional<std::int64_t>> parse_cursor(std::string_view cursor) {
  if (cursor.empty()) return std::nullopt;
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(cursor.data(), cursor.data() + cursor.size(), id);
  if (ec != std::errc() || end != cursor.data() + cursor.size() || id <= 0) {
    return invalid("invalid_cursor", "the cursor is not one this listing gave", "cursor");
  }
  return id;
}

std::string serial_for(std::int64_t donation_id, std::int64_t at_us, std::int32_t offset_min) {
  const std::string year = format_date(local_day(at_us, offset_min)).substr(0, 4);
  std::string digits = std::to_string(donation_id);
  if (digits.size() < 6) digits.insert(0, 6 - digits.size(), '0');
  return std::string(kCertificateSerialPrefix) + year + "-" + digits;
}

// "TPD-" 4 digits "-" 6..19 digits: anything else names no certificate.
bool well_formed_serial(std::string_view s) {
  const auto digits = [](std::string_view t) {
    return !t.empty() && std::ranges::all_of(t, [](char ch) { return ch >= '0' && ch <= '9'; });
  };
  const std::size_t p = kCertificateSerialPrefix.size();
  return s.size() <= kCertificateSerialBytesMax && s.size() >= p + 4 + 1 + 6 &&
         s.starts_with(kCertificateSerialPrefix) && digits(s.substr(p, 4)) && s[p + 4] == '-' &&
         digits(s.substr(p + 5));
}

Donation donation_from_row(const store::Rows& rows, std::size_t r) {
  Donation d;
  d.id = rows.i64(r, 0);
  TANPU_ASSERT(!rows.is_null(r, 1));  // set in the inserting transaction
  d.serial = std::string(rows.text(r, 1));
  d.member_id = rows.i64(r, 2);
  d.project_id = rows.i64(r, 3);
  d.project_title = std::string(rows.text(r, 4));
  d.points = rows.i64(r, 5);
  TANPU_ASSERT(d.points > 0);
  d.anonymous = rows.i64(r, 6) != 0;
  d.transfer_id = Id128::from_bytes(rows.blob(r, 7));
  d.created_at_us = rows.i64(r, 8);
  return d;
}

Error ledger_refusal(ledger::TransferStatus s) {
  if (s == ledger::TransferStatus::exceeds_credits) {
    return Error{ErrorKind::conflict, "insufficient_points",
                 "your points account does not hold enough available points", "points"};
  }
  return Error{ErrorKind::internal,
               "ledger_refused",
               "the ledger refused the donation: " + std::string(ledger::to_string(s)),
               {}};
}

// The first code point of a UTF-8 string (its lead byte says how long), or empty.
std::string_view first_code_point(std::string_view s) {
  if (s.empty()) return {};
  const auto lead = static_cast<unsigned char>(s[0]);
  std::size_t n = 1;
  if (lead >= 0xF0) {
    n = 4;
  } else if (lead >= 0xE0) {
    n = 3;
  } else if (lead >= 0xC0) {
    n = 2;
  }
  return s.substr(0, std::min(n, s.size()));
}

}  // namespace

std::span<const store::Migration> donation_migrations() {
  return kMigrations;
}

std::string_view to_string(ProjectStatus status) {
  switch (status) {
    case ProjectStatus::upcoming:
      return "upcoming";
    case ProjectStatus::open:
      return "open";
    case ProjectStatus::ended:
      return "ended";
    case ProjectStatus::closed:
      return "closed";
  }
  return "open";
}

std::string mask_display_name(std::string_view name) {
  return std::string(first_code_point(name)) + "***";
}

Donations::Donations(store::Store& store, ledger::Ledger& ledger, members::Members& members,
                     const Clock& clock, DonationOptions options)
    : store_(store), ledger_(ledger), members_(members), clock_(clock), options_(options) {
  TANPU_ASSERT(options_.utc_offset_minutes >= -12 * 60 && options_.utc_offset_minutes <= 14 * 60);
}

Result<Project> Donations::load_project(store::Connection& c, std::int64_t project_id) {
  auto rows = c.query("SELECT " + std::string(kProjectColumns) + " WHERE id = ?", {project_id});
  if (!rows) return fail(rows.error());
  if (rows->empty()) {
    return fail(ErrorKind::not_found, "project_not_found", "no such charity project");
  }
  Project p = project_from_row(*rows, 0);
  p.status = status_at(p, clock_.now_us());
  if (auto r = fill_progress(c, ledger_, p); !r) return fail(r.error());
  return p;
}

Result<Project> Donations::create_project(const members::Principal& by, const ProjectInput& input,
                                          std::string_view idempotency_key) {
  if (by.role != members::Role::operator_) {
    return fail(ErrorKind::forbidden, "operator_only", "only an operator may create a project");
  }
  if (auto r = validate(input); !r) return fail(r.error());
  if (idempotency_key.size() > kDonationKeyBytesMax) {
    return invalid("invalid_idempotency_key", "the idempotency key is over 64 bytes",
                   "Idempotency-Key");
  }
  const Sha256Digest hash = project_hash(input);
  const std::optional<std::string_view> key =
      idempotency_key.empty() ? std::nullopt : std::optional(idempotency_key);
  // The project this key created before, if any (checked against the request's hash).
  auto earlier = [&]() -> Result<std::optional<Project>> {
    if (!key) return std::nullopt;
    auto lease = store_.acquire();
    if (!lease) return fail(lease.error());
    auto rows = (*lease)->query(
        "SELECT id, request_hash FROM charity_projects WHERE created_by = ? AND "
        "idempotency_key = ?",
        {by.member_id, *key});
    if (!rows) return fail(rows.error());
    if (rows->empty()) return std::nullopt;
    if (!constant_time_equal(rows->blob(0, 1), hash)) {
      return conflict("idempotency_conflict",
                      "this Idempotency-Key was used for another project request");
    }
    auto p = load_project(**lease, rows->i64(0, 0));
    if (!p) return fail(p.error());
    p->replayed = true;
    return std::optional(std::move(*p));
  };
  if (auto e = earlier(); !e) {
    return fail(e.error());
  } else if (*e) {
    return std::move(**e);
  }

  auto id = store_.write_value<std::int64_t>([&](store::Connection& c) -> Result<std::int64_t> {
    auto row = c.query(
        "INSERT INTO charity_projects (title, description, beneficiary, target_points, "
        "min_points, max_points, starts_at_us, ends_at_us, created_by, created_at_us, "
        "idempotency_key, request_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        {std::string_view(input.title), std::string_view(input.description),
         std::string_view(input.beneficiary), input.target_points, input.min_points,
         input.max_points, store::nullable(input.starts_at_us), store::nullable(input.ends_at_us),
         by.member_id, clock_.now_us(), key ? store::Param(*key) : store::Param(nullptr),
         key ? store::Param(std::span<const std::uint8_t>(hash)) : store::Param(nullptr)});
    if (!row) return fail(row.error());
    const std::int64_t project_id = row->i64(0, 0);
    // Flags 0: donations only credit it; the operator pays it out with an operator transfer.
    const ledger::NewAccount account{ledger::Currency::points, "charity",
                                     std::to_string(project_id), 0};
    auto ids = ledger_.create_accounts(c, std::span(&account, 1));
    if (!ids) return fail(ids.error());
    auto set = c.exec("UPDATE charity_projects SET account_id = ? WHERE id = ?",
                      {ids->front(), project_id});
    if (!set) return fail(set.error());
    return project_id;
  });
  if (!id) {
    // The same key raced in from a concurrent request: answer what it created.
    if (id.error().code != store::kUniqueViolation) return fail(id.error());
    auto e = earlier();
    if (!e) return fail(e.error());
    if (!*e) return fail(id.error());
    return **e;
  }
  return project(*id);
}

Result<Project> Donations::close_project(const members::Principal& by, std::int64_t project_id) {
  if (by.role != members::Role::operator_) {
    return fail(ErrorKind::forbidden, "operator_only", "only an operator may close a project");
  }
  auto closed = store_.write([&](store::Connection& c) -> Result<void> {
    auto rows = c.query("SELECT closed_at_us FROM charity_projects WHERE id = ?", {project_id});
    if (!rows) return fail(rows.error());
    if (rows->empty()) {
      return fail(ErrorKind::not_found, "project_not_found", "no such charity project");
    }
    if (!rows->is_null(0, 0)) return {};  // closed already: closing is idempotent
    auto n = c.exec(
        "UPDATE charity_projects SET closed_at_us = ?, closed_by = ? WHERE id = ? AND "
        "closed_at_us IS NULL",
        {clock_.now_us(), by.member_id, project_id});
    if (!n) return fail(n.error());
    return {};
  });
  if (!closed) return fail(closed.error());
  return project(project_id);
}

Result<Project> Donations::project(std::int64_t project_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  return load_project(**lease, project_id);
}

Result<ProjectPage> Donations::list_projects(std::string_view cursor, std::size_t limit) {
  TANPU_ASSERT(limit >= 1 && limit <= limits::page_size_max);
  auto before = parse_cursor(cursor);
  if (!before) return fail(before.error());
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  const auto fetch = static_cast<std::int64_t>(limit + 1);
  auto rows = (*lease)->query(
      "SELECT " + std::string(kProjectColumns) + " WHERE id < ? ORDER BY id DESC LIMIT ?",
      {before->value_or(std::numeric_limits<std::int64_t>::max()), fetch});
  if (!rows) return fail(rows.error());
  ProjectPage page;
  const std::int64_t now = clock_.now_us();
  for (std::size_t r = 0; r < rows->size() && r < limit; ++r) {
    Project p = project_from_row(*rows, r);
    p.status = status_at(p, now);
    if (auto f = fill_progress(**lease, ledger_, p); !f) return fail(f.error());
    page.projects.push_back(std::move(p));
  }
  if (rows->size() > limit) page.next_cursor = std::to_string(page.projects.back().id);
  return page;
}

Result<std::optional<Donation>> Donations::find_donation(store::Connection& c,
                                                         std::int64_t member_id,
                                                         std::string_view key, Sha256Digest* hash) {
  auto rows = c.query("SELECT " + std::string(kDonationColumns) +
                          " WHERE d.member_id = ? AND d.idempotency_key = ?",
                      {member_id, key});
  if (!rows) return fail(rows.error());
  if (rows->empty()) return std::nullopt;
  const auto stored = rows->blob(0, 9);
  TANPU_ASSERT(stored.size() == hash->size());
  std::copy(stored.begin(), stored.end(), hash->begin());
  return donation_from_row(*rows, 0);
}

Result<Donation> Donations::donate(const DonationInput& input) {
  if (input.points <= 0) {
    return invalid("amount_must_be_positive", "donate at least one point", "points");
  }
  if (input.points > kDonationPointsMax) {
    return invalid("amount_above_maximum", "at most 100,000,000 points per donation", "points");
  }
  if (input.idempotency_key.empty() || input.idempotency_key.size() > kDonationKeyBytesMax) {
    return invalid("invalid_idempotency_key", "a donation needs an idempotency key of 1-64 bytes",
                   "Idempotency-Key");
  }
  const Sha256Digest hash = donation_hash(input);
  // The donation this key made before, if any; nullopt if none.
  auto earlier = [&]() -> Result<std::optional<Donation>> {
    auto lease = store_.acquire();
    if (!lease) return fail(lease.error());
    Sha256Digest stored{};
    auto found = find_donation(**lease, input.member_id, input.idempotency_key, &stored);
    if (!found || !*found) return found;
    if (!constant_time_equal(stored, hash)) {
      return conflict("idempotency_conflict",
                      "this Idempotency-Key was used for another donation request");
    }
    (*found)->replayed = true;
    return found;
  };
  if (auto e = earlier(); !e) {
    return fail(e.error());
  } else if (*e) {
    return std::move(**e);
  }
  auto done = donate_once(input, hash);
  if (done || done.error().code != store::kUniqueViolation) return done;
  // The same key raced in from a concurrent request: answer what it did.
  auto e = earlier();
  if (!e) return fail(e.error());
  if (!*e) return fail(done.error());
  return **e;
}

Result<Donation> Donations::donate_once(const DonationInput& input, const Sha256Digest& hash) {
  const bool pg = store_.dialect() == store::Dialect::postgres;
  return store_.write_value<Donation>([&](store::Connection& c) -> Result<Donation> {
    const std::int64_t now = clock_.now_us();
    // FOR SHARE: a concurrent close waits for this donation (and this one sees a committed close).
    auto rows = c.query(
        "SELECT " + std::string(kProjectColumns) + " WHERE id = ?" + (pg ? " FOR SHARE" : ""),
        {input.project_id});
    if (!rows) return fail(rows.error());
    if (rows->empty()) {
      return fail(ErrorKind::not_found, "project_not_found", "no such charity project");
    }
    const Project p = project_from_row(*rows, 0);
    if (auto ok = check_donation(p, now, input.points); !ok) return fail(ok.error());
    const std::array member_ids{input.member_id};
    auto accounts = members_.ledger_accounts(c, member_ids);
    if (!accounts) return fail(accounts.error());
    const auto acct = accounts->find(input.member_id);
    if (acct == accounts->end()) {
      return fail(ErrorKind::not_found, "member_not_found", "no such member");
    }
    Donation d;
    d.member_id = input.member_id;
    d.project_id = p.id;
    d.project_title = p.title;
    d.points = input.points;
    d.anonymous = input.anonymous;
    d.transfer_id = new_time_ordered_id();
    d.created_at_us = now;
    const auto transfer_bytes = d.transfer_id.to_bytes();
    auto id = c.query(
        "INSERT INTO charity_donations (project_id, member_id, points, anonymous, transfer_id, "
        "idempotency_key, request_hash, created_at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "RETURNING id",
        {d.project_id, d.member_id, d.points, std::int64_t{d.anonymous ? 1 : 0},
         std::span<const std::uint8_t>(transfer_bytes), std::string_view(input.idempotency_key),
         std::span<const std::uint8_t>(hash), now});
    if (!id) return fail(id.error());
    d.id = id->i64(0, 0);
    d.serial = serial_for(d.id, now, options_.utc_offset_minutes);
    auto set = c.exec("UPDATE charity_donations SET serial = ? WHERE id = ?",
                      {std::string_view(d.serial), d.id});
    if (!set) return fail(set.error());

    ledger::Transfer t;
    t.id = d.transfer_id;
    t.debit_account_id = acct->second.points_account_id;
    t.credit_account_id = p.account_id;
    t.amount = d.points;
    t.code = ledger::codes::donation;
    t.reference = "donation:" + std::to_string(d.id);
    auto applied = ledger_.create_transfers(c, std::span(&t, 1));
    if (!applied) return fail(applied.error());
    if (applied->statuses[0] != ledger::TransferStatus::ok) {
      return fail(ledger_refusal(applied->statuses[0]));
    }
    return d;
  });
}

Result<DonationPage> Donations::member_donations(std::int64_t member_id, std::string_view cursor,
                                                 std::size_t limit) {
  TANPU_ASSERT(limit >= 1 && limit <= limits::page_size_max);
  auto before = parse_cursor(cursor);
  if (!before) return fail(before.error());
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto rows =
      (*lease)->query("SELECT " + std::string(kDonationColumns) +
                          " WHERE d.member_id = ? AND d.id < ? ORDER BY d.id DESC LIMIT ?",
                      {member_id, before->value_or(std::numeric_limits<std::int64_t>::max()),
                       static_cast<std::int64_t>(limit + 1)});
  if (!rows) return fail(rows.error());
  DonationPage page;
  for (std::size_t r = 0; r < rows->size() && r < limit; ++r) {
    page.donations.push_back(donation_from_row(*rows, r));
  }
  if (rows->size() > limit) page.next_cursor = std::to_string(page.donations.back().id);
  return page;
}

Result<Certificate> Donations::certificate_where(std::string_view where,
                                                 std::span<const store::Param> params,
                                                 bool masked) {
  std::int64_t member_id = 0;
  Certificate out;
  {
    auto lease = store_.acquire();
    if (!lease) return fail(lease.error());
    auto rows = (*lease)->query(
        "SELECT d.serial, d.member_id, d.anonymous, d.project_id, p.title, p.beneficiary, "
        "d.points, d.created_at_us FROM charity_donations d JOIN charity_projects p ON p.id = "
        "d.project_id WHERE " +
            std::string(where),
        params);
    if (!rows) return fail(rows.error());
    if (rows->empty()) {
      return masked ? fail(ErrorKind::not_found, "certificate_not_found",
                           "no donation certificate has this serial", "serial")
                    : fail(ErrorKind::not_found, "donation_not_found", "no such donation");
    }
    TANPU_ASSERT(!rows->is_null(0, 0));  // set in the inserting transaction
    out.serial = std::string(rows->text(0, 0));
    member_id = rows->i64(0, 1);
    out.anonymous = rows->i64(0, 2) != 0;
    out.project_id = rows->i64(0, 3);
    out.project_title = std::string(rows->text(0, 4));
    out.beneficiary = std::string(rows->text(0, 5));
    out.points = rows->i64(0, 6);
    out.donated_at_us = rows->i64(0, 7);
  }
  if (out.anonymous) {
    out.donor_name = "anonymous";
    return out;
  }
  // The member's current display name: no personal data is copied into the donation rows.
  auto view = members_.get(member_id);
  if (!view) return fail(view.error());
  out.donor_name = masked ? mask_display_name(view->display_name) : view->display_name;
  return out;
}

Result<Certificate> Donations::certificate(std::int64_t member_id, std::int64_t donation_id) {
  const std::array<store::Param, 2> params{donation_id, member_id};
  return certificate_where("d.id = ? AND d.member_id = ?", params, false);
}

Result<Certificate> Donations::public_certificate(std::string_view serial) {
  if (!well_formed_serial(serial)) {
    return fail(ErrorKind::not_found, "certificate_not_found",
                "no donation certificate has this serial", "serial");
  }
  const std::array<store::Param, 1> params{serial};
  return certificate_where("d.serial = ?", params, true);
}

}  // namespace tanpu::market
