// The repository's own data/: every worked example passes, every campus behaviour is covered by a
// released version with a cited source, and the published figures are where factors.md puts them.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "methodology/check.h"
#include "methodology/quantify.h"
#include "methodology/recompute.h"
#include "support/test_catalog.h"

namespace tanpu::methodology {
namespace {

std::shared_ptr<const Catalog> repo() {
  return tanpu::testing::repository_catalog();
}

Query trip(const std::string& scenario, const std::string& region, const std::string& date,
           std::vector<InputValue> inputs) {
  Query q;
  q.scenario = scenario;
  q.region = region;
  q.date = parse_date(date);
  q.inputs = std::move(inputs);
  return q;
}

TEST(RepositoryData, EveryGoldenVectorPasses) {
  ASSERT_TRUE(repo());
  Evaluator e(repo());
  const ExampleReport report = check_examples(e);
  EXPECT_GE(report.examples, 2 * repo()->methodologies().size());
  for (const auto& failure : report.failures) ADD_FAILURE() << failure;
}

TEST(RepositoryData, TheFifteenCampusBehavioursHaveAReleasedVersionWithSources) {
  ASSERT_TRUE(repo());
  // Seed 000: the 15 methodologies the Tan ZhongHui platform filed (NEVs: charging and travel).
  const std::vector<std::string> behaviours{"walk",
                                            "bike",
                                            "metro",
                                            "bus",
                                            "water_saving",
                                            "electricity_saving",
                                            "gas_saving",
                                            "clean_plate",
                                            "garbage_sorting",
                                            "recycling",
                                            "second_hand",
                                            "tree_planting",
                                            "online_meeting",
                                            "ev_charging",
                                            "nev_travel",
                                            "efficient_appliance"};
  for (const auto& scenario : behaviours) {
    bool released = false;
    for (const Methodology* m : repo()->for_scenario(scenario)) {
      EXPECT_FALSE(m->sources.empty()) << m->key();
      released = released || m->status == "released";
    }
    EXPECT_TRUE(released) << "no released methodology for " << scenario;
  }
}

TEST(RepositoryData, WuhanRevisionsApplyByDate) {
  ASSERT_TRUE(repo());
  Evaluator e(repo());
  // 2025 batch: 78.4 g per km.
  auto km = quantify(e, trip("metro", "CN-HB-WUH", "2025-06-01", {{"distance_km", 12.5, {}}}));
  ASSERT_TRUE(km.has_value()) << km.error().message;
  EXPECT_EQ(km->outcome.methodology->key(), "tanpu-whcer-metro@2025.1");
  EXPECT_EQ(km->outcome.reduction_mg, 980000);
  // 2024-08 batch: 170 g per ride, whatever the distance.
  const Methodology* v2024 = repo()->find("tanpu-whcer-metro", "2024.1");
  ASSERT_NE(v2024, nullptr);
  auto ride = quantify(e, trip("metro", "CN-HB-WUH", "2024-09-01", {{"rides", 2, {}}}));
  ASSERT_TRUE(ride.has_value()) << ride.error().message;
  EXPECT_EQ(ride->outcome.methodology, v2024);
  EXPECT_EQ(ride->outcome.reduction_mg, 340000);
  // The 2025 inputs are refused by the 2024 version, naming the input.
  auto wrong = quantify(e, trip("metro", "CN-HB-WUH", "2024-09-01", {{"distance_km", 5, {}}}));
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().field, "inputs.distance_km");
  // Bike: 40 g/km until 2024-12-31, then 93.3 g/km.
  auto bike_old = quantify(e, trip("bike", "CN-HB-WUH", "2024-12-31", {{"distance_km", 3, {}}}));
  auto bike_new = quantify(e, trip("bike", "CN-HB-WUH", "2025-01-01", {{"distance_km", 3, {}}}));
  ASSERT_TRUE(bike_old.has_value()) << bike_old.error().message;
  ASSERT_TRUE(bike_new.has_value()) << bike_new.error().message;
  EXPECT_EQ(bike_old->outcome.reduction_mg, 120000);
  EXPECT_EQ(bike_new->outcome.reduction_mg, 279900);
}

TEST(RepositoryData, TheIssuesBadInputsAreRefusedNamingFieldAndBound) {
  ASSERT_TRUE(repo());
  Evaluator e(repo());
  // Walking 300 km in a day (about 400,000 steps) is over the walking bound.
  auto walk = quantify(e, trip("walk", "CN-LN-SHE", "2025-06-01", {{"steps", 400000, {}}}));
  ASSERT_FALSE(walk.has_value());
  EXPECT_EQ(walk.error().code, "input_out_of_bounds");
  EXPECT_EQ(walk.error().field, "inputs.steps");
  EXPECT_NE(walk.error().message.find("80000"), std::string::npos) << walk.error().message;
  // A 0 km metro trip.
  auto metro = quantify(e, trip("metro", "CN-LN-SHE", "2025-06-01", {{"distance_km", 0, {}}}));
  ASSERT_FALSE(metro.has_value());
  EXPECT_EQ(metro.error().field, "inputs.distance_km");
  // Negative kWh.
  auto power = quantify(e, trip("electricity_saving", "CN-LN-SHE", "2025-06-01",
                                {{"baseline_kwh", 300, {}}, {"actual_kwh", -5, {}}}));
  ASSERT_FALSE(power.has_value());
  EXPECT_EQ(power.error().code, "input_out_of_bounds");
  EXPECT_EQ(power.error().field, "inputs.actual_kwh");
  // An unknown methodology code, and a date before every version.
  Query unknown;
  unknown.code = "no-such-code";
  unknown.region = "CN";
  unknown.date = parse_date("2025-06-01");
  EXPECT_EQ(quantify(e, unknown).error().code, "unknown_methodology");
  EXPECT_EQ(
      quantify(e, trip("metro", "CN-HB-WUH", "1999-01-01", {{"distance_km", 3, {}}})).error().code,
      "no_methodology_on_date");
}

TEST(RepositoryData, TheThreeGridFiguresStayApart) {
  ASSERT_TRUE(repo());
  std::set<double> reporting, consumption_national;
  const auto cn = *repo()->find_region("CN");
  for (const auto& f : repo()->factors()) {
    if (f.kind == "grid.power_reporting") reporting.insert(f.value);
    if (f.kind == "grid.consumption" && f.region == cn) consumption_national.insert(f.value);
  }
  EXPECT_EQ(reporting, std::set<double>{0.5703});
  EXPECT_TRUE(consumption_national.contains(0.5366));
  EXPECT_TRUE(consumption_national.contains(0.5306));
  EXPECT_FALSE(consumption_national.contains(0.5703));
  // No methodology ever uses the power-sector reporting figure.
  for (const auto& m : repo()->methodologies())
    for (const auto& ref : m.factors) {
      EXPECT_NE(ref.kind, "grid.power_reporting") << m.key();
      if (ref.pinned) {
        EXPECT_NE(ref.pinned->kind, "grid.power_reporting") << m.key();
      }
    }
  // Shenyang (Liaoning, Northeast grid) and Yunnan (its own provincial row) differ.
  const Day day = *parse_date("2025-06-01");
  const Factor* shenyang =
      repo()->lookup_factor("grid.consumption", *repo()->find_region("CN-LN-SHE"), day);
  const Factor* yunnan =
      repo()->lookup_factor("grid.consumption", *repo()->find_region("CN-YN"), day);
  ASSERT_NE(shenyang, nullptr);
  ASSERT_NE(yunnan, nullptr);
  EXPECT_EQ(repo()->region(shenyang->region).code, "CN-GRID-NORTHEAST");
  EXPECT_EQ(repo()->region(yunnan->region).code, "CN-YN");
  EXPECT_GT(shenyang->value, 4 * yunnan->value);
}

TEST(RepositoryData, ProvisionalAnswersSaySo) {
  ASSERT_TRUE(repo());
  Evaluator e(repo());
  for (const auto& m : repo()->methodologies()) {
    const Example& ex = m.examples.front();
    Query q;
    q.code = m.code;
    q.version = m.version;
    q.region = repo()->region(ex.region).code;
    q.date = ex.date;
    for (const auto& [name, value] : ex.inputs) q.inputs.push_back({name, value, {}});
    auto result = quantify(e, q);
    ASSERT_TRUE(result.has_value()) << m.key() << ": " << result.error().message;
    bool used_provisional = m.provisional;
    for (std::size_t i = 0; i < result->outcome.factor_count; ++i)
      used_provisional = used_provisional || result->outcome.factors[i]->provisional;
    EXPECT_EQ(result->outcome.provisional, used_provisional) << m.key();
    const auto json = to_json(*repo(), *result);
    EXPECT_EQ(json["provisional"].get<bool>(), used_provisional) << m.key();
    EXPECT_EQ(json["provisional_reasons"].empty(), !used_provisional) << m.key();
    for (const char* key : {"methodology", "version", "factors", "region", "date", "inputs",
                            "baseline_mg", "project_mg", "reduction_mg", "rounding", "points"})
      EXPECT_TRUE(json.contains(key)) << m.key() << " lacks " << key;
  }
}

TEST(RepositoryData, CrossRegionalViewMarksTheOneThatApplies) {
  ASSERT_TRUE(repo());
  Evaluator e(repo());
  auto view =
      quantify_all_regions(e, trip("metro", "CN-HB-WUH", "2025-06-01", {{"distance_km", 10, {}}}));
  ASSERT_TRUE(view.has_value()) << view.error().message;
  ASSERT_NE(view->applicable, nullptr);
  EXPECT_EQ(view->applicable->key(), "tanpu-whcer-metro@2025.1");
  int applies = 0;
  std::set<std::string> jurisdictions;
  for (const auto& r : view->results) {
    applies += r.applies ? 1 : 0;
    jurisdictions.insert(repo()->region(r.methodology->jurisdiction).code);
    if (r.methodology->key() == "tanpu-szcer-metro@2021.1") {
      ASSERT_TRUE(r.result.has_value());
      EXPECT_EQ(r.result->outcome.reduction_mg, 467000);  // 46.7 g/pkm × 10 km
      EXPECT_FALSE(r.recognised);
    }
  }
  EXPECT_EQ(applies, 1);
  for (const char* j : {"CN", "CN-HB-WUH", "CN-GD-SZX", "CN-BJ", "CN-SH"})
    EXPECT_TRUE(jurisdictions.contains(j)) << j;
  // Tianjin accepts the Beijing–Tianjin–Hebei standard through recognition.toml.
  const Methodology* bj = repo()->find("db11t-3043-2024-bus", "2024.1");
  ASSERT_NE(bj, nullptr);
  EXPECT_TRUE(repo()->recognised(*bj, *repo()->find_region("CN-TJ")));
  EXPECT_FALSE(repo()->recognised(*bj, *repo()->find_region("CN-SH")));
}

TEST(RepositoryData, RecomputeReportsADiffAndChangesNothing) {
  ASSERT_TRUE(repo());
  Evaluator e(repo());
  std::istringstream records(
      R"({"id":"r1","scenario":"metro","region":"CN-HB-WUH","date":"2025-06-01","inputs":{"distance_km":12.5},"credited":{"methodology":"tanpu-whcer-metro","version":"2025.1","reduction_mg":980000,"points":980}}
{"id":"r2","scenario":"metro","region":"CN-HB-WUH","date":"2025-06-02","inputs":{"distance_km":10},"credited":{"methodology":"tanpu-whcer-metro","version":"2024.1","reduction_mg":170000,"points":170}}
{"id":"r3","scenario":"metro","region":"CN-HB-WUH","date":"2024-01-01","inputs":{"distance_km":10},"credited":{"methodology":"x","version":"1","reduction_mg":1,"points":1}}
)");
  auto report = recompute(e, records, *parse_date("2025-01-01"));
  ASSERT_TRUE(report.has_value()) << report.error().message;
  EXPECT_EQ(report->records, 3u);
  EXPECT_EQ(report->considered, 2u);
  EXPECT_EQ(report->unchanged, 1u);
  ASSERT_EQ(report->changes.size(), 1u);
  EXPECT_EQ(report->changes[0].record_id, "r2");
  EXPECT_EQ(report->changes[0].new_methodology, "tanpu-whcer-metro@2025.1");
  EXPECT_EQ(report->delta_reduction_mg, 784000 - 170000);
  EXPECT_FALSE(to_json(*report)["applied"].get<bool>());

  std::istringstream broken("{\"id\":\"r1\"}\n");
  auto refused = recompute(e, broken, 0);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("line 1"), std::string::npos);
}

}  // namespace
}  // namespace tanpu::methodology
