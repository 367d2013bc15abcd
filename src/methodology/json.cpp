// JSON descriptions of methodologies, factors and quantifications (the API's and the CLI's).
#include <nlohmann/json.hpp>

#include "core/units.h"
#include "methodology/quantify.h"

namespace tanpu::methodology {
namespace {

using nlohmann::json;

std::string_view type_name(InputType t) {
  switch (t) {
    case InputType::number:
      return "number";
    case InputType::integer:
      return "integer";
    case InputType::boolean:
      return "boolean";
  }
  return "number";
}

json optional_date(const std::optional<Day>& day) {
  return day ? json(format_date(*day)) : json(nullptr);
}

json inputs_json(const Methodology& m) {
  json out = json::array();
  for (const auto& in : m.inputs) {
    json row{{"name", in.name}, {"unit", in.unit.symbol}, {"type", type_name(in.type)},
             {"min", in.min},   {"max", in.max},          {"description", in.description}};
    if (in.default_value) row["default"] = *in.default_value;
    out.push_back(std::move(row));
  }
  return out;
}

json mass_json(std::int64_t mg) {
  return json{{"g", format_scaled(mg, 3, true)},
              {"kg", format_scaled(mg, 6, true)},
              {"t", format_scaled(mg, 9, true)}};
}

}  // namespace

json factor_json(const Catalog& catalog, const Factor& f) {
  const Region& region = catalog.region(f.region);
  return json{{"id", f.id},
              {"kind", f.kind},
              {"value", f.value},
              {"unit", f.unit.text},
              {"region", region.code},
              {"scope", to_string(region.level)},
              {"year", f.year},
              {"valid_from", format_date(f.valid_from)},
              {"valid_to", optional_date(f.valid_to)},
              {"data_version", f.data_version},
              {"source", f.source},
              {"label", f.label},
              {"provisional", f.provisional},
              {"note", f.note}};
}

json summary_json(const Catalog& catalog, const Methodology& m) {
  return json{{"code", m.code},
              {"version", m.version},
              {"title_zh", m.title_zh},
              {"title_en", m.title_en},
              {"scenario", m.scenario},
              {"sector", m.sector},
              {"type", m.type},
              {"jurisdiction", catalog.region(m.jurisdiction).code},
              {"effective_from", format_date(m.effective_from)},
              {"effective_to", optional_date(m.effective_to)},
              {"status", m.status},
              {"calculator", to_string(m.calculator)},
              {"provisional", m.provisional || std::any_of(m.factors.begin(), m.factors.end(),
                                                           [](const FactorRef& r) {
                                                             return r.pinned &&
                                                                    r.pinned->provisional;
                                                           })},
              {"inputs", inputs_json(m)}};
}

json detail_json(const Catalog& catalog, const Methodology& m) {
  json out = summary_json(catalog, m);
  out["authority"] = m.authority;
  out["provisional_note"] = m.provisional_note;
  out["dedup_window_s"] = m.dedup_window_s;
  out["formula"] = {{"baseline_g", m.baseline_g}, {"project_g", m.project_g}};
  out["points"] = {{"formula", m.points_formula}, {"max_per_record", m.points_max_per_record}};
  out["caps"] = {{"per_record_mg", m.caps.per_record_mg},
                 {"per_member_day_mg", m.caps.per_member_day_mg},
                 {"per_member_month_mg", m.caps.per_member_month_mg},
                 {"per_member_day_records", m.caps.per_member_day_records}};
  json sources = json::array();
  for (const auto& s : m.sources)
    sources.push_back({{"document", s.document},
                       {"year", s.year},
                       {"link", s.link},
                       {"cite", s.cite},
                       {"label", s.label}});
  out["sources"] = std::move(sources);
  json factors = json::array();
  for (const auto& f : m.factors)
    factors.push_back({{"name", f.name},
                       {"id", f.pinned_id.empty() ? json(nullptr) : json(f.pinned_id)},
                       {"kind", f.pinned ? json(f.pinned->kind) : json(f.kind)},
                       {"unit", f.unit.text}});
  out["factors"] = std::move(factors);
  json rules = json::array();
  for (const auto& r : m.eligibility)
    rules.push_back({{"rule", r.expression}, {"code", r.code}, {"message", r.message}});
  out["eligibility"] = std::move(rules);
  if (m.own_baseline)
    out["own_baseline"] = {{"baseline_input", m.own_baseline->baseline_input},
                           {"actual_input", m.own_baseline->actual_input},
                           {"threshold_ratio", m.own_baseline->threshold_ratio},
                           {"method", m.own_baseline->method}};
  json examples = json::array();
  for (const auto& e : m.examples) {
    json inputs = json::object();
    for (const auto& [name, value] : e.inputs) inputs[name] = value;
    examples.push_back({{"name", e.name},
                        {"origin", e.origin},
                        {"note", e.note},
                        {"region", catalog.region(e.region).code},
                        {"date", format_date(e.date)},
                        {"inputs", std::move(inputs)},
                        {"reduction_mg", e.reduction_mg},
                        {"points", e.points},
                        {"eligible", e.eligible}});
  }
  out["examples"] = std::move(examples);
  out["file"] = m.origin.file;
  return out;
}

json to_json(const Catalog& catalog, const Quantification& q) {
  const Outcome& o = q.outcome;
  const Methodology& m = *o.methodology;
  json inputs = json::object();
  for (std::size_t i = 0; i < m.inputs.size(); ++i) inputs[m.inputs[i].name] = q.inputs[i];
  json factors = json::array();
  json reasons = json::array();
  if (m.provisional) reasons.push_back("methodology " + m.key() + ": " + m.provisional_note);
  for (std::size_t i = 0; i < o.factor_count; ++i) {
    const Factor& f = *o.factors[i];
    json row = factor_json(catalog, f);
    row["name"] = m.factors[i].name;
    row["used_value"] = o.factor_values[i];
    row["used_unit"] = m.factors[i].unit.text;
    factors.push_back(std::move(row));
    if (f.provisional)
      reasons.push_back("factor " + f.id + "@" + f.data_version + " is provisional" +
                        (f.note.empty() ? "" : ": " + f.note));
  }
  json out{{"methodology", m.code},
           {"version", m.version},
           {"title_en", m.title_en},
           {"title_zh", m.title_zh},
           {"status", m.status},
           {"scenario", m.scenario},
           {"calculator", to_string(m.calculator)},
           {"jurisdiction", catalog.region(m.jurisdiction).code},
           {"region", catalog.region(o.region).code},
           {"date", format_date(o.date)},
           {"inputs", std::move(inputs)},
           {"factors", std::move(factors)},
           {"baseline_mg", o.baseline_g * 1000.0},
           {"project_mg", o.project_g * 1000.0},
           {"reduction_mg", o.reduction_mg},
           {"reduction", mass_json(o.reduction_mg)},
           {"rounding",
            {{"mode", "half_to_even"},
             {"unit", "mg"},
             {"unrounded_mg", o.unrounded_mg},
             {"negative_clamped", o.negative_clamped},
             {"capped", o.capped},
             {"cap_per_record_mg", m.caps.per_record_mg}}},
           {"eligible", o.eligible()},
           {"points", o.points},
           {"points_rule", m.points_formula},
           {"provisional", o.provisional},
           {"provisional_reasons", std::move(reasons)}};
  if (!o.eligible()) {
    const std::string code(o.ineligible_code());
    std::string message = "saving is below the threshold of the member's own baseline";
    if (o.ineligible_rule >= 0)
      message = m.eligibility[static_cast<std::size_t>(o.ineligible_rule)].message;
    out["ineligible"] = {{"code", code}, {"message", message}};
  }
  return out;
}

json to_json(const Catalog& catalog, const RegionalView& view) {
  json results = json::array();
  for (const auto& r : view.results) {
    json row = r.result ? to_json(catalog, *r.result)
                        : json{{"methodology", r.methodology->code},
                               {"version", r.methodology->version},
                               {"jurisdiction", catalog.region(r.methodology->jurisdiction).code},
                               {"error",
                                {{"code", r.error->code},
                                 {"message", r.error->message},
                                 {"field", r.error->field}}}};
    row["applies"] = r.applies;
    row["recognised"] = r.recognised;
    results.push_back(std::move(row));
  }
  return json{{"region", catalog.region(view.region).code},
              {"date", format_date(view.date)},
              {"applicable", view.applicable ? json(view.applicable->key()) : json(nullptr)},
              {"results", std::move(results)}};
}

json recognition_json(const Catalog& catalog) {
  json out = json::array();
  for (const auto& r : catalog.recognition())
    out.push_back({{"jurisdiction", catalog.region(r.jurisdiction).code},
                   {"codes", r.codes},
                   {"basis", r.basis}});
  return out;
}

}  // namespace tanpu::methodology
