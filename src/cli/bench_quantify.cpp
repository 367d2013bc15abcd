// `tanpu bench quantify`: records per second through methodology selection and evaluation, the
// calls the ingestion pipeline makes per record (Catalog::select, then Evaluator::evaluate, which
// checks bounds, resolves factors with the region fallback, runs the eligibility rules and the
// compiled formulas, rounds half-to-even and applies the points rule). One thread, one core.
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/runtime.h"
#include "methodology/formula.h"

namespace tanpu::cli {
namespace {

namespace m = methodology;

struct Record {
  std::string_view scenario;
  m::RegionId region = 0;
  Day day = 0;
  std::uint8_t input_count = 0;
  std::array<double, m::kInputsPerMethodologyMax> inputs{};
};

// A campus-and-city mix: mostly travel, then the daily campus behaviours (weights in per mille).
constexpr std::array<std::pair<std::string_view, int>, 14> kMix{{
    {"walk", 220},
    {"bike", 150},
    {"metro", 150},
    {"bus", 130},
    {"clean_plate", 90},
    {"garbage_sorting", 60},
    {"electricity_saving", 40},
    {"water_saving", 40},
    {"recycling", 30},
    {"ev_charging", 30},
    {"nev_travel", 20},
    {"online_meeting", 20},
    {"second_hand", 10},
    {"gas_saving", 10},
}};
constexpr std::array<std::string_view, 8> kRegions{"CN-LN-SHE", "CN-HB-WUH", "CN-GD-SZX", "CN-BJ",
                                                   "CN-SH",     "CN-SC-CTU", "CN-ZJ-HGH", "CN-YN"};

// Builds `count` distinct records whose scenario has an applicable methodology, with inputs drawn
// inside the bounds (skewed to small values, as real trips and savings are).
std::vector<Record> make_records(const m::Catalog& catalog, std::size_t count) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int> mix(0, 999);
  std::uniform_int_distribution<std::size_t> region_pick(0, kRegions.size() - 1);
  const Day first = *parse_date("2023-07-01");
  const Day last = *parse_date("2025-12-31");
  std::uniform_int_distribution<Day> day_pick(first, last);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<Record> out;
  out.reserve(count);
  std::size_t attempts = 0;
  while (out.size() < count && attempts++ < count * 20) {
    int pick = mix(rng);
    std::string_view scenario = kMix.back().first;
    for (const auto& [name, weight] : kMix) {
      if (pick < weight) {
        scenario = name;
        break;
      }
      pick -= weight;
    }
    const auto region = catalog.find_region(kRegions[region_pick(rng)]);
    if (!region) continue;
    Record r{scenario, *region, day_pick(rng), 0, {}};
    auto selected = catalog.select(scenario, r.region, r.day);
    if (!selected) continue;
    const m::Methodology& meth = **selected;
    r.input_count = static_cast<std::uint8_t>(meth.inputs.size());
    for (std::size_t i = 0; i < meth.inputs.size(); ++i) {
      const auto& spec = meth.inputs[i];
      double v = spec.min + (spec.max - spec.min) * std::pow(unit(rng), 3.0);
      if (spec.type != m::InputType::number) v = std::round(v);
      if (spec.type == m::InputType::boolean) v = 0;
      r.inputs[i] = v;
    }
    out.push_back(r);
  }
  return out;
}

// The baseline in the same run: the same selection, but each record's formulas are parsed as it
// arrives (what an interpreter without a compile step does), over at most 50,000 records.
double baseline_records_per_s(const m::Catalog& catalog, const std::vector<Record>& pool,
                              std::int64_t records) {
  const std::int64_t n = std::min<std::int64_t>(records, 50'000);
  std::vector<double> slots(m::kInputsPerMethodologyMax + m::kFactorsPerMethodologyMax, 0);
  double sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < n; ++i) {
    const Record& r = pool[static_cast<std::size_t>(i) % pool.size()];
    auto selected = catalog.select(r.scenario, r.region, r.day);
    if (!selected) continue;
    const m::Methodology& meth = **selected;
    std::vector<m::Variable> vars;
    for (std::size_t k = 0; k < meth.inputs.size(); ++k) {
      slots[k] = r.inputs[k];
      vars.push_back({meth.inputs[k].name, &slots[k]});
    }
    for (std::size_t k = 0; k < meth.factors.size(); ++k) {
      const m::FactorRef& ref = meth.factors[k];
      const m::Factor* f =
          ref.pinned ? ref.pinned : catalog.lookup_factor(ref.kind_id, r.region, r.day);
      slots[m::kInputsPerMethodologyMax + k] =
          f ? f->value * conversion(f->unit, ref.unit).value_or(1) : 0;
      vars.push_back({ref.name, &slots[m::kInputsPerMethodologyMax + k]});
    }
    auto be = m::Formula::compile(meth.baseline_g, vars);
    auto pe = m::Formula::compile(meth.project_g, vars);
    if (be && pe) sink += be->eval() - pe->eval();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return sink == -1 ? 0 : static_cast<double>(n) / seconds;  // `sink` keeps the work observable
}

}  // namespace

int run_bench_quantify(const Config& config, const QuantifyBenchArgs& args) {
  auto catalog = load_catalog(config);
  if (!catalog) {
    std::fprintf(stderr, "tanpu: %s\n", catalog.error().message.c_str());
    return 2;
  }
  m::Evaluator evaluator(*catalog);
  // A pool of distinct records, cycled: 1 Mi records keeps memory near 150 MB whatever N is.
  const auto pool_size = static_cast<std::size_t>(std::min<std::int64_t>(args.records, 1 << 20));
  const std::vector<Record> pool = make_records(**catalog, pool_size);
  if (pool.empty()) {
    std::fprintf(stderr, "tanpu: no scenario of the mix has an applicable methodology\n");
    return 2;
  }
  std::int64_t reduction_mg = 0, points = 0, credited = 0, ineligible = 0, refused = 0;
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t next = 0;  // cycles through the pool without a division per record
  for (std::int64_t i = 0; i < args.records; ++i) {
    const Record& r = pool[next];
    next = next + 1 == pool.size() ? 0 : next + 1;
    auto selected = (*catalog)->select(r.scenario, r.region, r.day);
    if (!selected) {
      ++refused;
      continue;
    }
    auto outcome = evaluator.evaluate(**selected, r.region, r.day,
                                      std::span<const double>(r.inputs.data(), r.input_count));
    if (!outcome) {
      ++refused;
      continue;
    }
    if (!outcome->eligible()) {
      ++ineligible;
      continue;
    }
    ++credited;
    reduction_mg += outcome->reduction_mg;
    points += outcome->points;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double baseline = baseline_records_per_s(**catalog, pool, args.records);
  const nlohmann::json out{{"bench", "quantify"},
                           {"records", args.records},
                           {"seconds", seconds},
                           {"records_per_s", static_cast<double>(args.records) / seconds},
                           {"baseline_records_per_s", baseline},
                           {"distinct_records", pool.size()},
                           {"credited", credited},
                           {"ineligible", ineligible},
                           {"refused", refused},
                           {"reduction_mg", reduction_mg},
                           {"points", points}};
  if (!args.json)
    std::printf("quantified %lld records in %.3f s on one thread\n",
                static_cast<long long>(args.records), seconds);
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace tanpu::cli
