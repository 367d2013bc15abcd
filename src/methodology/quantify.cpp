#include "methodology/quantify.h"

#include <algorithm>

#include "core/units.h"

namespace tanpu::methodology {
namespace {

Result<RegionId> resolve_region(const Catalog& catalog, const std::string& code) {
  if (code.empty())
    return fail(ErrorKind::invalid, "missing_region", "region is required", "region");
  if (auto id = catalog.find_region(code)) return *id;
  return fail(ErrorKind::invalid, "unknown_region",
              "unknown region '" + code + "' (GET /v1/regions lists them)", "region");
}

Result<Day> resolve_day(const Catalog& catalog, const Query& q, RegionId region) {
  if (q.date) return *q.date;
  if (q.occurred_at_us)
    return local_day(*q.occurred_at_us, catalog.region(region).utc_offset_minutes);
  return fail(ErrorKind::invalid, "missing_date", "date or occurred_at is required", "date");
}

Result<const Methodology*> resolve_methodology(const Catalog& catalog, const Query& q,
                                               RegionId region, Day day) {
  if (!q.code.empty()) {
    if (!q.version.empty()) {
      const Methodology* m = catalog.find(q.code, q.version);
      if (!m)
        return fail(ErrorKind::not_found, "unknown_methodology",
                    "no methodology " + q.code + "@" + q.version, "version");
      if (!m->effective_on(day))
        return fail(ErrorKind::invalid, "not_effective",
                    m->key() + " is effective " + format_date(m->effective_from) + " to " +
                        (m->effective_to ? format_date(*m->effective_to) : "open") + ", not on " +
                        format_date(day),
                    "date");
      return m;
    }
    return catalog.select_code(q.code, day);
  }
  if (q.scenario.empty())
    return fail(ErrorKind::invalid, "missing_scenario", "give scenario or methodology", "scenario");
  const auto keys = scenario_keys();
  if (std::find(keys.begin(), keys.end(), q.scenario) == keys.end())
    return fail(ErrorKind::invalid, "unknown_scenario", "unknown scenario '" + q.scenario + "'",
                "scenario");
  return catalog.select(q.scenario, region, day);
}

// Inputs by name → methodology order and units. `strict`: an input the methodology does not
// have is an error (off in the cross-regional view, where methodologies differ).
Result<std::vector<double>> map_inputs(const Methodology& m, const std::vector<InputValue>& given,
                                       bool strict) {
  std::vector<double> out(m.inputs.size(), 0);
  std::vector<bool> seen(m.inputs.size(), false);
  for (const auto& in : given) {
    const auto at = m.input_index(in.name);
    if (!at) {
      if (!strict) continue;
      return fail(ErrorKind::invalid, "unknown_input", m.key() + " has no input '" + in.name + "'",
                  "inputs." + in.name);
    }
    const InputSpec& spec = m.inputs[*at];
    double value = in.value;
    if (!in.unit.empty() && in.unit != spec.unit.symbol) {
      const auto unit = find_unit(in.unit);
      if (!unit)
        return fail(ErrorKind::invalid, "unknown_unit",
                    "unknown unit '" + in.unit + "' (known: " + known_units() + ")",
                    "inputs." + in.name);
      const auto scale = conversion(*unit, spec.unit);
      if (!scale)
        return fail(ErrorKind::invalid, "wrong_unit",
                    in.name + " is measured in " + spec.unit.symbol + "; '" + in.unit +
                        "' does not convert to it",
                    "inputs." + in.name);
      value *= *scale;
    }
    out[*at] = value;
    seen[*at] = true;
  }
  for (std::size_t i = 0; i < m.inputs.size(); ++i) {
    if (seen[i]) continue;
    if (!m.inputs[i].default_value)
      return fail(
          ErrorKind::invalid, "missing_input",
          m.key() + " needs input " + m.inputs[i].name + " (" + m.inputs[i].unit.symbol + ")",
          "inputs." + m.inputs[i].name);
    out[i] = *m.inputs[i].default_value;
  }
  return out;
}

Result<Quantification> run(Evaluator& evaluator, const Methodology& m, RegionId region, Day day,
                           const std::vector<InputValue>& given, bool strict) {
  auto inputs = map_inputs(m, given, strict);
  if (!inputs) return std::unexpected(std::move(inputs.error()));
  auto outcome = evaluator.evaluate(m, region, day, *inputs);
  if (!outcome) return std::unexpected(std::move(outcome.error()));
  return Quantification{*outcome, std::move(*inputs)};
}

}  // namespace

Result<Quantification> quantify(Evaluator& evaluator, const Query& q) {
  const Catalog& catalog = evaluator.catalog();
  auto region = resolve_region(catalog, q.region);
  if (!region) return std::unexpected(std::move(region.error()));
  auto day = resolve_day(catalog, q, *region);
  if (!day) return std::unexpected(std::move(day.error()));
  auto m = resolve_methodology(catalog, q, *region, *day);
  if (!m) return std::unexpected(std::move(m.error()));
  if (!catalog.covers((*m)->jurisdiction, *region) && !catalog.recognised(**m, *region))
    return fail(ErrorKind::invalid, "region_not_covered",
                (*m)->key() + " applies in " + catalog.region((*m)->jurisdiction).code +
                    ", not in " + q.region,
                "region");
  return run(evaluator, **m, *region, *day, q.inputs, true);
}

Result<RegionalView> quantify_all_regions(Evaluator& evaluator, const Query& q) {
  const Catalog& catalog = evaluator.catalog();
  if (q.scenario.empty())
    return fail(ErrorKind::invalid, "missing_scenario", "all_regions needs a scenario", "scenario");
  auto region = resolve_region(catalog, q.region);
  if (!region) return std::unexpected(std::move(region.error()));
  auto day = resolve_day(catalog, q, *region);
  if (!day) return std::unexpected(std::move(day.error()));
  RegionalView view{*region, *day, nullptr, {}};
  const auto candidates = catalog.for_scenario(q.scenario);
  if (candidates.empty())
    return fail(ErrorKind::invalid, "unknown_scenario",
                "no methodology covers scenario '" + q.scenario + "'", "scenario");
  for (const auto& in : q.inputs)
    if (std::none_of(candidates.begin(), candidates.end(),
                     [&](const Methodology* m) { return m->input_index(in.name).has_value(); }))
      return fail(ErrorKind::invalid, "unknown_input",
                  "no methodology of scenario " + q.scenario + " has input '" + in.name + "'",
                  "inputs." + in.name);
  if (auto applicable = catalog.select(q.scenario, *region, *day)) view.applicable = *applicable;
  for (const Methodology* m : candidates) {
    if (!m->effective_on(*day)) continue;
    RegionalResult r{m, m == view.applicable, catalog.recognised(*m, *region), std::nullopt,
                     std::nullopt};
    // Where the record's region accepts the code, it is quantified there (as quantify() would);
    // elsewhere in the methodology's own jurisdiction, with that jurisdiction's factors.
    const RegionId where = r.recognised ? *region : m->jurisdiction;
    if (auto result = run(evaluator, *m, where, *day, q.inputs, false))
      r.result = std::move(*result);
    else
      r.error = std::move(result.error());
    view.results.push_back(std::move(r));
  }
  return view;
}

}  // namespace tanpu::methodology
