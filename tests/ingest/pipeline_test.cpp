// The intake pipeline on both engines: crediting exactly once, every refusal, cross-source dedup,
// caps, review, and a randomised replay test of the crediting invariants.
#include <gtest/gtest.h>
#include <array>

#include <atomic>
#include <functional>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "ingest/consents.h"
#include "ingest/export.h"
#include "ingest/ingest_fixture.h"
#include "ingest/member_data.h"
#include "ingest/pipeline.h"
#include "ingest/sources.h"
#include "ledger/verify.h"
#include "members/members_fixture.h"
#include "methodology/recompute.h"
#include "support/test_catalog.h"

namespace tanpu::test {
namespace {

using nlohmann::json;

class PipelineTest : public IngestFixture {
 protected:
  void SetUp() override {
    IngestFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    pipeline_ = make_pipeline(ingest::PipelineOptions());
  }
  void TearDown() override {
    pipeline_.reset();
    IngestFixture::TearDown();
  }

  std::unique_ptr<ingest::Pipeline> make_pipeline(ingest::PipelineOptions o) {
    return std::make_unique<ingest::Pipeline>(db_->store(), *ledger_, *members_, *pool_, clock_,
                                              std::move(o));
  }

  ingest::Source source(const std::string& name, std::vector<std::string> scenarios) {
    auto created = sources_->create(name, scenarios);
    EXPECT_TRUE(created.has_value());
    return created->source;
  }

  // Binds partner user `ref` of `s` to the member (the consent flow, without HTTP).
  void bind(const ingest::Source& s, const std::string& ref, std::int64_t member_id) {
    auto binding = consents_->create_binding(s.id, ref);
    ASSERT_OK(binding);
    ASSERT_OK(consents_->grant(member_id, binding->code));
  }

  static json ride(const std::string& id, const std::string& user, const std::string& at, double km,
                   const std::string& region = "CN-HB-WUH") {
    return json{{"external_id", id}, {"user_ref", user}, {"scenario", "metro"},
                {"occurred_at", at}, {"region", region}, {"inputs", {{"distance_km", km}}}};
  }

  std::vector<ingest::RecordOutcome> send(const ingest::Source& s, const json& records) {
    auto out = pipeline_->ingest(s, records.dump());
    EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().message);
    return out ? *out : std::vector<ingest::RecordOutcome>{};
  }

  std::unique_ptr<ingest::Pipeline> pipeline_;
};

// kStartUs is 2026-11-18T…Z; behaviour happened the day before, Wuhan time.
constexpr const char* kMorning = "2026-11-17T08:00:00+08:00";

TEST_P(PipelineTest, CreditsOnceAndAnswersAReplayWithTheOriginalOutcome) {
  const auto metro = source("Wuhan Metro", {"metro"});
  const auto alice = must_register(std::nullopt, "alice@example.com");
  bind(metro, "u-alice", alice.id);
  const json batch = json::array({ride("r1", "u-alice", kMorning, 12.5)});
  auto first = send(metro, batch);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].outcome, "credited");
  EXPECT_EQ(first[0].reduction_mg, 980000);
  EXPECT_EQ(first[0].points, 980);
  EXPECT_EQ(first[0].methodology, "tanpu-whcer-metro@2025.1");
  EXPECT_EQ(balance(alice.co2e_account_id), 980000);
  EXPECT_EQ(balance(alice.points_account_id), 980);
  auto again = send(metro, batch);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].outcome, "credited");
  EXPECT_TRUE(again[0].replay);
  EXPECT_EQ(again[0].reduction_mg, 980000);
  EXPECT_EQ(balance(alice.co2e_account_id), 980000);  // not twice
  auto changed = send(metro, json::array({ride("r1", "u-alice", kMorning, 20)}));
  EXPECT_EQ(changed[0].outcome, "rejected");
  EXPECT_EQ(changed[0].reason, "conflict");
  EXPECT_EQ(balance(alice.co2e_account_id), 980000);
  // Rollups follow the postings: the member's month usage rows, and the day × scenario rows.
  EXPECT_EQ(scalar("SELECT reduction_mg FROM ingest_member_usage WHERE period = 'm:2026-11'"),
            980000);
  EXPECT_EQ(scalar("SELECT points FROM ingest_member_usage WHERE period = 'm:2026-11'"), 980);
  EXPECT_EQ(scalar("SELECT records FROM ingest_rollup_day_scenario WHERE scenario = 'metro'"), 1);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM ingest_records"), 1);
}

TEST_P(PipelineTest, ARecordKeepsItsProvenanceAsTheJsonLibraryWritesIt) {
  const auto metro = source("Wuhan Metro", {"metro"});
  const auto alice = must_register(std::nullopt, "alice@example.com");
  bind(metro, "u-alice", alice.id);
  send(metro, json::array({ride("r1", "u-alice", kMorning, 12.5)}));
  const auto provenance = [&](const std::string& id) {
    auto lease = db_->store().acquire();
    auto rows =
        (*lease)->query("SELECT provenance FROM ingest_records WHERE external_id = '" + id + "'");
    EXPECT_TRUE(rows.has_value() && rows->size() == 1);
    return rows && rows->size() == 1 ? std::string(rows->text(0, 0)) : std::string();
  };
  const std::string text = provenance("r1");
  const json p = json::parse(text, nullptr, false);
  ASSERT_TRUE(p.is_object()) << text;
  EXPECT_EQ(text, p.dump());  // the library's own writing: key order, spacing, numbers
  EXPECT_EQ(p["methodology"], "tanpu-whcer-metro@2025.1");
  EXPECT_EQ(p["region"], "CN-HB-WUH");
  EXPECT_EQ(p["date"], "2026-11-17");
  EXPECT_EQ(p["inputs"], (json{{"distance_km", 12.5}, {"duration_min", 0.0}}));
  ASSERT_EQ(p["factors"].size(), 1u);
  EXPECT_TRUE(p["factors"][0].get<std::string>().find('@') != std::string::npos);
  EXPECT_EQ(p["quantified_mg"], 980000);
  EXPECT_EQ(p["quantified_points"], 980);
  EXPECT_DOUBLE_EQ(p["baseline_mg"].get<double>() - p["project_mg"].get<double>(), 980000.0);
  EXPECT_EQ(p["provisional"], false);
  EXPECT_EQ(p["rounding"], "half_to_even_mg");
}

// A store that runs `between` once, when the next write job is submitted and before it runs: what
// another request can do between the pipeline's reads ahead of its job and the job.
class InterleavingStore final : public store::Store {
 public:
  InterleavingStore(store::Store& inner, std::function<void()> between)
      : inner_(inner), between_(std::move(between)) {}
  store::Dialect dialect() const override { return inner_.dialect(); }
  Result<store::Lease> acquire() override { return inner_.acquire(); }
  Result<void> write(store::WriteJob job) override {
    if (between_) std::exchange(between_, nullptr)();
    return inner_.write(std::move(job));
  }
  void close() override {}
  void give_back(std::unique_ptr<store::Connection>) override {}

 private:
  store::Store& inner_;
  std::function<void()> between_;
};

TEST_P(PipelineTest, AGrantRevokedAfterTheReadAheadRefusesTheRecord) {
  const auto metro = source("Wuhan Metro", {"metro"});
  const auto alice = must_register(std::nullopt, "alice@example.com");
  const auto version = [&] {
    auto lease = db_->store().acquire();
    auto v = ingest::Consents::consents_version(**lease, metro.id);
    EXPECT_TRUE(v.has_value());
    return v ? *v : -1;
  };
  const std::int64_t created = version();
  bind(metro, "u-alice", alice.id);
  const std::int64_t granted = version();
  EXPECT_GT(granted, created);
  InterleavingStore store(db_->store(), [&] { ASSERT_OK(consents_->revoke(alice.id, metro.id)); });
  ingest::Pipeline pipeline(store, *ledger_, *members_, *pool_, clock_, ingest::PipelineOptions());
  auto out = pipeline.ingest(metro, json::array({ride("r1", "u-alice", kMorning, 12.5)}).dump());
  ASSERT_OK(out);
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].outcome, "rejected");
  EXPECT_EQ((*out)[0].reason, "no_consent");
  EXPECT_EQ(balance(alice.co2e_account_id), 0);
  const std::int64_t revoked = version();
  EXPECT_GT(revoked, granted);
  // Closing the member's account revokes the grants it still has, and moves their versions.
  bind(metro, "u-alice", alice.id);
  const std::int64_t rebound = version();
  EXPECT_GT(rebound, revoked);
  ASSERT_OK(db_->store().write(
      [&](store::Connection& c) { return ingest::close_member(c, alice.id, clock_.now_us()); }));
  EXPECT_GT(version(), rebound);
  EXPECT_EQ(send(metro, json::array({ride("r2", "u-alice", kMorning, 12.5)}))[0].reason,
            "no_consent");
}

// A record stored by another request between the pipeline's read ahead and its job is a replay,
// whether the job would keep the record (its insert fails) or refuse it without keeping it.
TEST_P(PipelineTest, AnIdStoredAfterTheReadAheadAnswersTheReplay) {
  const auto metro = source("Wuhan Metro", {"metro"});
  const auto alice = must_register(std::nullopt, "alice@example.com");
  bind(metro, "u-alice", alice.id);
  const auto batch = [](const std::string& id) {
    return json::array({ride(id, "u-alice", kMorning, 12.5)}).dump();
  };
  for (const bool revoke : {false, true}) {
    const std::string id = revoke ? "r2" : "r1";
    InterleavingStore store(db_->store(), [&] {
      auto first = pipeline_->ingest(metro, batch(id));  // on the store itself
      ASSERT_OK(first);
      EXPECT_EQ((*first)[0].outcome, "credited");
      if (revoke) ASSERT_OK(consents_->revoke(alice.id, metro.id));
    });
    ingest::Pipeline late(store, *ledger_, *members_, *pool_, clock_, ingest::PipelineOptions());
    auto out = late.ingest(metro, batch(id));
    ASSERT_OK(out);
    ASSERT_EQ(out->size(), 1u);
    EXPECT_EQ((*out)[0].outcome, "credited") << (revoke ? "refused in the job" : "kept");
    EXPECT_TRUE((*out)[0].replay);
    EXPECT_EQ((*out)[0].reduction_mg, 980000);
  }
  EXPECT_EQ(balance(alice.co2e_account_id), 2 * 980000);  // each once
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM ingest_records"), 2);
}

TEST_P(PipelineTest, OneBadRecordNeverSinksTheBatch) {
  const auto metro = source("Wuhan Metro", {"metro"});
  const auto alice = must_register(std::nullopt, "alice@example.com");
  bind(metro, "u-alice", alice.id);
  json bus = ride("b1", "u-alice", kMorning, 5);
  bus["scenario"] = "bus";
  json no_time = ride("t1", "u-alice", kMorning, 5);
  no_time.erase("occurred_at");
  json forced = ride("f1", "u-alice", kMorning, 5);
  forced["version"] = "2024.1";
  const json batch = json::array({
      ride("ok1", "u-alice", kMorning, 10), ride("nc1", "u-nobody", kMorning, 10),
      ride("zero", "u-alice", kMorning, 0), bus, no_time, forced,
      ride("future", "u-alice", "2026-12-30T08:00:00+08:00", 5),
      ride("old", "u-alice", "2026-09-01T08:00:00+08:00", 5),
      ride("bad id!", "u-alice", kMorning, 5), ride("kg", "u-alice", kMorning, 5), "not an object",
      ride(std::string(97, 'x'), "u-alice", kMorning, 5),    // one over kExternalIdBytesMax
      ride("long-ref", std::string(129, 'u'), kMorning, 5),  // one over the reference limit
      ride(std::string(96, 'y'), "u-alice", kMorning, 5),    // the longest id accepted
  });
  json& kg = const_cast<json&>(batch[9]);
  kg["inputs"]["distance_km"] = {{"value", 3}, {"unit", "kg"}};
  auto out = send(metro, batch);
  ASSERT_EQ(out.size(), batch.size());
  const std::vector<std::string> reasons{"",
                                         "no_consent",
                                         "input_out_of_bounds",
                                         "scenario_not_allowed",
                                         "missing_field",
                                         "unknown_field",
                                         "in_future",
                                         "too_old",
                                         "invalid_external_id",
                                         "wrong_unit",
                                         "invalid_record",
                                         "invalid_external_id",
                                         "invalid_user_ref",
                                         ""};
  for (std::size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].outcome, reasons[i].empty() ? "credited" : "rejected") << i;
    EXPECT_EQ(out[i].reason, reasons[i]) << i << " " << out[i].message;
  }
  EXPECT_EQ(out[2].field, "inputs.distance_km");
  EXPECT_EQ(balance(alice.co2e_account_id), 784000 + 392000);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM ingest_records"), 2);
  // NDJSON, with a line that is not JSON.
  const std::string ndjson = ride("n1", "u-alice", kMorning, 1).dump() + "\n{oops\n";
  auto lines = pipeline_->ingest(metro, ndjson);
  ASSERT_OK(lines);
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_EQ((*lines)[0].outcome, "credited");
  EXPECT_EQ((*lines)[1].reason, "invalid_json");
  // Whole-batch refusals.
  EXPECT_EQ(pipeline_->ingest(metro, "  ").error().code, "body_required");
  EXPECT_EQ(pipeline_->ingest(metro, "[1, ").error().code, "invalid_json");
  json too_many = json::array();
  for (int i = 0; i < 10'001; ++i) too_many.push_back(1);
  EXPECT_EQ(pipeline_->ingest(metro, too_many.dump()).error().code, "too_many_records");
}

TEST_P(PipelineTest, TheSameRideFromTwoSourcesIsCreditedOnce) {
  const auto metro = source("Wuhan Metro", {"metro"});
  const auto payments = source("Pay App", {"metro", "bus"});
  const auto alice = must_register(std::nullopt, "alice@example.com");
  bind(metro, "m-alice", alice.id);
  bind(payments, "p-alice", alice.id);
  EXPECT_EQ(send(metro, json::array({ride("m1", "m-alice", kMorning, 10)}))[0].outcome, "credited");
  auto dup = send(payments, json::array({ride("p1", "p-alice", "2026-11-17T08:10:00+08:00", 10),
                                         ride("p2", "p-alice", "2026-11-17T10:00:00+08:00", 10)}));
  EXPECT_EQ(dup[0].outcome, "duplicate");
  EXPECT_EQ(dup[0].duplicate_of, metro.id + "/m1");
  EXPECT_EQ(dup[1].outcome, "credited");  // two hours later: another ride
  EXPECT_EQ(balance(alice.co2e_account_id), 2 * 784000);
  // The duplicate is kept, and a replay of it answers the same.
  auto replay =
      send(payments, json::array({ride("p1", "p-alice", "2026-11-17T08:10:00+08:00", 10)}));
  EXPECT_EQ(replay[0].outcome, "duplicate");
  EXPECT_TRUE(replay[0].replay);
}

TEST_P(PipelineTest, CapsLimitADayAndSayWhichCap) {
  const auto metro = source("Wuhan Metro", {"metro"});
  const auto alice = must_register(std::nullopt, "alice@example.com");
  bind(metro, "u-alice", alice.id);
  json batch = json::array();
  for (int i = 0; i < 12; ++i)  // 12 rides of 1 km in one day; the methodology allows 10 records
    batch.push_back(ride(
        "c" + std::to_string(i), "u-alice",
        "2026-11-17T0" + std::to_string(i % 10) + ":3" + std::to_string(i / 10) + ":00+08:00", 1));
  auto out = send(metro, batch);
  int credited = 0, capped = 0;
  for (const auto& o : out) {
    credited += o.outcome == "credited" ? 1 : 0;
    if (o.outcome == "capped") {
      ++capped;
      EXPECT_EQ(o.reason, "per_member_day_records");
      EXPECT_EQ(o.reduction_mg, 0);
    }
  }
  EXPECT_EQ(credited, 10);
  EXPECT_EQ(capped, 2);
  EXPECT_EQ(balance(alice.co2e_account_id), 10 * 78400);
  // A daily points cap set by the operator.
  ingest::PipelineOptions capped_points;
  capped_points.points.day_max = 1000;
  pipeline_ = make_pipeline(capped_points);
  const auto bob = must_register(std::nullopt, "bob@example.com");
  bind(metro, "u-bob", bob.id);
  auto points = send(metro, json::array({ride("b1", "u-bob", kMorning, 10),
                                         ride("b2", "u-bob", "2026-11-17T12:00:00+08:00", 10)}));
  EXPECT_EQ(points[0].points, 784);
  EXPECT_EQ(points[1].outcome, "capped");
  EXPECT_EQ(points[1].reason, "points_per_member_day");
  EXPECT_EQ(points[1].points, 216);
  EXPECT_EQ(points[1].reduction_mg, 784000);  // the reduction is still the member's
  EXPECT_EQ(balance(bob.points_account_id), 1000);
  // The cap counts the day's points of every methodology, in later batches too: a bike ride of the
  // same day earns nothing more, one of the next day earns its points.
  const auto bikes = source("Wuhan Bikes", {"bike"});
  bind(bikes, "k-bob", bob.id);
  const auto bike = [](const std::string& id, const std::string& at) {
    return json{{"external_id", id}, {"user_ref", "k-bob"},   {"scenario", "bike"},
                {"occurred_at", at}, {"region", "CN-HB-WUH"}, {"inputs", {{"distance_km", 5}}}};
  };
  auto later = send(bikes, json::array({bike("k1", "2026-11-17T19:00:00+08:00"),
                                        bike("k2", "2026-11-16T19:00:00+08:00")}));
  ASSERT_EQ(later.size(), 2u);
  EXPECT_EQ(later[0].outcome, "capped");
  EXPECT_EQ(later[0].reason, "points_per_member_day");
  EXPECT_EQ(later[0].points, 0);
  EXPECT_GT(later[0].reduction_mg, 0);
  EXPECT_EQ(later[1].outcome, "credited");
  EXPECT_GT(later[1].points, 0);
  EXPECT_EQ(balance(bob.points_account_id), 1000 + later[1].points);
  // Points kept in a "*" usage row by a database from before ingest migration 5 count too.
  const auto carol = must_register(std::nullopt, "carol@example.com");
  bind(metro, "u-carol", carol.id);
  {
    auto lease = db_->store().acquire();
    ASSERT_OK(lease);
    ASSERT_OK((*lease)->exec(
        "INSERT INTO ingest_member_usage (member_id, period, code, reduction_mg, records, points) "
        "VALUES (?, 'd:2026-11-17', '*', 0, 0, 900)",
        {carol.id}));
  }
  auto legacy = send(metro, json::array({ride("carol-1", "u-carol", kMorning, 10)}));
  ASSERT_EQ(legacy.size(), 1u);
  EXPECT_EQ(legacy[0].outcome, "capped");
  EXPECT_EQ(legacy[0].points, 100);
  EXPECT_EQ(balance(carol.points_account_id), 100);
}

// A database from before ingest migration 5 (points in "*" usage rows, a member rollup table)
// keeps every member's points in the month rows through the migration.
TEST_P(PipelineTest, Migration5KeepsTheMembersPointsInTheMonthRows) {
  TestStore old(engine());
  std::vector<store::Migration> all(ledger::migrations().begin(), ledger::migrations().end());
  all.insert(all.end(), members::migrations().begin(), members::migrations().end());
  all.insert(all.end(), points::migrations().begin(), points::migrations().end());
  all.insert(all.end(), ingest::migrations().begin(), ingest::migrations().end());
  const auto v5 = std::ranges::find_if(
      all, [](const store::Migration& m) { return m.module == "ingest" && m.version == 5; });
  ASSERT_NE(v5, all.end());
  const auto before_v5 = static_cast<std::size_t>(v5 - all.begin());
  auto lease = old.store().acquire();
  ASSERT_OK(lease);
  ASSERT_OK(store::migrate(**lease, std::span(all).first(before_v5)));
  for (const char* sql : {
           "INSERT INTO ingest_member_usage VALUES (7, 'd:2026-11-17', '*', 0, 0, 900)",
           "INSERT INTO ingest_member_usage VALUES (7, 'd:2026-11-18', '*', 0, 0, 50)",
           "INSERT INTO ingest_member_usage VALUES (7, 'd:2026-12-01', '*', 0, 0, 30)",
           "INSERT INTO ingest_member_usage VALUES (7, 'd:2026-11-17', 'tanpu-whcer-metro', "
           "980000, 1, 0)",
           "INSERT INTO ingest_member_usage VALUES (7, 'm:2026-11', 'tanpu-whcer-metro', 980000, "
           "1, 0)",
           "INSERT INTO ingest_member_usage VALUES (8, 'd:2026-11-17', '*', 0, 0, 4)",
           "INSERT INTO ingest_rollup_member VALUES (7, 1, 980000, 980, 0)",
       })
    ASSERT_OK((*lease)->exec(sql));
  auto applied = store::migrate(**lease, all);
  ASSERT_OK(applied);
  EXPECT_EQ(*applied, static_cast<int>(all.size() - before_v5));  // 5 and what follows
  const auto one = [&](const std::string& sql) -> std::int64_t {
    auto rows = (*lease)->query(sql);
    EXPECT_TRUE(rows.has_value()) << sql;
    return rows && !rows->empty() && !rows->is_null(0, 0) ? rows->i64(0, 0) : -1;
  };
  EXPECT_EQ(one("SELECT points FROM ingest_member_usage WHERE member_id = 7 AND period = "
                "'m:2026-11' AND code = '*'"),
            950);
  EXPECT_EQ(one("SELECT points FROM ingest_member_usage WHERE member_id = 7 AND period = "
                "'m:2026-12' AND code = '*'"),
            30);
  EXPECT_EQ(one("SELECT points FROM ingest_member_usage WHERE member_id = 8 AND period = "
                "'m:2026-11' AND code = '*'"),
            4);
  // The day rows stay as they were, for the daily points cap.
  EXPECT_EQ(one("SELECT COUNT(*) FROM ingest_member_usage WHERE period LIKE 'd:%'"), 5);
  EXPECT_EQ(one("SELECT reduction_mg FROM ingest_member_usage WHERE member_id = 7 AND period = "
                "'m:2026-11' AND code = 'tanpu-whcer-metro'"),
            980000);
  EXPECT_FALSE((*lease)->query("SELECT COUNT(*) FROM ingest_rollup_member").has_value());
}

TEST_P(PipelineTest, TheOperatorsPointsRateReplacesTheFormulaAndEarnedPointsAreRecorded) {
  ingest::PipelineOptions shenyang_style;
  shenyang_style.points.mg_per_point = 1000;                                       // 1 g = 1 point
  shenyang_style.points.mg_per_point_by_methodology["tanpu-whcer-metro"] = 44000;  // ~44 g a point
  pipeline_ = make_pipeline(shenyang_style);
  const auto metro = source("Wuhan Metro", {"metro"});
  const auto alice = must_register(std::nullopt, "alice@example.com");
  bind(metro, "u-alice", alice.id);
  auto out = send(metro, json::array({ride("r1", "u-alice", kMorning, 12.5),
                                      ride("r2", "u-alice", "2026-11-17T18:00:00+08:00", 12.5)}));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].reduction_mg, 980000);
  EXPECT_EQ(out[0].points, 22);  // 980000 / 44000, rounded down
  EXPECT_EQ(out[1].points, 22);
  EXPECT_EQ(balance(alice.points_account_id), 44);
  // Recorded for expiry under the local year of the credit (2026).
  EXPECT_EQ(scalar("SELECT points FROM points_earned WHERE year = 2026 AND account_id = " +
                   std::to_string(alice.points_account_id)),
            44);
}

TEST_P(PipelineTest, EvidenceScenariosWaitForReview) {
  const auto canteen = source("Canteen", {"clean_plate"});
  const auto alice = must_register(std::nullopt, "alice@example.com");
  bind(canteen, "c-alice", alice.id);
  const auto& catalog = *testing::repository_catalog();
  const methodology::Methodology* plate = catalog.for_scenario("clean_plate").front();
  json inputs = json::object();
  for (const auto& in : plate->inputs)
    inputs[in.name] = in.default_value.value_or(in.min + (in.max - in.min) / 2);
  for (const auto& [name, value] : plate->examples.front().inputs) inputs[name] = value;
  auto out = send(canteen, json::array({{{"external_id", "meal-1"},
                                         {"user_ref", "c-alice"},
                                         {"scenario", "clean_plate"},
                                         {"occurred_at", kMorning},
                                         {"region", "CN-LN-SHE"},
                                         {"inputs", inputs}}}));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].outcome, "pending_review") << out[0].reason << " " << out[0].message;
  EXPECT_EQ(balance(alice.co2e_account_id), 0);
}

// What was credited can be recomputed under the current methodology set: the export feeds
// `tanpu methodology recompute`, which finds nothing to change when nothing changed.
TEST_P(PipelineTest, CreditedRecordsExportForRecompute) {
  const auto metro = source("Wuhan Metro", {"metro"});
  const auto alice = must_register(std::nullopt, "alice@example.com");
  bind(metro, "u-alice", alice.id);
  send(metro, json::array({ride("r1", "u-alice", kMorning, 12.5),
                           ride("r2", "u-alice", "2026-11-17T18:00:00+08:00", 3),
                           ride("r3", "u-nobody", kMorning, 3)}));
  std::stringstream exported;
  auto n = ingest::export_credited(db_->store(), 0, exported);
  ASSERT_OK(n);
  EXPECT_EQ(*n, 2);
  const json first = json::parse(exported.str().substr(0, exported.str().find('\n')));
  EXPECT_EQ(first["id"], metro.id + "/r1");
  EXPECT_EQ(first["credited"]["methodology"], "tanpu-whcer-metro");
  EXPECT_EQ(first["credited"]["version"], "2025.1");
  EXPECT_EQ(first["credited"]["reduction_mg"], 980000);
  EXPECT_EQ(first["date"], "2026-11-17");
  methodology::Evaluator evaluator(testing::repository_catalog());
  auto report = methodology::recompute(evaluator, exported, *parse_date("2026-11-01"));
  ASSERT_OK(report);
  EXPECT_EQ(report->records, 2u);
  EXPECT_EQ(report->unchanged, 2u);
  EXPECT_TRUE(report->changes.empty());
  // Only what occurred on or after `since`.
  std::stringstream later;
  ASSERT_OK(ingest::export_credited(db_->store(), 1'795'500'000'000'000, later));
  EXPECT_TRUE(later.str().empty());
}

// Random batches from three sources, replayed and overlapping, with malformed records and
// concurrent senders: each record is credited at most once, the members' balances equal the
// credited records, and no member's day exceeds a cap.
// A store whose write jobs sometimes fail as retryable after (or before) doing all their work, as a
// deadlock or a busy database would make them: the store rolls the job back and runs it again, so
// a job must give the same result from what it reads, whatever it did the first time.
class FlakyStore final : public store::Store {
 public:
  FlakyStore(store::Store& inner, unsigned seed) : inner_(inner), rng_(seed) {}
  store::Dialect dialect() const override { return inner_.dialect(); }
  Result<store::Lease> acquire() override { return inner_.acquire(); }
  Result<void> write(store::WriteJob job) override {
    // Only a job's first run may fail: the store retries a bounded number of times.
    bool first_run = true;
    return inner_.write([&](store::Connection& c) -> Result<void> {
      const unsigned dice = first_run ? roll() : 2;
      first_run = false;
      if (dice == 0) return retry();  // before doing anything
      auto r = job(c);
      if (r && dice == 1) return retry();  // after doing everything
      return r;
    });
  }
  void close() override {}
  void give_back(std::unique_ptr<store::Connection>) override {}
  std::int64_t injected() const { return injected_.load(); }

 private:
  unsigned roll() {
    std::lock_guard lock(mu_);
    return static_cast<unsigned>(rng_() % 6);  // one in three runs fails
  }
  Result<void> retry() {
    ++injected_;
    return fail(ErrorKind::unavailable, std::string(store::kRetryable), "injected");
  }
  store::Store& inner_;
  std::mutex mu_;
  std::mt19937 rng_;
  std::atomic<std::int64_t> injected_{0};
};

TEST_P(PipelineTest, RandomisedReplaysKeepTheCreditingInvariants) {
  // Store faults: a third of the write jobs fail as retryable and run again.
  FlakyStore flaky(db_->store(), 99);
  ingest::PipelineOptions options;
  options.points.day_max = 1500;  // binds: a member's day of rides earns more
  pipeline_ = std::make_unique<ingest::Pipeline>(flaky, *ledger_, *members_, *pool_, clock_,
                                                 std::move(options));
  std::vector<ingest::Source> sources{source("A", {"metro"}), source("B", {"metro"}),
                                      source("C", {"metro"})};
  std::vector<members::MemberView> people;
  for (int p = 0; p < 6; ++p) {
    people.push_back(must_register(std::nullopt, "p" + std::to_string(p) + "@example.com"));
    for (std::size_t s = 0; s < sources.size(); ++s)
      bind(sources[s], "s" + std::to_string(s) + "-p" + std::to_string(p), people.back().id);
  }
  std::mt19937 rng(7);
  std::vector<std::pair<std::size_t, json>> batches;
  for (int b = 0; b < 24; ++b) {
    const std::size_t s = rng() % sources.size();
    json batch = json::array();
    for (int r = 0; r < 20; ++r) {
      const int person = static_cast<int>(rng() % people.size());
      const int minute = static_cast<int>(rng() % (16 * 60));
      char at[40];
      std::snprintf(at, sizeof at, "2026-11-17T%02d:%02d:00+08:00", 6 + minute / 60, minute % 60);
      json rec = ride("e" + std::to_string(rng() % 400),
                      "s" + std::to_string(s) + "-p" + std::to_string(person), at,
                      1 + static_cast<double>(rng() % 300) / 10);
      if (rng() % 10 == 0) rec["inputs"]["distance_km"] = -1;  // a fault
      batch.push_back(std::move(rec));
    }
    batches.emplace_back(s, std::move(batch));
  }
  // Each batch sent twice, by two threads, in different orders, while a member revokes a consent.
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      for (std::size_t i = 0; i < batches.size(); ++i) {
        const auto& [s, batch] = batches[t == 0 ? i : batches.size() - 1 - i];
        auto out = pipeline_->ingest(sources[s], batch.dump());
        EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().message);
        if (t == 0 && i == batches.size() / 2) {
          EXPECT_TRUE(consents_->revoke(people[0].id, sources[0].id).has_value());
        }
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_GT(flaky.injected(), 0);
  // The ledger's hash chain and balances survived the rolled-back runs.
  {
    auto lease = db_->store().acquire();
    ASSERT_OK(lease);
    auto report = ledger::verify(**lease);
    ASSERT_OK(report);
    EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems.front());
  }
  // At most once: one row per (source, external id), and one credit transfer per credited row.
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM (SELECT source_id, external_id FROM ingest_records "
                   "GROUP BY source_id, external_id HAVING COUNT(*) > 1) d"),
            0);
  const std::int64_t credited_mg = scalar(
      "SELECT SUM(reduction_mg) FROM ingest_records WHERE outcome IN ('credited', 'capped')");
  const std::int64_t credited_points =
      scalar("SELECT SUM(points) FROM ingest_records WHERE outcome IN ('credited', 'capped')");
  std::int64_t balances_mg = 0, balances_points = 0;
  for (const auto& p : people) {
    balances_mg += balance(p.co2e_account_id);
    balances_points += balance(p.points_account_id);
  }
  EXPECT_GT(credited_mg, 0);
  EXPECT_EQ(balances_mg, credited_mg);
  EXPECT_EQ(balances_points, credited_points);
  // The members' month usage rows are their rollup.
  EXPECT_EQ(scalar("SELECT SUM(reduction_mg) FROM ingest_member_usage WHERE period LIKE 'm:%'"),
            credited_mg);
  EXPECT_EQ(scalar("SELECT SUM(points) FROM ingest_member_usage WHERE period LIKE 'm:%'"),
            credited_points);
  EXPECT_EQ(scalar("SELECT SUM(points) FROM ingest_member_usage WHERE period LIKE 'd:%'"),
            credited_points);
  // The daily points cap: reached, never exceeded.
  EXPECT_EQ(scalar("SELECT MAX(p) FROM (SELECT member_id, period, SUM(points) AS p FROM "
                   "ingest_member_usage WHERE period LIKE 'd:%' GROUP BY member_id, period) x"),
            1500);
  EXPECT_GT(scalar("SELECT COUNT(*) FROM ingest_records WHERE reason = 'points_per_member_day'"),
            0);
  // Caps: no member-day over the methodology's day cap or record cap.
  const auto* metro = testing::repository_catalog()->find("tanpu-whcer-metro", "2025.1");
  ASSERT_NE(metro, nullptr);
  EXPECT_LE(scalar("SELECT MAX(reduction_mg) FROM ingest_member_usage WHERE period LIKE 'd:%' "
                   "AND code = 'tanpu-whcer-metro'"),
            metro->caps.per_member_day_mg);
  EXPECT_EQ(scalar("SELECT MAX(c) FROM (SELECT member_id, SUM(reduction_mg) AS c FROM "
                   "ingest_records WHERE outcome IN ('credited', 'capped') GROUP BY member_id) x"),
            scalar("SELECT MAX(reduction_mg) FROM ingest_member_usage WHERE period LIKE 'd:%' AND "
                   "code = 'tanpu-whcer-metro'"));
  // The same ride (member, minute window) is never credited by two sources.
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM ingest_records a JOIN ingest_records b ON a.member_id = "
                   "b.member_id AND a.source_id < b.source_id AND a.outcome IN ('credited', "
                   "'capped') AND b.outcome IN ('credited', 'capped') AND ABS(a.occurred_at_us - "
                   "b.occurred_at_us) <= 1800000000"),
            0);
}

// Two members' batches carry the same external id at the same moment (a partner's bug): they
// lock different members, so on PostgreSQL they run side by side until the second stores the id.
// Exactly one is credited, the other answered as a conflict, and nothing fails.
TEST_P(PipelineTest, TheSameIdForTwoMembersAtOnceIsCreditedOnce) {
  const auto metro = source("metro", {"metro"});
  const auto a = must_register(std::nullopt, "a@example.com");
  const auto b = must_register(std::nullopt, "b@example.com");
  bind(metro, "ref-a", a.id);
  bind(metro, "ref-b", b.id);
  for (int round = 0; round < 12; ++round) {
    const std::string id = "same-" + std::to_string(round);
    char at[40];
    std::snprintf(at, sizeof at, "2026-11-%02dT08:00:00+08:00", 1 + round);  // a day each
    const std::array<std::string, 2> bodies = {json::array({ride(id, "ref-a", at, 8)}).dump(),
                                               json::array({ride(id, "ref-b", at, 9)}).dump()};
    std::array<std::string, 2> outcomes;
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < 2; ++t)
      threads.emplace_back([&, t] {
        auto out = pipeline_->ingest(metro, bodies[t]);
        ASSERT_TRUE(out.has_value()) << out.error().message;
        ASSERT_EQ(out->size(), 1u);
        outcomes[t] = out->front().outcome + "/" + out->front().reason;
      });
    for (auto& th : threads) th.join();
    std::sort(outcomes.begin(), outcomes.end());
    EXPECT_EQ(outcomes[0], "credited/") << round;
    EXPECT_EQ(outcomes[1], "rejected/conflict") << round;
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM ingest_records WHERE external_id = '" + id + "'"), 1);
  }
  EXPECT_EQ(balance(a.co2e_account_id) + balance(b.co2e_account_id),
            scalar("SELECT SUM(reduction_mg) FROM ingest_records WHERE outcome = 'credited'"));
}

TANPU_INSTANTIATE_ENGINES(PipelineTest);

}  // namespace
}  // namespace tanpu::test
