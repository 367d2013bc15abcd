// Shared by the organisations' source files (not part of the module's interface).
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "core/result.h"
#include "orgs/orgs.h"
#include "store/connection.h"
#include "store/sql_text.h"
#include "store/store.h"

namespace tanpu::orgs::detail {

// The columns org_from_row reads, in order (FROM orgs_orgs o JOIN orgs_orgs r ON r.id = o.root_id).
extern const std::string_view kOrgColumns;
Org org_from_row(const store::Rows& rows, std::size_t i);

// The ids on a path "/1/5/23/", root first.
std::vector<std::int64_t> path_ids(std::string_view path);

// [lo, hi) bounds of the paths in the subtree of `path` (itself included): '0' follows '/'.
inline std::pair<std::string, std::string> subtree_bounds(std::string_view path) {
  std::string hi(path);
  hi.back() = '0';
  return {std::string(path), std::move(hi)};
}

inline std::unexpected<Error> forbidden(std::string message) {
  return fail(ErrorKind::forbidden, "forbidden", std::move(message));
}
inline std::unexpected<Error> conflict(std::string code, std::string message) {
  return fail(ErrorKind::conflict, std::move(code), std::move(message));
}
inline std::unexpected<Error> invalid(std::string code, std::string message,
                                      std::string field = {}) {
  Error e{ErrorKind::invalid, std::move(code), std::move(message), std::move(field)};
  return std::unexpected(std::move(e));
}

// A random code of n characters from Crockford's base-32 alphabet (no I, L, O, U).
std::string random_code(std::size_t n);
// A typed code normalised for comparison: upper case, without spaces and hyphens.
std::string normalise_code(std::string_view typed);

// Changes to the per-organisation rollups, gathered in memory and written as a few multi-row
// upserts in the caller's transaction (docs/organisations.md, "Dashboards").
struct RollupDeltas {
  struct Sums {
    std::int64_t records = 0;
    std::int64_t reduction_mg = 0;
    std::int64_t points = 0;
  };
  struct Counts {
    std::int64_t members = 0;
    std::int64_t imported = 0;
    std::int64_t activated = 0;
    Sums sums;
  };
  std::map<std::int64_t, Counts> totals;                                 // orgs_rollup_total
  std::map<std::pair<std::int64_t, std::int64_t>, std::int64_t> active;  // (org, last day)
  std::map<std::pair<std::int64_t, std::int64_t>, std::int64_t> levels;  // (org, level)
  std::map<std::pair<std::int64_t, std::string>, Sums> scenarios;        // (org, scenario)
  std::map<std::tuple<std::int64_t, std::int64_t, std::string>, Sums> days;

  // A member, as they stand (last active day, reduction), joining (sign +1) or leaving (-1) every
  // organisation on path: the member count, the active-day and the level counts.
  void member(std::string_view path, std::int64_t last_day, std::int64_t reduction_mg,
              std::int64_t sign);
  // One person on the roster joining (+1) or leaving (-1) every organisation on path.
  void person(std::string_view path, bool activated, std::int64_t sign);
  Result<void> write(store::Connection& c) const;
};

// Adds sign × every rollup of org_id (which covers its subtree) to each of ancestors: an
// organisation moving leaves some ancestors and joins others.
Result<void> shift_org(store::Connection& c, std::int64_t org_id,
                       std::span<const std::int64_t> ancestors, std::int64_t sign);

// Idempotent creation (architecture.md §10): a creating request may carry a key, unique per
// member. The id created first under (member_id, key), if any; idempotency_conflict (conflict) if
// the key was used for another kind or other input (request_sha256 differs).
Result<std::optional<std::int64_t>> replay(store::Connection& c, std::int64_t member_id,
                                           std::string_view key, std::string_view kind,
                                           std::string_view request_sha256);
// Runs a creating job (which calls replay and remember). Two requests with one key at once: the
// second's insert collides; run again, it answers what the first created.
Result<std::int64_t> write_created(
    store::Store& store, std::string_view key,
    const std::function<Result<std::int64_t>(store::Connection&)>& job);
// Records what (member_id, key) created, in the creating transaction.
Result<void> remember(store::Connection& c, std::int64_t member_id, std::string_view key,
                      std::string_view kind, std::string_view request_sha256,
                      std::int64_t created_id, std::int64_t now_us);
// The hex SHA-256 of the fields of a request, joined unambiguously.
std::string request_hash(std::initializer_list<std::string_view> fields);

// The names on the path from below the root down to org (e.g. "College/Class 1"), read in c.
Result<std::string> path_names(store::Connection& c, std::string_view path);

}  // namespace tanpu::orgs::detail
