#include "methodology/catalog.h"

#include <algorithm>
#include <array>

#include "core/assert.h"

namespace tanpu::methodology {
namespace {

constexpr std::array<std::string_view, 24> kScenarios{
    "walk",
    "bike",
    "ebike",
    "metro",
    "bus",
    "public_transport",
    "carpool",
    "ride_hailing_nev",
    "nev_travel",
    "ev_charging",
    "nev_purchase",
    "transport_budget",
    "water_saving",
    "electricity_saving",
    "gas_saving",
    "efficient_appliance",
    "clean_plate",
    "garbage_sorting",
    "recycling",
    "second_hand",
    "own_bag",
    "tree_planting",
    "online_meeting",
    "activity_checkin",
};

std::uint64_t lookup_key(std::int32_t kind_id, RegionId region) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(kind_id)) << 32) |
         static_cast<std::uint32_t>(region);
}

}  // namespace

std::string_view to_string(Level level) {
  switch (level) {
    case Level::national:
      return "national";
    case Level::grid_region:
      return "grid_region";
    case Level::province:
      return "province";
    case Level::city:
      return "city";
  }
  return "national";
}

std::string_view to_string(Calculator calculator) {
  switch (calculator) {
    case Calculator::activity_factor:
      return "activity_factor";
    case Calculator::mode_shift:
      return "mode_shift";
    case Calculator::budget:
      return "budget";
    case Calculator::own_baseline:
      return "own_baseline";
    case Calculator::points_only:
      return "points_only";
  }
  return "activity_factor";
}

std::span<const std::string_view> scenario_keys() {
  return kScenarios;
}

std::string Origin::where() const {
  return file + ":" + std::to_string(line);
}

std::optional<std::size_t> Methodology::input_index(std::string_view name) const {
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].name == name) return i;
  return std::nullopt;
}

std::optional<RegionId> Catalog::find_region(std::string_view code) const {
  const auto it = region_index_.find(std::string(code));
  if (it == region_index_.end()) return std::nullopt;
  return it->second;
}

bool Catalog::covers(RegionId ancestor, RegionId region) const {
  if (region < 0 || static_cast<std::size_t>(region) >= regions_.size()) return false;
  const auto& chain = regions_[static_cast<std::size_t>(region)].chain;
  return std::find(chain.begin(), chain.end(), ancestor) != chain.end();
}

const Factor* Catalog::factor_by_id(std::string_view id) const {
  const auto it = factor_index_.find(std::string(id));
  return it == factor_index_.end() ? nullptr : &factors_[it->second];
}

std::int32_t Catalog::kind_id(std::string_view kind) const {
  const auto it = kind_ids_.find(std::string(kind));
  return it == kind_ids_.end() ? -1 : it->second;
}

const Factor* Catalog::lookup_factor(std::string_view kind, RegionId region, Day day) const {
  return lookup_factor(kind_id(kind), region, day);
}

const Factor* Catalog::lookup_factor(std::int32_t kind, RegionId region, Day day) const {
  if (kind < 0 || region < 0 || static_cast<std::size_t>(region) >= regions_.size()) return nullptr;
  for (const RegionId level : regions_[static_cast<std::size_t>(region)].chain) {
    const auto it = factor_lookup_.find(lookup_key(kind, level));
    if (it == factor_lookup_.end()) continue;
    for (const Factor* f : it->second)
      if (f->valid_on(day)) return f;
  }
  return nullptr;
}

const Methodology* Catalog::find(std::string_view code, std::string_view version) const {
  for (const auto& m : methodologies_)
    if (m.code == code && m.version == version) return &m;
  return nullptr;
}

std::vector<const Methodology*> Catalog::versions(std::string_view code) const {
  std::vector<const Methodology*> out;
  for (const auto& m : methodologies_)
    if (m.code == code) out.push_back(&m);
  std::sort(out.begin(), out.end(), [](const Methodology* a, const Methodology* b) {
    return a->effective_from < b->effective_from;
  });
  return out;
}

namespace {

std::size_t fnv1a(std::string_view text) {
  std::uint64_t h = 14695981039346656037ULL;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return static_cast<std::size_t>(h);
}

}  // namespace

std::int32_t Catalog::scenario_id(std::string_view scenario) const {
  for (std::size_t i = fnv1a(scenario);; ++i) {
    const ScenarioSlot& slot = scenario_slots_[i % kScenarioSlots];
    if (slot.id < 0) return -1;
    if (slot.name == scenario) return slot.id;
  }
}

void Catalog::add_scenario(const Methodology& m) {
  std::int32_t id = scenario_id(m.scenario);
  if (id < 0) {
    TANPU_ASSERT_MSG(by_scenario_.size() < kScenarioSlots / 2, "scenario table too full");
    id = static_cast<std::int32_t>(by_scenario_.size());
    by_scenario_.emplace_back();
    for (std::size_t i = fnv1a(m.scenario);; ++i) {
      ScenarioSlot& slot = scenario_slots_[i % kScenarioSlots];
      if (slot.id >= 0) continue;
      slot = ScenarioSlot{m.scenario, id};
      break;
    }
  }
  by_scenario_[static_cast<std::size_t>(id)].push_back(&m);
}

std::span<const Methodology* const> Catalog::for_scenario(std::string_view scenario) const {
  const std::int32_t id = scenario_id(scenario);
  if (id < 0) return {};
  return by_scenario_[static_cast<std::size_t>(id)];
}

Result<const Methodology*> Catalog::select(std::string_view scenario, RegionId region,
                                           Day day) const {
  const auto candidates = for_scenario(scenario);
  if (candidates.empty())
    return fail(ErrorKind::invalid, "unknown_scenario",
                "no methodology covers scenario '" + std::string(scenario) + "'", "scenario");
  if (region < 0 || static_cast<std::size_t>(region) >= regions_.size())
    return fail(ErrorKind::invalid, "unknown_region", "unknown region", "region");
  const Methodology* best = nullptr;
  std::size_t best_depth = 0;
  bool any_covering = false;
  const auto& chain = this->region(region).chain;
  for (const Methodology* m : candidates) {
    const auto at = std::find(chain.begin(), chain.end(), m->jurisdiction);
    if (at == chain.end()) continue;
    any_covering = true;
    if (!m->effective_on(day)) continue;
    // chain runs from the region up; a smaller distance is a more specific jurisdiction.
    const std::size_t depth = chain.size() - static_cast<std::size_t>(at - chain.begin());
    if (!best || depth > best_depth) {
      best = m;
      best_depth = depth;
    }
  }
  if (best) return best;
  if (!any_covering)
    return fail(ErrorKind::invalid, "no_methodology_for_region",
                "no methodology for scenario '" + std::string(scenario) + "' covers region " +
                    this->region(region).code,
                "region");
  return fail(ErrorKind::invalid, "no_methodology_on_date",
              "no methodology for scenario '" + std::string(scenario) + "' in " +
                  this->region(region).code + " is effective on " + format_date(day),
              "date");
}

Result<const Methodology*> Catalog::select_code(std::string_view code, Day day) const {
  const auto all = versions(code);
  if (all.empty())
    return fail(ErrorKind::not_found, "unknown_methodology",
                "no methodology has code '" + std::string(code) + "'", "methodology");
  for (const Methodology* m : all)
    if (m->effective_on(day)) return m;
  return fail(ErrorKind::invalid, "no_methodology_on_date",
              "no version of '" + std::string(code) + "' is effective on " + format_date(day),
              "date");
}

bool Catalog::recognised(const Methodology& m, RegionId region) const {
  if (covers(m.jurisdiction, region)) return true;
  for (const auto& r : recognition_) {
    if (!covers(r.jurisdiction, region)) continue;
    if (std::find(r.codes.begin(), r.codes.end(), m.code) != r.codes.end()) return true;
  }
  return false;
}

}  // namespace tanpu::methodology
