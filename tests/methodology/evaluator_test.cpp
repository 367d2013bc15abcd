// The Evaluator and quantify(): bounds, units, rounding, caps, eligibility, own baselines, factor
// fallback and provisional flags, on small data sets written by each test.
#include <gtest/gtest.h>

#include "data_fixture.h"
#include "methodology/evaluator.h"
#include "methodology/quantify.h"
#include "methodology/query_json.h"

namespace tanpu::methodology {
namespace {

using testing::DataDir;
using testing::factor;
using testing::metro;

TEST(RoundHalfEven, TiesGoToEvenAndNoiseDoesNotBreakATie) {
  EXPECT_EQ(round_half_even(0.5), 0);
  EXPECT_EQ(round_half_even(1.5), 2);
  EXPECT_EQ(round_half_even(2.5), 2);
  EXPECT_EQ(round_half_even(3.5), 4);
  EXPECT_EQ(round_half_even(2.4999), 2);
  EXPECT_EQ(round_half_even(2.5001), 3);
  EXPECT_EQ(round_half_even(-1.5), -2);
  EXPECT_EQ(round_half_even(0.1 * 3 * 10 + 0.5), 4);  // 3.0000000000000004 + .5: still a tie
  EXPECT_EQ(round_half_even(980000.0000000001), 980000);
}

class EvaluatorTest : public ::testing::Test {
 protected:
  std::shared_ptr<const Catalog> load(DataDir& data) {
    auto loaded = data.load();
    EXPECT_TRUE(loaded.has_value()) << (loaded ? "" : loaded.error().message);
    return loaded ? *loaded : nullptr;
  }
  static Query trip(double km, const std::string& date = "2025-06-01",
                    const std::string& region = "CN-HB-WUH") {
    Query q;
    q.scenario = "metro";
    q.region = region;
    q.date = parse_date(date);
    q.inputs.push_back({"distance_km", km, {}});
    return q;
  }
};

TEST_F(EvaluatorTest, ActivityTimesFactorRoundsOnceToMilligrams) {
  DataDir data;
  data.write("methodologies/m.toml", metro("1", "2025-01-01", ""));
  auto catalog = load(data);
  ASSERT_TRUE(catalog);
  Evaluator e(catalog);
  auto q = quantify(e, trip(12.5));
  ASSERT_TRUE(q.has_value()) << q.error().message;
  EXPECT_EQ(q->outcome.reduction_mg, 980000);
  EXPECT_EQ(q->outcome.points, 980);
  EXPECT_FALSE(q->outcome.provisional);
  EXPECT_EQ(q->outcome.factors[0]->id, "wuh-metro");
  // 0.00001 km × 78.4 g/km = 0.784 mg → 1 mg (one rounding, not per term)
  auto tiny = quantify(e, trip(0.1));
  ASSERT_TRUE(tiny.has_value());
  EXPECT_EQ(tiny->outcome.reduction_mg, 7840);
  EXPECT_EQ(tiny->outcome.points, 7);  // floor(7.84 g)
}

TEST_F(EvaluatorTest, BoundsUnitsAndNamesAreCheckedWithTheField) {
  DataDir data;
  data.write("methodologies/m.toml", metro("1", "2025-01-01", ""));
  auto catalog = load(data);
  ASSERT_TRUE(catalog);
  Evaluator e(catalog);
  auto zero = quantify(e, trip(0));
  ASSERT_FALSE(zero.has_value());
  EXPECT_EQ(zero.error().code, "input_out_of_bounds");
  EXPECT_EQ(zero.error().field, "inputs.distance_km");
  EXPECT_NE(zero.error().message.find("between 0.1 and 100 km"), std::string::npos);
  EXPECT_EQ(quantify(e, trip(-3)).error().code, "input_out_of_bounds");
  EXPECT_EQ(quantify(e, trip(100.5)).error().code, "input_out_of_bounds");

  Query metres = trip(12500);
  metres.inputs[0].unit = "m";
  ASSERT_TRUE(quantify(e, metres).has_value());
  EXPECT_EQ(quantify(e, metres)->outcome.reduction_mg, 980000);
  Query kg = trip(3);
  kg.inputs[0].unit = "kg";
  EXPECT_EQ(quantify(e, kg).error().code, "wrong_unit");
  Query parsec = trip(3);
  parsec.inputs[0].unit = "parsec";
  EXPECT_EQ(quantify(e, parsec).error().code, "unknown_unit");
  Query missing = trip(3);
  missing.inputs.clear();
  EXPECT_EQ(quantify(e, missing).error().code, "missing_input");
  Query extra = trip(3);
  extra.inputs.push_back({"speed_kmh", 30, {}});
  EXPECT_EQ(quantify(e, extra).error().field, "inputs.speed_kmh");
  Query nan = trip(std::nan(""));
  EXPECT_EQ(quantify(e, nan).error().code, "input_not_finite");
}

TEST(QueryJson, ClosedSchemaAndBoundedInputs) {
  nlohmann::json body{{"scenario", "metro"}, {"region", "CN-HB-WUH"}, {"date", "2025-06-01"}};
  body["inputs"] = nlohmann::json::object();
  for (int i = 0; i < 17; ++i) body["inputs"]["x" + std::to_string(i)] = 1;
  EXPECT_EQ(query_from_json(body).error().code, "too_many_inputs");
  body["inputs"] = {{"distance_km", {{"value", 3}, {"unit", "km"}, {"extra", 1}}}};
  EXPECT_EQ(query_from_json(body).error().field, "inputs.distance_km");
  body["inputs"] = {{"distance_km", 3}};
  body["colour"] = "red";
  EXPECT_EQ(query_from_json(body).error().code, "unknown_field");
  body.erase("colour");
  body["methodology"] = "t-metro";
  EXPECT_EQ(query_from_json(body).error().code, "ambiguous");
  body.erase("methodology");
  body["date"] = "2025-13-01";
  EXPECT_EQ(query_from_json(body).error().code, "invalid_date");
  body.erase("date");
  body["occurred_at"] = "2025-06-01 08:00";
  EXPECT_EQ(query_from_json(body).error().code, "invalid_time");
  body["occurred_at"] = "2025-06-01T08:00:00+08:00";
  EXPECT_TRUE(query_from_json(body).has_value());
}

TEST_F(EvaluatorTest, RegionDateAndScenarioRefusalsNameTheField) {
  DataDir data;
  data.write("methodologies/m.toml", metro("1", "2025-01-01", "effective_to = 2025-12-31\n"));
  auto catalog = load(data);
  ASSERT_TRUE(catalog);
  Evaluator e(catalog);
  auto early = quantify(e, trip(5, "2024-12-31"));
  EXPECT_EQ(early.error().code, "no_methodology_on_date");
  EXPECT_EQ(early.error().field, "date");
  EXPECT_EQ(quantify(e, trip(5, "2026-01-01")).error().code, "no_methodology_on_date");
  auto elsewhere = quantify(e, trip(5, "2025-06-01", "CN-LN"));
  EXPECT_EQ(elsewhere.error().code, "no_methodology_for_region");
  EXPECT_EQ(elsewhere.error().field, "region");
  EXPECT_EQ(quantify(e, trip(5, "2025-06-01", "CN-ZZ")).error().code, "unknown_region");
  Query unknown = trip(5);
  unknown.scenario = "teleport";
  EXPECT_EQ(quantify(e, unknown).error().code, "unknown_scenario");
  Query by_code = trip(5, "2025-06-01", "CN-LN");
  by_code.scenario.clear();
  by_code.code = "t-metro";
  EXPECT_EQ(quantify(e, by_code).error().code, "region_not_covered");
  by_code.region = "CN-HB-WUH";
  by_code.version = "2";
  EXPECT_EQ(quantify(e, by_code).error().code, "unknown_methodology");
}

TEST_F(EvaluatorTest, TheVersionEffectiveOnTheDateApplies) {
  DataDir data;
  data.write(
      "factors/base.toml",
      factor("wuh-metro", "metro.reduction", "78.4", "g/km", "CN-HB-WUH", "2020-01-01") +
          factor("wuh-metro-2", "metro.reduction", "100", "g/km", "CN-HB-WUH", "2020-01-01"));
  data.write("methodologies/a.toml", metro("1", "2024-01-01", "effective_to = 2025-02-28\n"));
  std::string v2 = metro("2", "2025-03-01", "");
  v2.replace(v2.find("id = \"wuh-metro\""), 16, "id = \"wuh-metro-2\"");
  v2.replace(v2.find("reduction_mg = 980000"), 21, "reduction_mg = 1250000");
  v2.replace(v2.find("points = 980"), 12, "points = 1250");
  data.write("methodologies/b.toml", v2);
  auto catalog = load(data);
  ASSERT_TRUE(catalog);
  Evaluator e(catalog);
  EXPECT_EQ(quantify(e, trip(10, "2025-02-28"))->outcome.methodology->version, "1");
  EXPECT_EQ(quantify(e, trip(10, "2025-02-28"))->outcome.reduction_mg, 784000);
  EXPECT_EQ(quantify(e, trip(10, "2025-03-01"))->outcome.methodology->version, "2");
  EXPECT_EQ(quantify(e, trip(10, "2025-03-01"))->outcome.reduction_mg, 1000000);
  // occurred_at is read in UTC+8: 2025-02-28T16:30Z is 2025-03-01 00:30 in Wuhan.
  Query late = trip(10);
  late.date.reset();
  late.occurred_at_us = parse_iso8601("2025-02-28T16:30:00Z");
  EXPECT_EQ(quantify(e, late)->outcome.methodology->version, "2");
}

TEST_F(EvaluatorTest, CapsClampAndSayTheyDid) {
  DataDir data;
  data.write("methodologies/m.toml", metro("1", "2025-01-01", ""));
  auto catalog = load(data);
  ASSERT_TRUE(catalog);
  Evaluator e(catalog);
  auto q = quantify(e, trip(80));  // 6272 g > 5000 g cap
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->outcome.reduction_mg, 5000000);
  EXPECT_TRUE(q->outcome.capped);
  EXPECT_EQ(q->outcome.points, 5000);
}

// A file with a kind look-up (grid factor), an own baseline and an eligibility rule.
constexpr const char* kSaving = R"(
code = "t-power"
version = "1"
title_zh = "节电"
title_en = "Power saving"
jurisdiction = "CN"
authority = "test"
effective_from = 2024-01-01
type = "scenario"
sector = "energy"
scenario = "electricity_saving"
status = "released"
calculator = "own_baseline"
dedup_window_s = 0
provisional_note = "the Xiangyang figure is made up for this test"

[[sources]]
document = "test"
year = 2025
label = "S"

[[inputs]]
name = "baseline_kwh"
unit = "kWh"
type = "number"
min = 1
max = 10000
description = "own baseline"

[[inputs]]
name = "actual_kwh"
unit = "kWh"
type = "number"
min = 0
max = 10000
description = "this period"

[[inputs]]
name = "has_pv"
unit = "1"
type = "boolean"
default = 0
description = "solar at home"

[factors.grid]
kind = "grid.consumption"
unit = "g/kWh"

[formula]
baseline_g = "baseline_kwh * grid"
project_g = "actual_kwh * grid"

[[eligibility]]
rule = "has_pv == 0"
code = "has_pv"
message = "homes with solar panels are not credited"

[own_baseline]
baseline_input = "baseline_kwh"
actual_input = "actual_kwh"
threshold_ratio = 0.10
method = "previous_year_same_period"

[points]
formula = "reduction_g"

[[examples]]
name = "exactly 10 %"
origin = "derived"
region = "CN-HB-WUH"
date = 2025-06-01
inputs = { baseline_kwh = 300, actual_kwh = 270 }
reduction_mg = 15000000
points = 15000
)";

TEST_F(EvaluatorTest, FactorFallbackThresholdEligibilityAndProvisional) {
  DataDir data;
  data.write("factors/grid.toml",
             factor("cn-2024", "grid.consumption", "0.53", "kg/kWh", "CN", "2024-01-01") +
                 factor("central-2024", "grid.consumption", "0.5", "kg/kWh", "CN-GRID-CENTRAL",
                        "2024-01-01") +
                 factor("central-2025", "grid.consumption", "0.6", "kg/kWh", "CN-GRID-CENTRAL",
                        "2025-07-01") +
                 factor("xfn-2024", "grid.consumption", "0.4", "kg/kWh", "CN-HB-XFN", "2024-01-01",
                        "provisional = true\nnote = \"made up\""));
  data.write("methodologies/p.toml", kSaving);
  auto catalog = load(data);
  ASSERT_TRUE(catalog);
  Evaluator e(catalog);
  const auto saving = [&](const char* region, const char* date, double baseline, double actual,
                          double pv = 0) {
    Query q;
    q.scenario = "electricity_saving";
    q.region = region;
    q.date = parse_date(date);
    q.inputs = {{"baseline_kwh", baseline, {}}, {"actual_kwh", actual, {}}, {"has_pv", pv, {}}};
    return quantify(e, q);
  };
  // Wuhan has no own factor: city → province → grid region (Central).
  auto wuhan = saving("CN-HB-WUH", "2025-06-01", 300, 270);
  ASSERT_TRUE(wuhan.has_value()) << wuhan.error().message;
  EXPECT_TRUE(wuhan->outcome.eligible());  // exactly 10 % qualifies
  EXPECT_EQ(wuhan->outcome.factors[0]->id, "central-2024");
  EXPECT_EQ(wuhan->outcome.reduction_mg, 15000000);
  EXPECT_FALSE(wuhan->outcome.provisional);
  // A newer figure at the same level wins from its valid_from on.
  EXPECT_EQ(saving("CN-HB-WUH", "2025-07-01", 300, 270)->outcome.factors[0]->id, "central-2025");
  // Xiangyang has its own (provisional) figure, which makes the answer provisional.
  auto xfn = saving("CN-HB-XFN", "2025-06-01", 300, 270);
  EXPECT_EQ(xfn->outcome.factors[0]->id, "xfn-2024");
  EXPECT_TRUE(xfn->outcome.provisional);
  // Liaoning: no provincial or grid figure here → national.
  EXPECT_EQ(saving("CN-LN", "2025-06-01", 300, 270)->outcome.factors[0]->id, "cn-2024");
  // Below the threshold, and the eligibility rule.
  auto below = saving("CN-HB-WUH", "2025-06-01", 300, 271);
  EXPECT_FALSE(below->outcome.eligible());
  EXPECT_EQ(below->outcome.ineligible_code(), "below_threshold");
  EXPECT_EQ(below->outcome.reduction_mg, 0);
  EXPECT_EQ(below->outcome.points, 0);
  auto pv = saving("CN-HB-WUH", "2025-06-01", 300, 200, 1);
  EXPECT_EQ(pv->outcome.ineligible_code(), "has_pv");
  EXPECT_EQ(saving("CN-HB-WUH", "2025-06-01", 300, 200, 0.5).error().code, "input_not_boolean");
  // Before any factor is valid: a clear refusal.
  EXPECT_EQ(saving("CN-HB-WUH", "2023-12-31", 300, 200).error().code, "no_methodology_on_date");
}

TEST_F(EvaluatorTest, TiesAtOneLevelBreakDeterministically) {
  DataDir data;
  data.write("factors/grid.toml",
             factor("b-factor", "grid.consumption", "0.5", "kg/kWh", "CN", "2024-01-01") +
                 factor("a-factor", "grid.consumption", "0.6", "kg/kWh", "CN", "2024-01-01"));
  data.write("methodologies/p.toml", kSaving);
  auto catalog = load(data);
  ASSERT_TRUE(catalog);
  const auto region = *(*catalog).find_region("CN-LN");
  const Factor* f = (*catalog).lookup_factor("grid.consumption", region, *parse_date("2025-01-01"));
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->id, "a-factor");  // same valid_from, year and data_version: smallest id
}

}  // namespace
}  // namespace tanpu::methodology
