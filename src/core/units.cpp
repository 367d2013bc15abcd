#include "core/units.h"

#include <cstdlib>
#include <string_view>

namespace tanpu {

std::optional<std::int64_t> checked_add(std::int64_t a, std::int64_t b) {
  std::int64_t out = 0;
  if (__builtin_add_overflow(a, b, &out)) return std::nullopt;
  return out;
}

std::optional<std::int64_t> checked_sub(std::int64_t a, std::int64_t b) {
  std::int64_t out = 0;
  if (__builtin_sub_overflow(a, b, &out)) return std::nullopt;
  return out;
}

std::string format_scaled(std::int64_t value, int scale, bool trim_zeros) {
  const bool negative = value < 0;
  // Two's complement magnitude without overflow for INT64_MIN.
  const std::uint64_t mag =
      negative ? ~static_cast<std::uint64_t>(value) + 1 : static_cast<std::uint64_t>(value);
  std::uint64_t pow = 1;
  for (int i = 0; i < scale; ++i) pow *= 10;
  std::string out = (negative ? "-" : "") + std::to_string(mag / pow);
  if (scale == 0) return out;
  std::string digits = std::to_string(mag % pow);
  digits.insert(0, static_cast<std::size_t>(scale) - digits.size(), '0');
  if (trim_zeros) {
    while (!digits.empty() && digits.back() == '0') digits.pop_back();
  }
  return digits.empty() ? out : out + "." + digits;
}

std::string format_mass_mg(std::int64_t mass_mg) {
  const std::uint64_t mag =
      mass_mg < 0 ? ~static_cast<std::uint64_t>(mass_mg) + 1 : static_cast<std::uint64_t>(mass_mg);
  if (mag >= 1'000'000'000ULL) return format_scaled(mass_mg, 9, true) + " t";
  if (mag >= 1'000'000ULL) return format_scaled(mass_mg, 6, true) + " kg";
  if (mag >= 1'000ULL) return format_scaled(mass_mg, 3, true) + " g";
  return format_scaled(mass_mg, 0, true) + " mg";
}

}  // namespace tanpu
