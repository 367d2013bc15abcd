// The simulator against a real `tanpu serve` on each engine: every profile, with faults injected
// (cross-source duplicates, replays, out-of-bounds values, forged signatures, revoked consent).
// The simulator itself checks that what the answers credited is what the members' accounts hold;
// the test checks the faults show as the right outcomes and that `tanpu verify` passes after.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "cli/cli_run.h"
#include "core/id.h"
#include "support/test_store.h"

namespace tanpu::test {
namespace {

using nlohmann::json;

class CliSimulate : public EngineTest {};

json last_line(const std::string& out) {
  return json::parse(last_output_line(out), nullptr, false);
}

TEST_P(CliSimulate, EveryProfileWithFaultsCreditsExactlyWhatTheAccountsHold) {
  TestStore db(engine());
  const std::string url = db.options().url;
  const auto dir =
      std::filesystem::temp_directory_path() / ("tanpu-sim-" + new_time_ordered_id().to_hex());
  std::filesystem::create_directories(dir);
  const std::string key = (dir / "secret.key").string();
  const std::string common = " --database '" + url + "' --secret-key-file " + key;
  CmdResult op = tanpu(
      "admin create-operator" + common + " --login ops@example.com --name Ops --password-stdin",
      "operator-password-1");
  ASSERT_EQ(op.exit_code, 0) << op.out;
  {
    ServeProcess server({"--database", url, "--secret-key-file", key, "--log-level", "warn"});
    ASSERT_TRUE(server.ready());
    for (const char* profile : {"campus", "metro", "city"}) {
      CmdResult r =
          tanpu(std::string("simulate --profile ") + profile + " --target " + server.url() +
                    " --operator ops@example.com --password-stdin --members 25 "
                    "--days 4 --faults 0.3 --seed 11 --json",
                "operator-password-1");
      ASSERT_EQ(r.exit_code, 0) << profile << "\n" << r.out;
      const json report = last_line(r.out);
      ASSERT_TRUE(report.is_object()) << r.out;
      EXPECT_EQ(report["consistent"], true) << report.dump();
      EXPECT_GT(report["outcomes"].value("credited", 0), 0) << report.dump();
      EXPECT_GT(report["credited_reduction_mg"].get<std::int64_t>(), 0);
      // Each injected fault shows as what it is.
      const json& faults = report["faults_injected"];
      const json& rejected = report["rejected_by_reason"];
      if (faults.value("out_of_bounds", 0) > 0) {
        EXPECT_GT(rejected.value("input_out_of_bounds", 0), 0);
      }
      if (faults.value("revoked_consent", 0) > 0) {
        EXPECT_GT(rejected.value("no_consent", 0), 0);
      }
      if (faults.value("bad_signature", 0) > 0) {
        EXPECT_GT(report["requests_refused_401"], 0);
      } else {
        EXPECT_EQ(report["requests_refused_401"], 0);
      }
      if (faults.value("replay", 0) > 0) {
        EXPECT_GT(report["replays_answered"], 0);
      }
      if (std::string(profile) == "metro") {  // rides reported by the operator and the app
        EXPECT_GT(faults.value("cross_source_duplicate", 0), 0) << report.dump();
        EXPECT_GT(report["outcomes"].value("duplicate", 0), 0) << report.dump();
      }
      if (std::string(profile) == "campus") {  // clean plates and trades wait for review
        EXPECT_GT(report["outcomes"].value("pending_review", 0), 0) << report.dump();
      }
    }
  }
  CmdResult verify = tanpu("verify --database '" + url + "'");
  EXPECT_EQ(verify.exit_code, 0) << verify.out;
  std::filesystem::remove_all(dir);
}

TEST(CliSimulateArgs, BadTargetsAndProfilesAreRefused) {
  CmdResult r = tanpu("simulate --operator x --password y --target https://example.com");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("http://HOST:PORT"), std::string::npos) << r.out;
  r = tanpu("simulate --operator x --password y --profile village");
  EXPECT_NE(r.exit_code, 0) << r.out;
  r = tanpu("simulate --operator x --password y --faults 0.9");
  EXPECT_NE(r.exit_code, 0) << r.out;
}

TANPU_INSTANTIATE_ENGINES(CliSimulate);

}  // namespace
}  // namespace tanpu::test
