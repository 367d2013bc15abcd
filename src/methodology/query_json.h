// Reads a quantification query from JSON: the body of POST /v1/quantify and one line of a
// `methodology recompute` records file. Closed schema: unknown keys are refused.
#pragma once

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "methodology/quantify.h"

namespace tanpu::methodology {

// {"scenario"|"methodology" (+ "version"), "region", "date"|"occurred_at", "inputs": {name:
// number | true/false | {"value": number, "unit": "m"}}}. `extra_keys` are allowed and ignored
// (the caller reads them).
Result<Query> query_from_json(const nlohmann::json& body,
                              std::initializer_list<std::string_view> extra_keys = {});

}  // namespace tanpu::methodology
