// Evaluates methodologies for records: the hot path the ingestion pipeline and the benchmark use.
// An Evaluator compiles every formula of the catalog once, for one thread; evaluate() then runs
// without parsing or allocating (errors, which allocate their message, are the exception).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "core/result.h"
#include "methodology/catalog.h"
#include "methodology/formula.h"

namespace tanpu::methodology {

// Why a record earned nothing although its inputs were valid.
inline constexpr std::int32_t kEligible = -1;
inline constexpr std::int32_t kBelowThreshold = -2;  // own_baseline saving under the threshold

// What one record is worth, with what it was computed from (pointers into the Catalog).
struct Outcome {
  const Methodology* methodology = nullptr;
  RegionId region = kNoRegion;
  Day date = 0;
  double baseline_g = 0;    // BE, unrounded
  double project_g = 0;     // PE, unrounded
  double unrounded_mg = 0;  // (BE − PE) × 1000 before rounding
  std::int64_t reduction_mg = 0;
  std::int64_t points = 0;
  std::int32_t ineligible_rule = kEligible;  // index into eligibility, or kBelowThreshold
  bool negative_clamped = false;             // PE > BE: credited 0
  bool capped = false;                       // caps.per_record_mg applied
  bool provisional = false;
  std::uint8_t factor_count = 0;
  std::array<const Factor*, kFactorsPerMethodologyMax> factors{};
  std::array<double, kFactorsPerMethodologyMax> factor_values{};  // in the methodology's units

  bool eligible() const { return ineligible_rule == kEligible; }
  std::string_view ineligible_code() const;
};

// Rounds half to even to an integer; a value within binary noise of .5 counts as a tie.
std::int64_t round_half_even(double value);

class Evaluator {
 public:
  explicit Evaluator(std::shared_ptr<const Catalog> catalog);
  Evaluator(const Evaluator&) = delete;
  Evaluator& operator=(const Evaluator&) = delete;
  ~Evaluator();

  const Catalog& catalog() const { return *catalog_; }

  // Quantifies one record under `m` for `region` on `day`. `inputs` are in m.inputs order and in
  // their declared units. Refuses (naming the input and the bound) a value out of bounds, a
  // non-integer for an integer, a boolean other than 0/1, or a missing factor.
  Result<Outcome> evaluate(const Methodology& m, RegionId region, Day day,
                           std::span<const double> inputs);

 private:
  struct Compiled;
  Result<void> check_inputs(const Methodology& m, std::span<const double> inputs) const;
  Result<void> bind_factors(const Methodology& m, RegionId region, Day day, Compiled& c,
                            Outcome& out) const;
  void finish(const Methodology& m, Compiled& c, Outcome& out) const;

  std::shared_ptr<const Catalog> catalog_;
  std::vector<std::unique_ptr<Compiled>> compiled_;
};

// A pool of evaluators for threads that come and go (HTTP workers): lease, use, give back.
class EvaluatorPool {
 public:
  explicit EvaluatorPool(std::shared_ptr<const Catalog> catalog);
  const Catalog& catalog() const { return *catalog_; }

  class Lease {
   public:
    Lease(EvaluatorPool& pool, std::unique_ptr<Evaluator> e) : pool_(&pool), e_(std::move(e)) {}
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();
    Evaluator& operator*() const { return *e_; }
    Evaluator* operator->() const { return e_.get(); }

   private:
    EvaluatorPool* pool_;
    std::unique_ptr<Evaluator> e_;
  };
  Lease acquire();

 private:
  std::shared_ptr<const Catalog> catalog_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Evaluator>> idle_;
};

}  // namespace tanpu::methodology
