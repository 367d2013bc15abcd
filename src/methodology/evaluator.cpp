#include "methodology/evaluator.h"

#include <cmath>
#include <limits>
#include <string>

#include "core/assert.h"

namespace tanpu::methodology {

// One methodology's compiled formulas and the variable slots they read: inputs, then factors,
// then reduction_g (for the points formula). The slots never move once the formulas are bound.
struct Evaluator::Compiled {
  std::vector<double> slots;
  std::optional<Formula> baseline;
  std::optional<Formula> project;
  std::optional<Formula> points;
  std::vector<Formula> rules;
  // The two commonest formulas need no evaluation: most activity files have project_g = "0", and
  // most points rules are "reduction_g" (1 g = 1 point).
  bool project_is_zero = false;
  bool points_is_reduction = false;
};

namespace {

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

Formula compile_or_die(const std::string& expression, std::span<const Variable> vars) {
  auto f = Formula::compile(expression, vars);
  // Catalog::load compiled the same expression over the same names; failing now is a bug.
  TANPU_ASSERT_MSG(f.has_value(), "a formula that compiled at load no longer compiles");
  return std::move(*f);
}

}  // namespace

std::string_view Outcome::ineligible_code() const {
  if (ineligible_rule == kEligible || !methodology) return {};
  if (ineligible_rule == kBelowThreshold) return "below_threshold";
  return methodology->eligibility[static_cast<std::size_t>(ineligible_rule)].code;
}

std::int64_t round_half_even(double value) {
  const double lower = std::floor(value);
  const double fraction = value - lower;
  const double noise = 1e-11 * std::max(1.0, std::abs(value));
  if (std::abs(fraction - 0.5) <= noise) {
    const auto l = static_cast<std::int64_t>(lower);
    return (l % 2 == 0) ? l : l + 1;
  }
  return static_cast<std::int64_t>(std::llround(value));
}

Evaluator::Evaluator(std::shared_ptr<const Catalog> catalog) : catalog_(std::move(catalog)) {
  for (const auto& m : catalog_->methodologies()) {
    TANPU_ASSERT_MSG(m.inputs.size() <= kInputsPerMethodologyMax, "too many inputs");
    TANPU_ASSERT_MSG(m.factors.size() <= kFactorsPerMethodologyMax, "too many factors");
    auto c = std::make_unique<Compiled>();
    c->slots.assign(m.inputs.size() + m.factors.size() + 1, 1.0);
    std::vector<Variable> vars;
    for (std::size_t i = 0; i < m.inputs.size(); ++i)
      vars.push_back({m.inputs[i].name, &c->slots[i]});
    for (std::size_t i = 0; i < m.factors.size(); ++i)
      vars.push_back({m.factors[i].name, &c->slots[m.inputs.size() + i]});
    c->baseline = compile_or_die(m.baseline_g, vars);
    c->project = compile_or_die(m.project_g, vars);
    for (const auto& rule : m.eligibility)
      c->rules.push_back(compile_or_die(rule.expression, vars));
    vars.push_back({"reduction_g", &c->slots.back()});
    c->points = compile_or_die(m.points_formula, vars);
    c->project_is_zero = m.project_g == "0";
    c->points_is_reduction = m.points_formula == "reduction_g";
    compiled_.push_back(std::move(c));
  }
}

Evaluator::~Evaluator() = default;

Result<void> Evaluator::check_inputs(const Methodology& m, std::span<const double> inputs) const {
  TANPU_ASSERT_MSG(inputs.size() == m.inputs.size(), "inputs do not match the methodology");
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const InputSpec& spec = m.inputs[i];
    const double v = inputs[i];
    if (!std::isfinite(v))
      return fail(ErrorKind::invalid, "input_not_finite", spec.name + " must be a finite number",
                  "inputs." + spec.name);
    if (spec.type == InputType::boolean && v != 0 && v != 1)
      return fail(ErrorKind::invalid, "input_not_boolean", spec.name + " must be true or false",
                  "inputs." + spec.name);
    if (spec.type == InputType::integer && v != std::trunc(v))
      return fail(ErrorKind::invalid, "input_not_integer",
                  spec.name + " must be a whole number; got " + format_number(v),
                  "inputs." + spec.name);
    if (spec.type != InputType::boolean && (v < spec.min || v > spec.max))
      return fail(ErrorKind::invalid, "input_out_of_bounds",
                  spec.name + " must be between " + format_number(spec.min) + " and " +
                      format_number(spec.max) + " " + spec.unit.symbol + "; got " +
                      format_number(v),
                  "inputs." + spec.name);
  }
  return {};
}

Result<void> Evaluator::bind_factors(const Methodology& m, RegionId region, Day day, Compiled& c,
                                     Outcome& out) const {
  const std::size_t base = m.inputs.size();
  out.factor_count = static_cast<std::uint8_t>(m.factors.size());
  for (std::size_t i = 0; i < m.factors.size(); ++i) {
    const FactorRef& ref = m.factors[i];
    const Factor* f = ref.pinned ? ref.pinned : catalog_->lookup_factor(ref.kind_id, region, day);
    if (!f)
      return fail(ErrorKind::invalid, "no_factor",
                  "no factor of kind " + ref.kind + " for " + catalog_->region(region).code +
                      " on " + format_date(day),
                  "region");
    double scale = ref.pinned_scale;
    if (!ref.pinned) {
      const auto looked_up = conversion(f->unit, ref.unit);
      TANPU_ASSERT_MSG(looked_up.has_value(), "factor units were checked at load");
      scale = *looked_up;
    }
    const double value = f->value * scale;
    c.slots[base + i] = value;
    out.factors[i] = f;
    out.factor_values[i] = value;
    out.provisional = out.provisional || f->provisional;
  }
  return {};
}

Result<Outcome> Evaluator::evaluate(const Methodology& m, RegionId region, Day day,
                                    std::span<const double> inputs) {
  TANPU_ASSERT_MSG(m.index < compiled_.size() && &catalog_->methodologies()[m.index] == &m,
                   "methodology from another catalog");
  if (auto ok = check_inputs(m, inputs); !ok) return std::unexpected(std::move(ok.error()));
  Compiled& c = *compiled_[m.index];
  Outcome out;
  out.methodology = &m;
  out.region = region;
  out.date = day;
  out.provisional = m.provisional;
  std::copy(inputs.begin(), inputs.end(), c.slots.begin());
  if (auto ok = bind_factors(m, region, day, c, out); !ok)
    return std::unexpected(std::move(ok.error()));
  for (std::size_t i = 0; i < c.rules.size(); ++i) {
    if (c.rules[i].eval() == 0) {
      out.ineligible_rule = static_cast<std::int32_t>(i);
      return out;
    }
  }
  if (m.own_baseline) {
    const double baseline = inputs[m.own_baseline->baseline_index];
    const double actual = inputs[m.own_baseline->actual_index];
    // A saving exactly at the threshold qualifies: allow binary noise in threshold × baseline.
    const double needed = m.own_baseline->threshold_ratio * baseline * (1 - 1e-12);
    if (!(baseline > 0) || (baseline - actual) < needed) {
      out.ineligible_rule = kBelowThreshold;
      return out;
    }
  }
  finish(m, c, out);
  if (!std::isfinite(out.unrounded_mg) || std::abs(out.unrounded_mg) > 9e15)
    return fail(ErrorKind::invalid, "result_not_finite",
                m.key() + " gave a reduction that is not a finite number for these inputs",
                "inputs");
  return out;
}

void Evaluator::finish(const Methodology& m, Compiled& c, Outcome& out) const {
  out.baseline_g = c.baseline->eval();
  out.project_g = c.project_is_zero ? 0.0 : c.project->eval();
  out.unrounded_mg = (out.baseline_g - out.project_g) * 1000.0;
  if (!std::isfinite(out.unrounded_mg) || std::abs(out.unrounded_mg) > 9e15) return;
  std::int64_t mg = round_half_even(out.unrounded_mg);
  if (mg < 0) {
    mg = 0;
    out.negative_clamped = true;
  }
  if (m.caps.per_record_mg > 0 && mg > m.caps.per_record_mg) {
    mg = m.caps.per_record_mg;
    out.capped = true;
  }
  out.reduction_mg = mg;
  c.slots.back() = static_cast<double>(mg) / 1000.0;
  const double points = std::floor(c.points_is_reduction ? c.slots.back() : c.points->eval());
  std::int64_t p =
      (std::isfinite(points) && points > 0) ? static_cast<std::int64_t>(std::min(points, 9e15)) : 0;
  if (m.points_max_per_record > 0 && p > m.points_max_per_record) p = m.points_max_per_record;
  out.points = p;
}

EvaluatorPool::EvaluatorPool(std::shared_ptr<const Catalog> catalog)
    : catalog_(std::move(catalog)) {}

EvaluatorPool::Lease EvaluatorPool::acquire() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      auto e = std::move(idle_.back());
      idle_.pop_back();
      return Lease(*this, std::move(e));
    }
  }
  return Lease(*this, std::make_unique<Evaluator>(catalog_));
}

EvaluatorPool::Lease::~Lease() {
  if (!e_) return;
  std::lock_guard lock(pool_->mutex_);
  pool_->idle_.push_back(std::move(e_));
}

}  // namespace tanpu::methodology
