// Donations of points to charity projects (architecture.md §7; docs/donations.md is the guide).
//
// An operator creates a charity project: a title, a beneficiary organisation, a target in points,
// an optional window and per-donation bounds. Each project owns a ledger points account (owner
// "charity"/<project id>, flags 0). Members donate with a single-phase ledger transfer from their
// points account to the project's (code donation), in the same transaction as the donation row and
// its certificate serial; a refusal changes nothing. Nothing in this module ever debits a project
// account: the operator pays the points out to the beneficiary with the ledger's operator transfer
// API, and progress counts what was credited, so a payout does not lower it.
//
// Donations beyond the target are accepted until the project closes (by the operator, or at the end
// of its window); progress may pass 100 %.
//
// Certificates are checked by look-up, not by signature: GET /v1/donation-certificates/{serial}
// answers anyone with the certificate's fields (the donor's display name masked), so a third party
// compares what a donor shows them with what the platform holds.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/crypto.h"
#include "core/id.h"
#include "core/result.h"
#include "core/time.h"
#include "ledger/ledger.h"
#include "members/members.h"
#include "store/migrate.h"
#include "store/store.h"

namespace tanpu::market {

// The donation tables (module "charity"). They reference the ledger's and the members' tables, so
// they run after those migrations.
std::span<const store::Migration> donation_migrations();

// Bounds, checked at the boundary (create_project, donate).
inline constexpr std::size_t kProjectTitleBytesMax = 120;
inline constexpr std::size_t kProjectDescriptionBytesMax = 4'000;
inline constexpr std::size_t kBeneficiaryBytesMax = 200;
inline constexpr std::int64_t kTargetPointsMax = 1'000'000'000'000;  // 10^12 points
inline constexpr std::int64_t kDonationPointsMax = 100'000'000;      // bound on any max_points
inline constexpr std::int64_t kDefaultMinPoints = 1;
inline constexpr std::int64_t kDefaultMaxPoints = 1'000'000;
inline constexpr std::size_t kDonationKeyBytesMax = 64;  // Idempotency-Key
inline constexpr std::size_t kCertificateSerialBytesMax = 32;
inline constexpr std::string_view kCertificateSerialPrefix = "TPD-";

struct ProjectInput {
  std::string title;               // 1..kProjectTitleBytesMax bytes
  std::string description;         // 0..kProjectDescriptionBytesMax bytes
  std::string beneficiary;         // the organisation paid out to: 1..kBeneficiaryBytesMax bytes
  std::int64_t target_points = 0;  // 1..kTargetPointsMax
  std::optional<std::int64_t> starts_at_us;     // none: open from creation
  std::optional<std::int64_t> ends_at_us;       // none: open until closed; else > starts_at_us
  std::int64_t min_points = kDefaultMinPoints;  // per donation: 1..max_points
  std::int64_t max_points = kDefaultMaxPoints;  // per donation: min_points..kDonationPointsMax
};

// A project's state at a moment: upcoming (before its window), open, ended (after its window) or
// closed (by the operator). Only an open project takes donations.
enum class ProjectStatus : std::uint8_t { upcoming, open, ended, closed };
std::string_view to_string(ProjectStatus status);

// Read from the ledger (the truth) and the donation rows.
struct Progress {
  std::int64_t raised_points = 0;   // credits posted to the project's account, ever
  std::int64_t balance_points = 0;  // what the account still holds (raised − paid out)
  std::int64_t donors = 0;          // distinct members who donated
  std::int64_t donations = 0;       // donation rows
  std::int64_t target_points = 0;
  std::int64_t percent_bp = 0;  // raised / target in basis points, rounded down; may pass 10,000
};

struct Project {
  std::int64_t id = 0;
  std::string title;
  std::string description;
  std::string beneficiary;
  std::int64_t target_points = 0;
  std::optional<std::int64_t> starts_at_us;
  std::optional<std::int64_t> ends_at_us;
  std::int64_t min_points = 0;
  std::int64_t max_points = 0;
  std::int64_t account_id = 0;  // the ledger points account donations are credited to
  std::int64_t created_by = 0;
  std::int64_t created_at_us = 0;
  std::optional<std::int64_t> closed_at_us;
  ProjectStatus status = ProjectStatus::open;  // as of the Clock when read
  Progress progress;
  bool replayed = false;  // answered from an earlier request with the same idempotency key
};

struct DonationInput {
  std::int64_t member_id = 0;
  std::int64_t project_id = 0;
  std::int64_t points = 0;
  bool anonymous = false;       // the certificate shows "anonymous" instead of the donor's name
  std::string idempotency_key;  // 1..kDonationKeyBytesMax bytes, per member
};

struct Donation {
  std::int64_t id = 0;
  std::string serial;  // certificate serial "TPD-<local year>-<id, 6 digits or more>"
  std::int64_t member_id = 0;
  std::int64_t project_id = 0;
  std::string project_title;
  std::int64_t points = 0;
  bool anonymous = false;
  Id128 transfer_id;  // the ledger transfer member → project
  std::int64_t created_at_us = 0;
  bool replayed = false;  // answered from an earlier request with the same idempotency key
};

// What a donor's certificate shows, and what the public look-up answers.
struct Certificate {
  std::string serial;
  std::string donor_name;  // the display name; masked in public look-ups; "anonymous" if asked
  bool anonymous = false;
  std::int64_t project_id = 0;
  std::string project_title;
  std::string beneficiary;
  std::int64_t points = 0;
  std::int64_t donated_at_us = 0;
};

struct ProjectPage {
  std::vector<Project> projects;  // newest first
  std::string next_cursor;        // empty when there is nothing more
};

struct DonationPage {
  std::vector<Donation> donations;  // newest first
  std::string next_cursor;
};

struct DonationOptions {
  // The local year of a donation (the serial's year) is taken this far east of UTC
  // (−12:00…+14:00).
  std::int32_t utc_offset_minutes = 8 * 60;  // Asia/Shanghai
};

// "A***" for a display name: its first character (UTF-8 code point) and three asterisks.
std::string mask_display_name(std::string_view name);

class Donations {
 public:
  // store must have the ledger's, the members' and donation_migrations() applied. All references
  // must outlive this object.
  Donations(store::Store& store, ledger::Ledger& ledger, members::Members& members,
            const Clock& clock, DonationOptions options = {});

  // Creates a project and its ledger account in one transaction. `by` must be an operator.
  // idempotency_key (optional, ≤ kDonationKeyBytesMax): the same key with the same input answers
  // the first project (replayed), with other input idempotency_conflict. Errors (invalid, with the
  // field): title_required, title_too_long, description_too_long, beneficiary_required,
  // beneficiary_too_long, target_points_out_of_range, min_points_out_of_range,
  // max_points_out_of_range, window_ends_before_start; operator_only (forbidden);
  // idempotency_conflict (conflict).
  Result<Project> create_project(const members::Principal& by, const ProjectInput& input,
                                 std::string_view idempotency_key = {});

  // Closes a project to donations (now and for good); closing a closed project answers it as it
  // is. Errors: operator_only, project_not_found.
  Result<Project> close_project(const members::Principal& by, std::int64_t project_id);

  // A project with its progress. Errors: project_not_found.
  Result<Project> project(std::int64_t project_id);

  // Projects, newest first, with their progress. cursor: empty, or next_cursor of the previous
  // page. limit: 1..limits::page_size_max. Errors: invalid_cursor.
  Result<ProjectPage> list_projects(std::string_view cursor, std::size_t limit);

  // Donates in one transaction: checks the project is open and the amount within its bounds,
  // inserts the donation row with its certificate serial and transfers the points from the
  // member's points account to the project's. Any refusal changes nothing. The same idempotency
  // key (per member) with the same project, points and anonymity answers the first donation
  // (replayed, no second transfer); with anything else: idempotency_conflict.
  // Errors: amount_must_be_positive, amount_below_minimum, amount_above_maximum,
  // invalid_idempotency_key (invalid); project_not_found, member_not_found (not_found);
  // project_not_open (upcoming), project_closed (closed or ended), insufficient_points,
  // idempotency_conflict (conflict).
  Result<Donation> donate(const DonationInput& input);

  // The member's donations, newest first. Errors: invalid_cursor.
  Result<DonationPage> member_donations(std::int64_t member_id, std::string_view cursor,
                                        std::size_t limit);

  // The certificate of one of the member's donations, with the donor's display name in full
  // (or "anonymous"). Errors: donation_not_found (also for another member's donation).
  Result<Certificate> certificate(std::int64_t member_id, std::int64_t donation_id);

  // The public look-up: the certificate of serial with the donor's display name masked
  // (mask_display_name) or "anonymous". Errors: certificate_not_found (also for a malformed
  // serial).
  Result<Certificate> public_certificate(std::string_view serial);

 private:
  Result<Project> load_project(store::Connection& c, std::int64_t project_id);
  Result<std::optional<Donation>> find_donation(store::Connection& c, std::int64_t member_id,
                                                std::string_view key, Sha256Digest* hash);
  Result<Donation> donate_once(const DonationInput& input, const Sha256Digest& hash);
  Result<Certificate> certificate_where(std::string_view where,
                                        std::span<const store::Param> params, bool masked);

  store::Store& store_;
  ledger::Ledger& ledger_;
  members::Members& members_;
  const Clock& clock_;
  DonationOptions options_;
};

}  // namespace tanpu::market
