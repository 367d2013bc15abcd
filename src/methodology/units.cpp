#include "methodology/units.h"

#include <array>

namespace tanpu::methodology {
namespace {

struct UnitRow {
  std::string_view symbol;
  Dimension dimension;
  double scale;
};

constexpr std::array kUnits{
    UnitRow{"1", Dimension::none, 1.0},
    UnitRow{"m", Dimension::length, 1.0},
    UnitRow{"km", Dimension::length, 1000.0},
    UnitRow{"pkm", Dimension::length, 1000.0},
    UnitRow{"g", Dimension::mass, 1.0},
    UnitRow{"kg", Dimension::mass, 1000.0},
    UnitRow{"t", Dimension::mass, 1'000'000.0},
    UnitRow{"Wh", Dimension::energy, 1.0},
    UnitRow{"kWh", Dimension::energy, 1000.0},
    UnitRow{"MWh", Dimension::energy, 1'000'000.0},
    UnitRow{"L", Dimension::volume, 1.0},
    UnitRow{"m3", Dimension::volume, 1000.0},
    UnitRow{"s", Dimension::duration, 1.0},
    UnitRow{"min", Dimension::duration, 60.0},
    UnitRow{"hour", Dimension::duration, 3600.0},
    UnitRow{"day", Dimension::duration, 86400.0},
    UnitRow{"yuan", Dimension::money, 1.0},
    UnitRow{"step", Dimension::steps, 1.0},
    UnitRow{"ride", Dimension::rides, 1.0},
    UnitRow{"trip", Dimension::trips, 1.0},
    UnitRow{"item", Dimension::items, 1.0},
    UnitRow{"use", Dimension::uses, 1.0},
    UnitRow{"tree", Dimension::trees, 1.0},
    UnitRow{"meeting", Dimension::meetings, 1.0},
    UnitRow{"appliance", Dimension::appliances, 1.0},
    UnitRow{"checkin", Dimension::checkins, 1.0},
    UnitRow{"point", Dimension::points, 1.0},
    UnitRow{"year", Dimension::years, 1.0},
    UnitRow{"meal", Dimension::meals, 1.0},
};

}  // namespace

std::optional<Unit> find_unit(std::string_view symbol) {
  for (const auto& row : kUnits)
    if (row.symbol == symbol) return Unit{std::string(row.symbol), row.dimension, row.scale};
  return std::nullopt;
}

std::optional<RatioUnit> parse_ratio_unit(std::string_view text) {
  const auto slash = text.find('/');
  const auto numerator = find_unit(text.substr(0, slash));
  if (!numerator) return std::nullopt;
  RatioUnit out{std::string(text), *numerator, std::nullopt};
  if (slash == std::string_view::npos) return out;
  const auto denominator = find_unit(text.substr(slash + 1));
  if (!denominator) return std::nullopt;
  out.denominator = denominator;
  return out;
}

std::optional<double> conversion(const Unit& from, const Unit& to) {
  if (from.dimension != to.dimension) return std::nullopt;
  return from.scale / to.scale;
}

std::optional<double> conversion(const RatioUnit& from, const RatioUnit& to) {
  const auto numerator = conversion(from.numerator, to.numerator);
  if (!numerator) return std::nullopt;
  if (from.denominator.has_value() != to.denominator.has_value()) return std::nullopt;
  if (!from.denominator) return numerator;
  const auto denominator = conversion(*from.denominator, *to.denominator);
  if (!denominator) return std::nullopt;
  return *numerator / *denominator;
}

std::string known_units() {
  std::string out;
  for (const auto& row : kUnits) {
    if (!out.empty()) out += ", ";
    out += row.symbol;
  }
  return out;
}

}  // namespace tanpu::methodology
