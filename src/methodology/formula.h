// Formulas from methodology files, compiled once by muParser and evaluated per record without
// parsing or allocating. A Formula reads its variables through pointers into storage its owner
// keeps alive and in place; it is not thread-safe (each thread has its own Evaluator).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "core/result.h"

namespace mu {
class Parser;
}

namespace tanpu::methodology {

struct Variable {
  std::string name;
  double* slot;
};

class Formula {
 public:
  Formula(Formula&&) noexcept;
  Formula& operator=(Formula&&) noexcept;
  ~Formula();

  // Compiles `expression` over `variables`; the slots must stay where they are for the
  // Formula's life. Evaluates once to force the bytecode to be built (parse errors surface
  // here, not per record). An error's message says what muParser found and where.
  static Result<Formula> compile(std::string_view expression, std::span<const Variable> variables);

  // The value for the variables' current contents.
  double eval() const;

 private:
  explicit Formula(std::unique_ptr<mu::Parser> parser);
  std::unique_ptr<mu::Parser> parser_;
};

}  // namespace tanpu::methodology
