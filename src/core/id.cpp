#include "core/id.h"

#include <chrono>

#include "core/assert.h"
#include "core/crypto.h"

namespace tanpu {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string Id128::to_hex() const {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 32; ++i) {
    const std::uint64_t word = i < 16 ? hi : lo;
    const int shift = 60 - 4 * (i % 16);
    out[static_cast<std::size_t>(i)] = digits[(word >> shift) & 0xF];
  }
  return out;
}

std::array<std::uint8_t, 16> Id128::to_bytes() const {
  std::array<std::uint8_t, 16> out{};
  for (int i = 0; i < 8; ++i) {
    out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(hi >> (56 - 8 * i));
    out[static_cast<std::size_t>(8 + i)] = static_cast<std::uint8_t>(lo >> (56 - 8 * i));
  }
  return out;
}

Id128 Id128::from_bytes(std::span<const std::uint8_t> bytes16) {
  TANPU_ASSERT(bytes16.size() == 16);
  Id128 id;
  for (std::size_t i = 0; i < 8; ++i) {
    id.hi = (id.hi << 8) | bytes16[i];
    id.lo = (id.lo << 8) | bytes16[8 + i];
  }
  return id;
}

std::optional<Id128> Id128::parse(std::string_view text) {
  std::string compact;
  if (text.size() == 36) {
    if (text[8] != '-' || text[13] != '-' || text[18] != '-' || text[23] != '-')
      return std::nullopt;
    for (char c : text) {
      if (c != '-') compact.push_back(c);
    }
    text = compact;
  }
  if (text.size() != 32) return std::nullopt;
  Id128 id;
  for (std::size_t i = 0; i < 32; ++i) {
    const int v = hex_value(text[i]);
    if (v < 0) return std::nullopt;
    std::uint64_t& word = i < 16 ? id.hi : id.lo;
    word = (word << 4) | static_cast<std::uint64_t>(v);
  }
  return id;
}

Id128 new_time_ordered_id() {
  const auto ms =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  std::array<std::uint8_t, 10> rnd{};
  random_bytes(rnd);
  Id128 id;
  // 48 bits of time, version 7, 12 random bits | variant 10, 62 random bits.
  id.hi =
      (ms << 16) | 0x7000ULL | ((static_cast<std::uint64_t>(rnd[0]) << 4 | rnd[1] >> 4) & 0xFFF);
  std::uint64_t low = 0;
  for (std::size_t i = 2; i < 10; ++i) low = (low << 8) | rnd[i];
  id.lo = (low & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
  return id;
}

}  // namespace tanpu
