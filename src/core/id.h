// 128-bit identifiers. Clients generate transfer ids; time-ordered ids (UUIDv7 layout) keep the
// storage B-trees append-mostly.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace tanpu {

struct Id128 {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;

  bool is_zero() const { return hi == 0 && lo == 0; }
  auto operator<=>(const Id128&) const = default;

  // 32 lower-case hex digits, big-endian.
  std::string to_hex() const;
  // Big-endian 16 bytes, the storage form (sorts like the number).
  std::array<std::uint8_t, 16> to_bytes() const;
  static Id128 from_bytes(std::span<const std::uint8_t> bytes16);
  // Accepts 32 hex digits or the 36-character hyphenated UUID form; nullopt otherwise.
  static std::optional<Id128> parse(std::string_view text);
};

// A new random id with the current millisecond time in the top 48 bits (UUIDv7 layout).
Id128 new_time_ordered_id();

struct Id128Hash {
  std::size_t operator()(const Id128& id) const noexcept {
    return static_cast<std::size_t>(id.hi * 0x9E3779B97F4A7C15ULL ^ id.lo);
  }
};

}  // namespace tanpu
