// The lottery routes (src/http/routes_lottery.cpp) through the Router of the real App, on every
// engine; every answer is held to docs/openapi.json. Operators create, the public reads, members
// draw, list and verify, and after the close a member recomputes the ticket from what the API
// published.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/crypto.h"
#include "http/app.h"
#include "http/app_routes_fixture.h"
#include "http/metrics.h"
#include "http/route_call.h"
#include "http/router.h"
#include "ingest/consents.h"
#include "ingest/sources.h"
#include "market/lottery.h"
#include "members/members_fixture.h"
#include "support/openapi_conform.h"
#include "support/test_catalog.h"

namespace tanpu::test {
namespace {

using nlohmann::json;
using tanpu::testing::conform;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr std::int64_t kHourUs = 3'600'000'000;

class LotteryRoutesTest : public AppRoutesFixture<MembersFixture> {
 protected:
  void SetUp() override {
    MembersFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    {
      auto lease = db_->store().acquire();
      ASSERT_OK(lease);
      std::vector<store::Migration> all(ledger::migrations().begin(), ledger::migrations().end());
      all.insert(all.end(), members::migrations().begin(), members::migrations().end());
      all.insert(all.end(), market::lottery_migrations().begin(),
                 market::lottery_migrations().end());
      ASSERT_OK(store::migrate(**lease, all));
    }
    lotteries_ = std::make_unique<market::Lotteries>(db_->store(), *ledger_, *members_, clock_);
    start_app([this](http::App& a) { a.lotteries = lotteries_.get(); });
  }
  void TearDown() override {
    stop_app();
    lotteries_.reset();
    MembersFixture::TearDown();
  }

  static std::string code_of(const http::Response& r) { return error_code(r); }

  // The answer conforms to the document's schema of the operation's status.
  void expect_schema(const http::Response& r, const std::string& path, const std::string& method) {
    expect_documented(doc_, r, path, method);
  }

  json lottery_body() const {
    return json{{"title", "Green week draw"},
                {"price_points", 20},
                {"opens_at", format_iso8601(clock_.now_us() + kHourUs)},
                {"closes_at", format_iso8601(clock_.now_us() + 3 * kHourUs)},
                {"per_member_day_max", 5},
                {"no_prize_ppm", 500'000},
                {"prizes",
                 {{{"name", "Metro day pass"}, {"stock", 3}, {"odds_ppm", 200'000}},
                  {{"name", "Bamboo cup"}, {"stock", 1}, {"odds_ppm", 300'000}}}}};
  }

  json create(const json& body) {
    auto r = send(op_token_, "POST", "/v1/lotteries", body.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    expect_schema(r, "/v1/lotteries", "post");
    return json::parse(r.body);
  }

  http::Response draw(const std::string& token, std::int64_t id, const std::string& key,
                      std::string body = {}) {
    Headers h;
    if (!key.empty()) h.emplace_back("idempotency-key", key);
    auto r = send(token, "POST", "/v1/lotteries/" + std::to_string(id) + "/draws", std::move(body),
                  std::move(h));
    expect_schema(r, "/v1/lotteries/{id}/draws", "post");
    return r;
  }

  std::unique_ptr<market::Lotteries> lotteries_;
};

TEST_P(LotteryRoutesTest, OnlyOperatorsCreateAndEveryoneReads) {
  const std::string body = lottery_body().dump();
  auto anonymous = send("", "POST", "/v1/lotteries", body);
  EXPECT_EQ(anonymous.status, 401);
  expect_schema(anonymous, "/v1/lotteries", "post");
  auto member = send(alice_token_, "POST", "/v1/lotteries", body);
  EXPECT_EQ(member.status, 403);
  EXPECT_EQ(code_of(member), "operator_only");
  EXPECT_EQ(count("lottery_lotteries"), 0);

  const json made = create(lottery_body());
  EXPECT_EQ(made["status"], "scheduled");
  EXPECT_EQ(made["kind"], "lottery");
  EXPECT_EQ(made["seed"], nullptr);
  EXPECT_EQ(made["draws_count"], 0);
  EXPECT_EQ(made["per_member_total_max"], nullptr);
  EXPECT_EQ(made["prizes"][1], (json{{"prize_no", 2},
                                     {"name", "Bamboo cup"},
                                     {"odds_ppm", 300'000},
                                     {"stock_initial", 1},
                                     {"stock_remaining", 1}}));
  const std::int64_t id = made["id"].get<std::int64_t>();

  // Anyone may read, without a session.
  auto got = send("", "GET", "/v1/lotteries/" + std::to_string(id));
  ASSERT_EQ(got.status, 200) << got.body;
  expect_schema(got, "/v1/lotteries/{id}", "get");
  EXPECT_EQ(json::parse(got.body), made);
  auto listed = send("", "GET", "/v1/lotteries?limit=1");
  ASSERT_EQ(listed.status, 200) << listed.body;
  expect_schema(listed, "/v1/lotteries", "get");
  EXPECT_EQ(json::parse(listed.body)["lotteries"][0], made);
  EXPECT_EQ(json::parse(listed.body)["next_cursor"], nullptr);
  auto missing = send("", "GET", "/v1/lotteries/424242");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(code_of(missing), "lottery_not_found");
  expect_schema(missing, "/v1/lotteries/{id}", "get");
  auto bad_id = send("", "GET", "/v1/lotteries/abc");
  EXPECT_EQ(bad_id.status, 404);
  auto bad_cursor = send("", "GET", "/v1/lotteries?cursor=zz");
  EXPECT_EQ(bad_cursor.status, 400);
  EXPECT_EQ(code_of(bad_cursor), "invalid_cursor");
}

TEST_P(LotteryRoutesTest, CreationAnswersWhatIsWrong) {
  const auto refused = [&](json body, const char* code, const char* field) {
    auto r = send(op_token_, "POST", "/v1/lotteries", body.dump());
    EXPECT_EQ(r.status, 400) << code << " " << r.body;
    expect_schema(r, "/v1/lotteries", "post");
    EXPECT_EQ(code_of(r), code) << r.body;
    EXPECT_EQ(json::parse(r.body)["error"].value("field", ""), field) << r.body;
  };
  json b = lottery_body();
  b["no_prize_ppm"] = 499'999;
  refused(b, "odds_must_sum_to_one", "prizes");
  b = lottery_body();
  b["prizes"] = json::array();
  refused(b, "prizes_required", "prizes");
  b = lottery_body();
  b["prizes"][0]["stock"] = -1;
  refused(b, "invalid_stock", "prizes[0].stock");
  b = lottery_body();
  b["prizes"][1]["odds_ppm"] = -300'000;
  b["no_prize_ppm"] = 1'100'000;
  refused(b, "invalid_odds", "prizes[1].odds_ppm");
  b = lottery_body();
  b["prizes"][0]["colour"] = "red";
  refused(b, "unknown_field", "prizes[0].colour");
  b = lottery_body();
  b["opens_at"] = "tomorrow";
  refused(b, "invalid_time", "opens_at");
  b = lottery_body();
  b["opens_at"] = format_iso8601(clock_.now_us() - 1);
  refused(b, "opens_at_in_past", "opens_at");
  b = lottery_body();
  b["closes_at"] = b["opens_at"];
  refused(b, "closes_at_not_after_opens_at", "closes_at");
  b = lottery_body();
  b["kind"] = "raffle";
  refused(b, "invalid_kind", "kind");
  b = lottery_body();
  b["price_points"] = 0;
  refused(b, "price_must_be_positive", "price_points");
  EXPECT_EQ(count("lottery_lotteries"), 0);

  // With an Idempotency-Key, a retry answers the first lottery; another body conflicts.
  const Headers key{{"idempotency-key", "spring-1"}};
  auto first = send(op_token_, "POST", "/v1/lotteries", lottery_body().dump(), key);
  ASSERT_EQ(first.status, 201) << first.body;
  auto again = send(op_token_, "POST", "/v1/lotteries", lottery_body().dump(), key);
  ASSERT_EQ(again.status, 200) << again.body;
  expect_schema(again, "/v1/lotteries", "post");
  EXPECT_EQ(json::parse(again.body)["id"], json::parse(first.body)["id"]);
  json other = lottery_body();
  other["title"] = "Another";
  auto clash = send(op_token_, "POST", "/v1/lotteries", other.dump(), key);
  EXPECT_EQ(clash.status, 409);
  EXPECT_EQ(code_of(clash), "idempotency_conflict");
  expect_schema(clash, "/v1/lotteries", "post");
  EXPECT_EQ(count("lottery_lotteries"), 1);
}

TEST_P(LotteryRoutesTest, AMemberDrawsListsAndVerifiesAfterTheClose) {
  fund(alice_, 100);
  const json made = create(lottery_body());
  const std::int64_t id = made["id"].get<std::int64_t>();
  const std::int64_t account = made["account_id"].get<std::int64_t>();

  auto early = draw(alice_token_, id, "a1");
  EXPECT_EQ(early.status, 409);
  EXPECT_EQ(code_of(early), "lottery_not_open");
  clock_.advance_us(kHourUs);

  auto no_key = draw(alice_token_, id, "");
  EXPECT_EQ(no_key.status, 400);
  EXPECT_EQ(code_of(no_key), "idempotency_key_required");
  auto long_seed = draw(alice_token_, id, "a1", json{{"client_seed", std::string(65, 'x')}}.dump());
  EXPECT_EQ(long_seed.status, 400);
  EXPECT_EQ(code_of(long_seed), "client_seed_too_long");
  auto anonymous = draw("", id, "a1");
  EXPECT_EQ(anonymous.status, 401);
  auto nowhere = draw(alice_token_, 987'654, "a1");
  EXPECT_EQ(nowhere.status, 404);
  EXPECT_EQ(code_of(nowhere), "lottery_not_found");
  EXPECT_EQ(balance(alice_.points_account_id), 100);

  const std::string seeded = json{{"client_seed", "my lucky seed"}}.dump();
  auto first = draw(alice_token_, id, "a1", seeded);
  ASSERT_EQ(first.status, 201) << first.body;
  const json d1 = json::parse(first.body);
  EXPECT_EQ(d1["draw_no"], 1);
  EXPECT_EQ(d1["client_seed"], "my lucky seed");
  EXPECT_EQ(d1["price_points"], 20);
  EXPECT_EQ(d1["replay"], false);
  EXPECT_EQ(balance(alice_.points_account_id), 80);
  EXPECT_EQ(balance(account), 20);

  auto replay = draw(alice_token_, id, "a1", seeded);
  ASSERT_EQ(replay.status, 200) << replay.body;
  json d1_again = json::parse(replay.body);
  EXPECT_EQ(d1_again["replay"], true);
  d1_again["replay"] = false;
  EXPECT_EQ(d1_again, d1);
  EXPECT_EQ(balance(alice_.points_account_id), 80);
  auto clash = draw(alice_token_, id, "a1", json{{"client_seed", "other"}}.dump());
  EXPECT_EQ(clash.status, 409);
  EXPECT_EQ(code_of(clash), "idempotency_conflict");

  auto second = draw(alice_token_, id, "a2");  // no body: an empty client seed
  ASSERT_EQ(second.status, 201) << second.body;
  EXPECT_EQ(json::parse(second.body)["draw_no"], 2);
  EXPECT_EQ(json::parse(second.body)["client_seed"], "");
  auto poor = draw(bob_token_, id, "b1");
  EXPECT_EQ(poor.status, 409);
  EXPECT_EQ(code_of(poor), "insufficient_points");
  EXPECT_EQ(balance(bob_.points_account_id), 0);
  EXPECT_EQ(balance(account), 40);

  auto mine = send(alice_token_, "GET", "/v1/me/lottery-draws?limit=1");
  ASSERT_EQ(mine.status, 200) << mine.body;
  expect_schema(mine, "/v1/me/lottery-draws", "get");
  const json page1 = json::parse(mine.body);
  ASSERT_EQ(page1["draws"].size(), 1U);
  EXPECT_EQ(page1["draws"][0]["draw_no"], 2);
  ASSERT_TRUE(page1["next_cursor"].is_string());
  auto rest = send(alice_token_, "GET",
                   "/v1/me/lottery-draws?lottery_id=" + std::to_string(id) +
                       "&cursor=" + page1["next_cursor"].get<std::string>());
  ASSERT_EQ(rest.status, 200) << rest.body;
  expect_schema(rest, "/v1/me/lottery-draws", "get");
  json d1_listed = d1;
  d1_listed.erase("replay");  // only POST answers say whether they replayed
  EXPECT_EQ(json::parse(rest.body)["draws"][0], d1_listed);
  auto bobs = send(bob_token_, "GET", "/v1/me/lottery-draws");
  ASSERT_EQ(bobs.status, 200);
  EXPECT_TRUE(json::parse(bobs.body)["draws"].empty());
  auto bad = send(alice_token_, "GET", "/v1/me/lottery-draws?lottery_id=x");
  EXPECT_EQ(bad.status, 400);
  expect_schema(bad, "/v1/me/lottery-draws", "get");

  const std::string verify_path = "/v1/lotteries/" + std::to_string(id) + "/draws/1/verification";
  auto before = send(alice_token_, "GET", verify_path);
  ASSERT_EQ(before.status, 200) << before.body;
  expect_schema(before, "/v1/lotteries/{id}/draws/{draw_no}/verification", "get");
  const json v0 = json::parse(before.body);
  EXPECT_EQ(v0["revealed"], false);
  EXPECT_EQ(v0["seed"], nullptr);
  EXPECT_EQ(v0["checks"]["ticket_matches"], nullptr);
  EXPECT_EQ(v0["message"], "tanpu-lottery-v1|" + std::to_string(id) + "|1|" +
                               std::to_string(alice_.id) + "|my lucky seed");
  auto not_bobs = send(bob_token_, "GET", verify_path);
  EXPECT_EQ(not_bobs.status, 404);
  EXPECT_EQ(code_of(not_bobs), "draw_not_found");
  expect_schema(not_bobs, "/v1/lotteries/{id}/draws/{draw_no}/verification", "get");
  auto operators = send(op_token_, "GET", verify_path);
  EXPECT_EQ(operators.status, 200);

  clock_.advance_us(2 * kHourUs);  // closes_at
  auto late = draw(alice_token_, id, "a3");
  EXPECT_EQ(late.status, 409);
  EXPECT_EQ(code_of(late), "lottery_closed");
  auto closed = send("", "GET", "/v1/lotteries/" + std::to_string(id));
  ASSERT_EQ(closed.status, 200);
  expect_schema(closed, "/v1/lotteries/{id}", "get");
  const json lottery = json::parse(closed.body);
  EXPECT_EQ(lottery["status"], "closed");
  EXPECT_EQ(lottery["draws_count"], 2);
  ASSERT_TRUE(lottery["seed"].is_string());

  auto after = send(alice_token_, "GET", verify_path);
  ASSERT_EQ(after.status, 200) << after.body;
  expect_schema(after, "/v1/lotteries/{id}/draws/{draw_no}/verification", "get");
  const json v = json::parse(after.body);
  EXPECT_EQ(v["revealed"], true);
  EXPECT_EQ(v["seed"], lottery["seed"]);
  EXPECT_EQ(
      v["checks"],
      (json{{"commitment_matches", true}, {"ticket_matches", true}, {"range_matches", true}}));
  // What a member does by hand (docs/lottery.md): SHA-256 of the seed is the commitment
  // published at creation, and the HMAC of the message gives the recorded ticket and range.
  auto seed = from_hex(lottery["seed"].get<std::string>());
  ASSERT_OK(seed);
  EXPECT_EQ(to_hex(sha256(*seed)), made["seed_commitment"].get<std::string>());
  const Sha256Digest mac = hmac_sha256(*seed, v["message"].get<std::string>());
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8; ++i) value = (value << 8U) | mac[i];
  const auto ticket = static_cast<std::int64_t>(value % 1'000'000U);
  EXPECT_EQ(ticket, d1["ticket"].get<std::int64_t>());
  json range = nullptr;
  for (const auto& r : v["ranges"]) {
    if (ticket >= r["from"].get<std::int64_t>() && ticket < r["to"].get<std::int64_t>()) {
      range = r["prize_no"];
    }
  }
  EXPECT_EQ(range, d1["range_prize_no"]);
}

TEST_P(LotteryRoutesTest, WithoutTheModuleTheRoutesAnswerUnavailable) {
  app_->lotteries = nullptr;
  auto r = send("", "GET", "/v1/lotteries");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(code_of(r), "lotteries_unavailable");
  expect_schema(r, "/v1/lotteries", "get");
  auto d = draw(alice_token_, 1, "k");
  EXPECT_EQ(d.status, 503);
}

TANPU_INSTANTIATE_ENGINES(LotteryRoutesTest);

}  // namespace
}  // namespace tanpu::test
