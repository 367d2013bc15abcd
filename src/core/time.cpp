#include "core/time.h"

#include <charconv>
#include <chrono>
#include <cstdio>

namespace tanpu {
namespace {

bool read_int(std::string_view text, std::size_t pos, std::size_t len, int& out) {
  if (pos + len > text.size()) return false;
  const char* b = text.data() + pos;
  auto [p, ec] = std::from_chars(b, b + len, out);
  return ec == std::errc() && p == b + len;
}

}  // namespace

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string format_iso8601(std::int64_t time_us) {
  using namespace std::chrono;
  const sys_time<microseconds> tp{microseconds{time_us}};
  const auto day = floor<days>(tp);
  const year_month_day ymd{day};
  const hh_mm_ss hms{tp - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ", int(ymd.year()),
                unsigned(ymd.month()), unsigned(ymd.day()), int(hms.hours().count()),
                int(hms.minutes().count()), int(hms.seconds().count()),
                static_cast<long long>(hms.subseconds().count()));
  return buf;
}

std::optional<std::int64_t> parse_iso8601(std::string_view t) {
  using namespace std::chrono;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (t.size() < 20 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != 't') ||
      t[13] != ':' || t[16] != ':')
    return std::nullopt;
  if (!read_int(t, 0, 4, y) || !read_int(t, 5, 2, mo) || !read_int(t, 8, 2, d) ||
      !read_int(t, 11, 2, h) || !read_int(t, 14, 2, mi) || !read_int(t, 17, 2, s))
    return std::nullopt;
  if (h > 23 || mi > 59 || s > 59) return std::nullopt;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  std::size_t pos = 19;
  std::int64_t frac_us = 0;
  if (pos < t.size() && t[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
      if (digits < 6) frac_us = frac_us * 10 + (t[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0 || digits > 9) return std::nullopt;
    for (int i = digits; i < 6; ++i) frac_us *= 10;
  }
  std::int64_t offset_s = 0;
  if (pos >= t.size()) return std::nullopt;
  if (t[pos] == 'Z' || t[pos] == 'z') {
    ++pos;
  } else if (t[pos] == '+' || t[pos] == '-') {
    int oh = 0, om = 0;
    if (pos + 6 != t.size() || t[pos + 3] != ':' || !read_int(t, pos + 1, 2, oh) ||
        !read_int(t, pos + 4, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offset_s = (oh * 3600 + om * 60) * (t[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != t.size()) return std::nullopt;
  const auto days_since = sys_days{ymd}.time_since_epoch().count();
  const std::int64_t secs =
      static_cast<std::int64_t>(days_since) * 86400 + h * 3600 + mi * 60 + s - offset_s;
  return secs * 1'000'000 + frac_us;
}

std::optional<Day> parse_date(std::string_view t) {
  using namespace std::chrono;
  int y = 0, mo = 0, d = 0;
  if (t.size() != 10 || t[4] != '-' || t[7] != '-') return std::nullopt;
  if (!read_int(t, 0, 4, y) || !read_int(t, 5, 2, mo) || !read_int(t, 8, 2, d)) return std::nullopt;
  if (y < 1900 || y > 2999) return std::nullopt;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  return static_cast<Day>(sys_days{ymd}.time_since_epoch().count());
}

std::string format_date(Day value) {
  using namespace std::chrono;
  const year_month_day ymd{sys_days{days{value}}};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", int(ymd.year()), unsigned(ymd.month()),
                unsigned(ymd.day()));
  return buf;
}

Day local_day(std::int64_t time_us, std::int32_t utc_offset_minutes) {
  constexpr std::int64_t day_us = 86'400'000'000;
  const std::int64_t local_us = time_us + std::int64_t{utc_offset_minutes} * 60'000'000;
  std::int64_t day = local_us / day_us;
  if (local_us % day_us < 0) --day;
  return static_cast<Day>(day);
}

}  // namespace tanpu
