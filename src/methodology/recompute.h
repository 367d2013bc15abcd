// `tanpu methodology recompute`: what a methodology set would change for records already credited.
// Read-only by construction: it quantifies and compares; crediting stays with the ledger entries
// made at the time, which keep the version they were computed with.
#pragma once

#include <nlohmann/json.hpp>

#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "methodology/evaluator.h"

namespace tanpu::methodology {

struct RecomputeChange {
  std::string record_id;
  std::string date;
  std::string old_methodology;  // code@version as credited
  std::int64_t old_reduction_mg = 0;
  std::int64_t old_points = 0;
  std::string new_methodology;  // code@version now applicable (empty if it now fails)
  std::int64_t new_reduction_mg = 0;
  std::int64_t new_points = 0;
  std::string error;  // why the record no longer quantifies, if it does not
};

struct RecomputeReport {
  std::size_t records = 0;     // read
  std::size_t considered = 0;  // on or after --since
  std::size_t unchanged = 0;
  std::vector<RecomputeChange> changes;
  std::int64_t delta_reduction_mg = 0;
  std::int64_t delta_points = 0;
};

// Reads credited records as NDJSON, one per line:
//   {"id": "…", "scenario": "metro", "region": "CN-HB-WUH", "occurred_at"|"date": …, "inputs": {…},
//    "credited": {"methodology": "code", "version": "v", "reduction_mg": n, "points": n}}
// and re-quantifies those dated on or after `since` under the evaluator's catalog. A malformed
// line is an error naming its line number; nothing is written anywhere.
Result<RecomputeReport> recompute(Evaluator& evaluator, std::istream& records, Day since);

nlohmann::json to_json(const RecomputeReport& report);

}  // namespace tanpu::methodology
