// The methodology catalog: regions, factors, methodology versions and the mutual-recognition table,
// loaded from data/ and validated as a whole. Immutable once loaded; shared by every thread.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "methodology/units.h"

namespace tanpu::methodology {

// Limits per methodology version, checked at load: the Evaluator keeps per-record values in
// fixed-size arrays of these lengths, so evaluation never allocates.
inline constexpr std::size_t kFactorsPerMethodologyMax = 8;
inline constexpr std::size_t kInputsPerMethodologyMax = 16;

using RegionId = std::int32_t;
inline constexpr RegionId kNoRegion = -1;

enum class Level : std::uint8_t { national, grid_region, province, city };
std::string_view to_string(Level level);

struct Region {
  std::string code;
  std::string name_zh;
  std::string name_en;
  Level level = Level::national;
  RegionId parent = kNoRegion;
  std::int32_t utc_offset_minutes = 0;
  std::vector<RegionId> chain;  // this region, then its ancestors up to national (the fallback)
};

// Where a definition came from, for `file:line` in errors.
struct Origin {
  std::string file;
  std::int64_t line = 0;
  std::string where() const;
};

struct Factor {
  std::string id;
  std::string kind;
  double value = 0;
  RatioUnit unit;
  RegionId region = kNoRegion;
  std::int32_t year = 0;
  Day valid_from = 0;
  std::optional<Day> valid_to;
  std::string data_version;
  std::string source;
  std::string label;  // P, S or U (factors.md)
  bool provisional = false;
  std::string note;
  Origin origin;

  bool valid_on(Day day) const { return day >= valid_from && (!valid_to || day <= *valid_to); }
};

enum class InputType : std::uint8_t { number, integer, boolean };

struct InputSpec {
  std::string name;
  Unit unit;
  InputType type = InputType::number;
  double min = 0;
  double max = 0;
  std::optional<double> default_value;
  std::string description;
};

// A factor as a methodology uses it: pinned by id or looked up by kind, converted to `unit`.
struct FactorRef {
  std::string name;
  std::string pinned_id;  // empty: look up `kind` by region and date
  std::string kind;
  RatioUnit unit;
  const Factor* pinned = nullptr;
  double pinned_scale = 1.0;  // converts the pinned factor's unit to `unit`, computed at load
  std::int32_t kind_id = -1;  // Catalog::kind_id(kind), for the allocation-free look-up
};

struct Rule {
  std::string expression;
  std::string code;
  std::string message;
};

struct Caps {
  std::int64_t per_record_mg = 0;  // 0 = none (all caps)
  std::int64_t per_member_day_mg = 0;
  std::int64_t per_member_month_mg = 0;
  std::int64_t per_member_day_records = 0;
};

struct OwnBaseline {
  std::string baseline_input;
  std::string actual_input;
  double threshold_ratio = 0;
  std::string method;  // previous_year_same_period | moving_average_7d
  std::size_t baseline_index = 0;
  std::size_t actual_index = 0;
};

struct Source {
  std::string document;
  std::int64_t year = 0;
  std::string link;
  std::string cite;
  std::string label;
};

struct Example {
  std::string name;
  std::string origin;  // source | derived
  std::string note;
  RegionId region = kNoRegion;
  Day date = 0;
  std::vector<std::pair<std::string, double>> inputs;
  std::int64_t reduction_mg = 0;
  std::int64_t points = 0;
  bool eligible = true;
  std::string ineligible;
  Origin origin_at;
};

enum class Calculator : std::uint8_t {
  activity_factor,
  mode_shift,
  budget,
  own_baseline,
  points_only
};
std::string_view to_string(Calculator calculator);

struct Methodology {
  std::string code;
  std::string version;
  std::string title_zh;
  std::string title_en;
  RegionId jurisdiction = kNoRegion;
  std::string authority;
  Day effective_from = 0;
  std::optional<Day> effective_to;
  std::string type;    // scenario | project
  std::string sector;  // closed list
  std::string scenario;
  std::string status;  // trial | released | superseded
  Calculator calculator = Calculator::activity_factor;
  std::int64_t dedup_window_s = 0;
  bool provisional = false;
  std::string provisional_note;
  std::vector<Source> sources;
  std::vector<InputSpec> inputs;
  std::vector<FactorRef> factors;
  std::string baseline_g = "0";
  std::string project_g = "0";
  std::vector<Rule> eligibility;
  Caps caps;
  std::string points_formula = "0";
  std::int64_t points_max_per_record = 0;
  std::optional<OwnBaseline> own_baseline;
  std::vector<Example> examples;
  Origin origin;
  std::uint32_t index = 0;  // position in Catalog::methodologies()

  bool effective_on(Day day) const {
    return day >= effective_from && (!effective_to || day <= *effective_to);
  }
  // "code@version"
  std::string key() const { return code + "@" + version; }
  // The input's position, or nullopt.
  std::optional<std::size_t> input_index(std::string_view name) const;
};

struct Recognition {
  RegionId jurisdiction = kNoRegion;
  std::vector<std::string> codes;
  std::string basis;
};

// The scenario keys tanpu knows (docs/methodologies.md).
std::span<const std::string_view> scenario_keys();

class Catalog {
 public:
  // Loads data_dir/{regions.toml, recognition.toml, factors/, methodologies/}. Any error refuses
  // the whole set: the message names file:line and what is wrong. Formulas are compiled here once
  // to prove they parse; the golden vectors are run by check_examples().
  static Result<std::shared_ptr<const Catalog>> load(const std::filesystem::path& data_dir);

  // Regions.
  const std::vector<Region>& regions() const { return regions_; }
  std::optional<RegionId> find_region(std::string_view code) const;
  const Region& region(RegionId id) const { return regions_[static_cast<std::size_t>(id)]; }
  // True when `ancestor` is `region` or one of its ancestors.
  bool covers(RegionId ancestor, RegionId region) const;

  // Factors.
  const std::vector<Factor>& factors() const { return factors_; }
  const Factor* factor_by_id(std::string_view id) const;
  // The factor of `kind` for `region` on `day`: walks city → province → grid region → national;
  // ties at one level go to the latest valid_from, highest year, highest data_version, smallest
  // id. nullptr when none.
  const Factor* lookup_factor(std::string_view kind, RegionId region, Day day) const;
  const Factor* lookup_factor(std::int32_t kind_id, RegionId region, Day day) const;
  // The interned id of a factor kind, -1 when no factor has it.
  std::int32_t kind_id(std::string_view kind) const;

  // Methodologies.
  const std::vector<Methodology>& methodologies() const { return methodologies_; }
  const Methodology* find(std::string_view code, std::string_view version) const;
  // Every version of `code`, oldest effective_from first.
  std::vector<const Methodology*> versions(std::string_view code) const;
  // Every methodology version for `scenario`, in catalog order.
  std::span<const Methodology* const> for_scenario(std::string_view scenario) const;
  // The interned id of a scenario that has methodologies (one hash look-up), or -1.
  std::int32_t scenario_id(std::string_view scenario) const;
  // The version that applies to a record of `scenario` in `region` on `day`: effective on the
  // day, with the most specific jurisdiction covering the region. An error names why none does.
  Result<const Methodology*> select(std::string_view scenario, RegionId region, Day day) const;
  // The version of `code` effective on `day` (any jurisdiction).
  Result<const Methodology*> select_code(std::string_view code, Day day) const;

  const std::vector<Recognition>& recognition() const { return recognition_; }
  // True when a record's region accepts `code` through the mutual-recognition table (a region
  // always accepts codes of jurisdictions that cover it).
  bool recognised(const Methodology& m, RegionId region) const;

 private:
  friend class CatalogLoader;
  std::vector<Region> regions_;
  std::unordered_map<std::string, RegionId> region_index_;
  std::vector<Factor> factors_;
  std::unordered_map<std::string, std::size_t> factor_index_;
  std::unordered_map<std::string, std::int32_t> kind_ids_;
  // (kind id << 32 | region) → factors of that kind at exactly that region, best tie-break first.
  std::unordered_map<std::uint64_t, std::vector<const Factor*>> factor_lookup_;
  std::vector<Methodology> methodologies_;
  // Scenario name → id: open addressing over FNV-1a, since this runs once per ingested record.
  // Keys view Methodology::scenario strings (stable: methodologies_ never changes after load).
  struct ScenarioSlot {
    std::string_view name;
    std::int32_t id = -1;
  };
  static constexpr std::size_t kScenarioSlots = 128;  // > 2 × the scenario keys
  std::array<ScenarioSlot, kScenarioSlots> scenario_slots_{};
  std::vector<std::vector<const Methodology*>> by_scenario_;  // by scenario id
  void add_scenario(const Methodology& m);
  std::vector<Recognition> recognition_;
};

}  // namespace tanpu::methodology
