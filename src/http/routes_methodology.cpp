// Methodology routes: the catalog (methodologies, factors, regions, mutual recognition) and the
// dry-run quantification. Public and read-only: what a methodology says and what a behaviour
// would earn is open information; nothing here credits anything.
#include <algorithm>

#include "http/app.h"
#include "http/json_input.h"
#include "methodology/quantify.h"
#include "methodology/query_json.h"

namespace tanpu::http {
namespace {

namespace m = methodology;
using nlohmann::json;

Result<std::optional<Day>> date_param(const Request& r) {
  const std::string_view text = r.query_param("date");
  if (text.empty()) return std::optional<Day>{};
  if (auto day = parse_date(text)) return std::optional<Day>{*day};
  return fail(ErrorKind::invalid, "invalid_date", "date must be YYYY-MM-DD", "date");
}

Result<std::optional<m::RegionId>> region_param(const m::Catalog& catalog, const Request& r,
                                                const char* name) {
  const std::string_view code = r.query_param(name);
  if (code.empty()) return std::optional<m::RegionId>{};
  if (auto id = catalog.find_region(code)) return std::optional<m::RegionId>{*id};
  return fail(ErrorKind::invalid, "unknown_region", "unknown region '" + std::string(code) + "'",
              name);
}

Response list_methodologies(App& app, const Request& r) {
  const m::Catalog& catalog = app.methodologies.catalog();
  const std::string_view scenario = r.query_param("scenario");
  if (!scenario.empty() && catalog.for_scenario(scenario).empty() &&
      std::find(m::scenario_keys().begin(), m::scenario_keys().end(), scenario) ==
          m::scenario_keys().end())
    return error_response({ErrorKind::invalid, "unknown_scenario",
                           "unknown scenario '" + std::string(scenario) + "'", "scenario"});
  auto date = date_param(r);
  if (!date) return error_response(date.error());
  auto jurisdiction = region_param(catalog, r, "jurisdiction");
  if (!jurisdiction) return error_response(jurisdiction.error());
  auto region = region_param(catalog, r, "region");
  if (!region) return error_response(region.error());
  json out = json::array();
  for (const auto& item : catalog.methodologies()) {
    if (!scenario.empty() && item.scenario != scenario) continue;
    if (*date && !item.effective_on(**date)) continue;
    if (*jurisdiction && item.jurisdiction != **jurisdiction) continue;
    if (*region && !catalog.covers(item.jurisdiction, **region)) continue;
    out.push_back(m::summary_json(catalog, item));
  }
  return json_response({{"methodologies", std::move(out)}});
}

Response show_methodology(App& app, const Request& r) {
  const m::Catalog& catalog = app.methodologies.catalog();
  const std::string& code = r.path_params.at("code");
  const std::string& version = r.path_params.at("version");
  const m::Methodology* found = catalog.find(code, version);
  if (!found)
    return error_response({ErrorKind::not_found, "unknown_methodology",
                           "no methodology " + code + "@" + version, "version"});
  return json_response(m::detail_json(catalog, *found));
}

Response quantify(App& app, const Request& r) {
  const std::string_view all = r.query_param("all_regions");
  if (!all.empty() && all != "true" && all != "false")
    return error_response({ErrorKind::invalid, "invalid_parameter",
                           "all_regions must be true or false", "all_regions"});
  auto body = parse_json(r.body);
  if (!body) return error_response(body.error());
  auto query = m::query_from_json(*body);
  if (!query) return error_response(query.error());
  auto evaluator = app.methodologies.acquire();
  if (all == "true") {
    auto view = m::quantify_all_regions(*evaluator, *query);
    if (!view) return error_response(view.error());
    return json_response(m::to_json(evaluator->catalog(), *view));
  }
  auto result = m::quantify(*evaluator, *query);
  if (!result) return error_response(result.error());
  return json_response(m::to_json(evaluator->catalog(), *result));
}

Response list_factors(App& app, const Request& r) {
  const m::Catalog& catalog = app.methodologies.catalog();
  const std::string_view kind = r.query_param("kind");
  auto date = date_param(r);
  if (!date) return error_response(date.error());
  auto region = region_param(catalog, r, "region");
  if (!region) return error_response(region.error());
  // kind + region + date: the factor the fallback look-up picks, alone.
  if (!kind.empty() && *region && *date) {
    const m::Factor* f = catalog.lookup_factor(kind, **region, **date);
    json out = json::array();
    if (f) out.push_back(m::factor_json(catalog, *f));
    return json_response({{"factors", std::move(out)}, {"resolved", true}});
  }
  json out = json::array();
  for (const auto& f : catalog.factors()) {
    if (!kind.empty() && f.kind != kind) continue;
    if (*region && f.region != **region) continue;
    if (*date && !f.valid_on(**date)) continue;
    out.push_back(m::factor_json(catalog, f));
  }
  return json_response({{"factors", std::move(out)}, {"resolved", false}});
}

Response list_regions(App& app) {
  const m::Catalog& catalog = app.methodologies.catalog();
  json out = json::array();
  for (const auto& region : catalog.regions())
    out.push_back(
        {{"code", region.code},
         {"level", m::to_string(region.level)},
         {"parent",
          region.parent == m::kNoRegion ? json(nullptr) : json(catalog.region(region.parent).code)},
         {"name_zh", region.name_zh},
         {"name_en", region.name_en}});
  return json_response({{"regions", std::move(out)}});
}

}  // namespace

void add_methodology_routes(Router& router, App& app) {
  router.add("GET", "/v1/methodologies", [&app](Request& r) { return list_methodologies(app, r); });
  router.add("GET", "/v1/methodologies/{code}/{version}",
             [&app](Request& r) { return show_methodology(app, r); });
  router.add("POST", "/v1/quantify", [&app](Request& r) { return quantify(app, r); });
  router.add("GET", "/v1/factors", [&app](Request& r) { return list_factors(app, r); });
  router.add("GET", "/v1/regions", [&app](Request&) { return list_regions(app); });
  router.add("GET", "/v1/recognition", [&app](Request&) {
    return json_response({{"recognition", m::recognition_json(app.methodologies.catalog())}});
  });
}

}  // namespace tanpu::http
