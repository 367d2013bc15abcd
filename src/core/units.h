// Quantities are integers with their unit in the name; these helpers only format them for people.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace tanpu {

// Checked int64 arithmetic: nullopt on overflow.
std::optional<std::int64_t> checked_add(std::int64_t a, std::int64_t b);
std::optional<std::int64_t> checked_sub(std::int64_t a, std::int64_t b);

// value / 10^scale as an exact decimal (no floating point): format_scaled(1234500, 6, false) is
// "1.234500", with trim_zeros "1.2345". scale 0..18.
std::string format_scaled(std::int64_t value, int scale, bool trim_zeros);

// A reduction in milligrams shown in the largest unit that keeps it >= 1: "12 mg", "3.456 g",
// "1.234567 kg", "2.5 t". Exact decimal (no floating point), trailing zeros removed.
std::string format_mass_mg(std::int64_t mass_mg);

}  // namespace tanpu
