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

namespace {

// value / 10^scale as an exact decimal string without trailing zeros.
std::string decimal(std::uint64_t value, int scale) {
  std::uint64_t pow = 1;
  for (int i = 0; i < scale; ++i) pow *= 10;
  std::string out = std::to_string(value / pow);
  std::uint64_t frac = value % pow;
  if (frac == 0) return out;
  std::string digits = std::to_string(frac);
  digits.insert(0, static_cast<std::size_t>(scale) - digits.size(), '0');
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
  return out + "." + digits;
}

}  // namespace

std::string format_mass_mg(std::int64_t mass_mg) {
  const bool negative = mass_mg < 0;
  // Two's complement magnitude without overflow for INT64_MIN.
  const std::uint64_t mag =
      negative ? ~static_cast<std::uint64_t>(mass_mg) + 1 : static_cast<std::uint64_t>(mass_mg);
  std::string text;
  if (mag >= 1'000'000'000ULL) {
    text = decimal(mag, 9) + " t";
  } else if (mag >= 1'000'000ULL) {
    text = decimal(mag, 6) + " kg";
  } else if (mag >= 1'000ULL) {
    text = decimal(mag, 3) + " g";
  } else {
    text = std::to_string(mag) + " mg";
  }
  return negative ? "-" + text : text;
}

}  // namespace tanpu
