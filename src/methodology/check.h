// `tanpu methodology check` and the golden-vector tests: runs every worked example of every file.
#pragma once

#include <string>
#include <vector>

#include "methodology/evaluator.h"

namespace tanpu::methodology {

struct ExampleReport {
  std::size_t examples = 0;
  std::size_t from_source = 0;        // examples quoted from their source document
  std::vector<std::string> failures;  // "file:line: code@version example 'name': what differs"
};

// Quantifies each worked example with its methodology (pinned by code and version) and compares
// reduction_mg, points and eligibility with what the file says.
ExampleReport check_examples(Evaluator& evaluator);

}  // namespace tanpu::methodology
