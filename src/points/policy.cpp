#include "points/policy.h"

#include "core/time.h"

namespace tanpu::points {

std::int64_t Policy::points_for(std::string_view methodology_code, std::int64_t reduction_mg,
                                std::int64_t formula_points) const {
  std::int64_t rate = mg_per_point;
  if (const auto found = mg_per_point_by_methodology.find(methodology_code);
      found != mg_per_point_by_methodology.end()) {
    rate = found->second;
  }
  if (rate <= 0 || reduction_mg <= 0) return formula_points;
  return reduction_mg / rate;
}

std::int32_t Policy::year_of(std::int64_t time_us) const {
  const std::string date = format_date(local_day(time_us, utc_offset_minutes));
  return std::stoi(date.substr(0, 4));
}

Result<void> validate(const Policy& policy, const std::function<bool(std::string_view)>& known) {
  const auto bad = [](const std::string& setting, const std::string& why) {
    return fail(ErrorKind::invalid, "points_policy_invalid", setting + ": " + why, setting);
  };
  if (policy.mg_per_point < 0 || policy.mg_per_point > kMgPerPointMax) {
    return bad("points_mg_per_point", "0 (the methodologies' own formulas) or 1-1000000000");
  }
  for (const auto& [code, rate] : policy.mg_per_point_by_methodology) {
    if (!known(code))
      return bad("points_mg_per_point_by_methodology", "unknown methodology " + code);
    if (rate <= 0 || rate > kMgPerPointMax) {
      return bad("points_mg_per_point_by_methodology", code + " must be 1-1000000000");
    }
  }
  if (policy.day_max < 0 || policy.day_max > kDayMax) {
    return bad("points_day_max", "0 (no cap) or 1-1000000000");
  }
  if (policy.expiry_years < 0 || policy.expiry_years > kExpiryYearsMax) {
    return bad("points_expiry_years", "0 (never) or 1-100");
  }
  if (policy.utc_offset_minutes < -720 || policy.utc_offset_minutes > 840) {
    return bad("points_utc_offset_minutes", "-720 to 840");
  }
  return {};
}

}  // namespace tanpu::points
