// Quantification by name: what the HTTP API, the CLI and the golden vectors call. Resolves the
// methodology, the region and the date, converts input units, refuses missing or unknown inputs,
// then runs the Evaluator and describes the result with its full provenance.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "methodology/evaluator.h"

namespace tanpu::methodology {

struct InputValue {
  std::string name;
  double value = 0;
  std::string unit;  // empty: already in the methodology's unit for this input
};

struct Query {
  std::string scenario;  // pick the applicable methodology for region and date, or
  std::string code;      // name one (then `version`, if given, pins the version)
  std::string version;
  std::string region;
  std::optional<Day> date;                     // the record's local date, or
  std::optional<std::int64_t> occurred_at_us;  // its instant (read in the region's UTC offset)
  std::vector<InputValue> inputs;
};

struct Quantification {
  Outcome outcome;
  std::vector<double> inputs;  // in methodology order and units
};

// One methodology's answer in the cross-regional view: a result, or why it could not quantify.
struct RegionalResult {
  const Methodology* methodology = nullptr;
  bool applies = false;  // the one a record of this region and date is credited under
  bool recognised =
      false;  // the record's region accepts this code (covers it, or recognition.toml)
  std::optional<Quantification> result;
  std::optional<Error> error;
};

struct RegionalView {
  RegionId region = kNoRegion;
  Day date = 0;
  const Methodology* applicable = nullptr;
  std::vector<RegionalResult> results;
};

Result<Quantification> quantify(Evaluator& evaluator, const Query& query);

// Quantifies the behaviour under every methodology of the scenario effective on the date, each in
// its own jurisdiction (or the record's region where the jurisdiction covers it).
Result<RegionalView> quantify_all_regions(Evaluator& evaluator, const Query& query);

// JSON descriptions (docs/api.md shows them).
nlohmann::json to_json(const Catalog& catalog, const Quantification& q);
nlohmann::json to_json(const Catalog& catalog, const RegionalView& view);
nlohmann::json summary_json(const Catalog& catalog, const Methodology& m);
nlohmann::json detail_json(const Catalog& catalog, const Methodology& m);
nlohmann::json factor_json(const Catalog& catalog, const Factor& f);
nlohmann::json recognition_json(const Catalog& catalog);

}  // namespace tanpu::methodology
