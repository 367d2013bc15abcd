// The charity project and donation routes (src/http/routes_donations.cpp), through the Router of
// the real App with plain Request objects, on every engine; answers are held to docs/openapi.json.
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
#include "market/donations.h"
#include "members/members_fixture.h"
#include "support/openapi_conform.h"
#include "support/test_catalog.h"

namespace tanpu::test {
namespace {

using nlohmann::json;
using tanpu::testing::conform;
using Headers = std::vector<std::pair<std::string, std::string>>;

class DonationRoutesTest : public AppRoutesFixture<MembersFixture> {
 protected:
  void SetUp() override {
    MembersFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    {
      auto lease = db_->store().acquire();
      ASSERT_OK(lease);
      std::vector<store::Migration> all(ledger::migrations().begin(), ledger::migrations().end());
      all.insert(all.end(), members::migrations().begin(), members::migrations().end());
      all.insert(all.end(), market::donation_migrations().begin(),
                 market::donation_migrations().end());
      ASSERT_OK(store::migrate(**lease, all));
    }
    donations_ = std::make_unique<market::Donations>(db_->store(), *ledger_, *members_, clock_);
    start_app([this](http::App& a) { a.donations = donations_.get(); });
  }
  void TearDown() override {
    stop_app();
    donations_.reset();
    MembersFixture::TearDown();
  }

  static std::string code_of(const http::Response& r) { return error_code(r); }

  static std::string outcome(const http::Response& r) {
    return std::to_string(r.status) + " " + code_of(r);
  }

  // The answer conforms to the document's schema of the operation's status.
  void expect_schema(const http::Response& r, const std::string& path, const std::string& method) {
    const json& op = doc_["paths"][path][method];
    const std::string status = std::to_string(r.status);
    const std::string key = op["responses"].contains(status) ? status : "default";
    ASSERT_TRUE(op["responses"].contains(key)) << path << " " << status << " " << r.body;
    const json& schema = op["responses"][key]["content"]["application/json"]["schema"];
    EXPECT_EQ(conform(doc_, schema, json::parse(r.body), "$"), "") << r.body;
  }

  void give(const members::MemberView& m, std::int64_t points) { fund(m, points); }

  static json project_body(std::int64_t target = 1'000) {
    return json{{"title", "Clean water for Liangshan schools"},
                {"description", "Water filters for 40 village schools."},
                {"beneficiary", "Liangshan Education Foundation"},
                {"target_points", target},
                {"min_points", 5},
                {"max_points", 500}};
  }

  json create(const json& body = project_body()) {
    auto r = send(op_token_, "POST", "/v1/charity-projects", body.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body);
  }

  http::Response donate(const std::string& token, std::int64_t project, const json& body,
                        const std::string& key) {
    Headers h;
    if (!key.empty()) h.emplace_back("idempotency-key", key);
    return send(token, "POST", "/v1/charity-projects/" + std::to_string(project) + "/donations",
                body.dump(), std::move(h));
  }

  std::unique_ptr<market::Donations> donations_;
};

TEST_P(DonationRoutesTest, OnlyOperatorsCreateAndCloseProjects) {
  const std::string body = project_body().dump();
  auto anonymous = send("", "POST", "/v1/charity-projects", body);
  EXPECT_EQ(outcome(anonymous), "401 missing_token");
  expect_schema(anonymous, "/v1/charity-projects", "post");
  auto member = send(alice_token_, "POST", "/v1/charity-projects", body);
  EXPECT_EQ(outcome(member), "403 operator_only");
  expect_schema(member, "/v1/charity-projects", "post");
  EXPECT_EQ(count("charity_projects"), 0);

  const auto refused = [&](json change, const std::string& expected) {
    json b = project_body();
    b.update(change);
    auto r = send(op_token_, "POST", "/v1/charity-projects", b.dump());
    EXPECT_EQ(outcome(r), expected) << change.dump();
    expect_schema(r, "/v1/charity-projects", "post");
  };
  refused({{"title", ""}}, "400 title_required");
  refused({{"title", std::string(121, 't')}}, "400 title_too_long");
  refused({{"target_points", 0}}, "400 target_points_out_of_range");
  refused({{"target_points", -1}}, "400 target_points_out_of_range");
  refused({{"starts_at", "2026-12-01T00:00:00+08:00"}, {"ends_at", "2026-11-30T00:00:00+08:00"}},
          "400 window_ends_before_start");
  refused({{"starts_at", "tomorrow"}}, "400 invalid_time");
  refused({{"min_points", 600}}, "400 min_points_out_of_range");
  refused({{"colour", "green"}}, "400 unknown_field");
  EXPECT_EQ(count("charity_projects"), 0);

  auto created = send(op_token_, "POST", "/v1/charity-projects", body, {{"idempotency-key", "p1"}});
  ASSERT_EQ(created.status, 201) << created.body;
  expect_schema(created, "/v1/charity-projects", "post");
  const json p = json::parse(created.body);
  EXPECT_EQ(p["status"], "open");
  EXPECT_EQ(p["starts_at"], nullptr);
  EXPECT_EQ(p["progress"]["raised_points"], 0);
  EXPECT_EQ(p["progress"]["target_points"], 1'000);
  auto replay = send(op_token_, "POST", "/v1/charity-projects", body, {{"idempotency-key", "p1"}});
  EXPECT_EQ(replay.status, 200);
  EXPECT_EQ(json::parse(replay.body)["id"], p["id"]);
  auto clash = send(op_token_, "POST", "/v1/charity-projects", project_body(5).dump(),
                    {{"idempotency-key", "p1"}});
  EXPECT_EQ(outcome(clash), "409 idempotency_conflict");
  expect_schema(clash, "/v1/charity-projects", "post");
  EXPECT_EQ(count("charity_projects"), 1);

  // Anyone reads projects, without a session.
  auto list = send("", "GET", "/v1/charity-projects?limit=10");
  ASSERT_EQ(list.status, 200) << list.body;
  expect_schema(list, "/v1/charity-projects", "get");
  EXPECT_EQ(json::parse(list.body)["projects"].size(), 1u);
  const std::string one = "/v1/charity-projects/" + std::to_string(p["id"].get<std::int64_t>());
  auto got = send("", "GET", one);
  ASSERT_EQ(got.status, 200);
  expect_schema(got, "/v1/charity-projects/{id}", "get");
  EXPECT_EQ(json::parse(got.body)["title"], "Clean water for Liangshan schools");
  auto missing = send("", "GET", "/v1/charity-projects/999");
  EXPECT_EQ(outcome(missing), "404 project_not_found");
  expect_schema(missing, "/v1/charity-projects/{id}", "get");
  EXPECT_EQ(outcome(send("", "GET", "/v1/charity-projects/abc")), "404 project_not_found");
  EXPECT_EQ(outcome(send("", "GET", "/v1/charity-projects?cursor=zz")), "400 invalid_cursor");

  auto close_member = send(alice_token_, "POST", one + "/close");
  EXPECT_EQ(outcome(close_member), "403 operator_only");
  expect_schema(close_member, "/v1/charity-projects/{id}/close", "post");
  auto closed = send(op_token_, "POST", one + "/close");
  ASSERT_EQ(closed.status, 200) << closed.body;
  expect_schema(closed, "/v1/charity-projects/{id}/close", "post");
  EXPECT_EQ(json::parse(closed.body)["status"], "closed");
  EXPECT_NE(json::parse(closed.body)["closed_at"], nullptr);
  EXPECT_EQ(outcome(send(op_token_, "POST", "/v1/charity-projects/999/close")),
            "404 project_not_found");
}

TEST_P(DonationRoutesTest, AMemberDonatesAndAnyoneChecksTheCertificate) {
  const json p = create();
  const std::int64_t id = p["id"].get<std::int64_t>();
  const std::int64_t project_account = p["account_id"].get<std::int64_t>();
  const std::string donations_path = "/v1/charity-projects/{id}/donations";
  give(alice_, 300);

  EXPECT_EQ(outcome(donate("", id, {{"points", 10}}, "k")), "401 missing_token");
  auto no_key = donate(alice_token_, id, {{"points", 10}}, "");
  EXPECT_EQ(outcome(no_key), "400 idempotency_key_required");
  expect_schema(no_key, donations_path, "post");

  auto first = donate(alice_token_, id, {{"points", 120}}, "gift-1");
  ASSERT_EQ(first.status, 201) << first.body;
  expect_schema(first, donations_path, "post");
  const json d = json::parse(first.body);
  EXPECT_EQ(d["points"], 120);
  EXPECT_EQ(d["anonymous"], false);
  EXPECT_EQ(d["project_id"], id);
  const std::string serial = d["serial"].get<std::string>();
  EXPECT_EQ(serial.substr(0, 9), "TPD-2026-");
  EXPECT_EQ(d["verify_path"], "/v1/donation-certificates/" + serial);
  EXPECT_EQ(balance(alice_.points_account_id), 180);
  EXPECT_EQ(balance(project_account), 120);

  auto again = donate(alice_token_, id, {{"points", 120}}, "gift-1");
  EXPECT_EQ(again.status, 200);
  expect_schema(again, donations_path, "post");
  EXPECT_EQ(json::parse(again.body)["id"], d["id"]);
  EXPECT_EQ(balance(alice_.points_account_id), 180);

  // Refusals answer their code and move nothing.
  const auto refused = [&](const std::string& token, std::int64_t project, const json& body,
                           const std::string& key, const std::string& expected) {
    auto r = donate(token, project, body, key);
    EXPECT_EQ(outcome(r), expected) << body.dump();
    expect_schema(r, donations_path, "post");
    EXPECT_EQ(balance(alice_.points_account_id), 180) << expected;
    EXPECT_EQ(balance(project_account), 120) << expected;
    EXPECT_EQ(count("charity_donations"), 1) << expected;
  };
  refused(alice_token_, id, {{"points", 121}}, "gift-1", "409 idempotency_conflict");
  refused(alice_token_, id, {{"points", 0}}, "z", "400 amount_must_be_positive");
  refused(alice_token_, id, {{"points", 4}}, "z", "400 amount_below_minimum");
  refused(alice_token_, id, {{"points", 501}}, "z", "400 amount_above_maximum");
  refused(alice_token_, id, {{"points", 200}}, "z", "409 insufficient_points");
  refused(alice_token_, id + 50, {{"points", 10}}, "z", "404 project_not_found");
  refused(alice_token_, id, {{"points", "ten"}}, "z", "400 wrong_type");
  refused(alice_token_, id, {{"points", 10}, {"note", "hi"}}, "z", "400 unknown_field");
  refused(bob_token_, id, {{"points", 10}}, "z", "409 insufficient_points");

  auto hidden = donate(alice_token_, id, {{"points", 30}, {"anonymous", true}}, "gift-2");
  ASSERT_EQ(hidden.status, 201) << hidden.body;
  const json h = json::parse(hidden.body);

  // Progress, from the ledger.
  auto read = send("", "GET", "/v1/charity-projects/" + std::to_string(id));
  ASSERT_EQ(read.status, 200);
  const json progress = json::parse(read.body)["progress"];
  EXPECT_EQ(progress["raised_points"], 150);
  EXPECT_EQ(progress["percent_bp"], 1'500);
  EXPECT_EQ(progress["donors"], 1);
  EXPECT_EQ(progress["donations"], 2);

  // The member's donations and certificates.
  auto mine = send(alice_token_, "GET", "/v1/me/donations?limit=1");
  ASSERT_EQ(mine.status, 200) << mine.body;
  expect_schema(mine, "/v1/me/donations", "get");
  const json page = json::parse(mine.body);
  ASSERT_EQ(page["donations"].size(), 1u);
  EXPECT_EQ(page["donations"][0]["id"], h["id"]);
  ASSERT_TRUE(page["next_cursor"].is_string());
  auto rest = send(alice_token_, "GET",
                   "/v1/me/donations?limit=1&cursor=" + page["next_cursor"].get<std::string>());
  ASSERT_EQ(rest.status, 200);
  EXPECT_EQ(json::parse(rest.body)["donations"][0]["id"], d["id"]);
  EXPECT_EQ(json::parse(rest.body)["next_cursor"], nullptr);
  EXPECT_EQ(json::parse(send(bob_token_, "GET", "/v1/me/donations").body)["donations"].size(), 0u);
  EXPECT_EQ(outcome(send("", "GET", "/v1/me/donations")), "401 missing_token");

  const std::string cert_path = "/v1/me/donations/{id}/certificate";
  const std::string cert =
      "/v1/me/donations/" + std::to_string(d["id"].get<std::int64_t>()) + "/certificate";
  auto certificate = send(alice_token_, "GET", cert);
  ASSERT_EQ(certificate.status, 200) << certificate.body;
  expect_schema(certificate, cert_path, "get");
  const json c = json::parse(certificate.body);
  EXPECT_EQ(c["serial"], serial);
  EXPECT_EQ(c["donor_name"], "Test Member");
  EXPECT_EQ(c["beneficiary"], "Liangshan Education Foundation");
  EXPECT_EQ(c["points"], 120);
  auto not_bobs = send(bob_token_, "GET", cert);
  EXPECT_EQ(outcome(not_bobs), "404 donation_not_found");
  expect_schema(not_bobs, cert_path, "get");

  // A third party checks it: the same fields, the name masked.
  const std::string check_path = "/v1/donation-certificates/{serial}";
  auto check = send("", "GET", "/v1/donation-certificates/" + serial);
  ASSERT_EQ(check.status, 200) << check.body;
  expect_schema(check, check_path, "get");
  json expected = c;
  expected["donor_name"] = "T***";
  EXPECT_EQ(json::parse(check.body), expected);
  auto anon = send("", "GET", "/v1/donation-certificates/" + h["serial"].get<std::string>());
  ASSERT_EQ(anon.status, 200);
  EXPECT_EQ(json::parse(anon.body)["donor_name"], "anonymous");
  auto forged = send("", "GET", "/v1/donation-certificates/TPD-2026-424242");
  EXPECT_EQ(outcome(forged), "404 certificate_not_found");
  expect_schema(forged, check_path, "get");
  EXPECT_EQ(outcome(send("", "GET", "/v1/donation-certificates/nonsense")),
            "404 certificate_not_found");

  // Closed: no more donations.
  ASSERT_EQ(send(op_token_, "POST", "/v1/charity-projects/" + std::to_string(id) + "/close").status,
            200);
  give(alice_, 100);
  auto late = donate(alice_token_, id, {{"points", 10}}, "gift-3");
  EXPECT_EQ(outcome(late), "409 project_closed");
  expect_schema(late, donations_path, "post");
  EXPECT_EQ(balance(project_account), 150);
}

TEST_P(DonationRoutesTest, AProjectNotYetOpenRefusesDonations) {
  json body = project_body();
  body["starts_at"] = format_iso8601(kStartUs + 3'600'000'000);
  const json p = create(body);
  EXPECT_EQ(p["status"], "upcoming");
  give(alice_, 100);
  auto r = donate(alice_token_, p["id"].get<std::int64_t>(), {{"points", 10}}, "early");
  EXPECT_EQ(outcome(r), "409 project_not_open");
  expect_schema(r, "/v1/charity-projects/{id}/donations", "post");
  EXPECT_EQ(balance(alice_.points_account_id), 100);
  EXPECT_EQ(count("charity_donations"), 0);
}

TEST_P(DonationRoutesTest, WithoutTheModuleTheRoutesAnswerUnavailable) {
  http::App bare{db_->store(), *ledger_,   *members_, methodologies_,
                 *sources_,    *consents_, metrics_,  clock_};
  http::Router router;
  http::add_all_routes(router, bare);
  const auto call = [&](const std::string& token, const char* method, const char* path,
                        std::string body = {}) {
    return outcome(
        call_route(router, token, method, path, std::move(body), {{"idempotency-key", "k"}}));
  };
  EXPECT_EQ(call("", "GET", "/v1/charity-projects"), "503 donations_unavailable");
  EXPECT_EQ(call("", "GET", "/v1/charity-projects/1"), "503 donations_unavailable");
  EXPECT_EQ(call("", "GET", "/v1/donation-certificates/TPD-2026-000001"),
            "503 donations_unavailable");
  EXPECT_EQ(call(op_token_, "POST", "/v1/charity-projects", project_body().dump()),
            "503 donations_unavailable");
  EXPECT_EQ(call(alice_token_, "POST", "/v1/charity-projects/1/donations", R"({"points":1})"),
            "503 donations_unavailable");
  EXPECT_EQ(call(alice_token_, "GET", "/v1/me/donations"), "503 donations_unavailable");
  // Who may call is still checked first.
  EXPECT_EQ(call(alice_token_, "POST", "/v1/charity-projects", project_body().dump()),
            "403 operator_only");
}

TANPU_INSTANTIATE_ENGINES(DonationRoutesTest);

}  // namespace
}  // namespace tanpu::test
