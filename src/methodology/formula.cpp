#include "methodology/formula.h"

#include <muParser.h>

#include <cmath>

namespace tanpu::methodology {
namespace {

double floor_fn(double x) {
  return std::floor(x);
}
double ceil_fn(double x) {
  return std::ceil(x);
}

}  // namespace

Formula::Formula(std::unique_ptr<mu::Parser> parser) : parser_(std::move(parser)) {}
Formula::Formula(Formula&&) noexcept = default;
Formula& Formula::operator=(Formula&&) noexcept = default;
Formula::~Formula() = default;

Result<Formula> Formula::compile(std::string_view expression, std::span<const Variable> variables) {
  auto parser = std::make_unique<mu::Parser>();
  try {
    parser->DefineFun("floor", floor_fn);
    parser->DefineFun("ceil", ceil_fn);
    for (const auto& v : variables) parser->DefineVar(v.name, v.slot);
    parser->SetExpr(std::string(expression));
    static_cast<void>(parser->Eval());
  } catch (const mu::Parser::exception_type& e) {
    return fail(ErrorKind::invalid, "formula_invalid",
                "formula \"" + std::string(expression) + "\": " + e.GetMsg());
  }
  return Formula(std::move(parser));
}

double Formula::eval() const {
  // Compiled and evaluated once in compile(); muParser raises only on parse errors, so a
  // compiled formula does not throw here.
  return parser_->Eval();
}

}  // namespace tanpu::methodology
