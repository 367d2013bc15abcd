// End to end: a real server on a real database (each engine), driven over a socket. Every bad
// input of the foundation issue gets its answer checked, and that nothing was written.
#include <string>

#include "http/app.h"
#include "http/client.h"
#include "http/metrics.h"
#include "http/router.h"
#include "http/server.h"
#include "ingest/consents.h"
#include "ingest/sources.h"
#include "members/members_fixture.h"
#include "support/test_catalog.h"

namespace tanpu::test {
namespace {

using nlohmann::json;

constexpr std::size_t kBodyLimit = 64 * 1024;

class EndToEnd : public MembersFixture {
 protected:
  void SetUp() override {
    MembersFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    sources_ = std::make_unique<ingest::Sources>(db_->store(), keys_, clock_);
    consents_ = std::make_unique<ingest::Consents>(db_->store(), clock_);
    app_ = std::make_unique<http::App>(http::App{db_->store(), *ledger_, *members_, methodologies_,
                                                 *sources_, *consents_, metrics_, clock_});
    http::add_all_routes(router_, *app_);
    http::ServerOptions o;
    o.port = 0;
    o.worker_threads = 8;
    o.body_bytes_max = kBodyLimit;
    server_ = std::make_unique<http::Server>(o, router_, metrics_);
    ASSERT_OK(server_->start());
    client_ = std::make_unique<http::Client>(http::ClientOptions{"127.0.0.1", server_->port()});
    op_ = must_register(std::nullopt, "op@example.com", members::Role::operator_);
    a_ = must_register("13800138000", std::nullopt);
    b_ = must_register(std::nullopt, "b@example.com");
    op_token_ = login("op@example.com");
    a_token_ = login("13800138000");
    b_token_ = login("b@example.com");
  }
  void TearDown() override {
    client_.reset();
    if (server_) server_->stop();
    server_.reset();
    MembersFixture::TearDown();
  }

  std::string login(const std::string& who) {
    auto r = call("POST", "/v1/sessions", json{{"login", who}, {"password", "s3cret-pass"}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body).value("token", "");
  }

  http::ClientResponse call(const std::string& method, const std::string& target,
                            const std::string& body = {}, const std::string& token = {}) {
    http::Headers h = {{"Content-Type", "application/json"}};
    if (!token.empty()) h.emplace_back("Authorization", "Bearer " + token);
    auto r = client_->request(method, target, body, h);
    EXPECT_TRUE(r.has_value());
    return r.value_or(http::ClientResponse{});
  }

  // Posts one transfer as the operator.
  http::ClientResponse post_transfer(const json& t, const std::string& token = {}) {
    return call("POST", "/v1/transfers", json{{"transfers", json::array({t})}}.dump(),
                token.empty() ? op_token_ : token);
  }

  json credit(std::int64_t to, std::int64_t amount) {
    return {{"id", new_time_ordered_id().to_hex()},
            {"debit_account_id", 1},
            {"credit_account_id", to},
            {"amount", amount},
            {"code", 100},
            {"reference", "test"}};
  }

  std::int64_t written() { return count("ledger_transfers") * 1000 + count("ledger_batches"); }

  // The answer has this status and error code (and field, if given), and nothing was written.
  void expect_refused(const http::ClientResponse& r, int status, const std::string& code,
                      std::int64_t before, const std::string& field = "") {
    EXPECT_EQ(r.status, status) << r.body;
    auto body = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(body.is_object() && body.contains("error")) << r.body;
    EXPECT_EQ(body["error"].value("code", ""), code) << r.body;
    EXPECT_FALSE(body["error"].value("message", "").empty());
    if (!field.empty()) {
      EXPECT_EQ(body["error"].value("field", ""), field) << r.body;
    }
    EXPECT_EQ(written(), before) << "a refused request wrote to the ledger";
  }

  methodology::EvaluatorPool methodologies_{testing::repository_catalog()};
  http::Metrics metrics_;
  http::Router router_;
  std::unique_ptr<ingest::Sources> sources_;
  std::unique_ptr<ingest::Consents> consents_;
  std::unique_ptr<http::App> app_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<http::Client> client_;
  members::MemberView op_, a_, b_;
  std::string op_token_, a_token_, b_token_;
};

TEST_P(EndToEnd, HealthAndOpenApiAreServed) {
  EXPECT_EQ(call("GET", "/healthz").status, 200);
  auto doc = call("GET", "/v1/openapi.json");
  EXPECT_EQ(doc.status, 200);
  EXPECT_TRUE(json::parse(doc.body).contains("paths"));
}

TEST_P(EndToEnd, OperatorCreditsAndMemberSeesBalanceAndHistory) {
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(post_transfer(credit(a_.points_account_id, 100 * i)).status, 201);
  }
  json co2 = credit(a_.co2e_account_id, 1'234'567);
  co2["debit_account_id"] = 2;
  EXPECT_EQ(post_transfer(co2).status, 201);
  auto me = json::parse(call("GET", "/v1/me", "", a_token_).body);
  EXPECT_EQ(me["points"]["balance_points"], 600);
  EXPECT_EQ(me["reductions"]["reduction_mg"], 1'234'567);
  EXPECT_EQ(me["reductions"]["reduction_kg"], "1.234567");
  auto page1 = json::parse(call("GET", "/v1/me/transfers?limit=3", "", a_token_).body);
  ASSERT_EQ(page1["transfers"].size(), 3u);
  ASSERT_TRUE(page1["next_cursor"].is_string());
  auto page2 = json::parse(
      call("GET", "/v1/me/transfers?limit=3&cursor=" + page1["next_cursor"].get<std::string>(), "",
           a_token_)
          .body);
  EXPECT_EQ(page2["transfers"].size(), 1u);
  // B sees none of it.
  auto b_me = json::parse(call("GET", "/v1/me", "", b_token_).body);
  EXPECT_EQ(b_me["points"]["balance_points"], 0);
}

TEST_P(EndToEnd, MalformedBodiesChangeNothing) {
  const auto before = written();
  expect_refused(call("POST", "/v1/transfers", "{\"transfers\": [", op_token_), 400, "invalid_json",
                 before);
  expect_refused(call("POST", "/v1/transfers", "[1,2]", op_token_), 400, "wrong_type", before);
  json t = credit(a_.points_account_id, 5);
  t["amount"] = "5";
  expect_refused(post_transfer(t), 400, "wrong_type", before, "transfers[0].amount");
  t = credit(a_.points_account_id, 5);
  t["colour"] = "green";
  expect_refused(post_transfer(t), 400, "unknown_field", before, "transfers[0].colour");
  t = credit(a_.points_account_id, 5);
  t.erase("code");
  expect_refused(post_transfer(t), 400, "missing_field", before, "transfers[0].code");
  expect_refused(call("POST", "/v1/transfers", "{}", op_token_), 400, "missing_field", before,
                 "transfers");
  std::string deep(100, '[');
  expect_refused(call("POST", "/v1/transfers", deep + std::string(100, ']'), op_token_), 400,
                 "json_too_deep", before);
}

TEST_P(EndToEnd, BadAmountsChangeNothing) {
  const auto before = written();
  expect_refused(post_transfer(credit(a_.points_account_id, 0)), 400, "amount_must_be_positive",
                 before, "transfers[0].amount");
  expect_refused(post_transfer(credit(a_.points_account_id, -7)), 400, "amount_must_be_positive",
                 before, "transfers[0].amount");
  const std::string id = new_time_ordered_id().to_hex();
  const std::string past_int64 = R"({"transfers":[{"id":")" + id +
                                 R"(","debit_account_id":1,"credit_account_id":3,)"
                                 R"("amount":9223372036854775808,"code":100}]})";
  expect_refused(call("POST", "/v1/transfers", past_int64, op_token_), 400, "out_of_range", before,
                 "transfers[0].amount");
}

TEST_P(EndToEnd, LedgerRefusalsChangeNothing) {
  ASSERT_EQ(post_transfer(credit(a_.points_account_id, 50)).status, 201);
  const auto before = written();
  expect_refused(post_transfer(credit(987654, 5)), 422, "credit_account_not_found", before);
  expect_refused(post_transfer(credit(a_.co2e_account_id, 5)), 422, "currency_mismatch", before);
  json over = credit(b_.points_account_id, 51);
  over["debit_account_id"] = a_.points_account_id;
  expect_refused(post_transfer(over), 422, "exceeds_credits", before);
  EXPECT_EQ(ledger_->lookup_account(a_.points_account_id)->balance(), 50);
}

TEST_P(EndToEnd, SameIdWithOtherContentIs409AndReplayIsHarmless) {
  json t = credit(a_.points_account_id, 10);
  ASSERT_EQ(post_transfer(t).status, 201);
  const auto before = written();
  auto replay = post_transfer(t);
  EXPECT_EQ(replay.status, 200) << replay.body;
  EXPECT_EQ(json::parse(replay.body)["results"][0]["status"], "exists");
  t["amount"] = 11;
  expect_refused(post_transfer(t), 409, "conflict", before, "transfers[0].id");
  EXPECT_EQ(ledger_->lookup_account(a_.points_account_id)->balance(), 10);
}

TEST_P(EndToEnd, OversizeBodyIs413) {
  const auto before = written();
  std::string big = R"({"transfers":[],"pad":")" + std::string(kBodyLimit + 10, 'x') + "\"}";
  expect_refused(call("POST", "/v1/transfers", big, op_token_), 413, "body_too_large", before);
}

TEST_P(EndToEnd, SessionsAndRoles) {
  const auto before = written();
  expect_refused(post_transfer(credit(a_.points_account_id, 5), "-"), 401, "invalid_session",
                 before);
  expect_refused(call("POST", "/v1/transfers",
                      json{{"transfers", json::array({credit(a_.points_account_id, 5)})}}.dump()),
                 401, "missing_token", before);
  expect_refused(post_transfer(credit(a_.points_account_id, 5), a_token_), 403, "operator_only",
                 before);
  EXPECT_EQ(call("GET", "/v1/me", "", a_token_).status, 200);
  clock_.advance_us(31LL * 24 * 3600 * 1'000'000);  // past the 30-day session lifetime
  expect_refused(call("GET", "/v1/me", "", a_token_), 401, "invalid_session", before);
}

TEST_P(EndToEnd, AnotherMembersDataIsNotFound) {
  auto to_b = credit(b_.points_account_id, 9);
  ASSERT_EQ(post_transfer(to_b).status, 201);
  const auto before = written();
  expect_refused(call("GET", "/v1/accounts/" + std::to_string(b_.points_account_id), "", a_token_),
                 404, "account_not_found", before);
  expect_refused(call("GET", "/v1/transfers/" + to_b["id"].get<std::string>(), "", a_token_), 404,
                 "transfer_not_found", before);
  EXPECT_EQ(call("GET", "/v1/members/" + std::to_string(b_.id), "", a_token_).status, 404);
  // Their own is visible.
  EXPECT_EQ(
      call("GET", "/v1/accounts/" + std::to_string(b_.points_account_id), "", b_token_).status,
      200);
  EXPECT_EQ(call("GET", "/v1/transfers/" + to_b["id"].get<std::string>(), "", b_token_).status,
            200);
}

TANPU_INSTANTIATE_ENGINES(EndToEnd);

}  // namespace
}  // namespace tanpu::test
