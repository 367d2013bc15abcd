// `tanpu bench ingest` at a small scale on each engine: every phase runs, and every record of the
// batched run comes back credited or capped.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/cli_run.h"
#include "support/test_store.h"

namespace tanpu::test {
namespace {

using nlohmann::json;

class CliBenchIngest : public EngineTest {};

TEST_P(CliBenchIngest, RunsEveryPhaseAndCreditsEveryRecord) {
  TestStore db(engine());  // skips PostgreSQL when no cluster is configured
  const bool pg = engine() == Engine::postgres;
  CmdResult r = tanpu(std::string("bench ingest --store ") + (pg ? "postgres" : "sqlite") +
                      " --records 2000 --members 40 --baseline-max 200 --latency-requests 100 "
                      "--json --data " +
                      TANPU_SOURCE_DIR + "/data");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const json out = json::parse(last_output_line(r.out));
  EXPECT_EQ(out["bench"], "ingest");
  EXPECT_EQ(out["store"], pg ? "postgres" : "sqlite");
  EXPECT_EQ(out["records"], 2000);
  EXPECT_EQ(out["credited_or_capped"], 2000);
  EXPECT_EQ(out["baseline_records"], 200);
  for (const char* field : {"records_per_s", "cpu_us_per_record", "baseline_per_s",
                            "grouped_singles_per_s", "single_p50_ms", "single_p99_ms"})
    EXPECT_GT(out[field].get<double>(), 0) << field;
  EXPECT_LE(out["single_p50_ms"].get<double>(), out["single_p99_ms"].get<double>());
}

TANPU_INSTANTIATE_ENGINES(CliBenchIngest);

}  // namespace
}  // namespace tanpu::test
