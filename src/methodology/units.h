// Units of methodology inputs and factors: a closed table, so "3 kg" for a distance is refused and
// "12 500 m" for a distance in km is converted exactly once, at the boundary.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tanpu::methodology {

// What a unit measures. Counted things (rides, trees, meetings…) are each their own dimension, so
// a count of rides never converts into a count of trees.
enum class Dimension : std::uint8_t {
  none,      // "1": ratios, flags, tiers
  length,    // m, km, pkm (one passenger's kilometre: a personal trip has one passenger)
  mass,      // g, kg, t
  energy,    // Wh, kWh, MWh
  volume,    // L, m3
  duration,  // s, min, hour, day
  money,     // yuan
  steps,
  rides,
  trips,
  items,
  uses,
  trees,
  meetings,
  appliances,
  checkins,
  points,
  years,
  meals,
};

// A unit: its dimension and how many base units (m, g, Wh, L, s, …) one of it is.
struct Unit {
  std::string symbol;
  Dimension dimension = Dimension::none;
  double scale = 1.0;
};

// A ratio unit such as "g/km" or "t/MWh"; `denominator` is absent for plain units ("kg").
struct RatioUnit {
  std::string text;
  Unit numerator;
  std::optional<Unit> denominator;
};

// The unit named `symbol` ("km", "kWh", "m3", "item"…), or nullopt if tanpu does not know it.
std::optional<Unit> find_unit(std::string_view symbol);

// Parses "g/km", "kg/kWh", "t/MWh", "kg" or "1". nullopt if either side is unknown.
std::optional<RatioUnit> parse_ratio_unit(std::string_view text);

// The factor that turns a value in `from` into `to` (1000 for kg → g), or nullopt when the
// dimensions differ.
std::optional<double> conversion(const Unit& from, const Unit& to);
std::optional<double> conversion(const RatioUnit& from, const RatioUnit& to);

// Every known unit symbol, comma separated (for error messages and docs).
std::string known_units();

}  // namespace tanpu::methodology
