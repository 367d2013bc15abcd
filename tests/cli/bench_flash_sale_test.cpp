// `tanpu bench flash-sale` at a small scale on each engine (two servers sharing PostgreSQL): the
// run must end with exactly as many orders as units, nothing oversold, no negative balance, for
// the bucketed offer and for the one-row baseline alike.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/cli_run.h"
#include "support/test_store.h"

namespace tanpu::test {
namespace {

using nlohmann::json;

class CliFlashSale : public EngineTest {};

TEST_P(CliFlashSale, SellsExactlyTheUnitsAndNothingMore) {
  TestStore db(engine());  // skips PostgreSQL when no cluster is configured
  const bool pg = engine() == Engine::postgres;
  CmdResult r = tanpu(
      std::string("bench flash-sale --store ") + (pg ? "postgres --servers 2" : "sqlite") +
      " --units 40 --buyers 400 --connections 32 --json --data " + TANPU_SOURCE_DIR + "/data");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const json out = json::parse(last_output_line(r.out));
  EXPECT_EQ(out["bench"], "flash-sale");
  EXPECT_EQ(out["servers"], pg ? 2 : 1);
  EXPECT_EQ(out["orders"], 40);
  EXPECT_EQ(out["oversold"], 0);
  EXPECT_EQ(out["negative_balances"], 0);
  EXPECT_EQ(out["over_limit"], 0);
  EXPECT_EQ(out["ledger_verified"], true);
  EXPECT_EQ(out["sold_out"].get<int>() + out["insufficient_points"].get<int>(), 360);
  EXPECT_EQ(out["baseline"]["orders"], 40);
  EXPECT_GT(out["attempts_per_s"].get<double>(), 0);
}

TEST(CliFlashSaleArgs, SeveralServersNeedPostgres) {
  CmdResult r = tanpu("bench flash-sale --store sqlite --servers 2 --units 1 --buyers 2");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("--servers 2 needs --store postgres"), std::string::npos) << r.out;
  r = tanpu("bench flash-sale --store sqlite --units 10 --buyers 5");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("--buyers must be at least --units"), std::string::npos) << r.out;
}

TANPU_INSTANTIATE_ENGINES(CliFlashSale);

}  // namespace
}  // namespace tanpu::test
