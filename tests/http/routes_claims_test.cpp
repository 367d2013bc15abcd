// The evidence, claims and review routes (src/http/routes_claims.cpp), through the Router of the
// real App with plain Request objects, on every engine; answers are held to docs/openapi.json. The
// last tests send uploads over a real socket, where the route's own body limit applies.
#include <gtest/gtest.h>

#include <array>
#include <boost/asio.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/app.h"
#include "http/app_routes_fixture.h"
#include "http/client.h"
#include "http/loopback.h"
#include "http/metrics.h"
#include "http/route_call.h"
#include "http/router.h"
#include "http/server.h"
#include "ingest/claims.h"
#include "ingest/consents.h"
#include "ingest/ingest_fixture.h"
#include "ingest/sources.h"
#include "members/members_fixture.h"
#include "support/openapi_conform.h"
#include "support/test_catalog.h"

namespace tanpu::test {
namespace {

using nlohmann::json;
using tanpu::testing::conform;
using Headers = std::vector<std::pair<std::string, std::string>>;

const std::string kJpeg = std::string("\xFF\xD8\xFF\xE0", 4) + "a clean plate";
const std::string kPng = std::string("\x89PNG\r\n\x1A\n", 8) + "another plate";

class ClaimsRoutesTest : public AppRoutesFixture<MembersFixture> {
 protected:
  void SetUp() override {
    MembersFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    migrate_ingest(db_->store());
    if (HasFatalFailure()) return;
    start_app();
  }
  void TearDown() override {
    stop_app();
    MembersFixture::TearDown();
  }

  static std::string code_of(const http::Response& r) { return error_code(r); }

  // The answer conforms to the document's schema of the operation's status.
  void expect_schema(const http::Response& r, const std::string& path, const std::string& method) {
    expect_documented(doc_, r, path, method);
  }

  std::string upload(const std::string& token, const std::string& bytes,
                     const std::string& type = "image/jpeg") {
    auto r = send(token, "POST", "/v1/me/evidence", bytes, {{"content-type", type}});
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body).value("id", "");
  }

  static json claim(const std::vector<std::string>& evidence,
                    const char* scenario = "clean_plate") {
    return json{{"scenario", scenario},
                {"occurred_at", "2026-11-17T12:00:00+08:00"},
                {"region", "CN-LN-SHE"},
                {"inputs", {{"checkins", 1}}},
                {"evidence", evidence}};
  }
};

TEST_P(ClaimsRoutesTest, EvidenceUploadsAreCheckedByTypeAndSize) {
  auto r = send(alice_token_, "POST", "/v1/me/evidence", kJpeg, {{"content-type", "image/jpeg"}});
  ASSERT_EQ(r.status, 201) << r.body;
  expect_schema(r, "/v1/me/evidence", "post");
  const json first = json::parse(r.body);
  auto again =
      send(alice_token_, "POST", "/v1/me/evidence", kJpeg, {{"content-type", "image/jpeg"}});
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(json::parse(again.body)["id"], first["id"]);

  const auto refused = [&](const std::string& token, const std::string& body, Headers h) {
    auto answer = send(token, "POST", "/v1/me/evidence", body, std::move(h));
    return std::to_string(answer.status) + " " + code_of(answer);
  };
  EXPECT_EQ(refused(alice_token_, kJpeg, {{"content-type", "image/png"}}), "415 evidence_type");
  EXPECT_EQ(refused(alice_token_, "<html>", {{"content-type", "text/html"}}), "415 evidence_type");
  EXPECT_EQ(refused(alice_token_, kJpeg, {}), "415 evidence_type");
  EXPECT_EQ(refused(alice_token_, "", {{"content-type", "image/jpeg"}}), "400 evidence_required");
  EXPECT_EQ(refused(alice_token_, kJpeg + std::string(ingest::kEvidenceBytesMax, 'x'),
                    {{"content-type", "image/jpeg"}}),
            "413 evidence_too_large");
  EXPECT_EQ(refused("", kJpeg, {{"content-type", "image/jpeg"}}), "401 missing_token");
  EXPECT_EQ(count("ingest_evidence"), 1);
}

TEST_P(ClaimsRoutesTest, AClaimIsReviewedAndCreditedOnce) {
  const std::string evidence = upload(alice_token_, kJpeg);
  auto filed = send(alice_token_, "POST", "/v1/me/claims", claim({evidence}).dump(),
                    {{"idempotency-key", "lunch-17"}});
  ASSERT_EQ(filed.status, 201) << filed.body;
  expect_schema(filed, "/v1/me/claims", "post");
  const json c = json::parse(filed.body);
  EXPECT_EQ(c["status"], "pending");
  EXPECT_EQ(c["claim_id"], "lunch-17");
  EXPECT_EQ(c["source_id"], "claims");
  EXPECT_GT(c["quantified_reduction_mg"].get<std::int64_t>(), 0);
  auto retry = send(alice_token_, "POST", "/v1/me/claims", claim({evidence}).dump(),
                    {{"idempotency-key", "lunch-17"}});
  EXPECT_EQ(retry.status, 200);
  EXPECT_EQ(json::parse(retry.body)["replay"], true);

  auto mine = send(alice_token_, "GET", "/v1/me/claims");
  ASSERT_EQ(mine.status, 200);
  expect_schema(mine, "/v1/me/claims", "get");
  EXPECT_EQ(json::parse(mine.body)["claims"].size(), 1u);

  // Bob is a member: no queue for him until an operator grants the role.
  const std::string approve =
      "/v1/reviews/claims/" + c["external_id"].get<std::string>() + "/approve";
  EXPECT_EQ(code_of(send(bob_token_, "GET", "/v1/reviews")), "reviewer_only");
  EXPECT_EQ(code_of(send(bob_token_, "POST", approve)), "reviewer_only");
  EXPECT_EQ(balance(alice_.co2e_account_id), 0);
  EXPECT_EQ(code_of(send(bob_token_, "POST", "/v1/reviewers", json{{"member_id", bob_.id}}.dump())),
            "operator_only");
  auto granted = send(op_token_, "POST", "/v1/reviewers", json{{"member_id", bob_.id}}.dump());
  ASSERT_EQ(granted.status, 200) << granted.body;
  expect_schema(granted, "/v1/reviewers", "post");
  EXPECT_EQ(json::parse(granted.body)["role"], "reviewer");

  auto queue = send(bob_token_, "GET", "/v1/reviews?status=pending");
  ASSERT_EQ(queue.status, 200) << queue.body;
  expect_schema(queue, "/v1/reviews", "get");
  const json records = json::parse(queue.body)["records"];
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["member"]["id"], alice_.id);
  EXPECT_EQ(records[0]["member"]["email"], "a***@example.com");  // masked
  ASSERT_EQ(records[0]["evidence"].size(), 1u);
  auto file = send(bob_token_, "GET", "/v1/reviews/evidence/" + evidence);
  ASSERT_EQ(file.status, 200);
  EXPECT_EQ(file.content_type, "image/jpeg");
  EXPECT_EQ(file.body, kJpeg);
  EXPECT_EQ(code_of(send(bob_token_, "GET", "/v1/reviews/evidence/evd_0000000000000000")),
            "not_found");
  EXPECT_EQ(code_of(send(alice_token_, "GET", "/v1/reviews/evidence/" + evidence)),
            "reviewer_only");

  auto approved = send(bob_token_, "POST", approve);
  ASSERT_EQ(approved.status, 200) << approved.body;
  expect_schema(approved, "/v1/reviews/{source_id}/{external_id}/approve", "post");
  const json a = json::parse(approved.body);
  EXPECT_EQ(a["outcome"], "credited");
  EXPECT_EQ(a["review"]["reviewer_id"], bob_.id);
  EXPECT_EQ(balance(alice_.co2e_account_id), a["reduction_mg"].get<std::int64_t>());
  EXPECT_EQ(balance(alice_.points_account_id), a["points"].get<std::int64_t>());
  auto twice = send(bob_token_, "POST", approve, "{}");
  EXPECT_EQ(twice.status, 200);
  EXPECT_EQ(json::parse(twice.body)["replay"], true);
  const std::string reject =
      "/v1/reviews/claims/" + c["external_id"].get<std::string>() + "/reject";
  auto contra = send(op_token_, "POST", reject, R"({"reason":"changed my mind"})");
  EXPECT_EQ(contra.status, 409);
  EXPECT_EQ(code_of(contra), "already_decided");
  EXPECT_EQ(balance(alice_.co2e_account_id), a["reduction_mg"].get<std::int64_t>());
  auto status = json::parse(send(alice_token_, "GET", "/v1/me/claims").body);
  EXPECT_EQ(status["claims"][0]["status"], "approved");

  // Revoked: Bob's same session is a member's again.
  auto revoked = send(op_token_, "DELETE", "/v1/reviewers/" + std::to_string(bob_.id));
  ASSERT_EQ(revoked.status, 200);
  EXPECT_EQ(code_of(send(bob_token_, "GET", "/v1/reviews")), "reviewer_only");
}

TEST_P(ClaimsRoutesTest, RefusalsAnswerAndChangeNothing) {
  const std::string evidence = upload(alice_token_, kJpeg);
  const std::string bobs = upload(bob_token_, kPng, "image/png");
  const auto file = [&](const json& body, Headers h = {{"idempotency-key", "k1"}}) {
    auto r = send(alice_token_, "POST", "/v1/me/claims", body.dump(), std::move(h));
    return std::to_string(r.status) + " " + code_of(r);
  };
  json metro = claim({evidence}, "metro");
  metro["inputs"] = {{"distance_km", 5}};
  EXPECT_EQ(file(metro), "400 scenario_not_allowed");
  EXPECT_EQ(file(claim({bobs})), "400 unknown_evidence");
  EXPECT_EQ(file(claim({})), "400 evidence_required");
  EXPECT_EQ(file(claim({evidence}), {}), "400 claim_id_required");
  json over = claim({evidence});
  over["inputs"]["checkins"] = 9;
  EXPECT_EQ(file(over), "422 input_out_of_bounds");
  json future = claim({evidence});
  future["occurred_at"] = "2027-01-01T00:00:00Z";
  EXPECT_EQ(file(future), "400 in_future");
  EXPECT_EQ(count("ingest_records"), 0);

  // A claim for the queue, then the refused decisions on it.
  auto filed = send(alice_token_, "POST", "/v1/me/claims", claim({evidence}).dump(),
                    {{"idempotency-key", "k1"}});
  ASSERT_EQ(filed.status, 201) << filed.body;
  const std::string base =
      "/v1/reviews/claims/" + json::parse(filed.body)["external_id"].get<std::string>();
  EXPECT_EQ(code_of(send(op_token_, "POST", base + "/reject", "{}")), "reason_required");
  EXPECT_EQ(code_of(send(op_token_, "POST", base + "/reject", R"({"reason":"  "})")),
            "reason_required");
  EXPECT_EQ(code_of(send(op_token_, "POST", base + "/approve", R"({"why":1})")), "unknown_field");
  EXPECT_EQ(send(op_token_, "POST", "/v1/reviews/claims/m1:none/approve").status, 404);
  EXPECT_EQ(code_of(send(op_token_, "GET", "/v1/reviews?status=all")), "invalid_status");
  EXPECT_EQ(code_of(send(op_token_, "GET", "/v1/reviews?cursor=nothex")), "invalid_cursor");
  EXPECT_EQ(code_of(send(op_token_, "POST", "/v1/reviewers", R"({"member_id":424242})")),
            "not_found");
  // An approving reviewer's own claim.
  ASSERT_OK(members_->grant_reviewer(alice_.id, op_.id));
  EXPECT_EQ(code_of(send(alice_token_, "POST", base + "/approve")), "own_record");
  EXPECT_EQ(balance(alice_.co2e_account_id), 0);

  auto rejected =
      send(op_token_, "POST", base + "/reject", R"({"reason":"the plate is not empty"})");
  ASSERT_EQ(rejected.status, 200) << rejected.body;
  expect_schema(rejected, "/v1/reviews/{source_id}/{external_id}/reject", "post");
  const json r = json::parse(rejected.body);
  EXPECT_EQ(r["outcome"], "rejected");
  EXPECT_EQ(r["reason"], "review_rejected");
  EXPECT_EQ(r["review"]["reason"], "the plate is not empty");
  EXPECT_EQ(code_of(send(op_token_, "POST", base + "/approve")), "already_decided");
  EXPECT_EQ(balance(alice_.co2e_account_id), 0);
  EXPECT_EQ(balance(alice_.points_account_id), 0);
}

// ── over a real socket ──────────────────────────────────────────────────────────────────────────

class ClaimsEndToEnd : public ClaimsRoutesTest {
 protected:
  void SetUp() override {
    ClaimsRoutesTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    net_.start(router_, metrics_);
  }
  void TearDown() override {
    net_.stop();
    ClaimsRoutesTest::TearDown();
  }

  // Sends only the header of a POST announcing `length` bytes; "<status> <error code>" of the
  // answer.
  std::string header_only(const std::string& path, std::size_t length, const std::string& type) {
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket socket(io);
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), net_.server->port()});
    const std::string head = "POST " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                             alice_token_ + "\r\nContent-Type: " + type +
                             "\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n";
    boost::asio::write(socket, boost::asio::buffer(head));
    std::string answer;
    boost::system::error_code ec;
    std::array<char, 4096> chunk{};
    while (!ec) {
      const std::size_t n = socket.read_some(boost::asio::buffer(chunk), ec);
      answer.append(chunk.data(), n);
      const auto blank = answer.find("\r\n\r\n");
      if (blank != std::string::npos && answer.find('}', blank) != std::string::npos) break;
    }
    const auto blank = answer.find("\r\n\r\n");
    if (answer.size() < 12 || blank == std::string::npos) return "no answer: " + answer;
    const json body = json::parse(answer.substr(blank + 4), nullptr, false);
    const std::string code = body.is_object() ? body["error"].value("code", "") : "";
    return answer.substr(9, 3) + " " + code;
  }

  Loopback net_;
};

TEST_P(ClaimsEndToEnd, UploadsHaveTheirOwnBodyLimit) {
  const http::Headers jpeg{{"Authorization", "Bearer " + alice_token_},
                           {"Content-Type", "image/jpeg"}};
  // Over the server's 4 MiB for JSON, within the 5 MiB of evidence.
  const std::string big = kJpeg + std::string(ingest::kEvidenceBytesMax - kJpeg.size(), 'x');
  auto ok = net_.client->request("POST", "/v1/me/evidence", big, jpeg);
  ASSERT_OK(ok);
  EXPECT_EQ(ok->status, 201) << ok->body;
  // Larger bodies are refused from Content-Length, before a byte of them is read: the answer comes
  // to the request's header alone.
  EXPECT_EQ(header_only("/v1/me/evidence", ingest::kEvidenceBytesMax + 1, "image/jpeg"),
            "413 evidence_too_large");
  // Elsewhere the server's limit still holds.
  EXPECT_EQ(header_only("/v1/me/claims", 4 * 1024 * 1024 + 1, "application/json"),
            "413 body_too_large");
  EXPECT_EQ(count("ingest_evidence"), 1);
}

TANPU_INSTANTIATE_ENGINES(ClaimsRoutesTest);
TANPU_INSTANTIATE_ENGINES(ClaimsEndToEnd);

}  // namespace
}  // namespace tanpu::test
