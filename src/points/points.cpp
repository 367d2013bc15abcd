#include "points/points.h"

#include <algorithm>
#include <array>

#include "core/crypto.h"
#include "store/connection.h"

namespace tanpu::points {
namespace {

// points_earned: per points account and local year, the points credited (never decreases; what
// was spent or expired is read from the ledger). points_expiry_runs: the cutoff years the
// scheduler has expired, so it runs once per year.
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE points_earned (
  account_id BIGINT NOT NULL,
  year INTEGER NOT NULL,
  points BIGINT NOT NULL,
  PRIMARY KEY (account_id, year)
) {{update_heavy}};
CREATE TABLE points_expiry_runs (
  cutoff_year INTEGER NOT NULL PRIMARY KEY,
  finished_at_us BIGINT NOT NULL,
  accounts BIGINT NOT NULL,
  points BIGINT NOT NULL
);
)sql";

constexpr std::array kMigrations{
    store::Migration{"points", 1, "earned_and_expiry_runs", kSchemaV1},
};

constexpr std::int64_t kAccountsPerChunk = 500;

// The expiry transfer's id: derived from what it is computed from, so running expiry again on an
// unchanged account finds the same transfer (the ledger answers `exists`), and a changed one (a
// hold voided since) gets a new transfer for the difference.
Id128 expiry_id(std::int64_t account_id, std::int32_t cutoff_year, std::int64_t debits_posted) {
  const auto digest = sha256("tanpu-points-expiry\n" + std::to_string(account_id) + "\n" +
                             std::to_string(cutoff_year) + "\n" + std::to_string(debits_posted));
  return Id128::from_bytes(std::span<const std::uint8_t>(digest.data(), 16));
}

// What is left of `earned` after first-in-first-out consumption, bounded by what can be debited.
std::int64_t left_of(std::int64_t earned, const ledger::Account& a) {
  const std::int64_t consumed = a.debits_posted + a.debits_pending;
  return std::clamp<std::int64_t>(earned - consumed, 0, std::max<std::int64_t>(0, a.available()));
}

}  // namespace

std::span<const store::Migration> migrations() {
  return kMigrations;
}

Points::Points(store::Store& store, ledger::Ledger& ledger, const Clock& clock, Policy policy)
    : store_(store), ledger_(ledger), clock_(clock), policy_(std::move(policy)) {}

Result<void> Points::record_earned(store::Connection& c, std::int32_t year,
                                   std::span<const Earned> earned) {
  std::vector<store::Param> values;
  for (const auto& e : earned) {
    if (e.points <= 0) continue;
    values.insert(values.end(), {e.account_id, std::int64_t{year}, e.points});
  }
  // One statement of arrays on PostgreSQL, power-of-two VALUES chunks on SQLite (upsert_rows).
  return store::upsert_rows(c, "points_earned", "account_id, year, points", 3, "account_id, year",
                            "points = points_earned.points + excluded.points", values);
}

Result<ExpiryReport> Points::expire(std::int64_t now_us, bool dry_run) {
  ExpiryReport report;
  report.dry_run = dry_run;
  report.enabled = policy_.expiry_years > 0;
  if (!report.enabled) return report;
  report.cutoff_year =
      policy_.year_of(now_us) - static_cast<std::int32_t>(policy_.expiry_years) - 1;
  std::int64_t after = 0;
  for (bool more = true; more;) {
    // Set by the job (which the store may run more than once): accounts read, the last one.
    std::int64_t read = 0;
    std::int64_t last = after;
    // One chunk of accounts per write transaction: the writer is never held for long.
    auto chunk = store_.write_value<ExpiryReport>([&](store::Connection& c)
                                                      -> Result<ExpiryReport> {
      ExpiryReport part;
      read = 0;
      last = after;
      auto rows = c.query(
          "SELECT account_id, SUM(points) FROM points_earned WHERE year <= ? AND account_id > ? "
          "GROUP BY account_id ORDER BY account_id LIMIT ?",
          {std::int64_t{report.cutoff_year}, after, kAccountsPerChunk});
      if (!rows) return fail(rows.error());
      std::vector<ledger::Transfer> transfers;
      for (std::size_t r = 0; r < rows->size(); ++r) {
        const std::int64_t id = rows->i64(r, 0);
        auto account = ledger_.lookup_account(c, id);
        if (!account) return fail(account.error());
        const std::int64_t amount = left_of(rows->i64(r, 1), *account);
        if (amount <= 0) continue;
        ++part.accounts;
        part.points += amount;
        ledger::Transfer t;
        t.id = expiry_id(id, report.cutoff_year, account->debits_posted);
        t.debit_account_id = id;
        t.credit_account_id = ledger::kPlatformPointsAccount;
        t.amount = amount;
        t.code = ledger::codes::points_expiry;
        t.reference = "points_expiry:" + std::to_string(report.cutoff_year);
        transfers.push_back(std::move(t));
      }
      read = static_cast<std::int64_t>(rows->size());
      if (!rows->empty()) last = rows->i64(rows->size() - 1, 0);
      if (dry_run || transfers.empty()) return part;
      auto applied = ledger_.create_transfers(c, transfers);
      if (!applied) return fail(applied.error());
      for (const auto status : applied->statuses) {
        if (status != ledger::TransferStatus::ok && status != ledger::TransferStatus::exists) {
          return fail(ErrorKind::internal, "expiry_refused",
                      "the ledger refused an expiry: " + std::string(ledger::to_string(status)));
        }
      }
      return part;
    });
    if (!chunk) return fail(chunk.error());
    report.accounts += chunk->accounts;
    report.points += chunk->points;
    after = last;
    more = read == kAccountsPerChunk;
  }
  return report;
}

Result<ExpiryReport> Points::expire_if_due(std::int64_t now_us) {
  ExpiryReport report;
  report.enabled = policy_.expiry_years > 0;
  if (!report.enabled) return report;
  report.cutoff_year =
      policy_.year_of(now_us) - static_cast<std::int32_t>(policy_.expiry_years) - 1;
  {
    auto lease = store_.acquire();
    if (!lease) return fail(lease.error());
    auto done = (*lease)->query("SELECT 1 FROM points_expiry_runs WHERE cutoff_year = ?",
                                {std::int64_t{report.cutoff_year}});
    if (!done) return fail(done.error());
    if (!done->empty()) return report;
  }
  auto ran = expire(now_us);
  if (!ran) return ran;
  auto recorded = store_.write([&](store::Connection& c) -> Result<void> {
    auto r = c.exec(
        "INSERT INTO points_expiry_runs (cutoff_year, finished_at_us, accounts, points) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (cutoff_year) DO NOTHING",
        {std::int64_t{ran->cutoff_year}, clock_.now_us(), ran->accounts, ran->points});
    if (!r) return fail(r.error());
    return {};
  });
  if (!recorded) return fail(recorded.error());
  return ran;
}

Result<Outlook> Points::outlook(std::int64_t points_account_id, std::int64_t now_us) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto account = ledger_.lookup_account(**lease, points_account_id);
  if (!account) return fail(account.error());
  auto rows =
      (*lease)->query("SELECT year, points FROM points_earned WHERE account_id = ? ORDER BY year",
                      {points_account_id});
  if (!rows) return fail(rows.error());
  Outlook out;
  out.balance = account->balance();
  out.available = account->available();
  out.expiry_enabled = policy_.expiry_years > 0;
  for (std::size_t r = 0; r < rows->size(); ++r) {
    out.earned_by_year.push_back({static_cast<std::int32_t>(rows->i64(r, 0)), rows->i64(r, 1)});
  }
  if (!out.expiry_enabled) return out;
  // At the end of this year, what was earned up to (this year − expiry_years) expires.
  const std::int32_t year = policy_.year_of(now_us);
  const std::int32_t through = year - static_cast<std::int32_t>(policy_.expiry_years);
  std::int64_t earned = 0;
  for (const auto& y : out.earned_by_year) {
    if (y.year <= through) earned += y.points;
  }
  out.expiring_year = year;
  out.expiring_points = left_of(earned, *account);
  return out;
}

}  // namespace tanpu::points
