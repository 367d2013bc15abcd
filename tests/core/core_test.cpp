// Units, ids and time: the pure helpers every module relies on.
#include <gtest/gtest.h>
#include <pthread.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/crypto.h"
#include "core/id.h"
#include "core/thread.h"
#include "core/time.h"
#include "core/units.h"

namespace tanpu {
namespace {

TEST(Units, ScaledDecimalsAreExact) {
  EXPECT_EQ(format_scaled(1'234'500, 6, false), "1.234500");
  EXPECT_EQ(format_scaled(1'234'500, 6, true), "1.2345");
  EXPECT_EQ(format_scaled(1'000, 3, true), "1");
  EXPECT_EQ(format_scaled(-5, 3, false), "-0.005");
  EXPECT_EQ(format_scaled(INT64_MIN, 9, false), "-9223372036.854775808");
  EXPECT_EQ(format_scaled(INT64_MAX, 0, true), "9223372036854775807");
}

TEST(Units, MassPicksTheLargestUnit) {
  EXPECT_EQ(format_mass_mg(12), "12 mg");
  EXPECT_EQ(format_mass_mg(3'456), "3.456 g");
  EXPECT_EQ(format_mass_mg(1'234'567), "1.234567 kg");
  EXPECT_EQ(format_mass_mg(2'500'000'000), "2.5 t");
  EXPECT_EQ(format_mass_mg(-1'000), "-1 g");
}

TEST(Units, CheckedArithmetic) {
  EXPECT_EQ(checked_add(INT64_MAX - 1, 1), INT64_MAX);
  EXPECT_FALSE(checked_add(INT64_MAX, 1).has_value());
  EXPECT_FALSE(checked_sub(INT64_MIN, 1).has_value());
}

TEST(Ids, RoundTripAndOrder) {
  const Id128 a = new_time_ordered_id();
  EXPECT_EQ(Id128::parse(a.to_hex()), a);
  EXPECT_EQ(Id128::from_bytes(a.to_bytes()), a);
  EXPECT_EQ(Id128::parse("0190a8b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b")->to_hex(),
            "0190a8b27c3d7e4f8a1b2c3d4e5f6a7b");
  EXPECT_FALSE(Id128::parse("xyz").has_value());
  EXPECT_FALSE(Id128::parse(std::string(32, 'g')).has_value());
  std::set<Id128> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(new_time_ordered_id());
  EXPECT_EQ(seen.size(), 1000u);
  // Version 7 layout: the top 48 bits are milliseconds, so later ids sort later.
  EXPECT_EQ((a.hi >> 12) & 0xF, 7u);
}

TEST(Time, Iso8601RoundTripAndZones) {
  EXPECT_EQ(format_iso8601(0), "1970-01-01T00:00:00.000000Z");
  const auto t = parse_iso8601("2026-11-21T10:54:50.123456Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(format_iso8601(*t), "2026-11-21T10:54:50.123456Z");
  EXPECT_EQ(parse_iso8601("2026-11-21T18:54:50+08:00"), parse_iso8601("2026-11-21T10:54:50Z"));
  EXPECT_FALSE(parse_iso8601("2026-11-21T10:54:50").has_value());  // zone required
  EXPECT_FALSE(parse_iso8601("2026-02-30T00:00:00Z").has_value());
  EXPECT_FALSE(parse_iso8601("2026-11-21T24:00:00Z").has_value());
}

// Known answers (FIPS 180-2), incremental updates, and the one fetched digest shared by threads.
TEST(Crypto, Sha256KnownAnswersFromAnyThread) {
  const auto hex = [](std::string_view text) { return to_hex(sha256(text)); };
  EXPECT_EQ(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 parts;
  parts.update("ab");
  parts.update("c");
  EXPECT_EQ(to_hex(parts.finish()), hex("abc"));
  std::vector<std::thread> threads;
  std::vector<std::string> got(4);
  for (std::size_t t = 0; t < got.size(); ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) got[t] = hex("abc");
    });
  for (auto& th : threads) th.join();
  for (const auto& g : got) EXPECT_EQ(g, hex("abc"));
}

TEST(Thread, LoweringAThreadLeavesTheOthersAlone) {
  const int mine = this_thread_nice();
  int lowered = 0;
  int capped = 0;
  int refused = 0;
  std::string named;
  std::thread t([&] {
    EXPECT_TRUE(lower_this_thread(3));
    lowered = this_thread_nice();
    EXPECT_TRUE(lower_this_thread(19));  // capped at 19, not refused
    capped = this_thread_nice();
    EXPECT_FALSE(lower_this_thread(-1));
    EXPECT_FALSE(lower_this_thread(20));
    refused = this_thread_nice();
    name_this_thread("a-name-longer-than-fifteen-bytes");  // kept short, not refused
    char name[32] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    named = name;
  });
  t.join();
  EXPECT_EQ(lowered, std::min(mine + 3, 19));
  EXPECT_EQ(capped, 19);
  EXPECT_EQ(refused, 19);
  EXPECT_EQ(named, "a-name-longer-t");
  EXPECT_EQ(this_thread_nice(), mine);
}

}  // namespace
}  // namespace tanpu
