// The tanpu binary itself: verify on a database edited behind its back (both engines), the help
// of serve, configuration errors and the admin command.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli/cli_run.h"
#include "cli/runtime.h"
#include "ledger/ledger.h"
#include "support/test_store.h"

namespace tanpu::test {
namespace {

class CliVerify : public EngineTest {};

TEST_P(CliVerify, PassesOnACleanLedgerAndNamesTheEditedBatch) {
  TestStore db(engine());
  const std::string url = db.options().url;
  {
    auto lease = db->acquire();
    ASSERT_OK(lease);
    ASSERT_OK(store::migrate(**lease, cli::all_migrations()));
  }
  SystemClock clock;
  {
    ledger::Ledger ledger(db.store(), clock);
    ledger::NewAccount na{ledger::Currency::points, "member", "1",
                          ledger::account_flags::debits_must_not_exceed_credits};
    auto ids = db->write_value<std::vector<std::int64_t>>(
        [&](store::Connection& c) { return ledger.create_accounts(c, std::span(&na, 1)); });
    ASSERT_OK(ids);
    for (std::int64_t amount : {100, 200, 300}) {
      ledger::Transfer t;
      t.id = new_time_ordered_id();
      t.debit_account_id = ledger::kPlatformPointsAccount;
      t.credit_account_id = ids->front();
      t.amount = amount;
      t.code = 100;
      ASSERT_OK(ledger.submit(std::span(&t, 1)));
    }
  }
  const std::string arg = "verify --database '" + url + "'";
  CmdResult ok = tanpu(arg);
  EXPECT_EQ(ok.exit_code, 0) << ok.out;
  EXPECT_NE(ok.out.find("transfers 3"), std::string::npos) << ok.out;
  {
    auto lease = db->acquire();
    ASSERT_OK(lease);
    ASSERT_OK((*lease)->exec("UPDATE ledger_transfers SET amount = 250 WHERE amount = 200"));
  }
  CmdResult bad = tanpu(arg);
  EXPECT_EQ(bad.exit_code, 1) << bad.out;
  EXPECT_NE(bad.out.find("INCONSISTENT. First: chain position 2"), std::string::npos) << bad.out;
  CmdResult json = tanpu(arg + " --json");
  EXPECT_EQ(json.exit_code, 1);
  EXPECT_NE(json.out.find("\"ok\":false"), std::string::npos) << json.out;
}

TANPU_INSTANTIATE_ENGINES(CliVerify);

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("tanpu-cli-" + new_time_ordered_id().to_hex());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string db() const { return "--database sqlite:" + (dir_ / "t.db").string(); }
  std::filesystem::path dir_;
};

TEST_F(CliTest, VersionAndServeHelpListTheOptions) {
  EXPECT_NE(tanpu("version").out.find("tanpu "), std::string::npos);
  const CmdResult help = tanpu("serve --help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* opt :
       {"--config", "--database", "--listen", "--secret-key-file", "--log-level",
        "--worker-threads", "--trusted-proxies", "TANPU_DATABASE_URL", "TANPU_LISTEN"}) {
    EXPECT_NE(help.out.find(opt), std::string::npos) << opt << "\n" << help.out;
  }
}

TEST_F(CliTest, ConfigurationErrorsAreNamedAndStopTheCommand) {
  const auto file = dir_ / "tanpu.toml";
  std::ofstream(file) << "listen = \"127.0.0.1:8080\"\ncolour = \"green\"\n";
  CmdResult r = tanpu("migrate " + db() + " --config " + file.string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("unknown key 'colour'"), std::string::npos) << r.out;
  std::ofstream(file) << "listen = [\n";
  r = tanpu("migrate " + db() + " --config " + file.string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find(file.string() + ":"), std::string::npos) << r.out;  // file:line
  // A file value is read and type-checked; a flag wins over the file.
  std::ofstream(file) << "io_threads = \"two\"\n";
  r = tanpu("migrate " + db() + " --config " + file.string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("io_threads must be an integer"), std::string::npos) << r.out;
  std::ofstream(file) << "log_level = \"loud\"\n";
  r = tanpu("migrate " + db() + " --config " + file.string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("log_level"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "t.db"));
  r = tanpu("migrate " + db() + " --config " + file.string() + " --log-level warn");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  for (const char* f : {"t.db", "t.db-wal", "t.db-shm"}) std::filesystem::remove(dir_ / f);
  r = tanpu("serve " + db() + " --listen nowhere");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("HOST:PORT"), std::string::npos) << r.out;
  r = tanpu("serve " + db() + " --trusted-proxies 10.0.0.0/8,proxy.example");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("not an address or network: proxy.example"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "t.db"));
  // The environment is read, and a flag wins over it; a refused configuration touches nothing.
  r = tanpu("migrate " + db(), "", "env TANPU_LOG_LEVEL=loud");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("log_level"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "t.db"));
  r = tanpu("migrate " + db() + " --log-level warn", "", "env TANPU_LOG_LEVEL=loud");
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

TEST_F(CliTest, PointsPolicyIsConfiguredAndPointsExpireRuns) {
  const std::string key = " --secret-key-file " + (dir_ / "secret.key").string();
  const auto file = dir_ / "tanpu.toml";
  // A rate for a methodology the catalog does not know stops the command, naming it.
  std::ofstream(file) << "points_expiry_years = 2\n[points_mg_per_point_by_methodology]\n"
                         "\"no-such-methodology\" = 1000\n";
  CmdResult r = tanpu("points expire --dry-run " + db() + key + " --config " + file.string());
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("unknown methodology no-such-methodology"), std::string::npos) << r.out;
  std::ofstream(file) << "points_expiry_years = 2\n[points_mg_per_point_by_methodology]\n"
                         "\"tanpu-whcer-metro\" = \"many\"\n";
  r = tanpu("points expire " + db() + key + " --config " + file.string());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("must be an integer"), std::string::npos) << r.out;
  std::ofstream(file) << "points_expiry_years = 2\n[points_mg_per_point_by_methodology]\n"
                         "\"tanpu-whcer-metro\" = 44000\n";
  r = tanpu("points expire --json --at 2027-01-01T00:00:00+08:00 " + db() + key + " --config " +
            file.string());
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("\"cutoff_year\":2024"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"enabled\":true"), std::string::npos) << r.out;
  // The flag wins over the file; 0 turns expiry off; a bad value is refused.
  r = tanpu("points expire --json --points-expiry-years 0 " + db() + key + " --config " +
            file.string());
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("\"enabled\":false"), std::string::npos) << r.out;
  r = tanpu("points expire --points-expiry-years -1 " + db() + key);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("points_expiry_years"), std::string::npos) << r.out;
  r = tanpu("points expire --at yesterday " + db() + key);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(tanpu("serve --help").out.find("--points-mg-per-point"), std::string::npos);
}

TEST_F(CliTest, CreateOperatorOnceThenRefusesTheSameLogin) {
  const std::string key = " --secret-key-file " + (dir_ / "secret.key").string();
  CmdResult first = tanpu("admin create-operator " + db() + key +
                              " --login ops@example.com --name Ops --password-stdin",
                          "long-enough-password");
  EXPECT_EQ(first.exit_code, 0) << first.out;
  EXPECT_NE(first.out.find("\"role\":\"operator\""), std::string::npos) << first.out;
  CmdResult again = tanpu("admin create-operator " + db() + key +
                              " --login ops@example.com --name Ops --password-stdin",
                          "long-enough-password");
  EXPECT_EQ(again.exit_code, 3) << again.out;
  EXPECT_NE(again.out.find("already_registered"), std::string::npos) << again.out;
}

TEST_F(CliTest, MethodologyCheckListAndQuantify) {
  const std::string data = std::string("--data ") + TANPU_SOURCE_DIR + "/data";
  CmdResult r = tanpu("methodology check " + data);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("all pass"), std::string::npos) << r.out;

  r = tanpu("methodology list --json " + data);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto list = nlohmann::json::parse(r.out);
  ASSERT_TRUE(list.is_array());
  ASSERT_FALSE(list.empty());
  for (const auto& row : list) {
    for (const char* key : {"code", "version", "scenario", "jurisdiction", "effective_from",
                            "effective_to", "status", "inputs"})
      EXPECT_TRUE(row.contains(key)) << key;
    for (const auto& in : row["inputs"])
      for (const char* key : {"name", "unit", "min", "max"}) EXPECT_TRUE(in.contains(key)) << key;
  }

  r = tanpu("methodology quantify " + data +
            " --code tanpu-whcer-metro --region CN-HB-WUH --date 2025-06-01 --input "
            "distance_km=12500m --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto q = nlohmann::json::parse(r.out);
  EXPECT_EQ(q["reduction_mg"], 980000);
  EXPECT_EQ(q["points"], 980);
  EXPECT_EQ(q["methodology"], "tanpu-whcer-metro");
  EXPECT_EQ(q["version"], "2025.1");
  EXPECT_EQ(q["factors"][0]["id"], "whcer-metro-2025");
  EXPECT_EQ(q["provisional"], false);

  r = tanpu("methodology quantify " + data +
            " --scenario metro --region CN-HB-WUH --date 2025-06-01 --input distance_km=0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("inputs.distance_km"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("input_out_of_bounds"), std::string::npos) << r.out;
  r = tanpu("methodology quantify " + data +
            " --scenario metro --region CN-HB-WUH --date 2025-06-01 --input distance_km=3kg");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("wrong_unit"), std::string::npos) << r.out;
  r = tanpu("methodology quantify " + data +
            " --scenario metro --region CN-HB-WUH --date 2019-01-01 --input distance_km=3");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("no_methodology_on_date"), std::string::npos) << r.out;
}

TEST_F(CliTest, ABrokenMethodologySetStopsCheckAndServe) {
  const auto data = dir_ / "data";
  std::filesystem::copy(std::string(TANPU_SOURCE_DIR) + "/data", data,
                        std::filesystem::copy_options::recursive);
  std::ofstream(data / "methodologies" / "broken.toml") << "code = \"x\"\nversion = = 1\n";
  CmdResult r = tanpu("methodology check --data " + data.string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("methodologies/broken.toml:2:"), std::string::npos) << r.out;
  r = tanpu("serve " + db() + " --listen 127.0.0.1:0 --data " + data.string() +
            " --secret-key-file " + (dir_ / "k").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("broken.toml:2:"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "t.db"));  // refused before anything opened
}

TEST_F(CliTest, RecomputeReportsAndWritesNothing) {
  const auto records = dir_ / "records.ndjson";
  const std::string line =
      R"({"id":"r2","scenario":"metro","region":"CN-HB-WUH","date":"2025-06-02","inputs":{"distance_km":10},"credited":{"methodology":"tanpu-whcer-metro","version":"2024.1","reduction_mg":170000,"points":170}})";
  std::ofstream(records) << line << "\n";
  const auto before = std::filesystem::last_write_time(records);
  CmdResult r = tanpu(std::string("methodology recompute --data ") + TANPU_SOURCE_DIR +
                      "/data --since 2025-01-01 --records " + records.string() + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto report = nlohmann::json::parse(r.out);
  EXPECT_EQ(report["changed"], 1);
  EXPECT_EQ(report["delta_reduction_mg"], 784000 - 170000);
  EXPECT_EQ(report["applied"], false);
  EXPECT_EQ(std::filesystem::last_write_time(records), before);
  // Without --records, the credited records come from the database (none in a fresh one).
  r = tanpu(std::string("methodology recompute --data ") + TANPU_SOURCE_DIR + "/data " + db() +
            " --since 2025-01-01 --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::string last_line = r.out.substr(0, r.out.find_last_not_of('\n') + 1);
  last_line = last_line.substr(last_line.rfind('\n') + 1);  // npos + 1 == 0: the only line
  const auto from_db = nlohmann::json::parse(last_line);
  EXPECT_EQ(from_db["records"], 0);
  EXPECT_EQ(from_db["applied"], false);
}

}  // namespace
}  // namespace tanpu::test
