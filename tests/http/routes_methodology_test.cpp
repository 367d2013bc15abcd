// The methodology routes (catalog, factors, regions, recognition, dry-run quantification), called
// through the Router of the real App with plain Request objects (no socket), over the repository's
// own data/. Expected values come from the data files (named next to each expectation), not from
// the code under test. Nothing here writes to the database: the App's store is a SQLite fixture.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/time.h"
#include "http/app.h"
#include "http/metrics.h"
#include "ingest/consents.h"
#include "ingest/sources.h"
#include "ledger/ledger.h"
#include "members/members.h"
#include "methodology/catalog.h"
#include "methodology/evaluator.h"
#include "store/migrate.h"
#include "support/openapi_conform.h"
#include "support/test_catalog.h"
#include "support/test_store.h"

namespace tanpu::test {
namespace {

using nlohmann::json;
using tanpu::testing::conform;
using Query = std::map<std::string, std::string>;

// The routes of the real App, as `tanpu serve` wires them, over a SQLite store.
class MethodologyRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(testing::repository_catalog(), nullptr);
    {
      auto lease = db_.store().acquire();
      ASSERT_OK(lease);
      std::vector<store::Migration> all(ledger::migrations().begin(), ledger::migrations().end());
      all.insert(all.end(), members::migrations().begin(), members::migrations().end());
      ASSERT_OK(store::migrate(**lease, all));
    }
    members::Keys keys;
    keys.data_key.fill(1);
    keys.index_key.fill(2);
    members::Options options;
    options.password = members::PasswordParams{256, 1, 1, 16, 32};  // cheap: nothing is hashed
    ledger_ = std::make_unique<ledger::Ledger>(db_.store(), clock_);
    members_ = std::make_unique<members::Members>(db_.store(), *ledger_, keys, clock_, options);
    methodologies_ = std::make_unique<methodology::EvaluatorPool>(testing::repository_catalog());
    sources_ = std::make_unique<ingest::Sources>(db_.store(), keys, clock_);
    consents_ = std::make_unique<ingest::Consents>(db_.store(), clock_);
    app_ = std::make_unique<http::App>(http::App{db_.store(), *ledger_, *members_, *methodologies_,
                                                 *sources_, *consents_, metrics_, clock_});
    http::add_all_routes(router_, *app_);
  }

  const methodology::Catalog& catalog() const { return *testing::repository_catalog(); }

  http::Response call(std::string method, std::string path, std::string body = {},
                      Query query = {}) {
    http::Request request;
    request.method = std::move(method);
    request.path = std::move(path);
    request.body = std::move(body);
    request.query = std::move(query);
    const http::Route* route = router_.match(request, nullptr);
    EXPECT_NE(route, nullptr) << request.method << " " << request.path;
    if (route == nullptr) return http::Response{500, "application/json", "{}", {}};
    return route->handler(request);
  }

  http::Response get(std::string path, Query query = {}) {
    return call("GET", std::move(path), {}, std::move(query));
  }

  http::Response quantify(const json& body, Query query = {}) {
    return call("POST", "/v1/quantify", body.dump(), std::move(query));
  }

  // 200 and the parsed body (null on another status, with a failure).
  static json ok(const http::Response& r) {
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) return json();
    return json::parse(r.body);
  }

  static void expect_error(const http::Response& r, int status, std::string_view code,
                           std::string_view field = {}) {
    EXPECT_EQ(r.status, status) << r.body;
    const json b = json::parse(r.body);
    ASSERT_TRUE(b.contains("error")) << r.body;
    EXPECT_EQ(b["error"]["code"], code) << r.body;
    if (field.empty()) {
      EXPECT_FALSE(b["error"].contains("field")) << r.body;
    } else {
      EXPECT_EQ(b["error"]["field"], field) << r.body;
    }
  }

  // "code@version" of every methodology in a list.
  static std::set<std::string> keys(const json& list) {
    std::set<std::string> out;
    for (const auto& m : list)
      out.insert(m["code"].get<std::string>() + "@" + m["version"].get<std::string>());
    return out;
  }

  // The Wuhan metro ride of data/methodologies/CN-HB-WUH/tanpu-whcer-metro_v2025.1.toml.
  static json wuhan_ride(json distance = 12.5, std::string date = "2025-06-01") {
    return json{{"scenario", "metro"},
                {"region", "CN-HB-WUH"},
                {"date", std::move(date)},
                {"inputs", {{"distance_km", std::move(distance)}}}};
  }

  // The own-baseline electricity saving of tanpu-cn-electricity-saving_v2026.1.toml.
  static json electricity(std::string region, double baseline_kwh, double actual_kwh) {
    return json{{"scenario", "electricity_saving"},
                {"region", std::move(region)},
                {"date", "2025-06-01"},
                {"inputs", {{"baseline_kwh", baseline_kwh}, {"actual_kwh", actual_kwh}}}};
  }

  TestStore db_{Engine::sqlite};
  SystemClock clock_;
  http::Metrics metrics_;
  std::unique_ptr<ledger::Ledger> ledger_;
  std::unique_ptr<members::Members> members_;
  std::unique_ptr<ingest::Sources> sources_;
  std::unique_ptr<ingest::Consents> consents_;
  std::unique_ptr<methodology::EvaluatorPool> methodologies_;
  std::unique_ptr<http::App> app_;
  http::Router router_;
};

// ── GET /v1/methodologies ───────────────────────────────────────────────────────────────────────

TEST_F(MethodologyRoutesTest, ListsEveryMethodologyWithoutFilters) {
  const json b = ok(get("/v1/methodologies"));
  ASSERT_TRUE(b["methodologies"].is_array());
  EXPECT_EQ(b["methodologies"].size(), catalog().methodologies().size());
  const auto all = keys(b["methodologies"]);
  EXPECT_TRUE(all.contains("tanpu-whcer-metro@2024.1"));
  EXPECT_TRUE(all.contains("tanpu-whcer-metro@2025.1"));
  EXPECT_TRUE(all.contains("tanpu-cn-electricity-saving@2026.1"));
  for (const auto& m : b["methodologies"]) {
    if (m["code"] != "tanpu-whcer-metro" || m["version"] != "2025.1") continue;
    EXPECT_EQ(m["jurisdiction"], "CN-HB-WUH");
    EXPECT_EQ(m["scenario"], "metro");
    EXPECT_EQ(m["effective_from"], "2025-01-01");
    EXPECT_TRUE(m["effective_to"].is_null());
    EXPECT_EQ(m["status"], "released");
    EXPECT_EQ(m["calculator"], "activity_factor");
    EXPECT_EQ(m["provisional"], false);
    ASSERT_EQ(m["inputs"].size(), 2u);
    EXPECT_EQ(m["inputs"][0]["name"], "distance_km");
    EXPECT_EQ(m["inputs"][0]["unit"], "km");
    EXPECT_EQ(m["inputs"][0]["min"], 0.1);
    EXPECT_EQ(m["inputs"][0]["max"], 150.0);
    EXPECT_FALSE(m["inputs"][0].contains("default"));
    EXPECT_EQ(m["inputs"][1]["name"], "duration_min");
    EXPECT_EQ(m["inputs"][1]["default"], 0.0);
  }
}

TEST_F(MethodologyRoutesTest, ListFiltersByScenario) {
  const json b = ok(get("/v1/methodologies", {{"scenario", "metro"}}));
  ASSERT_FALSE(b["methodologies"].empty());
  for (const auto& m : b["methodologies"]) EXPECT_EQ(m["scenario"], "metro") << m["code"];
  // The metro files under data/methodologies: Wuhan (two versions), Shenzhen, Beijing (DB11 rail),
  // Shanghai (rail transit) and the national default.
  EXPECT_EQ(keys(b["methodologies"]),
            (std::set<std::string>{"tanpu-whcer-metro@2024.1", "tanpu-whcer-metro@2025.1",
                                   "tanpu-szcer-metro@2021.1", "db11t-3043-2024-rail@2024.1",
                                   "shcer02020022024i@2024.1", "tanpu-cn-metro@2025.1"}));
  // A scenario key tanpu knows but no methodology covers yet: an empty list, not an error.
  const json none = ok(get("/v1/methodologies", {{"scenario", "ebike"}}));
  EXPECT_EQ(none["methodologies"], json::array());
}

TEST_F(MethodologyRoutesTest, ListFiltersByJurisdiction) {
  const json b = ok(get("/v1/methodologies", {{"jurisdiction", "CN-HB-WUH"}}));
  const auto wuhan = std::count_if(
      catalog().methodologies().begin(), catalog().methodologies().end(),
      [&](const auto& m) { return catalog().region(m.jurisdiction).code == "CN-HB-WUH"; });
  EXPECT_EQ(b["methodologies"].size(), static_cast<std::size_t>(wuhan));
  for (const auto& m : b["methodologies"]) EXPECT_EQ(m["jurisdiction"], "CN-HB-WUH") << m["code"];
  const auto found = keys(b["methodologies"]);
  EXPECT_TRUE(found.contains("tanpu-whcer-metro@2024.1"));
  EXPECT_TRUE(found.contains("tanpu-whcer-metro@2025.1"));
  EXPECT_TRUE(found.contains("tanpu-whcer-own-bag@2023.1"));
  EXPECT_FALSE(found.contains("tanpu-cn-metro@2025.1")) << "jurisdiction is exact, not covering";
}

TEST_F(MethodologyRoutesTest, ListFiltersByTheRegionAMethodologyAppliesTo) {
  const json b = ok(get("/v1/methodologies", {{"region", "CN-HB-WUH"}}));
  std::set<std::string> jurisdictions;
  for (const auto& m : b["methodologies"])
    jurisdictions.insert(m["jurisdiction"].get<std::string>());
  // Wuhan → Hubei → 华中 grid → CN; only CN and CN-HB-WUH have methodologies.
  EXPECT_EQ(jurisdictions, (std::set<std::string>{"CN", "CN-HB-WUH"}));
  const auto found = keys(b["methodologies"]);
  EXPECT_TRUE(found.contains("tanpu-cn-metro@2025.1"));
  EXPECT_TRUE(found.contains("tanpu-whcer-metro@2025.1"));
  EXPECT_TRUE(found.contains("tanpu-whcer-metro@2024.1"));
  EXPECT_FALSE(found.contains("tanpu-szcer-metro@2021.1"));

  const json metro = ok(get("/v1/methodologies", {{"region", "CN-HB-WUH"}, {"scenario", "metro"}}));
  EXPECT_EQ(keys(metro["methodologies"]),
            (std::set<std::string>{"tanpu-cn-metro@2025.1", "tanpu-whcer-metro@2024.1",
                                   "tanpu-whcer-metro@2025.1"}));

  // Shenyang has no methodology of its own: only the national defaults apply.
  const json shenyang = ok(get("/v1/methodologies", {{"region", "CN-LN-SHE"}}));
  ASSERT_FALSE(shenyang["methodologies"].empty());
  for (const auto& m : shenyang["methodologies"]) EXPECT_EQ(m["jurisdiction"], "CN") << m["code"];
}

TEST_F(MethodologyRoutesTest, ListFiltersByEffectiveDate) {
  // tanpu-whcer-metro@2024.1 runs 2024-08-01..2024-12-31; @2025.1 from 2025-01-01.
  const json in2025 = ok(get("/v1/methodologies", {{"scenario", "metro"}, {"date", "2025-06-01"}}));
  auto found = keys(in2025["methodologies"]);
  EXPECT_TRUE(found.contains("tanpu-whcer-metro@2025.1"));
  EXPECT_FALSE(found.contains("tanpu-whcer-metro@2024.1"));
  for (const auto& m : in2025["methodologies"]) {
    EXPECT_LE(m["effective_from"].get<std::string>(), "2025-06-01") << m["code"];
    EXPECT_TRUE(m["effective_to"].is_null() || m["effective_to"].get<std::string>() >= "2025-06-01")
        << m["code"];
  }

  const json in2024 =
      ok(get("/v1/methodologies",
             {{"scenario", "metro"}, {"region", "CN-HB-WUH"}, {"date", "2024-09-01"}}));
  EXPECT_EQ(keys(in2024["methodologies"]),
            (std::set<std::string>{"tanpu-whcer-metro@2024.1", "tanpu-cn-metro@2025.1"}));

  // Before the national metro default (2022-11-15) and before every Wuhan batch.
  const json early =
      ok(get("/v1/methodologies",
             {{"scenario", "metro"}, {"region", "CN-HB-WUH"}, {"date", "2021-01-01"}}));
  EXPECT_EQ(early["methodologies"], json::array());
}

TEST_F(MethodologyRoutesTest, ListRefusesBadFilters) {
  expect_error(get("/v1/methodologies", {{"scenario", "teleport"}}), 400, "unknown_scenario",
               "scenario");
  expect_error(get("/v1/methodologies", {{"jurisdiction", "CN-XX"}}), 400, "unknown_region",
               "jurisdiction");
  expect_error(get("/v1/methodologies", {{"region", "Wuhan"}}), 400, "unknown_region", "region");
  expect_error(get("/v1/methodologies", {{"date", "2025-13-01"}}), 400, "invalid_date", "date");
  expect_error(get("/v1/methodologies", {{"date", "20250601"}}), 400, "invalid_date", "date");
  expect_error(get("/v1/methodologies", {{"date", "2025-06-01T00:00:00Z"}}), 400, "invalid_date",
               "date");
}

// ── GET /v1/methodologies/{code}/{version} ─────────────────────────────────────────────────────

TEST_F(MethodologyRoutesTest, ShowsOneVersionInFull) {
  const json b = ok(get("/v1/methodologies/tanpu-whcer-metro/2025.1"));
  EXPECT_EQ(b["code"], "tanpu-whcer-metro");
  EXPECT_EQ(b["version"], "2025.1");
  EXPECT_EQ(b["jurisdiction"], "CN-HB-WUH");
  EXPECT_EQ(b["dedup_window_s"], 1800);
  EXPECT_EQ(b["formula"], (json{{"baseline_g", "distance_km * ef_reduction"}, {"project_g", "0"}}));
  EXPECT_EQ(b["points"], (json{{"formula", "reduction_g"}, {"max_per_record", 0}}));
  EXPECT_EQ(b["caps"]["per_record_mg"], 7'840'000);
  EXPECT_EQ(b["caps"]["per_member_day_records"], 10);
  ASSERT_EQ(b["factors"].size(), 1u);
  EXPECT_EQ(b["factors"][0], (json{{"name", "ef_reduction"},
                                   {"id", "whcer-metro-2025"},
                                   {"kind", "transit.metro.reduction"},
                                   {"unit", "g/km"}}));
  ASSERT_EQ(b["eligibility"].size(), 1u);
  EXPECT_EQ(b["eligibility"][0]["code"], "implausible_speed");
  EXPECT_FALSE(b.contains("own_baseline"));
  ASSERT_EQ(b["examples"].size(), 5u);
  EXPECT_EQ(b["examples"][0]["region"], "CN-HB-WUH");
  EXPECT_EQ(b["examples"][0]["date"], "2025-06-01");
  EXPECT_EQ(b["examples"][0]["inputs"], (json{{"distance_km", 12.5}}));
  EXPECT_EQ(b["examples"][0]["reduction_mg"], 980000);
  EXPECT_EQ(b["examples"][0]["points"], 980);
  EXPECT_EQ(b["examples"][4]["eligible"], false);
  EXPECT_EQ(b["file"], "data/methodologies/CN-HB-WUH/tanpu-whcer-metro_v2025.1.toml");

  const json old = ok(get("/v1/methodologies/tanpu-whcer-metro/2024.1"));
  EXPECT_EQ(old["status"], "superseded");
  EXPECT_EQ(old["effective_from"], "2024-08-01");
  EXPECT_EQ(old["effective_to"], "2024-12-31");
  ASSERT_EQ(old["inputs"].size(), 1u);
  EXPECT_EQ(old["inputs"][0]["name"], "rides");
  EXPECT_EQ(old["inputs"][0]["type"], "integer");
  EXPECT_EQ(old["inputs"][0]["default"], 1.0);

  // An own-baseline methodology that looks its factor up by kind.
  const json saving = ok(get("/v1/methodologies/tanpu-cn-electricity-saving/2026.1"));
  EXPECT_EQ(saving["calculator"], "own_baseline");
  ASSERT_EQ(saving["factors"].size(), 1u);
  EXPECT_TRUE(saving["factors"][0]["id"].is_null());
  EXPECT_EQ(saving["factors"][0]["kind"], "grid.consumption");
  EXPECT_EQ(saving["own_baseline"], (json{{"baseline_input", "baseline_kwh"},
                                          {"actual_input", "actual_kwh"},
                                          {"threshold_ratio", 0.10},
                                          {"method", "previous_year_same_period"}}));
}

TEST_F(MethodologyRoutesTest, ShowAnswers404ForAnUnknownVersionOrCode) {
  expect_error(get("/v1/methodologies/tanpu-whcer-metro/2023.1"), 404, "unknown_methodology",
               "version");
  expect_error(get("/v1/methodologies/no-such-code/2025.1"), 404, "unknown_methodology", "version");
}

// ── POST /v1/quantify ───────────────────────────────────────────────────────────────────────────

TEST_F(MethodologyRoutesTest, QuantifiesAWuhanMetroRide) {
  const json b = ok(quantify(wuhan_ride()));
  EXPECT_EQ(b["methodology"], "tanpu-whcer-metro");
  EXPECT_EQ(b["version"], "2025.1");
  EXPECT_EQ(b["jurisdiction"], "CN-HB-WUH");
  EXPECT_EQ(b["region"], "CN-HB-WUH");
  EXPECT_EQ(b["date"], "2025-06-01");
  EXPECT_EQ(b["scenario"], "metro");
  // 12.5 km × 78.4 g/km = 980 g (the file's first example).
  EXPECT_EQ(b["reduction_mg"], 980000);
  EXPECT_EQ(b["points"], 980);
  EXPECT_EQ(b["reduction"], (json{{"g", "980"}, {"kg", "0.98"}, {"t", "0.00098"}}));
  EXPECT_DOUBLE_EQ(b["baseline_mg"].get<double>(), 980000.0);
  EXPECT_DOUBLE_EQ(b["project_mg"].get<double>(), 0.0);
  EXPECT_EQ(b["eligible"], true);
  EXPECT_FALSE(b.contains("ineligible"));
  EXPECT_EQ(b["provisional"], false);
  EXPECT_EQ(b["provisional_reasons"], json::array());
  EXPECT_EQ(b["rounding"]["mode"], "half_to_even");
  EXPECT_EQ(b["rounding"]["capped"], false);
  EXPECT_EQ(b["rounding"]["cap_per_record_mg"], 7'840'000);
  // Defaults are filled in: duration_min 0 (not reported).
  EXPECT_EQ(b["inputs"], (json{{"distance_km", 12.5}, {"duration_min", 0.0}}));
  ASSERT_EQ(b["factors"].size(), 1u);
  const json& f = b["factors"][0];
  EXPECT_EQ(f["id"], "whcer-metro-2025");
  EXPECT_EQ(f["data_version"], "2025.1");
  EXPECT_EQ(f["name"], "ef_reduction");
  EXPECT_EQ(f["value"], 78.4);
  EXPECT_EQ(f["used_value"], 78.4);
  EXPECT_EQ(f["used_unit"], "g/km");
  EXPECT_EQ(f["region"], "CN-HB-WUH");
  EXPECT_EQ(f["scope"], "city");
  EXPECT_EQ(f["label"], "P");
}

TEST_F(MethodologyRoutesTest, QuantifyPicksTheVersionEffectiveOnTheDate) {
  // 2024-09-01 falls in the 2024-08 batch: 170 g per ride, input `rides` (default 1).
  const json one = ok(quantify(json{{"scenario", "metro"},
                                    {"region", "CN-HB-WUH"},
                                    {"date", "2024-09-01"},
                                    {"inputs", json::object()}}));
  EXPECT_EQ(one["version"], "2024.1");
  EXPECT_EQ(one["status"], "superseded");
  EXPECT_EQ(one["inputs"], (json{{"rides", 1.0}}));
  EXPECT_EQ(one["reduction_mg"], 170000);
  EXPECT_EQ(one["points"], 170);
  ASSERT_EQ(one["factors"].size(), 1u);
  EXPECT_EQ(one["factors"][0]["id"], "whcer-metro-2024");
  EXPECT_EQ(one["factors"][0]["data_version"], "2024.1");

  const json three = ok(quantify(json{{"scenario", "metro"},
                                      {"region", "CN-HB-WUH"},
                                      {"date", "2024-09-01"},
                                      {"inputs", {{"rides", 3}}}}));
  EXPECT_EQ(three["reduction_mg"], 510000);

  // The same per-km trip on that date: the 2024 version has no distance input.
  expect_error(quantify(wuhan_ride(12.5, "2024-09-01")), 400, "unknown_input",
               "inputs.distance_km");
  // rides is an integer input.
  expect_error(quantify(json{{"scenario", "metro"},
                             {"region", "CN-HB-WUH"},
                             {"date", "2024-09-01"},
                             {"inputs", {{"rides", 1.5}}}}),
               422, "input_not_integer", "inputs.rides");

  // occurred_at is read in the region's offset (+08:00): 16:30Z on 2024-12-31 is 2025-01-01 in
  // Wuhan, the first day of the 2025 batch.
  const json at = ok(quantify(json{{"scenario", "metro"},
                                   {"region", "CN-HB-WUH"},
                                   {"occurred_at", "2024-12-31T16:30:00Z"},
                                   {"inputs", {{"distance_km", 12.5}}}}));
  EXPECT_EQ(at["date"], "2025-01-01");
  EXPECT_EQ(at["version"], "2025.1");
  EXPECT_EQ(at["reduction_mg"], 980000);

  // Naming the methodology: the version effective on the date, or the pinned one.
  const json by_code = ok(quantify(json{{"methodology", "tanpu-whcer-metro"},
                                        {"region", "CN-HB-WUH"},
                                        {"date", "2025-06-01"},
                                        {"inputs", {{"distance_km", 12.5}}}}));
  EXPECT_EQ(by_code["version"], "2025.1");
  EXPECT_EQ(by_code["reduction_mg"], 980000);
  const json pinned = ok(quantify(json{{"methodology", "tanpu-whcer-metro"},
                                       {"version", "2024.1"},
                                       {"region", "CN-HB-WUH"},
                                       {"date", "2024-12-31"},
                                       {"inputs", {{"rides", 10}}}}));
  EXPECT_EQ(pinned["version"], "2024.1");
  EXPECT_EQ(pinned["reduction_mg"], 1700000);
}

TEST_F(MethodologyRoutesTest, QuantifyConvertsInputUnits) {
  const json km = ok(quantify(wuhan_ride()));
  const json m = ok(quantify(wuhan_ride(json{{"value", 12500}, {"unit", "m"}})));
  EXPECT_EQ(m["reduction_mg"], 980000);
  EXPECT_EQ(m["points"], 980);
  EXPECT_EQ(m["inputs"]["distance_km"], 12.5) << "inputs are reported in the methodology's unit";
  EXPECT_EQ(m, km);
  // The input's own unit, spelled out, is accepted as is.
  EXPECT_EQ(ok(quantify(wuhan_ride(json{{"value", 12.5}, {"unit", "km"}}))), km);

  expect_error(quantify(wuhan_ride(json{{"value", 12.5}, {"unit", "kg"}})), 400, "wrong_unit",
               "inputs.distance_km");
  expect_error(quantify(wuhan_ride(json{{"value", 12.5}, {"unit", "furlong"}})), 400,
               "unknown_unit", "inputs.distance_km");
  expect_error(quantify(wuhan_ride(json{{"value", 12.5}})), 400, "wrong_type",
               "inputs.distance_km");
  expect_error(quantify(wuhan_ride(json{{"value", 12.5}, {"unit", "km"}, {"extra", 1}})), 400,
               "wrong_type", "inputs.distance_km");
  expect_error(quantify(wuhan_ride("12.5")), 400, "wrong_type", "inputs.distance_km");
}

TEST_F(MethodologyRoutesTest, QuantifyRefusesBadInputs) {
  // distance_km: 0.1 ..150 km; 0 km (same station) is out of bounds, a semantic refusal.
  expect_error(quantify(wuhan_ride(0)), 422, "input_out_of_bounds", "inputs.distance_km");
  expect_error(quantify(wuhan_ride(150.5)), 422, "input_out_of_bounds", "inputs.distance_km");
  expect_error(quantify(wuhan_ride(json{{"value", 50}, {"unit", "m"}})), 422, "input_out_of_bounds",
               "inputs.distance_km");

  json missing = wuhan_ride();
  missing["inputs"] = json::object();
  expect_error(quantify(missing), 400, "missing_input", "inputs.distance_km");
  missing.erase("inputs");
  expect_error(quantify(missing), 400, "missing_input", "inputs.distance_km");

  json unknown = wuhan_ride();
  unknown["inputs"]["speed_kmh"] = 30;
  expect_error(quantify(unknown), 400, "unknown_input", "inputs.speed_kmh");

  json too_many = wuhan_ride();
  for (int i = 0; i < 16; ++i) too_many["inputs"]["x" + std::to_string(i)] = 1;
  expect_error(quantify(too_many), 400, "too_many_inputs", "inputs");

  // An eligibility rule of the file: 20 km in 5 minutes is an implausible speed.
  json fast = wuhan_ride(20.0);
  fast["inputs"]["duration_min"] = 5.0;
  const json b = ok(quantify(fast));
  EXPECT_EQ(b["eligible"], false);
  EXPECT_EQ(b["ineligible"]["code"], "implausible_speed");
  EXPECT_EQ(b["reduction_mg"], 0);
  EXPECT_EQ(b["points"], 0);
}

TEST_F(MethodologyRoutesTest, QuantifyRefusesMalformedBodies) {
  json unknown = wuhan_ride();
  unknown["colour"] = "red";
  expect_error(quantify(unknown), 400, "unknown_field", "colour");
  expect_error(call("POST", "/v1/quantify", ""), 400, "body_required");
  expect_error(call("POST", "/v1/quantify", "{\"scenario\":"), 400, "invalid_json");
  expect_error(call("POST", "/v1/quantify", "[]"), 400, "wrong_type");
  expect_error(
      call("POST", "/v1/quantify", R"({"scenario":"metro","scenario":"bus","region":"CN-HB-WUH"})"),
      400, "duplicate_key");

  json both = wuhan_ride();
  both["methodology"] = "tanpu-whcer-metro";
  expect_error(quantify(both), 400, "ambiguous", "methodology");
  json neither = wuhan_ride();
  neither.erase("scenario");
  expect_error(quantify(neither), 400, "missing_scenario", "scenario");
  expect_error(quantify(wuhan_ride(12.5, "2025-02-30")), 400, "invalid_date", "date");
  json no_date = wuhan_ride();
  no_date.erase("date");
  expect_error(quantify(no_date), 400, "missing_date", "date");
  no_date["occurred_at"] = "2025-06-01 08:00";
  expect_error(quantify(no_date), 400, "invalid_time", "occurred_at");
  json number_region = wuhan_ride();
  number_region["region"] = 420100;
  expect_error(quantify(number_region), 400, "wrong_type", "region");
  json inputs_array = wuhan_ride();
  inputs_array["inputs"] = json::array({12.5});
  expect_error(quantify(inputs_array), 400, "wrong_type", "inputs");
}

TEST_F(MethodologyRoutesTest, QuantifyRefusesUnknownNames) {
  json no_region = wuhan_ride();
  no_region.erase("region");
  expect_error(quantify(no_region), 400, "missing_region", "region");
  json bad_region = wuhan_ride();
  bad_region["region"] = "CN-HB-XXX";
  expect_error(quantify(bad_region), 400, "unknown_region", "region");
  json bad_scenario = wuhan_ride();
  bad_scenario["scenario"] = "teleport";
  expect_error(quantify(bad_scenario), 400, "unknown_scenario", "scenario");

  json bad_code = wuhan_ride();
  bad_code.erase("scenario");
  bad_code["methodology"] = "no-such-code";
  expect_error(quantify(bad_code), 404, "unknown_methodology", "methodology");
  bad_code["methodology"] = "tanpu-whcer-metro";
  bad_code["version"] = "1999.1";
  expect_error(quantify(bad_code), 404, "unknown_methodology", "version");
}

TEST_F(MethodologyRoutesTest, QuantifyRefusesWhenNoVersionApplies) {
  // Before every metro version covering Wuhan (national from 2022-11-15, Wuhan from 2024-08-01).
  expect_error(quantify(wuhan_ride(12.5, "2020-01-01")), 422, "no_methodology_on_date", "date");
  json old = json{{"methodology", "tanpu-whcer-metro"},
                  {"region", "CN-HB-WUH"},
                  {"date", "2024-07-31"},
                  {"inputs", json::object()}};
  expect_error(quantify(old), 422, "no_methodology_on_date", "date");
  // A pinned version outside its dates.
  old["version"] = "2024.1";
  old["date"] = "2025-06-01";
  expect_error(quantify(old), 422, "not_effective", "date");
  // own_bag exists only in Wuhan.
  expect_error(quantify(json{{"scenario", "own_bag"},
                             {"region", "CN-SH"},
                             {"date", "2025-06-01"},
                             {"inputs", json::object()}}),
               422, "no_methodology_for_region", "region");
  // A Wuhan methodology named for a Shanghai record.
  expect_error(quantify(json{{"methodology", "tanpu-whcer-metro"},
                             {"region", "CN-SH"},
                             {"date", "2025-06-01"},
                             {"inputs", {{"distance_km", 12.5}}}}),
               422, "region_not_covered", "region");
}

TEST_F(MethodologyRoutesTest, QuantifyHonoursMutualRecognition) {
  // data/recognition.toml: Tianjin accepts the joint DB11/T 3043-2024 codes filed under CN-BJ.
  // 10 km × (104 − 52) g/pkm = 520 g.
  json bus = json{{"methodology", "db11t-3043-2024-bus"},
                  {"region", "CN-TJ"},
                  {"date", "2025-06-01"},
                  {"inputs", {{"distance_km", 10.0}}}};
  const json b = ok(quantify(bus));
  EXPECT_EQ(b["jurisdiction"], "CN-BJ");
  EXPECT_EQ(b["region"], "CN-TJ");
  EXPECT_EQ(b["reduction_mg"], 520000);
  // Shanghai is not in the agreement.
  bus["region"] = "CN-SH";
  expect_error(quantify(bus), 422, "region_not_covered", "region");
  // Beijing's car-to-EV methodology is not part of the joint standard.
  expect_error(quantify(json{{"methodology", "tanpu-bjcer-car-to-ev"},
                             {"region", "CN-TJ"},
                             {"date", "2025-06-01"},
                             {"inputs", json::object()}}),
               422, "region_not_covered", "region");
}

TEST_F(MethodologyRoutesTest, QuantifyMarksProvisionalResults) {
  // tanpu-cn-water-saving@2026.1 is provisional and pins the [U] DEFRA proxy factor.
  // (12 − 9) m3 × 191.3 g/m3 = 573.9 g.
  const json b = ok(quantify(json{{"scenario", "water_saving"},
                                  {"region", "CN-LN-SHE"},
                                  {"date", "2025-06-01"},
                                  {"inputs", {{"baseline_m3", 12}, {"actual_m3", 9}}}}));
  EXPECT_EQ(b["methodology"], "tanpu-cn-water-saving");
  EXPECT_EQ(b["provisional"], true);
  ASSERT_EQ(b["provisional_reasons"].size(), 2u) << b["provisional_reasons"];
  EXPECT_EQ(b["provisional_reasons"][0].get<std::string>().rfind(
                "methodology tanpu-cn-water-saving@2026.1: ", 0),
            0u);
  EXPECT_EQ(b["provisional_reasons"][1].get<std::string>().rfind(
                "factor defra-water-supply-proxy@1 is provisional", 0),
            0u);
  EXPECT_EQ(b["factors"][0]["id"], "defra-water-supply-proxy");
  EXPECT_EQ(b["factors"][0]["provisional"], true);
  EXPECT_EQ(b["factors"][0]["label"], "U");
  EXPECT_EQ(b["reduction_mg"], 573900);
  EXPECT_EQ(b["points"], 573);
}

TEST_F(MethodologyRoutesTest, ElectricitySavingUsesTheConsumptionFactorOfTheRegion) {
  // Same saving (300 → 240 kWh), same date, two regions: Shenyang falls back to the 东北 grid
  // region (0.5564 kg/kWh), Yunnan has its own 2022 provincial row (0.1073 kg/kWh).
  const json shenyang = ok(quantify(electricity("CN-LN-SHE", 300, 240)));
  const json yunnan = ok(quantify(electricity("CN-YN", 300, 240)));
  for (const json* b : {&shenyang, &yunnan}) {
    EXPECT_EQ((*b)["methodology"], "tanpu-cn-electricity-saving");
    EXPECT_EQ((*b)["version"], "2026.1");
    EXPECT_EQ((*b)["eligible"], true);
    ASSERT_EQ((*b)["factors"].size(), 1u);
    EXPECT_EQ((*b)["factors"][0]["kind"], "grid.consumption");
    EXPECT_NE((*b)["factors"][0]["kind"], "grid.power_reporting");
    EXPECT_EQ((*b)["factors"][0]["used_unit"], "g/kWh");
  }
  EXPECT_EQ(shenyang["region"], "CN-LN-SHE");
  EXPECT_EQ(shenyang["factors"][0]["id"], "mee-nbs-grid-consumption-2022-northeast");
  EXPECT_EQ(shenyang["factors"][0]["region"], "CN-GRID-NORTHEAST");
  EXPECT_EQ(shenyang["factors"][0]["scope"], "grid_region");
  EXPECT_EQ(shenyang["factors"][0]["unit"], "kg/kWh");
  EXPECT_DOUBLE_EQ(shenyang["factors"][0]["used_value"].get<double>(), 556.4);
  EXPECT_EQ(shenyang["reduction_mg"], 33384000);
  EXPECT_EQ(shenyang["points"], 33384);

  EXPECT_EQ(yunnan["region"], "CN-YN");
  EXPECT_EQ(yunnan["factors"][0]["id"], "mee-nbs-grid-consumption-2022-yn");
  EXPECT_EQ(yunnan["factors"][0]["region"], "CN-YN");
  EXPECT_EQ(yunnan["factors"][0]["scope"], "province");
  EXPECT_EQ(yunnan["reduction_mg"], 6438000);

  EXPECT_NE(shenyang["factors"][0]["id"], yunnan["factors"][0]["id"]);
  EXPECT_NE(shenyang["factors"][0]["region"], yunnan["factors"][0]["region"]);
}

TEST_F(MethodologyRoutesTest, ElectricitySavingBelowTheThresholdIsIneligible) {
  // (300 − 280) / 300 = 6.7% < 10%.
  const json b = ok(quantify(electricity("CN-LN-SHE", 300, 280)));
  EXPECT_EQ(b["eligible"], false);
  ASSERT_TRUE(b.contains("ineligible")) << b;
  EXPECT_EQ(b["ineligible"]["code"], "below_threshold");
  EXPECT_FALSE(b["ineligible"]["message"].get<std::string>().empty());
  EXPECT_EQ(b["reduction_mg"], 0);
  EXPECT_EQ(b["points"], 0);
  EXPECT_EQ(b["reduction"]["g"], "0");
  // Exactly 10% qualifies: 30 kWh × 556.4 g.
  const json edge = ok(quantify(electricity("CN-LN-SHE", 300, 270)));
  EXPECT_EQ(edge["eligible"], true);
  EXPECT_EQ(edge["reduction_mg"], 16692000);
}

// ── POST /v1/quantify?all_regions=true ─────────────────────────────────────────────────────────

TEST_F(MethodologyRoutesTest, AllRegionsQuantifiesUnderEveryMethodologyOfTheScenario) {
  const json b = ok(quantify(wuhan_ride(), {{"all_regions", "true"}}));
  EXPECT_EQ(b["region"], "CN-HB-WUH");
  EXPECT_EQ(b["date"], "2025-06-01");
  EXPECT_EQ(b["applicable"], "tanpu-whcer-metro@2025.1");
  std::map<std::string, json> by_key;
  int applying = 0;
  for (const auto& r : b["results"]) {
    by_key[r["methodology"].get<std::string>() + "@" + r["version"].get<std::string>()] = r;
    if (r["applies"] == true) ++applying;
  }
  EXPECT_EQ(applying, 1);
  // Every metro version effective on 2025-06-01 (not Wuhan's 2024 batch, which ended 2024-12-31).
  std::set<std::string> found;
  for (const auto& [key, r] : by_key) found.insert(key);
  EXPECT_EQ(found, (std::set<std::string>{"tanpu-whcer-metro@2025.1", "tanpu-szcer-metro@2021.1",
                                          "tanpu-cn-metro@2025.1", "db11t-3043-2024-rail@2024.1",
                                          "shcer02020022024i@2024.1"}));

  const json& wuhan = by_key["tanpu-whcer-metro@2025.1"];
  EXPECT_EQ(wuhan["applies"], true);
  EXPECT_EQ(wuhan["recognised"], true);
  EXPECT_EQ(wuhan["region"], "CN-HB-WUH");
  EXPECT_EQ(wuhan["reduction_mg"], 980000);

  // Shenzhen: 12.5 km × 46.7 g/pkm, quantified in its own jurisdiction; Wuhan does not accept it.
  const json& shenzhen = by_key["tanpu-szcer-metro@2021.1"];
  EXPECT_EQ(shenzhen["applies"], false);
  EXPECT_EQ(shenzhen["recognised"], false);
  EXPECT_EQ(shenzhen["region"], "CN-GD-SZX");
  EXPECT_EQ(shenzhen["reduction_mg"], 583750);

  // The national default covers Wuhan: quantified for the record's region, and accepted there.
  const json& national = by_key["tanpu-cn-metro@2025.1"];
  EXPECT_EQ(national["applies"], false);
  EXPECT_EQ(national["recognised"], true);
  EXPECT_EQ(national["region"], "CN-HB-WUH");
  EXPECT_EQ(national["reduction_mg"], 583750);
  EXPECT_EQ(national["provisional"], true);

  // Beijing: 12.5 × (104 − 32) g/pkm = 900 g; Shanghai: 12.5 × (106 − 35) = 887.5 g.
  EXPECT_EQ(by_key["db11t-3043-2024-rail@2024.1"]["region"], "CN-BJ");
  EXPECT_EQ(by_key["db11t-3043-2024-rail@2024.1"]["reduction_mg"], 900000);
  EXPECT_EQ(by_key["db11t-3043-2024-rail@2024.1"]["recognised"], false);
  EXPECT_EQ(by_key["shcer02020022024i@2024.1"]["region"], "CN-SH");
  EXPECT_EQ(by_key["shcer02020022024i@2024.1"]["reduction_mg"], 887500);

  // all_regions=false is the single answer.
  EXPECT_EQ(ok(quantify(wuhan_ride(), {{"all_regions", "false"}})), ok(quantify(wuhan_ride())));
}

TEST_F(MethodologyRoutesTest, AllRegionsReportsPerMethodologyRefusals) {
  // On 2024-09-01 the Wuhan 2024 batch applies; it has no distance input and takes rides = 1 by
  // default, while the per-km methodologies need a distance they were not given.
  const json b = ok(quantify(json{{"scenario", "metro"},
                                  {"region", "CN-HB-WUH"},
                                  {"date", "2024-09-01"},
                                  {"inputs", {{"rides", 2}}}},
                             {{"all_regions", "true"}}));
  EXPECT_EQ(b["applicable"], "tanpu-whcer-metro@2024.1");
  int applying = 0;
  for (const auto& r : b["results"]) {
    if (r["applies"] == true) {
      ++applying;
      EXPECT_EQ(r["version"], "2024.1");
      EXPECT_EQ(r["reduction_mg"], 340000);
    } else {
      ASSERT_TRUE(r.contains("error")) << r;
      EXPECT_EQ(r["error"]["code"], "missing_input") << r;
      EXPECT_EQ(r["error"]["field"], "inputs.distance_km") << r;
      EXPECT_FALSE(r.contains("reduction_mg"));
    }
  }
  EXPECT_EQ(applying, 1);
}

TEST_F(MethodologyRoutesTest, AllRegionsRefusesBadRequests) {
  expect_error(quantify(wuhan_ride(), {{"all_regions", "maybe"}}), 400, "invalid_parameter",
               "all_regions");
  expect_error(quantify(wuhan_ride(), {{"all_regions", "1"}}), 400, "invalid_parameter",
               "all_regions");
  json by_code = wuhan_ride();
  by_code.erase("scenario");
  by_code["methodology"] = "tanpu-whcer-metro";
  expect_error(quantify(by_code, {{"all_regions", "true"}}), 400, "missing_scenario", "scenario");
  json unknown = wuhan_ride();
  unknown["inputs"]["speed_kmh"] = 30;
  expect_error(quantify(unknown, {{"all_regions", "true"}}), 400, "unknown_input",
               "inputs.speed_kmh");
  json bad_region = wuhan_ride();
  bad_region["region"] = "CN-HB-XXX";
  expect_error(quantify(bad_region, {{"all_regions", "true"}}), 400, "unknown_region", "region");
  json bad_scenario = wuhan_ride();
  bad_scenario["scenario"] = "teleport";
  expect_error(quantify(bad_scenario, {{"all_regions", "true"}}), 400, "unknown_scenario",
               "scenario");
}

// ── GET /v1/factors ─────────────────────────────────────────────────────────────────────────────

TEST_F(MethodologyRoutesTest, FactorsResolveThroughTheFallbackChain) {
  // data/factors/grid.toml: CN-LN-SHE → CN-LN → CN-GRID-NORTHEAST, whose 2022 row is valid
  // 2024-12-20..2026-01-14 (no city or province row exists).
  const json she =
      ok(get("/v1/factors",
             {{"kind", "grid.consumption"}, {"region", "CN-LN-SHE"}, {"date", "2025-06-01"}}));
  EXPECT_EQ(she["resolved"], true);
  ASSERT_EQ(she["factors"].size(), 1u);
  const json& f = she["factors"][0];
  EXPECT_EQ(f["id"], "mee-nbs-grid-consumption-2022-northeast");
  EXPECT_EQ(f["kind"], "grid.consumption");
  EXPECT_EQ(f["region"], "CN-GRID-NORTHEAST");
  EXPECT_EQ(f["scope"], "grid_region");
  EXPECT_EQ(f["value"], 0.5564);
  EXPECT_EQ(f["unit"], "kg/kWh");
  EXPECT_EQ(f["year"], 2022);
  EXPECT_EQ(f["valid_from"], "2024-12-20");
  EXPECT_EQ(f["valid_to"], "2026-01-14");
  EXPECT_EQ(f["data_version"], "2024-12-20");
  EXPECT_EQ(f["label"], "S");
  EXPECT_EQ(f["provisional"], false);

  // From 2026-01-15 the 2023 regional row.
  const json later =
      ok(get("/v1/factors",
             {{"kind", "grid.consumption"}, {"region", "CN-LN-SHE"}, {"date", "2026-03-01"}}));
  ASSERT_EQ(later["factors"].size(), 1u);
  EXPECT_EQ(later["factors"][0]["id"], "mee-nbs-grid-consumption-2023-northeast");

  // Before any regional row: the national 2021 figure (backdated to 2020-01-01).
  const json early =
      ok(get("/v1/factors",
             {{"kind", "grid.consumption"}, {"region", "CN-LN-SHE"}, {"date", "2023-06-01"}}));
  ASSERT_EQ(early["factors"].size(), 1u);
  EXPECT_EQ(early["factors"][0]["id"], "mee-nbs-grid-consumption-2021-cn");
  EXPECT_EQ(early["factors"][0]["scope"], "national");

  // Yunnan has its own 2022 provincial row (open-ended), more specific than the grid region.
  for (const char* date : {"2025-06-01", "2026-03-01"}) {
    const json yn =
        ok(get("/v1/factors", {{"kind", "grid.consumption"}, {"region", "CN-YN"}, {"date", date}}));
    EXPECT_EQ(yn["resolved"], true);
    ASSERT_EQ(yn["factors"].size(), 1u) << date;
    EXPECT_EQ(yn["factors"][0]["id"], "mee-nbs-grid-consumption-2022-yn") << date;
    EXPECT_EQ(yn["factors"][0]["region"], "CN-YN");
    EXPECT_EQ(yn["factors"][0]["scope"], "province");
    EXPECT_EQ(yn["factors"][0]["value"], 0.1073);
    EXPECT_TRUE(yn["factors"][0]["valid_to"].is_null());
  }

  // Nothing of an unknown kind: resolved, and empty.
  const json none = ok(
      get("/v1/factors", {{"kind", "no.such.kind"}, {"region", "CN-YN"}, {"date", "2025-06-01"}}));
  EXPECT_EQ(none, (json{{"factors", json::array()}, {"resolved", true}}));
}

TEST_F(MethodologyRoutesTest, FactorsListWithoutResolving) {
  const json all = ok(get("/v1/factors"));
  EXPECT_EQ(all["resolved"], false);
  EXPECT_EQ(all["factors"].size(), catalog().factors().size());

  // region filters the factor's own region exactly, with no fallback.
  const json northeast =
      ok(get("/v1/factors", {{"kind", "grid.consumption"}, {"region", "CN-GRID-NORTHEAST"}}));
  EXPECT_EQ(northeast["resolved"], false);
  std::set<std::string> ids;
  for (const auto& f : northeast["factors"]) ids.insert(f["id"].get<std::string>());
  EXPECT_EQ(ids, (std::set<std::string>{"mee-nbs-grid-consumption-2022-northeast",
                                        "mee-nbs-grid-consumption-2023-northeast"}));
  const json city = ok(get("/v1/factors", {{"kind", "grid.consumption"}, {"region", "CN-LN-SHE"}}));
  EXPECT_EQ(city["factors"], json::array());

  // kind + date: every national, regional and provincial row valid that day, never power_reporting.
  const json on_day =
      ok(get("/v1/factors", {{"kind", "grid.consumption"}, {"date", "2025-06-01"}}));
  EXPECT_EQ(on_day["resolved"], false);
  ids.clear();
  for (const auto& f : on_day["factors"]) {
    EXPECT_EQ(f["kind"], "grid.consumption");
    ids.insert(f["id"].get<std::string>());
  }
  EXPECT_TRUE(ids.contains("mee-nbs-grid-consumption-2022-cn"));
  EXPECT_TRUE(ids.contains("mee-nbs-grid-consumption-2022-northeast"));
  EXPECT_TRUE(ids.contains("mee-nbs-grid-consumption-2022-yn"));
  EXPECT_FALSE(ids.contains("mee-nbs-grid-consumption-2023-cn"));
  EXPECT_FALSE(ids.contains("mee-nbs-grid-consumption-2021-cn"));

  const json reporting = ok(get("/v1/factors", {{"kind", "grid.power_reporting"}}));
  ASSERT_EQ(reporting["factors"].size(), 1u);
  EXPECT_EQ(reporting["factors"][0]["id"], "mee-grid-power-reporting-2022");

  expect_error(get("/v1/factors", {{"region", "CN-XX"}}), 400, "unknown_region", "region");
  expect_error(get("/v1/factors", {{"kind", "grid.consumption"}, {"date", "01/06/2025"}}), 400,
               "invalid_date", "date");
}

// ── GET /v1/regions, GET /v1/recognition ────────────────────────────────────────────────────────

TEST_F(MethodologyRoutesTest, RegionsListTheTree) {
  const json b = ok(get("/v1/regions"));
  ASSERT_EQ(b["regions"].size(), catalog().regions().size());
  EXPECT_EQ(b["regions"][0], (json{{"code", "CN"},
                                   {"level", "national"},
                                   {"parent", nullptr},
                                   {"name_zh", "中国"},
                                   {"name_en", "China"}}));
  std::map<std::string, json> by_code;
  for (const auto& r : b["regions"]) by_code[r["code"].get<std::string>()] = r;
  EXPECT_EQ(by_code["CN-GRID-NORTHEAST"]["level"], "grid_region");
  EXPECT_EQ(by_code["CN-GRID-NORTHEAST"]["parent"], "CN");
  EXPECT_EQ(by_code["CN-LN"]["level"], "province");
  EXPECT_EQ(by_code["CN-LN"]["parent"], "CN-GRID-NORTHEAST");
  EXPECT_EQ(by_code["CN-LN-SHE"]["level"], "city");
  EXPECT_EQ(by_code["CN-LN-SHE"]["parent"], "CN-LN");
  EXPECT_EQ(by_code["CN-HB-WUH"]["parent"], "CN-HB");
  EXPECT_EQ(by_code["CN-HB"]["parent"], "CN-GRID-CENTRAL");
  EXPECT_EQ(by_code["CN-YN"]["parent"], "CN-GRID-SOUTH");
  EXPECT_EQ(by_code["CN-TJ"]["level"], "province") << "municipalities are provinces";
}

TEST_F(MethodologyRoutesTest, RecognitionListsTheTable) {
  const json b = ok(get("/v1/recognition"));
  ASSERT_EQ(b["recognition"].size(), catalog().recognition().size());
  std::map<std::string, json> by_jurisdiction;
  for (const auto& r : b["recognition"]) by_jurisdiction[r["jurisdiction"].get<std::string>()] = r;
  ASSERT_TRUE(by_jurisdiction.contains("CN-TJ"));
  ASSERT_TRUE(by_jurisdiction.contains("CN-HE"));
  for (const char* j : {"CN-TJ", "CN-HE"}) {
    const json& codes = by_jurisdiction[j]["codes"];
    EXPECT_EQ(codes, (json{"db11t-3043-2024-bus", "db11t-3043-2024-rail", "db11t-3043-2024-bike"}))
        << j;
    EXPECT_NE(by_jurisdiction[j]["basis"].get<std::string>().find("DB11/T 3043-2024"),
              std::string::npos);
  }
}

// ── docs/openapi.json ───────────────────────────────────────────────────────────────────────────

// Every response of these routes conforms to the closed schemas of the OpenAPI document: each
// methodology's detail, every factor, the quantifications (eligible, ineligible, provisional), the
// cross-regional view with results and refusals, and the errors.
TEST_F(MethodologyRoutesTest, ResponsesMatchTheOpenApiDocument) {
  const json doc = json::parse(http::openapi_document());
  const auto schema_of = [&](const std::string& path, const std::string& method,
                             const std::string& status) {
    return doc.at("paths")
        .at(path)
        .at(method)
        .at("responses")
        .at(status)
        .at("content")
        .at("application/json")
        .at("schema");
  };
  const auto check = [&](const std::string& path, const std::string& method,
                         const http::Response& r) {
    const std::string status = std::to_string(r.status);
    const json& responses = doc.at("paths").at(path).at(method).at("responses");
    ASSERT_TRUE(responses.contains(status))
        << method << " " << path << " does not document " << status << ": " << r.body;
    EXPECT_EQ(conform(doc, schema_of(path, method, status), json::parse(r.body), "$"), "")
        << method << " " << path << " " << status;
  };

  check("/v1/methodologies", "get", get("/v1/methodologies"));
  check("/v1/methodologies", "get", get("/v1/methodologies", {{"region", "nowhere"}}));
  for (const auto& m : catalog().methodologies()) {
    check("/v1/methodologies/{code}/{version}", "get",
          get("/v1/methodologies/" + m.code + "/" + m.version));
  }
  check("/v1/methodologies/{code}/{version}", "get", get("/v1/methodologies/x/1"));

  json fast = wuhan_ride(20.0);
  fast["inputs"]["duration_min"] = 5.0;
  for (const json& body :
       {wuhan_ride(), fast, electricity("CN-LN-SHE", 300, 280), electricity("CN-YN", 300, 240),
        json{{"scenario", "water_saving"},
             {"region", "CN-LN-SHE"},
             {"date", "2025-06-01"},
             {"inputs", {{"baseline_m3", 12}, {"actual_m3", true}}}},
        wuhan_ride(0), wuhan_ride(json{{"value", 1}, {"unit", "kg"}}),
        json{{"methodology", "nope"}, {"region", "CN"}, {"date", "2025-06-01"}}}) {
    check("/v1/quantify", "post", quantify(body));
  }
  check("/v1/quantify", "post", quantify(wuhan_ride(), {{"all_regions", "true"}}));
  check("/v1/quantify", "post",
        quantify(json{{"scenario", "metro"},
                      {"region", "CN-HB-WUH"},
                      {"date", "2024-09-01"},
                      {"inputs", {{"rides", 2}}}},
                 {{"all_regions", "true"}}));
  check("/v1/quantify", "post", quantify(wuhan_ride(), {{"all_regions", "maybe"}}));

  check("/v1/factors", "get", get("/v1/factors"));
  check("/v1/factors", "get",
        get("/v1/factors",
            {{"kind", "grid.consumption"}, {"region", "CN-LN-SHE"}, {"date", "2025-06-01"}}));
  check("/v1/factors", "get", get("/v1/factors", {{"date", "tomorrow"}}));
  check("/v1/regions", "get", get("/v1/regions"));
  check("/v1/recognition", "get", get("/v1/recognition"));

  // The check itself catches a drift: a member the schema does not name, one it requires, a null
  // where none is allowed, a value outside an enum.
  const json schema = schema_of("/v1/quantify", "post", "200");
  const json good = ok(quantify(wuhan_ride()));
  ASSERT_EQ(conform(doc, schema, good, "$"), "");
  json extra = good;
  extra["surprise"] = 1;
  EXPECT_NE(conform(doc, schema, extra, "$"), "");
  json lacking = good;
  lacking["factors"][0].erase("data_version");
  EXPECT_NE(conform(doc, schema, lacking, "$"), "");
  json null_date = good;
  null_date["date"] = nullptr;
  EXPECT_NE(conform(doc, schema, null_date, "$"), "");
  json bad_scope = good;
  bad_scope["factors"][0]["scope"] = "planet";
  EXPECT_NE(conform(doc, schema, bad_scope, "$"), "");
}

}  // namespace
}  // namespace tanpu::test
