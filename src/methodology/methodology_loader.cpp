// CatalogLoader, part two: one methodology file, and the checks on it that need the whole catalog.
#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>

#include "methodology/catalog_loader.h"
#include "methodology/formula.h"

namespace tanpu::methodology {

namespace fs = std::filesystem;

namespace {

constexpr std::array<std::string_view, 8> kSectors{"transport",   "energy",   "water",   "waste",
                                                   "consumption", "forestry", "digital", "other"};

template <std::size_t N>
bool one_of(std::string_view value, const std::array<std::string_view, N>& options) {
  return std::find(options.begin(), options.end(), value) != options.end();
}

bool is_identifier(std::string_view name) {
  if (name.empty() || !(std::islower(static_cast<unsigned char>(name[0])) != 0)) return false;
  return name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string_view::npos;
}

std::optional<Calculator> parse_calculator(std::string_view text) {
  static constexpr std::array<std::pair<std::string_view, Calculator>, 5> kinds{{
      {"activity_factor", Calculator::activity_factor},
      {"mode_shift", Calculator::mode_shift},
      {"budget", Calculator::budget},
      {"own_baseline", Calculator::own_baseline},
      {"points_only", Calculator::points_only},
  }};
  for (const auto& [name, kind] : kinds)
    if (name == text) return kind;
  return std::nullopt;
}

}  // namespace

void CatalogLoader::load_methodology(const fs::path& path) {
  auto doc = parse(path);
  if (!doc) return;
  const std::string file = rel(path);
  TableReader r(*doc, file, "", problems_);
  Methodology m;
  m.origin = Origin{file, 1};
  m.code = r.text("code").value_or("");
  m.version = r.text("version").value_or("");
  m.title_zh = r.text("title_zh").value_or("");
  m.title_en = r.text("title_en").value_or("");
  if (auto region = region_at(r, "jurisdiction")) m.jurisdiction = *region;
  m.authority = r.text("authority").value_or("");
  m.effective_from = r.date("effective_from").value_or(0);
  m.effective_to = r.date("effective_to", false);
  m.type = r.text("type").value_or("");
  m.sector = r.text("sector").value_or("");
  m.scenario = r.text("scenario").value_or("");
  m.status = r.text("status").value_or("");
  const auto calculator = r.text("calculator").value_or("");
  if (auto kind = parse_calculator(calculator))
    m.calculator = *kind;
  else
    r.problem(
        r.line_of("calculator"),
        "calculator must be activity_factor, mode_shift, budget, own_baseline or points_only");
  m.dedup_window_s = r.integer("dedup_window_s").value_or(0);
  m.provisional = r.boolean("provisional", false).value_or(false);
  m.provisional_note = r.text("provisional_note", false).value_or("");
  r.allow("note");
  read_sources(r, m);
  read_inputs(r, m);
  read_factor_refs(r, m);
  read_rules_caps_points(r, m);
  read_examples(r, m);
  r.finish();

  const auto bad = [&](std::string_view key, const std::string& what) {
    r.problem(r.line_of(key), what);
  };
  if (m.code.empty() ||
      m.code.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") != std::string::npos)
    bad("code", "code must be non-empty lowercase [a-z0-9._-]");
  if (m.version.empty() ||
      m.version.find_first_not_of("0123456789.abcdefghijklmnopqrstuvwxyz-") != std::string::npos)
    bad("version", "version must be non-empty [0-9a-z.-]");
  if (m.effective_to && *m.effective_to < m.effective_from)
    bad("effective_to", "effective_to is before effective_from");
  if (m.type != "scenario" && m.type != "project") bad("type", "type must be scenario or project");
  if (!one_of(m.sector, kSectors))
    bad("sector",
        "sector must be one of transport, energy, water, waste, consumption, forestry, "
        "digital, other");
  if (std::find(scenario_keys().begin(), scenario_keys().end(), m.scenario) ==
      scenario_keys().end())
    bad("scenario", "unknown scenario key '" + m.scenario + "' (docs/methodologies.md lists them)");
  if (m.status != "trial" && m.status != "released" && m.status != "superseded")
    bad("status", "status must be trial, released or superseded");
  if (m.status == "superseded" && !m.effective_to)
    bad("status", "a superseded version needs effective_to");
  if (m.dedup_window_s < 0 || m.dedup_window_s > 31 * 86400)
    bad("dedup_window_s", "dedup_window_s must be between 0 and 2678400 (31 days)");
  if (m.sources.empty()) bad("sources", "at least one source is required");
  if (m.examples.empty()) bad("examples", "at least one worked example is required");
  c_.methodologies_.push_back(std::move(m));
}

void CatalogLoader::read_sources(TableReader& r, Methodology& m) {
  const toml::array* rows = r.array("sources");
  if (!rows) return;
  for (const auto& node : *rows) {
    const auto* t = node.as_table();
    if (!t) continue;
    TableReader s(*t, r.file(), "source", problems_);
    Source src;
    src.document = s.text("document").value_or("");
    src.year = s.integer("year").value_or(0);
    src.link = s.text("link", false).value_or("");
    src.cite = s.text("cite", false).value_or("");
    src.label = s.text("label").value_or("");
    s.allow("note");
    s.finish();
    if (src.label != "P" && src.label != "S" && src.label != "U")
      s.problem(s.line_of("label"), "label must be P, S or U");
    m.sources.push_back(std::move(src));
  }
}

void CatalogLoader::read_inputs(TableReader& r, Methodology& m) {
  const toml::array* rows = r.array("inputs", m.calculator != Calculator::points_only);
  if (!rows) return;
  for (const auto& node : *rows) {
    const auto* t = node.as_table();
    if (!t) continue;
    TableReader in(*t, r.file(), "input", problems_);
    InputSpec spec;
    spec.name = in.text("name").value_or("");
    const auto unit = in.text("unit").value_or("");
    if (auto u = find_unit(unit))
      spec.unit = *u;
    else
      in.problem(in.line_of("unit"), "input " + spec.name + ": unknown unit '" + unit +
                                         "' (known: " + known_units() + ")");
    const auto type = in.text("type").value_or("");
    if (type == "number")
      spec.type = InputType::number;
    else if (type == "integer")
      spec.type = InputType::integer;
    else if (type == "boolean")
      spec.type = InputType::boolean;
    else
      in.problem(in.line_of("type"),
                 "input " + spec.name + ": type must be number, integer or boolean");
    spec.min = in.number("min", spec.type != InputType::boolean).value_or(0);
    spec.max = in.number("max", spec.type != InputType::boolean).value_or(1);
    spec.default_value = in.number("default", false);
    spec.description = in.text("description").value_or("");
    in.finish();
    if (!is_identifier(spec.name))
      in.problem(in.line_of("name"), "input name '" + spec.name + "' must be [a-z][a-z0-9_]*");
    if (!(spec.min <= spec.max))
      in.problem(in.line_of("max"), "input " + spec.name + ": max must be ≥ min");
    if (spec.default_value && (*spec.default_value < spec.min || *spec.default_value > spec.max))
      in.problem(in.line_of("default"), "input " + spec.name + ": default is out of bounds");
    if (m.input_index(spec.name)) in.problem(in.line_of("name"), "duplicate input " + spec.name);
    m.inputs.push_back(std::move(spec));
  }
}

void CatalogLoader::read_factor_refs(TableReader& r, Methodology& m) {
  const toml::table* table = r.table("factors", false);
  if (!table) return;
  for (const auto& [key, node] : *table) {
    const auto* t = node.as_table();
    const std::string name(key.str());
    if (!t) {
      r.problem(static_cast<std::int64_t>(node.source().begin.line),
                "factors." + name + " must be a table with id or kind, and unit");
      continue;
    }
    TableReader f(*t, r.file(), "factors." + name, problems_);
    FactorRef ref;
    ref.name = name;
    ref.pinned_id = f.text("id", false).value_or("");
    ref.kind = f.text("kind", false).value_or("");
    const auto unit = f.text("unit").value_or("");
    if (auto u = parse_ratio_unit(unit))
      ref.unit = *u;
    else
      f.problem(f.line_of("unit"), "unknown unit '" + unit + "'");
    f.finish();
    if (!is_identifier(name)) f.problem(f.line(), "factor name must be [a-z][a-z0-9_]*");
    if (ref.pinned_id.empty() == ref.kind.empty())
      f.problem(f.line(), "give exactly one of id (a pinned factor) or kind (looked up)");
    if (m.input_index(name)) f.problem(f.line(), "factor name clashes with an input");
    m.factors.push_back(std::move(ref));
  }
}

void CatalogLoader::read_rules_caps_points(TableReader& r, Methodology& m) {
  if (const toml::table* formula = r.table("formula", m.calculator != Calculator::points_only)) {
    TableReader f(*formula, r.file(), "formula", problems_);
    m.baseline_g = f.text("baseline_g").value_or("0");
    m.project_g = f.text("project_g").value_or("0");
    f.finish();
  }
  if (const toml::array* rules = r.array("eligibility", false)) {
    for (const auto& node : *rules) {
      const auto* t = node.as_table();
      if (!t) continue;
      TableReader e(*t, r.file(), "eligibility", problems_);
      Rule rule{e.text("rule").value_or("1"), e.text("code").value_or(""),
                e.text("message").value_or("")};
      e.finish();
      if (!is_identifier(rule.code)) e.problem(e.line_of("code"), "code must be [a-z][a-z0-9_]*");
      m.eligibility.push_back(std::move(rule));
    }
  }
  if (const toml::table* caps = r.table("caps", false)) {
    TableReader c(*caps, r.file(), "caps", problems_);
    m.caps.per_record_mg = c.integer("per_record_mg", false).value_or(0);
    m.caps.per_member_day_mg = c.integer("per_member_day_mg", false).value_or(0);
    m.caps.per_member_month_mg = c.integer("per_member_month_mg", false).value_or(0);
    m.caps.per_member_day_records = c.integer("per_member_day_records", false).value_or(0);
    c.finish();
    if (m.caps.per_record_mg < 0 || m.caps.per_member_day_mg < 0 ||
        m.caps.per_member_month_mg < 0 || m.caps.per_member_day_records < 0)
      c.problem(c.line(), "caps must be ≥ 0 (0 means no cap)");
  }
  if (const toml::table* points = r.table("points")) {
    TableReader p(*points, r.file(), "points", problems_);
    m.points_formula = p.text("formula").value_or("0");
    m.points_max_per_record = p.integer("max_per_record", false).value_or(0);
    p.allow("note");
    p.finish();
    if (m.points_max_per_record < 0) p.problem(p.line(), "max_per_record must be ≥ 0");
  }
  if (const toml::table* own = r.table("own_baseline", m.calculator == Calculator::own_baseline)) {
    TableReader o(*own, r.file(), "own_baseline", problems_);
    OwnBaseline ob;
    ob.baseline_input = o.text("baseline_input").value_or("");
    ob.actual_input = o.text("actual_input").value_or("");
    ob.threshold_ratio = o.number("threshold_ratio").value_or(0);
    ob.method = o.text("method").value_or("");
    o.finish();
    if (ob.method != "previous_year_same_period" && ob.method != "moving_average_7d")
      o.problem(o.line_of("method"),
                "method must be previous_year_same_period or moving_average_7d");
    if (!(ob.threshold_ratio >= 0 && ob.threshold_ratio < 1))
      o.problem(o.line_of("threshold_ratio"), "threshold_ratio must be in [0, 1)");
    const auto b = m.input_index(ob.baseline_input);
    const auto a = m.input_index(ob.actual_input);
    if (!b || !a)
      o.problem(o.line(), "baseline_input and actual_input must name inputs");
    else {
      ob.baseline_index = *b;
      ob.actual_index = *a;
    }
    m.own_baseline = std::move(ob);
  }
}

void CatalogLoader::read_examples(TableReader& r, Methodology& m) {
  const toml::array* rows = r.array("examples");
  if (!rows) return;
  for (const auto& node : *rows) {
    const auto* t = node.as_table();
    if (!t) continue;
    TableReader e(*t, r.file(), "example", problems_);
    Example ex;
    ex.origin_at = Origin{r.file(), e.line()};
    ex.name = e.text("name").value_or("");
    ex.origin = e.text("origin").value_or("");
    ex.note = e.text("note", false).value_or("");
    if (auto region = region_at(e, "region")) ex.region = *region;
    ex.date = e.date("date").value_or(0);
    ex.reduction_mg = e.integer("reduction_mg").value_or(0);
    ex.points = e.integer("points").value_or(0);
    ex.eligible = e.boolean("eligible", false).value_or(true);
    ex.ineligible = e.text("ineligible", !ex.eligible).value_or("");
    if (const toml::table* inputs = e.table("inputs", !m.inputs.empty())) {
      for (const auto& [key, value] : *inputs) {
        if (value.is_boolean())
          ex.inputs.emplace_back(std::string(key.str()),
                                 value.value<bool>().value_or(false) ? 1 : 0);
        else if (value.is_number())
          ex.inputs.emplace_back(std::string(key.str()), value.value<double>().value_or(0));
        else
          e.problem(e.line_of("inputs"),
                    "example input " + std::string(key.str()) + " must be a number");
      }
    }
    e.finish();
    if (ex.origin != "source" && ex.origin != "derived")
      e.problem(e.line_of("origin"), "origin must be source or derived");
    m.examples.push_back(std::move(ex));
  }
}

void CatalogLoader::check_methodology(const Methodology& m) {
  const auto problem = [&](const std::string& what) {
    problems_.add(m.origin.file, m.origin.line, m.key() + ": " + what);
  };
  bool provisional_factor = false;
  for (const auto& ref : m.factors) {
    std::vector<const Factor*> candidates;
    if (!ref.pinned_id.empty()) {
      if (const Factor* f = c_.factor_by_id(ref.pinned_id)) {
        candidates.push_back(f);
        // A pinned figure is used on every day the version is effective: it must be valid then.
        const bool open_end = !m.effective_to;
        if (f->valid_from > m.effective_from ||
            (f->valid_to && (open_end || *f->valid_to < *m.effective_to)))
          problem("factors." + ref.name + ": pinned factor " + f->id +
                  " is not valid on every day the version is effective");
      } else {
        problem("factors." + ref.name + ": no factor has id '" + ref.pinned_id + "'");
      }
    } else {
      for (const auto& f : c_.factors_)
        if (f.kind == ref.kind) candidates.push_back(&f);
      if (candidates.empty())
        problem("factors." + ref.name + ": no factor has kind '" + ref.kind + "'");
    }
    for (const Factor* f : candidates) {
      if (!conversion(f->unit, ref.unit))
        problem("factors." + ref.name + ": factor " + f->id + " is in " + f->unit.text +
                ", which does not convert to " + ref.unit.text);
      provisional_factor = provisional_factor || f->provisional;
    }
  }
  if (m.inputs.size() > kInputsPerMethodologyMax || m.factors.size() > kFactorsPerMethodologyMax)
    problem("at most " + std::to_string(kInputsPerMethodologyMax) + " inputs and " +
            std::to_string(kFactorsPerMethodologyMax) + " factors");
  if ((m.provisional || provisional_factor) && m.provisional_note.empty())
    problem(
        "provisional_note must say what is missing (a provisional factor or the methodology is "
        "provisional)");
  switch (m.calculator) {
    case Calculator::activity_factor:
      if (m.factors.empty()) problem("activity_factor needs at least one factor");
      if (m.project_g != "0") problem("activity_factor has project_g = \"0\"");
      break;
    case Calculator::mode_shift: {
      const auto has = [&](std::string_view n) {
        return std::any_of(m.factors.begin(), m.factors.end(),
                           [&](const FactorRef& f) { return f.name == n; });
      };
      if (!has("ef_baseline") || !has("ef_mode"))
        problem("mode_shift needs factors ef_baseline and ef_mode");
      break;
    }
    case Calculator::budget:
      if (!m.input_index("period_days")) problem("budget needs an input period_days");
      break;
    case Calculator::own_baseline:
      break;
    case Calculator::points_only:
      if (!m.factors.empty()) problem("points_only has no factors");
      if (m.baseline_g != "0" || m.project_g != "0") problem("points_only has no formulas");
      break;
  }
  for (const auto& ex : m.examples)
    for (const auto& [name, value] : ex.inputs)
      if (!m.input_index(name))
        problems_.add(ex.origin_at.file, ex.origin_at.line,
                      m.key() + ": example '" + ex.name + "' has unknown input " + name);
  check_formulas(m);
}

void CatalogLoader::check_formulas(const Methodology& m) {
  std::vector<double> slots(m.inputs.size() + m.factors.size() + 1, 1.0);
  std::vector<Variable> vars;
  for (std::size_t i = 0; i < m.inputs.size(); ++i) vars.push_back({m.inputs[i].name, &slots[i]});
  for (std::size_t i = 0; i < m.factors.size(); ++i)
    vars.push_back({m.factors[i].name, &slots[m.inputs.size() + i]});
  const auto check = [&](std::string_view what, const std::string& expression,
                         std::span<const Variable> v) {
    if (auto f = Formula::compile(expression, v); !f)
      problems_.add(m.origin.file, m.origin.line,
                    m.key() + ": " + std::string(what) + ": " + f.error().message);
  };
  check("formula.baseline_g", m.baseline_g, vars);
  check("formula.project_g", m.project_g, vars);
  for (const auto& rule : m.eligibility) check("eligibility " + rule.code, rule.expression, vars);
  vars.push_back({"reduction_g", &slots.back()});
  check("points.formula", m.points_formula, vars);
}

}  // namespace tanpu::methodology
