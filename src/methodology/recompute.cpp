#include "methodology/recompute.h"

#include "methodology/quantify.h"
#include "methodology/query_json.h"

namespace tanpu::methodology {
namespace {

using nlohmann::json;

struct Credited {
  std::string id;
  std::string methodology;
  std::int64_t reduction_mg = 0;
  std::int64_t points = 0;
};

Result<Credited> read_credited(const json& line) {
  Credited c;
  const auto id = line.find("id");
  const auto credited = line.find("credited");
  if (id == line.end() || !id->is_string())
    return fail(ErrorKind::invalid, "missing_id", "each record needs a string id", "id");
  c.id = id->get<std::string>();
  if (credited == line.end() || !credited->is_object())
    return fail(ErrorKind::invalid, "missing_credited", "each record needs credited{…}",
                "credited");
  try {
    c.methodology = credited->at("methodology").get<std::string>() + "@" +
                    credited->at("version").get<std::string>();
    c.reduction_mg = credited->at("reduction_mg").get<std::int64_t>();
    c.points = credited->at("points").get<std::int64_t>();
  } catch (const json::exception&) {
    return fail(ErrorKind::invalid, "bad_credited",
                "credited needs methodology, version (strings), reduction_mg and points (integers)",
                "credited");
  }
  return c;
}

}  // namespace

Result<RecomputeReport> recompute(Evaluator& evaluator, std::istream& records, Day since) {
  RecomputeReport report;
  std::string text;
  std::size_t line_no = 0;
  while (std::getline(records, text)) {
    ++line_no;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto at = [&](const Error& e) {
      return fail(ErrorKind::invalid, e.code, "line " + std::to_string(line_no) + ": " + e.message,
                  e.field);
    };
    json line = json::parse(text, nullptr, false);
    if (line.is_discarded()) return at(Error{ErrorKind::invalid, "invalid_json", "not JSON", ""});
    auto credited = read_credited(line);
    if (!credited) return at(credited.error());
    auto query = query_from_json(line, {"id", "credited"});
    if (!query) return at(query.error());
    ++report.records;
    const auto region = evaluator.catalog().find_region(query->region);
    if (!region) return at(Error{ErrorKind::invalid, "unknown_region", "unknown region", "region"});
    const Day day = query->date ? *query->date
                                : local_day(query->occurred_at_us.value_or(0),
                                            evaluator.catalog().region(*region).utc_offset_minutes);
    if (day < since) continue;
    ++report.considered;
    RecomputeChange change{credited->id,
                           format_date(day),
                           credited->methodology,
                           credited->reduction_mg,
                           credited->points,
                           {},
                           0,
                           0,
                           {}};
    if (auto q = quantify(evaluator, *query)) {
      change.new_methodology = q->outcome.methodology->key();
      change.new_reduction_mg = q->outcome.reduction_mg;
      change.new_points = q->outcome.points;
    } else {
      change.error = q.error().message;
    }
    if (change.error.empty() && change.new_methodology == change.old_methodology &&
        change.new_reduction_mg == change.old_reduction_mg &&
        change.new_points == change.old_points) {
      ++report.unchanged;
      continue;
    }
    report.delta_reduction_mg += change.new_reduction_mg - change.old_reduction_mg;
    report.delta_points += change.new_points - change.old_points;
    report.changes.push_back(std::move(change));
  }
  return report;
}

json to_json(const RecomputeReport& report) {
  json changes = json::array();
  for (const auto& c : report.changes)
    changes.push_back({{"id", c.record_id},
                       {"date", c.date},
                       {"credited",
                        {{"methodology", c.old_methodology},
                         {"reduction_mg", c.old_reduction_mg},
                         {"points", c.old_points}}},
                       {"now", c.error.empty() ? json{{"methodology", c.new_methodology},
                                                      {"reduction_mg", c.new_reduction_mg},
                                                      {"points", c.new_points}}
                                               : json{{"error", c.error}}},
                       {"delta_reduction_mg", c.new_reduction_mg - c.old_reduction_mg},
                       {"delta_points", c.new_points - c.old_points}});
  return json{{"records", report.records},
              {"considered", report.considered},
              {"unchanged", report.unchanged},
              {"changed", report.changes.size()},
              {"delta_reduction_mg", report.delta_reduction_mg},
              {"delta_points", report.delta_points},
              {"changes", std::move(changes)},
              {"applied", false}};
}

}  // namespace tanpu::methodology
