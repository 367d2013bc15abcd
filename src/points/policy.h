// The operator's points policy: how many points a credited reduction earns, how many points one
// member may earn per day, and when earned points expire. Set in the configuration (tanpu.toml
// [points…] keys, TANPU_POINTS_* variables, --points-* flags); docs/points.md.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "core/result.h"

namespace tanpu::points {

inline constexpr std::int64_t kMgPerPointMax = 1'000'000'000;  // one point per tonne at most
inline constexpr std::int64_t kExpiryYearsMax = 100;
inline constexpr std::int64_t kDayMax = 1'000'000'000;

struct Policy {
  // Platform-wide rate: one point per this many mg of credited reduction, rounded down per record
  // (Wuhan: 1 g = 1 point → 1000; Shenyang Metro: about 44 g per point → 44000). 0: each
  // methodology's own points formula decides.
  std::int64_t mg_per_point = 0;
  // Per methodology code, overriding the platform-wide rate.
  std::map<std::string, std::int64_t, std::less<>> mg_per_point_by_methodology;
  // Points one member may earn per local day, over all sources and scenarios (0 = no cap).
  std::int64_t day_max = 0;
  // Points earned in year Y expire at the end of year Y + expiry_years, oldest first
  // (0 = never). 1 means: what was earned in 2025 is gone on 1 January 2027.
  std::int64_t expiry_years = 0;
  // The platform's local time, for "the day" of the daily cap and "the year" of expiry.
  std::int32_t utc_offset_minutes = 480;

  // Points for one credited record of `methodology_code`: the rate's points for reduction_mg, or
  // formula_points where no rate applies or the record has no reduction (points-only behaviours).
  std::int64_t points_for(std::string_view methodology_code, std::int64_t reduction_mg,
                          std::int64_t formula_points) const;

  // The local calendar year of time_us.
  std::int32_t year_of(std::int64_t time_us) const;
};

// Refuses out-of-range settings and rates for methodology codes the catalog does not know
// (`known` answers for a code). Errors (invalid): points_policy_invalid, naming the setting.
Result<void> validate(const Policy& policy, const std::function<bool(std::string_view)>& known);

}  // namespace tanpu::points
