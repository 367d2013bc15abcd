// Points earned per member and year, and their expiry under the policy (policy.h).
//
// Whoever credits points to a member (the intake pipeline; activities later) records them here in
// the same transaction, by the member's points account and the local year of the credit. Expiry
// is first in, first out: spending and earlier expiries consume the oldest points first, so when
// the points of years up to Y expire, what is left of them is
//   earned(≤ Y) − (debits posted + debits held by pending transfers),
// bounded by what the account can still give. Each expiry is one ledger transfer from the
// member's points account back to the platform's issuing account (code points_expiry), so the
// ledger's invariants and `tanpu verify` cover it. docs/points.md.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "ledger/ledger.h"
#include "points/policy.h"
#include "store/migrate.h"
#include "store/store.h"

namespace tanpu::points {

std::span<const store::Migration> migrations();

struct Earned {
  std::int64_t account_id = 0;  // the member's points account
  std::int64_t points = 0;
};

struct ExpiryReport {
  bool enabled = false;          // the policy expires points at all
  std::int32_t cutoff_year = 0;  // points earned in this year and before are expired
  std::int64_t accounts = 0;     // accounts that lost points in this run
  std::int64_t points = 0;       // points expired in this run
  bool dry_run = false;
};

struct YearPoints {
  std::int32_t year = 0;
  std::int64_t points = 0;
};

// One member's points as the member sees them.
struct Outlook {
  std::int64_t balance = 0;                // posted
  std::int64_t available = 0;              // minus holds
  std::vector<YearPoints> earned_by_year;  // oldest first
  bool expiry_enabled = false;
  std::int32_t expiring_year = 0;    // at the end of this year…
  std::int64_t expiring_points = 0;  // …this many points expire, unless spent first
};

class Points {
 public:
  Points(store::Store& store, ledger::Ledger& ledger, const Clock& clock, Policy policy);

  const Policy& policy() const { return policy_; }

  // Adds points earned in `year` to their accounts, inside the caller's transaction (the one
  // that posts the credits). Entries with points ≤ 0 are skipped.
  static Result<void> record_earned(store::Connection& c, std::int32_t year,
                                    std::span<const Earned> earned);

  // Expires, as of now_us, what is left of the points earned up to the cutoff year
  // (year of now_us − expiry_years − 1). Idempotent: a second run with nothing changed expires
  // nothing. Commits per chunk of accounts. dry_run computes without transferring.
  Result<ExpiryReport> expire(std::int64_t now_us, bool dry_run = false);

  // What the scheduler runs: expire() once per cutoff year (remembered in points_expiry_runs).
  // Returns a report with accounts = points = 0 when this cutoff year was done already.
  Result<ExpiryReport> expire_if_due(std::int64_t now_us);

  // The member's points account as the member sees it, as of now_us.
  Result<Outlook> outlook(std::int64_t points_account_id, std::int64_t now_us);

 private:
  store::Store& store_;
  ledger::Ledger& ledger_;
  const Clock& clock_;
  Policy policy_;
};

}  // namespace tanpu::points
