#include "methodology/check.h"

#include "methodology/quantify.h"

namespace tanpu::methodology {

ExampleReport check_examples(Evaluator& evaluator) {
  const Catalog& catalog = evaluator.catalog();
  ExampleReport report;
  for (const auto& m : catalog.methodologies()) {
    for (const auto& ex : m.examples) {
      ++report.examples;
      if (ex.origin == "source") ++report.from_source;
      Query q;
      q.code = m.code;
      q.version = m.version;
      q.region = catalog.region(ex.region).code;
      q.date = ex.date;
      for (const auto& [name, value] : ex.inputs) q.inputs.push_back({name, value, {}});
      const std::string where =
          ex.origin_at.where() + ": " + m.key() + " example '" + ex.name + "': ";
      auto result = quantify(evaluator, q);
      if (!result) {
        report.failures.push_back(where + "refused: " + result.error().message);
        continue;
      }
      const Outcome& o = result->outcome;
      if (o.eligible() != ex.eligible) {
        report.failures.push_back(where + (ex.eligible ? "expected eligible, got ineligible (" +
                                                             std::string(o.ineligible_code()) + ")"
                                                       : "expected ineligible, got eligible"));
        continue;
      }
      if (!ex.eligible && o.ineligible_code() != ex.ineligible)
        report.failures.push_back(where + "expected ineligible '" + ex.ineligible + "', got '" +
                                  std::string(o.ineligible_code()) + "'");
      if (o.reduction_mg != ex.reduction_mg)
        report.failures.push_back(where + "expected reduction_mg " +
                                  std::to_string(ex.reduction_mg) + ", got " +
                                  std::to_string(o.reduction_mg));
      if (o.points != ex.points)
        report.failures.push_back(where + "expected points " + std::to_string(ex.points) +
                                  ", got " + std::to_string(o.points));
    }
  }
  return report;
}

}  // namespace tanpu::methodology
