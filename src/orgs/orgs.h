// Organisations (architecture.md §2, §7): trees of organisations (university → college → class,
// enterprise → department → team, agency → unit, community), admins and reviewers scoped to a
// subtree, members' memberships, the one-click import of a roster (CSV or XLSX) with activation
// codes, low-carbon activities with a rotating check-in code, academic credit programmes and the
// dashboards of every organisation, served from rollups written with the postings.
// docs/organisations.md explains the model.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/id.h"
#include "core/result.h"
#include "core/time.h"
#include "ledger/ledger.h"
#include "members/members.h"
#include "members/pii.h"
#include "store/migrate.h"
#include "store/store.h"

namespace tanpu::orgs {

// The organisations' tables (module "orgs", prefix orgs_). They reference the members' tables.
std::span<const store::Migration> migrations();

// A member's memberships, the roster entries organisations imported about them, their activity
// sign-ups and their roles, as sections of their data export (members::ExportHook).
Result<void> export_member(store::Connection& c, std::int64_t member_id, nlohmann::json& out);

inline constexpr std::size_t kOrgNameBytesMax = 120;
inline constexpr std::int32_t kDepthMaxLimit = 6;         // the deepest a tree may be configured
inline constexpr std::size_t kChildrenPerOrgMax = 2'000;  // a college with many classes
inline constexpr std::size_t kRegionBytesMax = 16;        // "CN-LN-SHE"

// Organisation types by tier. A first-tier organisation is university, enterprise, agency or
// community; children take the types below their parent's (a class under a college…).
enum class OrgType : std::uint8_t {
  university,
  college,
  class_,
  enterprise,
  department,
  team,
  agency,
  unit,
  community,
  group,
};
std::string_view to_string(OrgType t);
std::optional<OrgType> parse_org_type(std::string_view text);

struct Org {
  std::int64_t id = 0;
  std::optional<std::int64_t> parent_id;
  std::int64_t root_id = 0;
  std::int32_t depth = 1;  // 1 for a first-tier organisation
  OrgType type = OrgType::university;
  std::string name;
  std::optional<std::string> region;  // ISO-3166-2-like code, inherited by offers' region limits
  std::string path;                   // "/1/5/23/": ids from the root, for subtree look-ups
  std::int32_t depth_max = 3;         // of the tree (the root's setting)
  bool archived = false;
  std::int64_t created_at_us = 0;
  bool replayed = false;  // answered from an earlier request with the same idempotency key
};

struct OrgInput {
  std::optional<std::int64_t> parent_id;  // none: a first-tier organisation (operator only)
  OrgType type = OrgType::university;
  std::string name;                   // 1..kOrgNameBytesMax bytes, unique among siblings
  std::optional<std::string> region;  // "CN", "CN-LN", "CN-LN-SHE"…
  std::int32_t depth_max = 3;         // first tier only: 1..kDepthMaxLimit
  std::string idempotency_key;        // optional: the same key and input answer the first again
};

// Roles held in an organisation; each reaches the organisation's whole subtree.
enum class OrgRole : std::uint8_t { admin, reviewer };
std::string_view to_string(OrgRole r);
std::optional<OrgRole> parse_org_role(std::string_view text);

// The caller, as the HTTP layer authenticated them.
struct Actor {
  std::int64_t member_id = 0;
  bool operator_ = false;
};

// One person on an organisation's roster (imported), activated or not.
struct Person {
  std::int64_t id = 0;
  std::int64_t org_id = 0;
  std::string org_path_names;  // "College of Energy/Class 2301", relative to the root
  std::string member_number;
  std::string name;
  std::optional<std::string> phone_masked;
  std::optional<std::string> email_masked;
  std::optional<std::int64_t> member_id;  // once activated
  std::int64_t imported_at_us = 0;
  std::optional<std::int64_t> activated_at_us;
};

// Import (one click). Columns, by header name (case-insensitive; Chinese headers accepted too):
// name (姓名), member_number (学号/工号), phone (手机号), email (邮箱), org_path (组织); phone or
// e-mail is required; org_path is relative to the organisation imported into, "/"-separated names
// of existing organisations, empty for the organisation itself.
inline constexpr std::size_t kImportRowsMax = 100'000;
inline constexpr std::size_t kImportBytesMax = 20u << 20;
inline constexpr std::size_t kMemberNumberBytesMax = 32;
inline constexpr std::size_t kPersonNameBytesMax = 80;

enum class RowFate : std::uint8_t { created, updated, unchanged, failed };
std::string_view to_string(RowFate f);

struct RowResult {
  std::size_t row = 0;  // as the spreadsheet numbers it (the header is row 1)
  std::string member_number;
  RowFate fate = RowFate::failed;
  std::optional<Error> error;                  // failed: why (code, message, field)
  std::optional<std::string> activation_code;  // real run, created: shown once, here
};

struct ImportReport {
  bool dry_run = true;
  std::size_t rows = 0;
  std::size_t created = 0;
  std::size_t updated = 0;
  std::size_t unchanged = 0;
  std::size_t failed = 0;
  std::vector<RowResult> results;  // one per data row, in file order
};

// Activities.
inline constexpr std::size_t kActivityTitleBytesMax = 120;
inline constexpr std::size_t kActivityPlaceBytesMax = 200;
inline constexpr std::int64_t kActivityCapacityMax = 100'000;
inline constexpr std::int64_t kActivityPointsMax = 10'000;  // per check-in
inline constexpr std::int64_t kActivityReductionMgMax = 1'000'000'000;
inline constexpr std::int64_t kCheckinStepUs = 30'000'000;  // the code changes every 30 s
inline constexpr std::size_t kCheckinCodeChars = 8;

struct ActivityInput {
  std::int64_t org_id = 0;
  std::string title;  // 1..kActivityTitleBytesMax
  std::string place;  // 0..kActivityPlaceBytesMax
  std::int64_t starts_at_us = 0;
  std::int64_t ends_at_us = 0;                // after the start, within 31 days
  std::int64_t capacity = 0;                  // 1..kActivityCapacityMax sign-ups
  std::int64_t points_per_checkin = 0;        // 0..kActivityPointsMax
  std::int64_t reduction_mg_per_checkin = 0;  // 0.. (e.g. a tree planted, from a methodology)
  std::string scenario = "activity";          // the dashboards' scenario for the check-ins
  std::string methodology;      // "code@version" the reduction was quantified under, or ""
  std::string idempotency_key;  // optional, as OrgInput's
};

struct Activity {
  std::int64_t id = 0;
  std::int64_t org_id = 0;
  std::string title;
  std::string place;
  std::int64_t starts_at_us = 0;
  std::int64_t ends_at_us = 0;
  std::int64_t capacity = 0;
  std::int64_t points_per_checkin = 0;
  std::int64_t reduction_mg_per_checkin = 0;
  std::string scenario;
  std::string methodology;  // "code@version", or "" (the reduction was given)
  std::int64_t signed_up = 0;
  std::int64_t checked_in = 0;
  std::int64_t created_by = 0;
  std::int64_t created_at_us = 0;
  bool replayed = false;
};

// The code a screen shows for check-in now, and until when it is valid.
struct CheckinCode {
  std::string code;     // kCheckinCodeChars characters
  std::string qr_text;  // "tanpu:checkin:v1:<activity id>:<code>"
  std::int64_t valid_until_us = 0;
};

struct Checkin {
  std::int64_t activity_id = 0;
  std::int64_t member_id = 0;
  std::int64_t points = 0;
  std::int64_t reduction_mg = 0;
  std::int64_t checked_in_at_us = 0;
};

// Academic carbon credit programmes.
struct ProgrammeInput {
  std::int64_t org_id = 0;
  std::string name;                      // "Undergraduate 2026"
  std::int64_t points_per_credit = 500;  // > 0
  std::int64_t credits_max = 4;          // 1..100
  Day enrolment_starts = 0;              // the first day points count
  std::int32_t enrolment_years = 4;      // 1..10
  std::string idempotency_key;           // optional, as OrgInput's
};

struct Programme {
  std::int64_t id = 0;
  std::int64_t org_id = 0;
  std::string name;
  std::int64_t points_per_credit = 0;
  std::int64_t credits_max = 0;
  Day enrolment_starts = 0;
  Day enrolment_ends = 0;  // exclusive
  std::int32_t enrolment_years = 0;
  std::int64_t created_at_us = 0;
  bool replayed = false;
};

struct TranscriptLine {
  std::int64_t member_id = 0;
  std::string member_number;
  std::string name;
  std::string org_path_names;
  std::int64_t points_earned = 0;  // inside the enrolment period
  std::int64_t credits = 0;        // min(credits_max, points_earned / points_per_credit)
};

struct Transcript {
  Programme programme;
  std::vector<TranscriptLine> lines;  // by member number
};

// Dashboards.
struct ScenarioShare {
  std::string scenario;
  std::int64_t records = 0;
  std::int64_t reduction_mg = 0;
  double count_share = 0;   // of all records in the subtree
  double volume_share = 0;  // of all reduction in the subtree
};

struct DayPoint {
  Day day = 0;
  std::int64_t records = 0;
  std::int64_t reduction_mg = 0;
  std::int64_t points = 0;
};

struct ChildRank {
  std::int64_t org_id = 0;
  std::string name;
  std::int64_t members = 0;
  std::int64_t records = 0;
  std::int64_t reduction_mg = 0;
  std::int64_t points = 0;
};

struct TopMember {
  std::int64_t member_id = 0;
  std::string name;  // "张*" when the member hides their name
  std::int64_t reduction_mg = 0;
  std::int64_t records = 0;
  std::int32_t level = 0;
  std::vector<std::string> badges;
};

struct LevelCount {
  std::int32_t level = 0;
  std::string title;
  std::int64_t members = 0;
};

struct Dashboard {
  Org org;
  Day today = 0;
  std::int64_t imported = 0;   // people on the roster of the subtree
  std::int64_t activated = 0;  // of them, activated
  double registration_rate = 0;
  std::int64_t members = 0;  // memberships in the subtree
  std::int64_t active_7d = 0;
  std::int64_t active_30d = 0;
  std::int64_t records = 0;
  std::int64_t reduction_mg = 0;
  std::int64_t points = 0;
  std::vector<ScenarioShare> scenarios;  // by reduction, largest first
  std::vector<DayPoint> trend;           // the last 30 days, oldest first, zero days included
  std::vector<ChildRank> children;       // by reduction, largest first
  std::vector<TopMember> top_members;    // the ten largest reductions
  std::vector<LevelCount> levels;
};

// Levels by lifetime reduction (kg CO2e): 0 seedling, 1 sprout (1 kg), 2 sapling (10 kg), 3 tree
// (100 kg), 4 forest (1 t).
std::int32_t level_for(std::int64_t reduction_mg);
std::string_view level_title(std::int32_t level);

// One credited behaviour as the rollups take it (written in the posting's own transaction).
struct Credit {
  std::int64_t member_id = 0;
  Day day = 0;
  std::string scenario;
  std::int64_t reduction_mg = 0;
  std::int64_t points = 0;
};

struct Options {
  std::int32_t utc_offset_minutes = 480;    // day boundaries (Asia/Shanghai)
  std::int32_t checkin_steps_accepted = 2;  // the current code and the one before it
};

class Orgs {
 public:
  // keys: the members' PII keys (the roster's phones and e-mails are encrypted like members').
  Orgs(store::Store& store, ledger::Ledger& ledger, members::Members& members, members::Keys keys,
       const Clock& clock, Options options = {});

  // The tree. Errors: org_not_found (not_found); forbidden; invalid fields (name_required,
  // name_too_long, invalid_type, invalid_region, invalid_depth_max); depth_exceeded (invalid: the
  // tree's depth_max); sibling_name_taken (conflict); parent_archived (conflict).
  Result<Org> create_org(const Actor& who, const OrgInput& input);
  Result<Org> get_org(const Actor& who, std::int64_t org_id);
  Result<std::vector<Org>> children(const Actor& who, std::int64_t org_id);
  // The organisations where the actor holds a role (admin or reviewer), the tops of what they may
  // reach; for the operator, every first-tier organisation.
  Result<std::vector<Org>> roots(const Actor& who);
  Result<Org> rename_org(const Actor& who, std::int64_t org_id, std::string_view name);
  // Moves org_id (and its subtree) under new_parent_id within the same tree. Errors: move_root
  // (a first-tier organisation cannot move), move_into_descendant, other_tree (invalid),
  // depth_exceeded; the actor must administer both the organisation's parent and the new parent.
  Result<Org> move_org(const Actor& who, std::int64_t org_id, std::int64_t new_parent_id);
  // Archives org_id and its subtree: no new children, imports, activities or sign-ups.
  Result<Org> archive_org(const Actor& who, std::int64_t org_id);

  // Roles. Granting admin on a first-tier organisation is the operator's; an admin grants within
  // their subtree. Errors: member_not_found.
  Result<void> grant_role(const Actor& who, std::int64_t org_id, std::int64_t member_id,
                          OrgRole role);
  Result<void> revoke_role(const Actor& who, std::int64_t org_id, std::int64_t member_id,
                           OrgRole role);
  // Whether the actor holds role (or is the operator) on org_id or an ancestor.
  Result<bool> has_role(const Actor& who, std::int64_t org_id, OrgRole role);

  // Import. bytes: CSV or XLSX. The dry run writes nothing; the real run applies every good row
  // (created or updated, by member number within the tree) in one transaction and reports failed
  // rows, which change nothing. Errors for the whole file: file_too_large, too_many_rows (too
  // large), formula_not_allowed, invalid_csv, invalid_xlsx, missing_column (invalid).
  Result<ImportReport> import_people(const Actor& who, std::int64_t org_id,
                                     std::span<const std::uint8_t> bytes, bool dry_run);
  // The roster of the subtree, by member number, page after after_member_number.
  Result<std::vector<Person>> people(const Actor& who, std::int64_t org_id, std::size_t limit,
                                     std::string_view after_member_number);
  // A new activation code for a person not activated yet (the old one stops working).
  Result<std::string> reissue_activation(const Actor& who, std::int64_t org_id,
                                         std::int64_t person_id);
  // A member activates with the code they were given: the person's organisation becomes their
  // membership (primary if they had none). Errors: invalid_activation_code (not_found),
  // already_activated (conflict), already_in_tree (conflict: one membership per tree).
  Result<Person> activate(std::int64_t member_id, std::string_view code);
  // The member's memberships (organisations, primary first).
  Result<std::vector<Org>> memberships(std::int64_t member_id);
  // Hides or shows the member's name on the dashboards' top lists.
  Result<void> set_name_hidden(std::int64_t member_id, bool hidden);

  // Market eligibility: whether member_id belongs to org_id's subtree (if given) and to an
  // organisation in region (a prefix match: "CN-LN" covers "CN-LN-SHE"), if given.
  Result<bool> eligible(std::int64_t member_id, std::optional<std::int64_t> org_id,
                        const std::optional<std::string>& region);

  // Activities. Errors: invalid fields (title_required…, invalid_window, invalid_capacity,
  // invalid_points), forbidden, org_not_found, org_archived.
  Result<Activity> create_activity(const Actor& who, const ActivityInput& input);
  Result<Activity> get_activity(std::int64_t activity_id);  // activity_not_found
  // Upcoming and running activities of the member's organisations (and their ancestors).
  Result<std::vector<Activity>> activities_for(std::int64_t member_id);
  Result<std::vector<Activity>> activities_of(const Actor& who, std::int64_t org_id);
  // Sign-up. Errors: not_a_member (forbidden: outside the activity's subtree), activity_full,
  // activity_ended, already_signed_up (conflict).
  Result<Activity> sign_up(std::int64_t member_id, std::int64_t activity_id);
  // The code to show now (admins of the activity's organisation).
  Result<CheckinCode> checkin_code(const Actor& who, std::int64_t activity_id);
  // Check-in with the code on the screen: credits the points (and reduction) once. Errors:
  // not_signed_up (forbidden), outside_window (conflict), invalid_code (expired, foreign or
  // mistyped; invalid), already_checked_in (conflict).
  Result<Checkin> check_in(std::int64_t member_id, std::int64_t activity_id, std::string_view code);

  // Credit programmes. Errors: invalid_points_per_credit, invalid_credits_max,
  // invalid_enrolment_years, name_required (invalid), forbidden.
  Result<Programme> create_programme(const Actor& who, const ProgrammeInput& input);
  Result<std::vector<Programme>> programmes(const Actor& who, std::int64_t org_id);
  Result<Transcript> transcript(const Actor& who, std::int64_t programme_id);
  // The member's standing in every programme of their organisations.
  Result<std::vector<std::pair<Programme, TranscriptLine>>> my_credits(std::int64_t member_id);

  // The dashboard of org_id over its subtree (admins, reviewers, the operator).
  Result<Dashboard> dashboard(const Actor& who, std::int64_t org_id);

  // Rollups: called by the ingestion pipeline (and by check-ins) inside the transaction that
  // posts the credits, so dashboards and credits never scan raw records.
  Result<void> record_credits(store::Connection& c, std::span<const Credit> credits);

 private:
  struct Tree;
  Result<Org> load_org(store::Connection& c, std::int64_t org_id);
  Result<void> require(const Actor& who, const Org& org, OrgRole role);
  Result<bool> holds(store::Connection& c, const Actor& who, const Org& org, OrgRole role);
  // The organisation, if `who` holds `role` there (or above it, or is the operator). Errors: those
  // of load_org; forbidden "only an admin [or reviewer] of this organisation may <may>".
  Result<Org> load_holding(store::Connection& c, const Actor& who, std::int64_t org_id,
                           OrgRole role, std::string_view may);

  store::Store& store_;
  ledger::Ledger& ledger_;
  members::Members& members_;
  members::Keys keys_;
  const Clock& clock_;
  Options options_;
};

// The check-in code of an activity's secret at time step `step` (time_us / kCheckinStepUs).
std::string checkin_code_at(std::span<const std::uint8_t> secret, std::int64_t activity_id,
                            std::int64_t step);

}  // namespace tanpu::orgs
