// The member routes, called through the Router with plain Request objects (no socket), on both
// engines. End-to-end tests over a real server live elsewhere.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "core/limits.h"
#include "core/time.h"
#include "http/app.h"
#include "http/metrics.h"
#include "ingest/consents.h"
#include "ingest/sources.h"
#include "members/members_fixture.h"
#include "support/test_catalog.h"

namespace tanpu::test {
namespace {

using nlohmann::json;

class MemberRoutesTest : public MembersFixture {
 protected:
  void SetUp() override {
    MembersFixture::SetUp();
    if (HasFatalFailure()) return;
    sources_ = std::make_unique<ingest::Sources>(db_->store(), keys_, clock_);
    consents_ = std::make_unique<ingest::Consents>(db_->store(), clock_);
    app_ = std::make_unique<http::App>(http::App{db_->store(), *ledger_, *members_, methodologies_,
                                                 *sources_, *consents_, metrics_, clock_});
    http::add_member_routes(router_, *app_);
  }

  http::Response call(std::string method, std::string path, std::string body = {},
                      std::string authorization = {}, std::map<std::string, std::string> query = {},
                      std::string remote_addr = {}) {
    http::Request request;
    request.remote_addr = std::move(remote_addr);
    request.method = std::move(method);
    request.path = std::move(path);
    request.body = std::move(body);
    request.query = std::move(query);
    if (!authorization.empty()) request.headers.emplace_back("authorization", authorization);
    const http::Route* route = router_.match(request, nullptr);
    EXPECT_NE(route, nullptr) << request.method << " " << request.path;
    if (route == nullptr) return http::Response{};
    return route->handler(request);
  }

  static std::string bearer(const std::string& token) { return "Bearer " + token; }

  static json body_of(const http::Response& r) { return json::parse(r.body); }

  static std::string header(const http::Response& r, std::string_view name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    return {};
  }

  static void expect_error(const http::Response& r, int status, std::string_view code,
                           std::string_view field = {}) {
    EXPECT_EQ(r.status, status) << r.body;
    const json b = json::parse(r.body);
    ASSERT_TRUE(b.contains("error")) << r.body;
    EXPECT_EQ(b["error"]["code"], code) << r.body;
    if (field.empty()) {
      EXPECT_FALSE(b["error"].contains("field")) << r.body;
    } else {
      EXPECT_EQ(b["error"]["field"], field) << r.body;
    }
  }

  // Registers a member through the route and logs in; returns (member id, token).
  std::pair<std::int64_t, std::string> member_with_session(const std::string& phone) {
    auto r =
        call("POST", "/v1/members",
             json{{"phone", phone}, {"password", "s3cret-pass"}, {"display_name", "Test"}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    auto s =
        call("POST", "/v1/sessions", json{{"login", phone}, {"password", "s3cret-pass"}}.dump());
    EXPECT_EQ(s.status, 201) << s.body;
    return {body_of(r)["id"].get<std::int64_t>(), body_of(s)["token"].get<std::string>()};
  }

  void submit(const ledger::Transfer& t) {
    auto statuses = ledger_->submit(std::span(&t, 1));
    ASSERT_OK(statuses);
    ASSERT_EQ(statuses->at(0), ledger::TransferStatus::ok);
  }

  static ledger::Transfer transfer(std::int64_t debit, std::int64_t credit, std::int64_t amount,
                                   std::uint32_t code, std::uint32_t flags = 0) {
    ledger::Transfer t;
    t.id = new_time_ordered_id();
    t.debit_account_id = debit;
    t.credit_account_id = credit;
    t.amount = amount;
    t.code = code;
    t.flags = flags;
    t.reference = "test:" + std::to_string(code);
    return t;
  }

  methodology::EvaluatorPool methodologies_{testing::repository_catalog()};
  http::Metrics metrics_;
  http::Router router_;
  std::unique_ptr<ingest::Sources> sources_;
  std::unique_ptr<ingest::Consents> consents_;
  std::unique_ptr<http::App> app_;
};

TEST_P(MemberRoutesTest, RegisterAnswers201WithTheMemberView) {
  auto r = call("POST", "/v1/members",
                R"({"phone":"13812345678","email":"Fay@Example.com","password":"s3cret-pass",)"
                R"("display_name":"Fay"})");
  ASSERT_EQ(r.status, 201) << r.body;
  const json b = body_of(r);
  const std::int64_t id = b["id"].get<std::int64_t>();
  auto view = members_->get(id);
  ASSERT_OK(view);
  EXPECT_EQ(b, (json{{"id", id},
                     {"display_name", "Fay"},
                     {"phone", "+86 138****5678"},
                     {"email", "f***@example.com"},
                     {"role", "member"},
                     {"points_account_id", view->points_account_id},
                     {"co2e_account_id", view->co2e_account_id},
                     {"created_at", format_iso8601(kStartUs)},
                     {"closed_at", nullptr}}));
  EXPECT_EQ(header(r, "Location"), "/v1/members/" + std::to_string(id));
}

TEST_P(MemberRoutesTest, RegisterRefusalsWriteNothing) {
  const std::int64_t before = count("members");
  expect_error(call("POST", "/v1/members",
                    R"({"phone":"13812345678","password":"s3cret-pass","display_name":"A",)"
                    R"("nickname":"x"})"),
               400, "unknown_field", "nickname");
  expect_error(call("POST", "/v1/members", R"({"phone":"13812345678","password":"s3cret-pass"})"),
               400, "missing_field", "display_name");
  expect_error(call("POST", "/v1/members",
                    R"({"phone":"1381234","password":"s3cret-pass",)"
                    R"("display_name":"A"})"),
               400, "invalid_phone", "phone");
  expect_error(
      call("POST", "/v1/members", R"({"email":"x@","password":"s3cret-pass","display_name":"A"})"),
      400, "invalid_email", "email");
  expect_error(call("POST", "/v1/members",
                    R"({"phone":"13812345678","password":"short","display_name":"A"})"),
               400, "password_too_short", "password");
  expect_error(call("POST", "/v1/members",
                    R"({"phone":"13812345678","password":12345678,"display_name":"A"})"),
               400, "wrong_type", "password");
  expect_error(call("POST", "/v1/members", R"({"password":"s3cret-pass","display_name":"A"})"), 400,
               "phone_or_email_required", "phone");
  expect_error(call("POST", "/v1/members", "{not json"), 400, "invalid_json");
  expect_error(call("POST", "/v1/members", ""), 400, "body_required");
  EXPECT_EQ(count("members"), before);
}

TEST_P(MemberRoutesTest, RegisterTwiceIs409) {
  member_with_session("13812345678");
  expect_error(call("POST", "/v1/members",
                    R"({"phone":"+86 13812345678","password":"s3cret-pass","display_name":"B"})"),
               409, "already_registered", "phone");
}

TEST_P(MemberRoutesTest, LoginAnswersATokenAndItsExpiry) {
  member_with_session("13812345678");
  auto r = call("POST", "/v1/sessions", R"({"login":"+8613812345678","password":"s3cret-pass"})");
  ASSERT_EQ(r.status, 201) << r.body;
  const json b = body_of(r);
  EXPECT_EQ(b.size(), 2u) << r.body;
  EXPECT_TRUE(b["token"].get<std::string>().starts_with("tps_"));
  EXPECT_EQ(b["expires_at"], format_iso8601(kStartUs + 30LL * 24 * 3600 * 1'000'000));
  EXPECT_EQ(header(r, "Cache-Control"), "no-store");
}

TEST_P(MemberRoutesTest, LoginRefusals) {
  member_with_session("13812345678");
  auto wrong = call("POST", "/v1/sessions", R"({"login":"13812345678","password":"nope-nope"})");
  expect_error(wrong, 401, "invalid_credentials");
  EXPECT_EQ(header(wrong, "WWW-Authenticate"), "Bearer");
  auto unknown =
      call("POST", "/v1/sessions", R"({"login":"13900000000","password":"s3cret-pass"})");
  expect_error(unknown, 401, "invalid_credentials");
  EXPECT_EQ(body_of(unknown), body_of(wrong));
  expect_error(call("POST", "/v1/sessions",
                    R"({"login":"13812345678","password":"s3cret-pass","remember":true})"),
               400, "unknown_field", "remember");
  expect_error(call("POST", "/v1/sessions", R"({"login":"13812345678"})"), 400, "missing_field",
               "password");
}

TEST_P(MemberRoutesTest, LoginsAreLimitedWith429AndRetryAfter) {
  member_with_session("13812345678");
  const auto attempt = [&](const std::string& password, const std::string& addr) {
    return call("POST", "/v1/sessions",
                json{{"login", "13812345678"}, {"password", password}}.dump(), {}, {}, addr);
  };
  // The default: 10 attempts per login in 15 minutes (the session above was one, and reset it).
  for (int i = 0; i < 10; ++i) {
    expect_error(attempt("nope-nope", "10.0.0.1:" + std::to_string(4000 + i)), 401,
                 "invalid_credentials");
  }
  const std::int64_t sessions = count("member_sessions");
  auto locked = attempt("s3cret-pass", "10.0.0.2:4000");
  expect_error(locked, 429, "too_many_attempts");
  EXPECT_EQ(header(locked, "Retry-After"), "900");
  EXPECT_EQ(count("member_sessions"), sessions);
  clock_.advance_us(900'000'000);
  EXPECT_EQ(attempt("s3cret-pass", "10.0.0.2:4000").status, 201);
}

TEST_P(MemberRoutesTest, AnAddressIsCountedWithoutItsPortAndIPv6ByItsPrefix) {
  member_with_session("13812345678");
  // 100 failures per address in 15 minutes (the default), over logins that are not locked alone.
  const auto fail_from = [&](const std::string& addr, int n) {
    const std::string login = "1390000" + std::to_string(1000 + n);
    expect_error(call("POST", "/v1/sessions",
                      json{{"login", login}, {"password", "nope-nope"}}.dump(), {}, {}, addr),
                 401, "invalid_credentials");
  };
  for (int i = 0; i < 100; ++i) fail_from("192.0.2.7:" + std::to_string(10000 + i), i);
  for (int i = 0; i < 100; ++i) fail_from("[2001:db8:1:2::" + std::to_string(i) + "]:443", i);
  const std::string good = json{{"login", "13812345678"}, {"password", "s3cret-pass"}}.dump();
  expect_error(call("POST", "/v1/sessions", good, {}, {}, "192.0.2.7:65000"), 429,
               "too_many_attempts");
  expect_error(call("POST", "/v1/sessions", good, {}, {}, "[2001:db8:1:2:ffff::1]:80"), 429,
               "too_many_attempts");
  EXPECT_EQ(call("POST", "/v1/sessions", good, {}, {}, "192.0.2.8:65000").status, 201);
  EXPECT_EQ(call("POST", "/v1/sessions", good, {}, {}, "[2001:db8:1:3::1]:80").status, 201);
}

TEST_P(MemberRoutesTest, ChangingThePassword) {
  const auto [id, token] = member_with_session("13812345678");
  auto other = call("POST", "/v1/sessions", R"({"login":"13812345678","password":"s3cret-pass"})");
  ASSERT_EQ(other.status, 201);
  const std::string other_token = body_of(other)["token"];
  const auto password_hash = [&] {
    auto lease = db_->store().acquire();
    return std::string((*lease)->query("SELECT password_hash FROM members")->text(0, 0));
  };
  const std::string hash_before = password_hash();
  // Refusals change nothing.
  expect_error(call("POST", "/v1/me/password",
                    R"({"current_password":"s3cret-pass","new_password":"n3w-password"})"),
               401, "missing_token");
  expect_error(
      call("POST", "/v1/me/password",
           R"({"current_password":"wrong-pass","new_password":"n3w-password"})", bearer(token)),
      403, "wrong_password", "current_password");
  expect_error(call("POST", "/v1/me/password",
                    R"({"current_password":"s3cret-pass","new_password":"n3w"})", bearer(token)),
               400, "password_too_short", "new_password");
  expect_error(call("POST", "/v1/me/password",
                    R"({"current_password":"s3cret-pass","new_password":"n3w-password","x":1})",
                    bearer(token)),
               400, "unknown_field", "x");
  expect_error(
      call("POST", "/v1/me/password", R"({"current_password":"s3cret-pass"})", bearer(token)), 400,
      "missing_field", "new_password");
  expect_error(call("POST", "/v1/me/password", R"({"current_password":1,"new_password":"x"})",
                    bearer(token)),
               400, "wrong_type", "current_password");
  EXPECT_EQ(password_hash(), hash_before);
  EXPECT_EQ(call("GET", "/v1/me", {}, bearer(other_token)).status, 200);
  // The change: 204, this session stays, the other ends, the new password logs in.
  auto changed =
      call("POST", "/v1/me/password",
           R"({"current_password":"s3cret-pass","new_password":"n3w-password"})", bearer(token));
  EXPECT_EQ(changed.status, 204) << changed.body;
  EXPECT_NE(password_hash(), hash_before);
  EXPECT_EQ(call("GET", "/v1/me", {}, bearer(token)).status, 200);
  expect_error(call("GET", "/v1/me", {}, bearer(other_token)), 401, "invalid_session");
  expect_error(call("POST", "/v1/sessions", R"({"login":"13812345678","password":"s3cret-pass"})"),
               401, "invalid_credentials");
  EXPECT_EQ(
      call("POST", "/v1/sessions", R"({"login":"13812345678","password":"n3w-password"})").status,
      201);
  (void)id;
}

TEST_P(MemberRoutesTest, ListingAndEndingSessions) {
  const auto [id, token] = member_with_session("13812345678");
  clock_.advance_us(1'000'000);
  auto second = call("POST", "/v1/sessions", R"({"login":"13812345678","password":"s3cret-pass"})");
  const std::string second_token = body_of(second)["token"];
  auto listed = call("GET", "/v1/me/sessions", {}, bearer(token));
  ASSERT_EQ(listed.status, 200) << listed.body;
  const json sessions = body_of(listed)["sessions"];
  ASSERT_EQ(sessions.size(), 2U);
  EXPECT_EQ(sessions[0].size(), 4U);
  EXPECT_EQ(sessions[0]["current"], false);  // newest first: the second login
  EXPECT_EQ(sessions[1]["current"], true);
  EXPECT_EQ(sessions[1]["created_at"], format_iso8601(kStartUs));
  EXPECT_EQ(sessions[0]["id"].get<std::string>().size(), 16U);
  expect_error(call("GET", "/v1/me/sessions"), 401, "missing_token");
  expect_error(call("DELETE", "/v1/me/sessions/00000000deadbeef", {}, bearer(token)), 404,
               "session_not_found", "id");
  EXPECT_EQ(call("GET", "/v1/me", {}, bearer(second_token)).status, 200);
  auto ended =
      call("DELETE", "/v1/me/sessions/" + sessions[0]["id"].get<std::string>(), {}, bearer(token));
  EXPECT_EQ(ended.status, 204) << ended.body;
  expect_error(call("GET", "/v1/me", {}, bearer(second_token)), 401, "invalid_session");
  // Ending every other session: a third login goes, this one stays.
  auto third = call("POST", "/v1/sessions", R"({"login":"13812345678","password":"s3cret-pass"})");
  const std::string third_token = body_of(third)["token"];
  auto others = call("DELETE", "/v1/me/sessions", {}, bearer(token));
  ASSERT_EQ(others.status, 200) << others.body;
  EXPECT_EQ(body_of(others), json({{"ended", 1}}));
  expect_error(call("GET", "/v1/me", {}, bearer(third_token)), 401, "invalid_session");
  EXPECT_EQ(call("GET", "/v1/me", {}, bearer(token)).status, 200);
  (void)id;
}

TEST_P(MemberRoutesTest, ClosingOnesAccount) {
  const auto [id, token] = member_with_session("13812345678");
  submit(transfer(ledger::kPlatformPointsAccount, members_->get(id)->points_account_id, 250,
                  ledger::codes::operator_adjustment));
  const auto operator_id =
      members_
          ->register_member({std::nullopt, "op@example.com", "s3cret-pass", "Operator"},
                            members::Role::operator_)
          ->id;
  auto op = call("POST", "/v1/sessions", R"({"login":"op@example.com","password":"s3cret-pass"})");
  const std::string op_token = body_of(op)["token"];
  // Refusals change nothing.
  expect_error(call("POST", "/v1/me/closure", R"({"password":"s3cret-pass"})"), 401,
               "missing_token");
  expect_error(call("POST", "/v1/me/closure", R"({"password":"wrong-pass"})", bearer(token)), 403,
               "wrong_password", "password");
  expect_error(call("POST", "/v1/me/closure", R"({})", bearer(token)), 400, "missing_field",
               "password");
  expect_error(
      call("POST", "/v1/me/closure", R"({"password":"s3cret-pass","why":"x"})", bearer(token)), 400,
      "unknown_field", "why");
  expect_error(call("POST", "/v1/me/closure", R"({"password":"s3cret-pass"})", bearer(op_token)),
               403, "operator_cannot_close");
  EXPECT_EQ(call("GET", "/v1/me", {}, bearer(token)).status, 200);
  // Closed: a receipt, the session ends, the operator sees an erased member.
  auto closed = call("POST", "/v1/me/closure", R"({"password":"s3cret-pass"})", bearer(token));
  ASSERT_EQ(closed.status, 200) << closed.body;
  EXPECT_EQ(body_of(closed), (json{{"member_id", id},
                                   {"closed_at", format_iso8601(kStartUs)},
                                   {"points_forfeited", 250}}));
  expect_error(call("GET", "/v1/me", {}, bearer(token)), 401, "invalid_session");
  expect_error(call("POST", "/v1/sessions", R"({"login":"13812345678","password":"s3cret-pass"})"),
               401, "invalid_credentials");
  auto seen = call("GET", "/v1/members/" + std::to_string(id), {}, bearer(op_token));
  ASSERT_EQ(seen.status, 200) << seen.body;
  const json view = body_of(seen);
  EXPECT_EQ(view["display_name"], "closed account");
  EXPECT_EQ(view["phone"], nullptr);
  EXPECT_EQ(view["closed_at"], format_iso8601(kStartUs));
  (void)operator_id;
}

TEST_P(MemberRoutesTest, MeNeedsAValidToken) {
  auto missing = call("GET", "/v1/me");
  expect_error(missing, 401, "missing_token");
  EXPECT_EQ(header(missing, "WWW-Authenticate"), "Bearer");
  expect_error(call("GET", "/v1/me", {}, "Basic dXNlcjpwYXNz"), 401, "missing_token");
  expect_error(call("GET", "/v1/me", {}, "Bearer"), 401, "missing_token");
  expect_error(call("GET", "/v1/me", {}, "Bearer not-a-token"), 401, "invalid_session");
  expect_error(call("GET", "/v1/me", {}, bearer("tps_" + std::string(43, 'x'))), 401,
               "invalid_session");
}

TEST_P(MemberRoutesTest, MeHasTheExactShape) {
  const auto [id, token] = member_with_session("13812345678");
  auto view = members_->get(id);
  ASSERT_OK(view);
  submit(transfer(ledger::kPlatformPointsAccount, view->points_account_id, 1500, 1));
  submit(transfer(ledger::kPlatformCo2eAccount, view->co2e_account_id, 1'234'567, 1));
  submit(transfer(view->points_account_id, ledger::kPlatformPointsAccount, 200, 5,
                  ledger::transfer_flags::pending));
  auto r = call("GET", "/v1/me", {}, "bearer " + token);  // the scheme is case-insensitive
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_of(r), (json{{"id", id},
                              {"display_name", "Test"},
                              {"phone", "+86 138****5678"},
                              {"email", nullptr},
                              {"role", "member"},
                              {"points",
                               {{"account_id", view->points_account_id},
                                {"balance_points", 1500},
                                {"available_points", 1300},
                                {"pending_points", 200}}},
                              {"reductions",
                               {{"account_id", view->co2e_account_id},
                                {"reduction_mg", 1'234'567},
                                {"display", "1.234567 kg"},
                                {"reduction_g", "1234.567"},
                                {"reduction_kg", "1.234567"},
                                {"reduction_t", "0.001234567"}}}}))
      << r.body;
}

TEST_P(MemberRoutesTest, LogoutIs204AndTheTokenStopsWorking) {
  const auto [id, token] = member_with_session("13812345678");
  EXPECT_EQ(call("GET", "/v1/me", {}, bearer(token)).status, 200);
  auto out = call("DELETE", "/v1/sessions/current", {}, bearer(token));
  EXPECT_EQ(out.status, 204);
  EXPECT_TRUE(out.body.empty());
  expect_error(call("GET", "/v1/me", {}, bearer(token)), 401, "invalid_session");
  expect_error(call("DELETE", "/v1/sessions/current", {}, bearer(token)), 401, "invalid_session");
  expect_error(call("DELETE", "/v1/sessions/current"), 401, "missing_token");
}

TEST_P(MemberRoutesTest, MyTransfersPageThroughBothAccounts) {
  const auto [id, token] = member_with_session("13812345678");
  auto view = members_->get(id);
  ASSERT_OK(view);
  const auto points_in = transfer(ledger::kPlatformPointsAccount, view->points_account_id, 300, 1);
  const auto co2e_in = transfer(ledger::kPlatformCo2eAccount, view->co2e_account_id, 4200, 2);
  const auto hold = transfer(view->points_account_id, ledger::kPlatformPointsAccount, 100, 3,
                             ledger::transfer_flags::pending);
  for (const auto& t : {points_in, co2e_in, hold}) {
    clock_.advance_us(1'000'000);
    submit(t);
  }
  auto first = call("GET", "/v1/me/transfers", {}, bearer(token), {{"limit", "2"}});
  ASSERT_EQ(first.status, 200) << first.body;
  const json page1 = body_of(first);
  ASSERT_EQ(page1["transfers"].size(), 2u) << first.body;
  ASSERT_TRUE(page1["next_cursor"].is_string()) << first.body;
  const json& newest = page1["transfers"][0];
  EXPECT_EQ(newest, (json{{"id", hold.id.to_hex()},
                          {"direction", "out"},
                          {"account_id", view->points_account_id},
                          {"currency", "points"},
                          {"amount", 100},
                          {"amount_points", 100},
                          {"code", 3},
                          {"reference", "test:3"},
                          {"flags", {"pending"}},
                          {"timestamp", format_iso8601(kStartUs + 3'000'000)}}));
  EXPECT_EQ(page1["transfers"][1]["id"], co2e_in.id.to_hex());
  EXPECT_EQ(page1["transfers"][1]["direction"], "in");
  EXPECT_EQ(page1["transfers"][1]["currency"], "co2e_mg");
  EXPECT_EQ(page1["transfers"][1]["amount_mg"], 4200);
  EXPECT_FALSE(page1["transfers"][1].contains("amount_points"));
  EXPECT_EQ(page1["transfers"][1]["flags"], json::array());
  auto second = call("GET", "/v1/me/transfers", {}, bearer(token),
                     {{"limit", "2"}, {"cursor", page1["next_cursor"].get<std::string>()}});
  ASSERT_EQ(second.status, 200) << second.body;
  const json page2 = body_of(second);
  ASSERT_EQ(page2["transfers"].size(), 1u);
  EXPECT_EQ(page2["transfers"][0]["id"], points_in.id.to_hex());
  EXPECT_TRUE(page2["next_cursor"].is_null());
}

TEST_P(MemberRoutesTest, MyTransfersSeesOnlyMine) {
  const auto [me, token] = member_with_session("13812345678");
  const auto [other, other_token] = member_with_session("13812345679");
  auto other_view = members_->get(other);
  ASSERT_OK(other_view);
  submit(transfer(ledger::kPlatformPointsAccount, other_view->points_account_id, 5, 1));
  auto r = call("GET", "/v1/me/transfers", {}, bearer(token));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_of(r), (json{{"transfers", json::array()}, {"next_cursor", nullptr}}));
}

TEST_P(MemberRoutesTest, MyTransfersRefusesBadPaging) {
  const auto [id, token] = member_with_session("13812345678");
  const std::string over = std::to_string(limits::page_size_max + 1);
  expect_error(call("GET", "/v1/me/transfers", {}, bearer(token), {{"limit", over}}), 400,
               "limit_out_of_range", "limit");
  expect_error(call("GET", "/v1/me/transfers", {}, bearer(token), {{"limit", "0"}}), 400,
               "limit_out_of_range", "limit");
  expect_error(
      call("GET", "/v1/me/transfers", {}, bearer(token), {{"limit", "99999999999999999999999"}}),
      400, "limit_out_of_range", "limit");
  expect_error(call("GET", "/v1/me/transfers", {}, bearer(token), {{"limit", "ten"}}), 400,
               "invalid_limit", "limit");
  expect_error(call("GET", "/v1/me/transfers", {}, bearer(token), {{"limit", "-1"}}), 400,
               "invalid_limit", "limit");
  expect_error(call("GET", "/v1/me/transfers", {}, bearer(token), {{"cursor", "garbage!"}}), 400,
               "invalid_cursor", "cursor");
  EXPECT_EQ(call("GET", "/v1/me/transfers", {}, bearer(token),
                 {{"limit", std::to_string(limits::page_size_max)}})
                .status,
            200);
  expect_error(call("GET", "/v1/me/transfers"), 401, "missing_token");
}

TEST_P(MemberRoutesTest, MemberByIdIsSelfOrOperatorOnly) {
  const auto [me, token] = member_with_session("13812345678");
  const auto [other, other_token] = member_with_session("13812345679");
  auto self = call("GET", "/v1/members/" + std::to_string(me), {}, bearer(token));
  ASSERT_EQ(self.status, 200) << self.body;
  EXPECT_EQ(body_of(self)["id"], me);
  EXPECT_EQ(body_of(self)["phone"], "+86 138****5678");
  auto others = call("GET", "/v1/members/" + std::to_string(other), {}, bearer(token));
  expect_error(others, 404, "not_found");
  auto nobody = call("GET", "/v1/members/999999", {}, bearer(token));
  expect_error(nobody, 404, "not_found");
  EXPECT_EQ(others.body, nobody.body) << "another member must look like no member";
  expect_error(call("GET", "/v1/members/abc", {}, bearer(token)), 404, "not_found");
  expect_error(call("GET", "/v1/members/" + std::to_string(other)), 401, "missing_token");

  ASSERT_OK(members_->register_member({std::nullopt, "op@example.com", "op-pass-123", "Op"},
                                      members::Role::operator_));
  auto op = members_->login("op@example.com", "op-pass-123");
  ASSERT_OK(op);
  auto seen = call("GET", "/v1/members/" + std::to_string(other), {}, bearer(op->token));
  ASSERT_EQ(seen.status, 200) << seen.body;
  EXPECT_EQ(body_of(seen)["id"], other);
  EXPECT_EQ(body_of(seen)["phone"], "+86 138****5679");
  expect_error(call("GET", "/v1/members/999999", {}, bearer(op->token)), 404, "not_found");
}

TANPU_INSTANTIATE_ENGINES(MemberRoutesTest);

}  // namespace
}  // namespace tanpu::test
