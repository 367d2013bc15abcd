// Time is UTC microseconds since the Unix epoch everywhere inside tanpu (architecture.md §3).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tanpu {

// Wall-clock now, UTC microseconds.
std::int64_t now_us();

// ISO-8601 with zone, e.g. "2026-11-21T10:54:50.123456Z".
std::string format_iso8601(std::int64_t time_us);

// Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)"; a zone is required. nullopt if malformed.
std::optional<std::int64_t> parse_iso8601(std::string_view text);

// A clock that tests can move: production code takes a Clock& instead of calling now_us().
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t now_us() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::int64_t now_us() const override { return tanpu::now_us(); }
};

}  // namespace tanpu
