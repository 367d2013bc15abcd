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

// A civil date as days since 1970-01-01 (negative before). Methodology effective ranges and factor
// validity are civil dates in the region's local time.
using Day = std::int32_t;

// Parses "YYYY-MM-DD" (a real calendar date, years 1900..2999). nullopt if malformed.
std::optional<Day> parse_date(std::string_view text);

// "YYYY-MM-DD".
std::string format_date(Day day);

// The civil date of `time_us` in a zone `utc_offset_minutes` east of UTC.
Day local_day(std::int64_t time_us, std::int32_t utc_offset_minutes);

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
