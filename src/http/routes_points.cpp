// GET /v1/me/points: the member's points, what was earned each year, what expires next, and the
// policy that decides it (points/policy.h).
#include <nlohmann/json.hpp>

#include "core/time.h"
#include "http/app.h"
#include "http/auth.h"
#include "http/json_input.h"
#include "members/members.h"
#include "points/points.h"

namespace tanpu::http {
namespace {

using nlohmann::json;

// The first instant of January 1 of `year`, in the policy's local time, as UTC ISO-8601.
std::string new_year_utc(std::int32_t year, const points::Policy& policy) {
  const auto day = parse_date(std::to_string(year) + "-01-01");
  const std::int64_t local_us = static_cast<std::int64_t>(day.value_or(0)) * 86'400'000'000;
  return format_iso8601(local_us - std::int64_t{policy.utc_offset_minutes} * 60'000'000);
}

Response my_points(App& app, const Request& request) {
  auto principal = authenticate(request, app.members);
  if (!principal) return fail_response(principal.error());
  if (app.points == nullptr) {
    return fail_response(
        Error{ErrorKind::unavailable, "points_unavailable", "points are not served here", {}});
  }
  auto view = app.members.get(principal->member_id);
  if (!view) return fail_response(view.error());
  const std::int64_t now = app.clock.now_us();
  auto outlook = app.points->outlook(view->points_account_id, now);
  if (!outlook) return fail_response(outlook.error());
  const points::Policy& policy = app.points->policy();
  json years = json::array();
  for (const auto& y : outlook->earned_by_year) {
    years.push_back({{"year", y.year}, {"points", y.points}});
  }
  json rates = json::object();
  for (const auto& [code, rate] : policy.mg_per_point_by_methodology) rates[code] = rate;
  json expiry{{"enabled", outlook->expiry_enabled}, {"years", policy.expiry_years}};
  if (outlook->expiry_enabled) {
    expiry["next"] = {{"at", new_year_utc(outlook->expiring_year + 1, policy)},
                      {"points", outlook->expiring_points}};
  }
  return json_response({{"balance_points", outlook->balance},
                        {"available_points", outlook->available},
                        {"earned_by_year", std::move(years)},
                        {"expiry", std::move(expiry)},
                        {"policy",
                         {{"mg_per_point", policy.mg_per_point},
                          {"mg_per_point_by_methodology", std::move(rates)},
                          {"day_max", policy.day_max}}}});
}

}  // namespace

void add_points_routes(Router& router, App& app) {
  router.add("GET", "/v1/me/points", [&app](Request& r) { return my_points(app, r); });
}

}  // namespace tanpu::http
