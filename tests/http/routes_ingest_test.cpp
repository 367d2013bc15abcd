// The data-source and consent routes (src/http/routes_ingest.cpp), called through the Router of the
// real App with plain Request objects, on every engine, with a clock the tests move. Requests of a
// source are signed with ingest::sign(), exactly as a partner's client signs them
// (docs/ingestion.md). One end-to-end test at the end sends signed requests over a real socket.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/time.h"
#include "http/app.h"
#include "http/client.h"
#include "http/loopback.h"
#include "http/metrics.h"
#include "http/router.h"
#include "http/server.h"
#include "ingest/consents.h"
#include "ingest/ingest_fixture.h"
#include "ingest/pipeline.h"
#include "ingest/signature.h"
#include "ingest/sources.h"
#include "members/members_fixture.h"
#include "points/points.h"
#include "store/migrate.h"
#include "support/openapi_conform.h"
#include "support/test_catalog.h"

namespace tanpu::test {
namespace {

using nlohmann::json;
using tanpu::testing::conform;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view kSignatureScheme = "TANPU-HMAC-SHA256";

// A key of a source as the operator hands it to the partner.
struct Key {
  std::string id;
  std::string secret;
};

struct CreatedSource {
  std::string id;
  Key key;
  json body;  // the 201 answer
};

// The routes of the real App, as `tanpu serve` wires them, over a fresh store with every module's
// tables, on each engine.
class IngestRoutesTest : public MembersFixture {
 protected:
  void SetUp() override {
    MembersFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    migrate_ingest(db_->store());
    if (HasFatalFailure()) return;
    sources_ = std::make_unique<ingest::Sources>(db_->store(), keys_, clock_);
    consents_ = std::make_unique<ingest::Consents>(db_->store(), clock_);
    app_ = std::make_unique<http::App>(http::App{db_->store(), *ledger_, *members_, methodologies_,
                                                 *sources_, *consents_, metrics_, clock_});
    http::add_all_routes(router_, *app_);
    must_register(std::nullopt, "op@example.com", members::Role::operator_);
    must_register("13800138000", std::nullopt);
    must_register(std::nullopt, "b@example.com");
    op_token_ = login("op@example.com");
    a_token_ = login("13800138000");
    b_token_ = login("b@example.com");
  }

  void TearDown() override {
    app_.reset();
    consents_.reset();
    sources_.reset();
    MembersFixture::TearDown();
  }

  std::string login(const std::string& who) {
    auto session = members_->login(who, "s3cret-pass");
    EXPECT_TRUE(session.has_value());
    return session ? session->token : std::string();
  }

  // Any request; header names lower-case, as the server hands them to the router.
  http::Response send(std::string method, std::string path, std::string body = {},
                      Headers headers = {}) {
    http::Request request;
    request.method = std::move(method);
    request.path = std::move(path);
    request.body = std::move(body);
    request.headers = std::move(headers);
    const http::Route* route = router_.match(request, nullptr);
    EXPECT_NE(route, nullptr) << request.method << " " << request.path;
    if (route == nullptr) return http::Response{500, "application/json", "{}", {}};
    return route->handler(request);
  }

  // A request with `Authorization: Bearer <token>` (none if the token is empty).
  http::Response as(const std::string& token, std::string method, std::string path,
                    std::string body = {}) {
    Headers h;
    if (!token.empty()) h.emplace_back("authorization", "Bearer " + token);
    return send(std::move(method), std::move(path), std::move(body), std::move(h));
  }

  std::string now_s() const { return std::to_string(clock_.now_us() / 1'000'000); }

  // A fresh nonce: 22 characters of the allowed alphabet.
  std::string next_nonce() {
    std::string digits = std::to_string(++nonces_);
    return "nonce-" + std::string(16 - digits.size(), '0') + digits;
  }

  // The four headers of a signed request, as a partner computes them.
  Headers signed_headers(const Key& key, std::string_view method, std::string_view path,
                         std::string_view body, std::string timestamp = {},
                         std::string nonce = {}) {
    if (timestamp.empty()) timestamp = now_s();
    if (nonce.empty()) nonce = next_nonce();
    std::string signature = ingest::sign(key.secret, method, path, timestamp, nonce, body);
    return {{"x-tanpu-key-id", key.id},
            {"x-tanpu-timestamp", std::move(timestamp)},
            {"x-tanpu-nonce", std::move(nonce)},
            {"x-tanpu-signature", std::move(signature)}};
  }

  static std::string ping_path(const std::string& source_id) {
    return "/v1/sources/" + source_id + "/ping";
  }
  static std::string bindings_path(const std::string& source_id) {
    return "/v1/sources/" + source_id + "/bindings";
  }

  http::Response ping(const std::string& source_id, const Key& key) {
    const std::string path = ping_path(source_id);
    return send("GET", path, {}, signed_headers(key, "GET", path, {}));
  }

  http::Response bind(const std::string& source_id, const Key& key, const std::string& ref) {
    const std::string path = bindings_path(source_id);
    const std::string body = json{{"partner_user_ref", ref}}.dump();
    return send("POST", path, body, signed_headers(key, "POST", path, body));
  }

  // A binding code for the partner user `ref` (fails the test if none).
  std::string code_for(const CreatedSource& s, const std::string& ref) {
    auto r = bind(s.id, s.key, ref);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? json::parse(r.body).value("code", "") : std::string();
  }

  CreatedSource create_source(const std::string& name, std::vector<std::string> scenarios) {
    auto r = as(op_token_, "POST", "/v1/sources",
                json{{"name", name}, {"scenarios", std::move(scenarios)}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    if (r.status != 201) return {};
    json b = json::parse(r.body);
    return {b["id"].get<std::string>(),
            {b["key"]["key_id"].get<std::string>(), b["key"]["secret"].get<std::string>()},
            b};
  }

  Key add_key(const std::string& source_id) {
    auto r = as(op_token_, "POST", "/v1/sources/" + source_id + "/keys");
    EXPECT_EQ(r.status, 201) << r.body;
    if (r.status != 201) return {};
    const json b = json::parse(r.body);
    return {b["key_id"].get<std::string>(), b["secret"].get<std::string>()};
  }

  static std::string header(const http::Response& r, std::string_view name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    return {};
  }

  static json ok(const http::Response& r, int status = 200) {
    EXPECT_EQ(r.status, status) << r.body;
    if (r.status != status) return json();
    return json::parse(r.body);
  }

  static void expect_error(const http::Response& r, int status, std::string_view code,
                           std::string_view field = {}) {
    EXPECT_EQ(r.status, status) << r.body;
    const json b = json::parse(r.body);
    ASSERT_TRUE(b.contains("error")) << r.body;
    EXPECT_EQ(b["error"]["code"], code) << r.body;
    EXPECT_FALSE(b["error"].value("message", "").empty()) << r.body;
    if (field.empty()) {
      EXPECT_FALSE(b["error"].contains("field")) << r.body;
    } else {
      EXPECT_EQ(b["error"]["field"], field) << r.body;
    }
  }

  // 401 with this code, and the challenge of the scheme the route expects.
  static void expect_unauthenticated(const http::Response& r, std::string_view code,
                                     std::string_view scheme) {
    expect_error(r, 401, code);
    EXPECT_EQ(header(r, "WWW-Authenticate"), scheme) << r.body;
  }

  methodology::EvaluatorPool methodologies_{testing::repository_catalog()};
  http::Metrics metrics_;
  http::Router router_;
  std::unique_ptr<ingest::Sources> sources_;
  std::unique_ptr<ingest::Consents> consents_;
  std::unique_ptr<http::App> app_;
  std::string op_token_, a_token_, b_token_;
  int nonces_ = 0;
};

// ── operator routes ─────────────────────────────────────────────────────────────────────────────

TEST_P(IngestRoutesTest, OperatorRoutesRefuseNoSessionAndMembers) {
  const CreatedSource s = create_source("Metro", {"metro"});
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"POST", "/v1/sources"},
      {"GET", "/v1/sources"},
      {"GET", "/v1/sources/" + s.id},
      {"POST", "/v1/sources/" + s.id + "/keys"},
      {"DELETE", "/v1/sources/" + s.id + "/keys/" + s.key.id},
  };
  const std::string body = json{{"name", "X"}, {"scenarios", {"bus"}}}.dump();
  for (const auto& [method, path] : routes) {
    SCOPED_TRACE(method + " " + path);
    const std::string b = method == "POST" ? body : std::string();
    expect_unauthenticated(as("", method, path, b), "missing_token", "Bearer");
    expect_unauthenticated(as("tps_not-a-session", method, path, b), "invalid_session", "Bearer");
    // The signature of the source is no operator session either.
    expect_unauthenticated(send(method, path, b, signed_headers(s.key, method, path, b)),
                           "missing_token", "Bearer");
    expect_error(as(a_token_, method, path, b), 403, "operator_only");
  }
  // Nothing changed: one source, one active key.
  EXPECT_EQ(count("ingest_sources"), 1);
  EXPECT_EQ(count("ingest_source_keys"), 1);
  EXPECT_EQ(ping(s.id, s.key).status, 200);
}

TEST_P(IngestRoutesTest, CreateValidatesNameAndScenarios) {
  const auto create = [&](const json& body) {
    return as(op_token_, "POST", "/v1/sources", body.dump());
  };
  expect_error(create(json{{"name", "Bus"}, {"scenarios", {"bus", "teleport"}}}), 400,
               "unknown_scenario", "scenarios[1]");
  expect_error(create(json{{"scenarios", {"bus"}}}), 400, "missing_field", "name");
  expect_error(create(json{{"name", ""}, {"scenarios", {"bus"}}}), 400, "name_required", "name");
  expect_error(create(json{{"name", std::string(101, 'n')}, {"scenarios", {"bus"}}}), 400,
               "name_too_long", "name");
  expect_error(create(json{{"name", "Bus"}}), 400, "missing_field", "scenarios");
  expect_error(create(json{{"name", "Bus"}, {"scenarios", json::array()}}), 400,
               "scenarios_required", "scenarios");
  expect_error(create(json{{"name", "Bus"}, {"scenarios", {"bus", "metro", "bus"}}}), 400,
               "duplicate_scenario", "scenarios[2]");
  expect_error(create(json{{"name", "Bus"}, {"scenarios", {"bus", 7}}}), 400, "wrong_type",
               "scenarios[1]");
  expect_error(create(json{{"name", "Bus"}, {"scenarios", "bus"}}), 400, "wrong_type", "scenarios");
  expect_error(create(json{{"name", "Bus"}, {"scenarios", {"bus"}}, {"region", "CN"}}), 400,
               "unknown_field", "region");
  expect_error(as(op_token_, "POST", "/v1/sources", "{\"name\":"), 400, "invalid_json");
  expect_error(as(op_token_, "POST", "/v1/sources", ""), 400, "body_required");
  // 25 scenarios: one past kSourceScenariosMax.
  std::vector<std::string> many(25, "bus");
  expect_error(create(json{{"name", "Bus"}, {"scenarios", many}}), 400, "too_many_items",
               "scenarios");
  EXPECT_EQ(count("ingest_sources"), 0);
  EXPECT_EQ(count("ingest_source_keys"), 0);
}

TEST_P(IngestRoutesTest, TheSecretIsShownOnceAndNeverAgain) {
  auto r = as(op_token_, "POST", "/v1/sources",
              R"({"name":"Wuhan Metro Pay","scenarios":["metro","bus"]})");
  const json created = ok(r, 201);
  ASSERT_TRUE(created.is_object());
  const std::string id = created["id"].get<std::string>();
  EXPECT_TRUE(std::regex_match(id, std::regex("src_[0-9a-f]{16}"))) << id;
  const std::string key_id = created["key"]["key_id"].get<std::string>();
  const std::string secret = created["key"]["secret"].get<std::string>();
  EXPECT_TRUE(std::regex_match(key_id, std::regex("key_[0-9a-f]{16}"))) << key_id;
  EXPECT_TRUE(std::regex_match(secret, std::regex("tsk_[0-9a-f]{64}"))) << secret;
  const json source = {
      {"id", id},
      {"name", "Wuhan Metro Pay"},
      {"scenarios", {"metro", "bus"}},
      {"created_at", format_iso8601(kStartUs)},
      {"keys",
       {{{"key_id", key_id}, {"created_at", format_iso8601(kStartUs)}, {"revoked_at", nullptr}}}}};
  json expected = source;
  expected["key"] = {{"key_id", key_id}, {"secret", secret}};
  EXPECT_EQ(created, expected);

  const auto one = as(op_token_, "GET", "/v1/sources/" + id);
  EXPECT_EQ(ok(one), source);
  const auto all = as(op_token_, "GET", "/v1/sources");
  EXPECT_EQ(ok(all), (json{{"sources", {source}}}));
  for (const auto* read : {&one, &all}) {
    EXPECT_EQ(read->body.find(secret), std::string::npos);
    EXPECT_EQ(read->body.find("secret"), std::string::npos);
  }
  // Nor is it in the database as issued.
  auto lease = db_->store().acquire();
  ASSERT_OK(lease);
  auto rows = (*lease)->query("SELECT secret_enc FROM ingest_source_keys");
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 1u);
  const auto stored = rows->blob(0, 0);
  EXPECT_EQ(std::search(stored.begin(), stored.end(), secret.begin(), secret.end()), stored.end());
}

TEST_P(IngestRoutesTest, ListsSourcesOldestFirstAndUnknownIdsAre404) {
  EXPECT_EQ(ok(as(op_token_, "GET", "/v1/sources")), (json{{"sources", json::array()}}));
  const CreatedSource first = create_source("Bikes", {"bike"});
  clock_.advance_us(1'000'000);
  const CreatedSource second = create_source("Chargers", {"ev_charging", "nev_travel"});
  const json list = ok(as(op_token_, "GET", "/v1/sources"));
  ASSERT_EQ(list["sources"].size(), 2u);
  EXPECT_EQ(list["sources"][0]["id"], first.id);
  EXPECT_EQ(list["sources"][1]["id"], second.id);
  EXPECT_EQ(list["sources"][1]["scenarios"], (json{"ev_charging", "nev_travel"}));
  EXPECT_EQ(list["sources"][1]["created_at"], format_iso8601(kStartUs + 1'000'000));

  expect_error(as(op_token_, "GET", "/v1/sources/src_0000000000000000"), 404, "not_found");
  expect_error(as(op_token_, "POST", "/v1/sources/src_0000000000000000/keys"), 404, "not_found");
  expect_error(as(op_token_, "DELETE", "/v1/sources/src_0000000000000000/keys/" + first.key.id),
               404, "not_found");
  // A key of another source is not this source's key.
  expect_error(as(op_token_, "DELETE", "/v1/sources/" + first.id + "/keys/" + second.key.id), 404,
               "not_found");
}

TEST_P(IngestRoutesTest, KeysRotateWithoutDowntime) {
  const CreatedSource s = create_source("Buses", {"bus"});
  clock_.advance_us(1'000'000);
  const Key fresh = add_key(s.id);
  EXPECT_TRUE(std::regex_match(fresh.id, std::regex("key_[0-9a-f]{16}"))) << fresh.id;
  EXPECT_TRUE(std::regex_match(fresh.secret, std::regex("tsk_[0-9a-f]{64}")));
  EXPECT_NE(fresh.id, s.key.id);
  EXPECT_NE(fresh.secret, s.key.secret);

  // Both keys verify while both are active.
  EXPECT_EQ(ok(ping(s.id, s.key))["key_id"], s.key.id);
  EXPECT_EQ(ok(ping(s.id, fresh))["key_id"], fresh.id);
  const json both = ok(as(op_token_, "GET", "/v1/sources/" + s.id));
  ASSERT_EQ(both["keys"].size(), 2u);
  EXPECT_EQ(both["keys"][0]["key_id"], s.key.id);
  EXPECT_EQ(both["keys"][1]["key_id"], fresh.id);
  EXPECT_EQ(both["keys"][1]["created_at"], format_iso8601(kStartUs + 1'000'000));

  // Revoking the old key: the answer is the source, the old key's revoked_at set.
  clock_.advance_us(1'000'000);
  const json revoked = ok(as(op_token_, "DELETE", "/v1/sources/" + s.id + "/keys/" + s.key.id));
  ASSERT_EQ(revoked["keys"].size(), 2u);
  EXPECT_EQ(revoked["keys"][0]["revoked_at"], format_iso8601(kStartUs + 2'000'000));
  EXPECT_TRUE(revoked["keys"][1]["revoked_at"].is_null());
  EXPECT_EQ(ok(as(op_token_, "GET", "/v1/sources/" + s.id)), revoked);

  expect_unauthenticated(ping(s.id, s.key), "unknown_key", kSignatureScheme);
  EXPECT_EQ(ok(ping(s.id, fresh))["key_id"], fresh.id);

  // The last active key cannot be revoked; a revoked key cannot be revoked again.
  expect_error(as(op_token_, "DELETE", "/v1/sources/" + s.id + "/keys/" + fresh.id), 400,
               "last_active_key");
  expect_error(as(op_token_, "DELETE", "/v1/sources/" + s.id + "/keys/" + s.key.id), 404,
               "not_found");
  EXPECT_EQ(ok(ping(s.id, fresh))["key_id"], fresh.id);

  // At most four active keys.
  for (int i = 0; i < 3; ++i) add_key(s.id);
  expect_error(as(op_token_, "POST", "/v1/sources/" + s.id + "/keys"), 400, "too_many_keys");
  EXPECT_EQ(count("ingest_source_keys"), 5);
}

// ── signatures ──────────────────────────────────────────────────────────────────────────────────

TEST_P(IngestRoutesTest, PingWithAValidSignatureAnswers200) {
  const CreatedSource s = create_source("Metro", {"metro"});
  const auto r = ping(s.id, s.key);
  EXPECT_EQ(ok(r), (json{{"source_id", s.id}, {"key_id", s.key.id}, {"signature", "valid"}}));
  EXPECT_TRUE(header(r, "WWW-Authenticate").empty());
  // Timestamps up to 300 s either way are accepted.
  const std::string path = ping_path(s.id);
  const std::int64_t now = clock_.now_us() / 1'000'000;
  for (const std::int64_t ts : {now - 300, now + 300}) {
    auto edge = send("GET", path, {}, signed_headers(s.key, "GET", path, {}, std::to_string(ts)));
    EXPECT_EQ(edge.status, 200) << ts << " " << edge.body;
  }
  // Nonces of 16 and 64 characters, every allowed character.
  for (const std::string& nonce :
       {std::string("ABCDEFGHIJKLMNOP"),
        std::string("abcdefghijklmnopqrstuvwxyz0123456789_-") + std::string(26, 'Z')}) {
    auto edge = send("GET", path, {}, signed_headers(s.key, "GET", path, {}, {}, nonce));
    EXPECT_EQ(edge.status, 200) << nonce << " " << edge.body;
  }
}

TEST_P(IngestRoutesTest, BadSignaturesAre401WithTheirCode) {
  const CreatedSource s = create_source("Metro", {"metro"});
  const CreatedSource other = create_source("Bikes", {"bike"});
  const std::string path = bindings_path(s.id);
  const std::string body = R"({"partner_user_ref":"u-1"})";
  const auto expect_refused = [&](const http::Response& r, std::string_view code) {
    expect_unauthenticated(r, code, kSignatureScheme);
  };

  // The body changed after signing.
  expect_refused(send("POST", path, R"({"partner_user_ref":"u-2"})",
                      signed_headers(s.key, "POST", path, body)),
                 "bad_signature");
  // Signed for another path (another source's), another method, or the query string included.
  expect_refused(
      send("POST", path, body, signed_headers(s.key, "POST", bindings_path(other.id), body)),
      "bad_signature");
  expect_refused(send("POST", path, body, signed_headers(s.key, "PUT", path, body)),
                 "bad_signature");
  expect_refused(
      send("GET", ping_path(s.id), {}, signed_headers(s.key, "GET", ping_path(s.id) + "?x=1", {})),
      "bad_signature");
  // Signed with another source's secret under this source's key id; with another source's key.
  expect_refused(
      send("POST", path, body, signed_headers(Key{s.key.id, other.key.secret}, "POST", path, body)),
      "bad_signature");
  expect_refused(send("POST", path, body, signed_headers(other.key, "POST", path, body)),
                 "unknown_key");
  expect_refused(
      send("POST", path, body,
           signed_headers(Key{"key_0000000000000000", s.key.secret}, "POST", path, body)),
      "unknown_key");
  // The signature in upper-case hex, or without its version prefix.
  {
    Headers h = signed_headers(s.key, "POST", path, body);
    std::string& signature = h[3].second;
    std::transform(signature.begin() + 3, signature.end(), signature.begin() + 3,
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    expect_refused(send("POST", path, body, h), "bad_signature");
    h = signed_headers(s.key, "POST", path, body);
    h[3].second = h[3].second.substr(3);
    expect_refused(send("POST", path, body, h), "bad_signature");
  }
  // Stale: signed now, sent 301 s later; or dated 301 s ahead.
  {
    const Headers h = signed_headers(s.key, "POST", path, body);
    clock_.advance_us(301'000'000);
    expect_refused(send("POST", path, body, h), "stale_timestamp");
    const std::string ahead = std::to_string(clock_.now_us() / 1'000'000 + 301);
    expect_refused(send("POST", path, body, signed_headers(s.key, "POST", path, body, ahead)),
                   "stale_timestamp");
  }
  expect_refused(send("POST", path, body, signed_headers(s.key, "POST", path, body, "12.5e8")),
                 "invalid_timestamp");
  expect_refused(
      send("POST", path, body, signed_headers(s.key, "POST", path, body, {}, "too-short")),
      "invalid_nonce");
  expect_refused(send("POST", path, body,
                      signed_headers(s.key, "POST", path, body, {}, "has a space in it 0123")),
                 "invalid_nonce");
  expect_refused(
      send("POST", path, body, signed_headers(s.key, "POST", path, body, {}, std::string(65, 'n'))),
      "invalid_nonce");
  // Each of the four headers missing; none at all; a session token instead.
  for (std::size_t drop = 0; drop < 4; ++drop) {
    Headers h = signed_headers(s.key, "POST", path, body);
    SCOPED_TRACE(h[drop].first);
    h.erase(h.begin() + static_cast<std::ptrdiff_t>(drop));
    expect_refused(send("POST", path, body, h), "signature_required");
  }
  expect_refused(send("GET", ping_path(s.id)), "signature_required");
  expect_refused(send("GET", ping_path(s.id), {}, {{"authorization", "Bearer " + op_token_}}),
                 "signature_required");

  // A refused request writes nothing: no binding, and its nonce stays unused.
  EXPECT_EQ(count("ingest_bindings"), 0);
  EXPECT_EQ(count("ingest_nonces"), 0);
  const std::string nonce = next_nonce();
  expect_refused(send("POST", path, R"({"partner_user_ref":"u-2"})",
                      signed_headers(s.key, "POST", path, body, {}, nonce)),
                 "bad_signature");
  EXPECT_EQ(send("POST", path, body, signed_headers(s.key, "POST", path, body, {}, nonce)).status,
            201);
}

TEST_P(IngestRoutesTest, ANonceIsAcceptedOnce) {
  const CreatedSource s = create_source("Metro", {"metro"});
  const CreatedSource other = create_source("Bikes", {"bike"});
  const std::string path = ping_path(s.id);
  const Headers h = signed_headers(s.key, "GET", path, {});
  EXPECT_EQ(send("GET", path, {}, h).status, 200);
  expect_unauthenticated(send("GET", path, {}, h), "nonce_reused", kSignatureScheme);
  // The same nonce on another request of the source is a reuse too…
  const std::string nonce = h[2].second;
  const std::string body = R"({"partner_user_ref":"u-1"})";
  expect_unauthenticated(send("POST", bindings_path(s.id), body,
                              signed_headers(s.key, "POST", bindings_path(s.id), body, {}, nonce)),
                         "nonce_reused", kSignatureScheme);
  // …but nonces are per source.
  const std::string other_path = ping_path(other.id);
  EXPECT_EQ(send("GET", other_path, {}, signed_headers(other.key, "GET", other_path, {}, {}, nonce))
                .status,
            200);
  EXPECT_EQ(count("ingest_bindings"), 0);
}

TEST_P(IngestRoutesTest, UnknownSourcesAnswerLikeUnknownKeys) {
  const CreatedSource s = create_source("Metro", {"metro"});
  // A valid signature, with a real key, for a source id that does not exist: not a 404, so ids
  // cannot be probed.
  const std::string ghost = "src_0123456789abcdef";
  expect_unauthenticated(ping(ghost, s.key), "unknown_key", kSignatureScheme);
  expect_unauthenticated(bind(ghost, s.key, "u-1"), "unknown_key", kSignatureScheme);
  expect_unauthenticated(ping("nonsense", s.key), "unknown_key", kSignatureScheme);
  EXPECT_EQ(count("ingest_bindings"), 0);
}

// ── bindings and consents ───────────────────────────────────────────────────────────────────────

TEST_P(IngestRoutesTest, BindingValidatesItsBodyAfterTheSignature) {
  const CreatedSource s = create_source("Metro", {"metro"});
  const std::string path = bindings_path(s.id);
  const auto post = [&](const std::string& body) {
    return send("POST", path, body, signed_headers(s.key, "POST", path, body));
  };
  expect_error(post("{}"), 400, "missing_field", "partner_user_ref");
  expect_error(post(R"({"partner_user_ref":""})"), 400, "partner_user_ref_required",
               "partner_user_ref");
  expect_error(post(json{{"partner_user_ref", std::string(129, 'r')}}.dump()), 400,
               "partner_user_ref_too_long", "partner_user_ref");
  expect_error(post(R"({"partner_user_ref":42})"), 400, "wrong_type", "partner_user_ref");
  expect_error(post(R"({"partner_user_ref":"u","member":1})"), 400, "unknown_field", "member");
  expect_error(post("{"), 400, "invalid_json");
  expect_error(post(""), 400, "body_required");
  EXPECT_EQ(count("ingest_bindings"), 0);
  // 128 bytes is the limit.
  EXPECT_EQ(post(json{{"partner_user_ref", std::string(128, 'r')}}.dump()).status, 201);
}

TEST_P(IngestRoutesTest, BindGrantListAndRevoke) {
  const CreatedSource s = create_source("Wuhan Metro Pay", {"metro", "bus"});
  const auto b = bind(s.id, s.key, "wm-user-829301");
  const json binding = ok(b, 201);
  ASSERT_TRUE(binding.is_object());
  EXPECT_EQ(binding.size(), 2u) << b.body;
  const std::string code = binding["code"].get<std::string>();
  EXPECT_TRUE(std::regex_match(code, std::regex("BND-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}")))
      << code;
  EXPECT_EQ(binding["expires_at"], format_iso8601(kStartUs + 600'000'000));

  // The member redeems it in the app.
  clock_.advance_us(5'000'000);
  const std::int64_t granted_us = clock_.now_us();
  const json granted =
      ok(as(a_token_, "POST", "/v1/me/consents", json{{"code", code}}.dump()), 201);
  const json live = {{"source_id", s.id},
                     {"source_name", "Wuhan Metro Pay"},
                     {"partner_user_ref", "wm-user-829301"},
                     {"scenarios", {"metro", "bus"}},
                     {"granted_at", format_iso8601(granted_us)},
                     {"revoked_at", nullptr},
                     {"live", true}};
  EXPECT_EQ(granted, live);
  EXPECT_EQ(ok(as(a_token_, "GET", "/v1/me/consents")), (json{{"consents", {live}}}));
  // Only the member's own.
  EXPECT_EQ(ok(as(b_token_, "GET", "/v1/me/consents")), (json{{"consents", json::array()}}));
  expect_error(as(b_token_, "DELETE", "/v1/me/consents/" + s.id), 404, "not_found", "source_id");
  EXPECT_EQ(ok(as(a_token_, "GET", "/v1/me/consents"))["consents"][0]["live"], true);

  // The code is single use.
  expect_error(as(a_token_, "POST", "/v1/me/consents", json{{"code", code}}.dump()), 404,
               "invalid_binding_code", "code");
  expect_error(as(b_token_, "POST", "/v1/me/consents", json{{"code", code}}.dump()), 404,
               "invalid_binding_code", "code");

  // Revocation: the revoked grant comes back; listing shows it revoked.
  clock_.advance_us(60'000'000);
  const std::int64_t revoked_us = clock_.now_us();
  json revoked = live;
  revoked["revoked_at"] = format_iso8601(revoked_us);
  revoked["live"] = false;
  EXPECT_EQ(ok(as(a_token_, "DELETE", "/v1/me/consents/" + s.id)), revoked);
  EXPECT_EQ(ok(as(a_token_, "GET", "/v1/me/consents")), (json{{"consents", {revoked}}}));
  expect_error(as(a_token_, "DELETE", "/v1/me/consents/" + s.id), 404, "not_found", "source_id");
  expect_error(as(a_token_, "DELETE", "/v1/me/consents/src_0000000000000000"), 404, "not_found",
               "source_id");

  // A new grant after revocation is a new record, listed first.
  clock_.advance_us(1'000'000);
  const std::string again = code_for(s, "wm-user-829301");
  ASSERT_EQ(as(a_token_, "POST", "/v1/me/consents", json{{"code", again}}.dump()).status, 201);
  const json history = ok(as(a_token_, "GET", "/v1/me/consents"));
  ASSERT_EQ(history["consents"].size(), 2u);
  EXPECT_EQ(history["consents"][0]["live"], true);
  EXPECT_EQ(history["consents"][0]["granted_at"], format_iso8601(clock_.now_us()));
  EXPECT_EQ(history["consents"][1], revoked);
}

TEST_P(IngestRoutesTest, CodesAreForgivingToTypeButUnknownUsedOrExpiredOnesAre404) {
  const CreatedSource s = create_source("Metro", {"metro"});
  const auto redeem = [&](const std::string& token, const json& code) {
    return as(token, "POST", "/v1/me/consents", json{{"code", code}}.dump());
  };
  expect_error(redeem(a_token_, "BND-0000-0000-0000"), 404, "invalid_binding_code", "code");
  expect_error(redeem(a_token_, "nonsense"), 404, "invalid_binding_code", "code");
  expect_error(as(a_token_, "POST", "/v1/me/consents", "{}"), 400, "missing_field", "code");
  expect_error(redeem(a_token_, 1234), 400, "wrong_type", "code");
  expect_error(redeem(a_token_, std::string(33, 'A')), 400, "too_long", "code");

  // Typed by hand: lower case, without dashes.
  std::string code = code_for(s, "u-1");
  std::string typed;
  for (const char c : code)
    if (c != '-') typed += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_EQ(redeem(a_token_, typed).status, 201);

  // Expired: valid for 600 s.
  const std::string late = code_for(s, "u-2");
  clock_.advance_us(600'000'000);
  expect_error(redeem(b_token_, late), 404, "invalid_binding_code", "code");
  EXPECT_EQ(count("ingest_consents"), 1);
}

TEST_P(IngestRoutesTest, APartnerUserIsBoundToOneMemberAtATime) {
  const CreatedSource s = create_source("Metro", {"metro"});
  ASSERT_EQ(
      as(a_token_, "POST", "/v1/me/consents", json{{"code", code_for(s, "u-1")}}.dump()).status,
      201);
  // A second member redeems a new code for the same partner user while A's grant is live.
  const std::string second = code_for(s, "u-1");
  expect_error(as(b_token_, "POST", "/v1/me/consents", json{{"code", second}}.dump()), 409,
               "already_bound", "code");
  EXPECT_EQ(ok(as(b_token_, "GET", "/v1/me/consents")), (json{{"consents", json::array()}}));
  // A member has one live grant per source, too.
  expect_error(as(a_token_, "POST", "/v1/me/consents", json{{"code", code_for(s, "u-9")}}.dump()),
               409, "already_bound", "code");
  // The refused code was not spent: once A revokes, B can redeem it.
  ASSERT_EQ(as(a_token_, "DELETE", "/v1/me/consents/" + s.id).status, 200);
  const json b_grant =
      ok(as(b_token_, "POST", "/v1/me/consents", json{{"code", second}}.dump()), 201);
  EXPECT_EQ(b_grant["partner_user_ref"], "u-1");
  EXPECT_EQ(b_grant["live"], true);
  // Another source may bind the same partner reference to A: refs are per source.
  const CreatedSource other = create_source("Bikes", {"bike"});
  EXPECT_EQ(
      as(a_token_, "POST", "/v1/me/consents", json{{"code", code_for(other, "u-1")}}.dump()).status,
      201);
}

TEST_P(IngestRoutesTest, MemberRoutesNeedASession) {
  const CreatedSource s = create_source("Metro", {"metro"});
  const std::string code = code_for(s, "u-1");
  const std::string body = json{{"code", code}}.dump();
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"POST", "/v1/me/consents"},
      {"GET", "/v1/me/consents"},
      {"DELETE", "/v1/me/consents/" + s.id}};
  for (const auto& [method, path] : routes) {
    SCOPED_TRACE(method + " " + path);
    const std::string b = method == "POST" ? body : std::string();
    expect_unauthenticated(as("", method, path, b), "missing_token", "Bearer");
    expect_unauthenticated(as("tps_not-a-session", method, path, b), "invalid_session", "Bearer");
    // A source's signature is not a member's session.
    expect_unauthenticated(send(method, path, b, signed_headers(s.key, method, path, b)),
                           "missing_token", "Bearer");
  }
  EXPECT_EQ(count("ingest_consents"), 0);
  // The code was not spent by the refusals.
  EXPECT_EQ(as(a_token_, "POST", "/v1/me/consents", body).status, 201);
}

// ── docs/openapi.json ───────────────────────────────────────────────────────────────────────────

// The intake route: a signed batch is credited record by record, a replay credits nothing more,
// and the answers follow the document.
TEST_P(IngestRoutesTest, BehavioursAreCreditedThroughTheSignedRoute) {
  const json doc = json::parse(http::openapi_document());
  const json& op = doc.at("paths").at("/v1/sources/{id}/behaviours").at("post");
  const CreatedSource s = create_source("Wuhan Metro", {"metro"});
  ASSERT_EQ(
      ok(as(a_token_, "POST", "/v1/me/consents", json{{"code", code_for(s, "wm-user-1")}}.dump()),
         201)
          .value("live", false),
      true);
  const std::string path = "/v1/sources/" + s.id + "/behaviours";
  const auto ride = [](const std::string& id, const std::string& user, double km) {
    return json{{"external_id", id},     {"user_ref", user},
                {"scenario", "metro"},   {"occurred_at", "2026-11-17T08:00:00+08:00"},
                {"region", "CN-HB-WUH"}, {"inputs", {{"distance_km", km}}}};
  };
  const std::string body =
      json::array({ride("r1", "wm-user-1", 12.5), ride("r2", "wm-user-2", 3)}).dump();
  const auto post = [&](const std::string& b) {
    return send("POST", path, b, signed_headers(s.key, "POST", path, b));
  };
  const auto first = post(body);
  const json answer = ok(first);
  ASSERT_TRUE(answer.is_object());
  EXPECT_EQ(
      conform(doc, op["responses"]["200"]["content"]["application/json"]["schema"], answer, "$"),
      "");
  EXPECT_EQ(answer["results"][0]["outcome"], "credited");
  EXPECT_EQ(answer["results"][0]["reduction_mg"], 980000);
  EXPECT_EQ(answer["results"][0]["methodology"], "tanpu-whcer-metro@2025.1");
  EXPECT_EQ(answer["results"][1]["outcome"], "rejected");
  EXPECT_EQ(answer["results"][1]["reason"], "no_consent");
  EXPECT_EQ(answer["summary"]["credited"], 1);
  EXPECT_EQ(answer["summary"]["points"], 980);
  // The member sees it.
  const json me = ok(as(a_token_, "GET", "/v1/me"));
  EXPECT_EQ(me["points"]["balance_points"], 980);
  EXPECT_EQ(me["reductions"]["reduction_mg"], 980000);
  // A retry (new nonce, same records) credits nothing more.
  const json again = ok(post(body));
  EXPECT_EQ(again["results"][0]["replay"], true);
  EXPECT_EQ(again["summary"]["reduction_mg"], 0);
  EXPECT_EQ(ok(as(a_token_, "GET", "/v1/me"))["points"]["balance_points"], 980);
  // Unsigned, or signed for another body: 401, nothing done.
  EXPECT_EQ(send("POST", path, body).status, 401);
  auto forged = signed_headers(s.key, "POST", path, "[]");
  EXPECT_EQ(send("POST", path, body, forged).status, 401);
  // The batch as a whole: empty or not JSON.
  EXPECT_EQ(post("   ").status, 400);
  EXPECT_EQ(post("[1,").status, 400);
  // The nonce is recorded in the batch's transaction: the same signed request again is 401,
  // whether the batch was taken or refused whole.
  const std::string other = json::array({ride("r3", "wm-user-1", 5)}).dump();
  const auto headers = signed_headers(s.key, "POST", path, other);
  EXPECT_EQ(send("POST", path, other, headers).status, 200);
  const auto reused = send("POST", path, other, headers);
  EXPECT_EQ(reused.status, 401);
  EXPECT_EQ(json::parse(reused.body)["error"]["code"], "nonce_reused");
  const auto bad_headers = signed_headers(s.key, "POST", path, "[1,");
  EXPECT_EQ(send("POST", path, "[1,", bad_headers).status, 400);
  EXPECT_EQ(send("POST", path, "[1,", bad_headers).status, 401);
  EXPECT_EQ(ok(as(a_token_, "GET", "/v1/me"))["reductions"]["reduction_mg"], 980000 + 392000);
}

TEST_P(IngestRoutesTest, TheOperatorsPointsPolicyDecidesPointsAndMembersSeeIt) {
  const json doc = json::parse(http::openapi_document());
  // Without the points module wired, the view is unavailable rather than wrong.
  EXPECT_EQ(as(a_token_, "GET", "/v1/me/points").status, 503);
  ingest::PipelineOptions intake;
  intake.points.mg_per_point = 44'000;  // Shenyang Metro style: about 44 g a point
  intake.points.expiry_years = 1;
  points::Points points(db_->store(), *ledger_, clock_, intake.points);
  app_->intake = &intake;
  app_->points = &points;
  const CreatedSource s = create_source("Wuhan Metro", {"metro"});
  ok(as(a_token_, "POST", "/v1/me/consents", json{{"code", code_for(s, "wm-user-1")}}.dump()), 201);
  const std::string path = "/v1/sources/" + s.id + "/behaviours";
  const std::string body = json::array({{{"external_id", "r1"},
                                         {"user_ref", "wm-user-1"},
                                         {"scenario", "metro"},
                                         {"occurred_at", "2026-11-17T08:00:00+08:00"},
                                         {"region", "CN-HB-WUH"},
                                         {"inputs", {{"distance_km", 12.5}}}}})
                               .dump();
  const json answer = ok(send("POST", path, body, signed_headers(s.key, "POST", path, body)));
  EXPECT_EQ(answer["results"][0]["reduction_mg"], 980000);
  EXPECT_EQ(answer["results"][0]["points"], 22);
  const json mine = ok(as(a_token_, "GET", "/v1/me/points"));
  EXPECT_EQ(conform(doc,
                    doc["paths"]["/v1/me/points"]["get"]["responses"]["200"]["content"]
                       ["application/json"]["schema"],
                    mine, "$"),
            "");
  EXPECT_EQ(mine["balance_points"], 22);
  EXPECT_EQ(mine["earned_by_year"], json::array({{{"year", 2026}, {"points", 22}}}));
  EXPECT_EQ(mine["expiry"]["enabled"], true);
  EXPECT_EQ(mine["expiry"]["next"]["points"], 0);  // 2026's points last until the end of 2027
  EXPECT_EQ(mine["policy"]["mg_per_point"], 44000);
  EXPECT_EQ(as("", "GET", "/v1/me/points").status, 401);
  app_->intake = nullptr;
  app_->points = nullptr;
}

// Every answer of these routes, successes and refusals, conforms to the document's closed schemas
// and its status is documented.
TEST_P(IngestRoutesTest, ResponsesMatchTheOpenApiDocument) {
  const json doc = json::parse(http::openapi_document());
  const auto check = [&](const std::string& path, const std::string& method,
                         const http::Response& r) {
    SCOPED_TRACE(method + " " + path + " " + std::to_string(r.status) + " " + r.body);
    const json& op = doc.at("paths").at(path).at(method);
    EXPECT_TRUE(op.contains("tags") && !op["tags"].empty());
    const json& responses = op.at("responses");
    const std::string status = std::to_string(r.status);
    ASSERT_TRUE(responses.contains(status)) << "status not documented";
    const json& schema = responses[status].at("content").at("application/json").at("schema");
    EXPECT_EQ(conform(doc, schema, json::parse(r.body), "$"), "");
    if (r.status == 401) {
      EXPECT_NE(responses[status].value("description", "").find(header(r, "WWW-Authenticate")),
                std::string::npos)
          << "the 401 description names the scheme";
    }
  };
  const std::string sources = "/v1/sources";
  const std::string source = "/v1/sources/{id}";
  const std::string keys = "/v1/sources/{id}/keys";
  const std::string key = "/v1/sources/{id}/keys/{key_id}";
  const std::string pings = "/v1/sources/{id}/ping";
  const std::string bindings = "/v1/sources/{id}/bindings";
  const std::string consents = "/v1/me/consents";
  const std::string consent = "/v1/me/consents/{source_id}";

  auto created = as(op_token_, "POST", sources, R"({"name":"Metro","scenarios":["metro"]})");
  check(sources, "post", created);
  const json c = json::parse(created.body);
  const CreatedSource s{
      c["id"].get<std::string>(),
      {c["key"]["key_id"].get<std::string>(), c["key"]["secret"].get<std::string>()},
      c};
  check(sources, "post", as(op_token_, "POST", sources, R"({"name":"","scenarios":["metro"]})"));
  check(sources, "post", as("", "POST", sources, "{}"));
  check(sources, "post", as(a_token_, "POST", sources, "{}"));
  check(sources, "get", as(op_token_, "GET", sources));
  check(sources, "get", as("", "GET", sources));
  check(sources, "get", as(b_token_, "GET", sources));
  check(source, "get", as(op_token_, "GET", "/v1/sources/" + s.id));
  check(source, "get", as(op_token_, "GET", "/v1/sources/src_0000000000000000"));
  check(source, "get", as("", "GET", "/v1/sources/" + s.id));
  check(source, "get", as(a_token_, "GET", "/v1/sources/" + s.id));
  auto added = as(op_token_, "POST", "/v1/sources/" + s.id + "/keys");
  check(keys, "post", added);
  const json a = json::parse(added.body);
  const Key fresh{a["key_id"].get<std::string>(), a["secret"].get<std::string>()};
  check(keys, "post", as(op_token_, "POST", "/v1/sources/src_0000000000000000/keys"));
  check(keys, "post", as("", "POST", "/v1/sources/" + s.id + "/keys"));
  check(keys, "post", as(a_token_, "POST", "/v1/sources/" + s.id + "/keys"));
  for (int i = 0; i < 2; ++i) add_key(s.id);
  check(keys, "post", as(op_token_, "POST", "/v1/sources/" + s.id + "/keys"));  // too_many_keys
  check(key, "delete", as(op_token_, "DELETE", "/v1/sources/" + s.id + "/keys/" + s.key.id));
  check(key, "delete", as(op_token_, "DELETE", "/v1/sources/" + s.id + "/keys/" + s.key.id));
  check(key, "delete", as("", "DELETE", "/v1/sources/" + s.id + "/keys/" + fresh.id));
  check(key, "delete", as(a_token_, "DELETE", "/v1/sources/" + s.id + "/keys/" + fresh.id));
  const CreatedSource lone = create_source("Bikes", {"bike"});
  check(key, "delete", as(op_token_, "DELETE", "/v1/sources/" + lone.id + "/keys/" + lone.key.id));

  check(pings, "get", ping(s.id, fresh));
  check(pings, "get", ping(s.id, s.key));
  check(pings, "get", send("GET", ping_path(s.id)));
  check(bindings, "post", bind(s.id, fresh, "u-1"));
  check(bindings, "post", bind(s.id, fresh, ""));
  check(bindings, "post", bind(s.id, s.key, "u-1"));
  const std::string code = code_for(CreatedSource{s.id, fresh, c}, "u-1");

  check(consents, "post", as(a_token_, "POST", consents, json{{"code", code}}.dump()));
  check(consents, "post", as(a_token_, "POST", consents, json{{"code", code}}.dump()));
  check(consents, "post",
        as(b_token_, "POST", consents,
           json{{"code", code_for(CreatedSource{s.id, fresh, c}, "u-1")}}.dump()));
  check(consents, "post", as(a_token_, "POST", consents, "{}"));
  check(consents, "post", as("", "POST", consents, "{}"));
  check(consents, "get", as(a_token_, "GET", consents));
  check(consents, "get", as("", "GET", consents));
  check(consent, "delete", as(a_token_, "DELETE", "/v1/me/consents/" + s.id));
  check(consent, "delete", as(a_token_, "DELETE", "/v1/me/consents/" + s.id));
  check(consent, "delete", as("", "DELETE", "/v1/me/consents/" + s.id));
  check(consents, "get", as(a_token_, "GET", consents));

  // The tags of the two groups.
  for (const auto& [path, method] :
       std::vector<std::pair<std::string, std::string>>{{sources, "post"},
                                                        {sources, "get"},
                                                        {source, "get"},
                                                        {keys, "post"},
                                                        {key, "delete"},
                                                        {pings, "get"},
                                                        {bindings, "post"}}) {
    EXPECT_EQ(doc["paths"][path][method]["tags"], (json{"sources"})) << method << " " << path;
  }
  for (const auto& [path, method] : std::vector<std::pair<std::string, std::string>>{
           {consents, "post"}, {consents, "get"}, {consent, "delete"}}) {
    EXPECT_EQ(doc["paths"][path][method]["tags"], (json{"consents"})) << method << " " << path;
  }
}

TANPU_INSTANTIATE_ENGINES(IngestRoutesTest);

// ── docs/ingestion.md ───────────────────────────────────────────────────────────────────────────

// The worked example of the partner's guide, computed there with openssl: ingest::sign() must give
// the same string to sign and the same signatures.
TEST(IngestSignatureGuide, TheWorkedExampleSignsAsDocumented) {
  const std::string secret = "tsk_" + std::string(64, '0');
  EXPECT_EQ(ingest::string_to_sign("GET", "/v1/sources/src_4f1c2b7a9e3d5c80/ping", "1795000000",
                                   "7d2f0a9c4e1b4a66b3c8e5f1", ""),
            "TANPU-HMAC-SHA256\nGET\n/v1/sources/src_4f1c2b7a9e3d5c80/ping\n1795000000\n"
            "7d2f0a9c4e1b4a66b3c8e5f1\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(ingest::sign(secret, "GET", "/v1/sources/src_4f1c2b7a9e3d5c80/ping", "1795000000",
                         "7d2f0a9c4e1b4a66b3c8e5f1", ""),
            "v1=a6260c58932c196cf690f08d41df5f901e4298e8fac737ceb07e4ffaafd7503f");
  const std::string body = R"({"partner_user_ref":"u-829301"})";
  EXPECT_EQ(ingest::string_to_sign("POST", "/v1/sources/src_4f1c2b7a9e3d5c80/bindings",
                                   "1795000000", "7d2f0a9c4e1b4a66b3c8e5f2", body),
            "TANPU-HMAC-SHA256\nPOST\n/v1/sources/src_4f1c2b7a9e3d5c80/bindings\n1795000000\n"
            "7d2f0a9c4e1b4a66b3c8e5f2\n"
            "4a5d6711f20941bfd938c55fb79ce260314089f83edde1895545280af1ea7f5f");
  EXPECT_EQ(ingest::sign(secret, "POST", "/v1/sources/src_4f1c2b7a9e3d5c80/bindings", "1795000000",
                         "7d2f0a9c4e1b4a66b3c8e5f2", body),
            "v1=fe553ae7713dcffebc2b3e059bcd3d4b498e6380311dd41197c32638619a6fc1");
}

// ── over a real socket ──────────────────────────────────────────────────────────────────────────

class IngestEndToEnd : public IngestRoutesTest {
 protected:
  void SetUp() override {
    IngestRoutesTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    net_.start(router_, metrics_);
  }
  void TearDown() override {
    net_.stop();
    IngestRoutesTest::TearDown();
  }

  // The headers as a partner's HTTP library would send them: canonical capitalisation.
  http::Headers wire_headers(const Key& key, std::string_view method, std::string_view path,
                             std::string_view body) {
    http::Headers out;
    for (auto& [name, value] : signed_headers(key, method, path, body)) {
      std::string wire = name;
      for (std::size_t i = 0; i < wire.size(); ++i)
        if (i == 0 || wire[i - 1] == '-')
          wire[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(wire[i])));
      out.emplace_back(std::move(wire), std::move(value));
    }
    return out;
  }

  http::ClientResponse wire(std::string_view method, std::string_view target, std::string_view body,
                            const http::Headers& headers) {
    auto r = net_.client->request(method, target, body, headers);
    EXPECT_TRUE(r.has_value());
    return r.value_or(http::ClientResponse{});
  }

  Loopback net_;
};

TEST_P(IngestEndToEnd, SignedPingAndBindingSurviveTheWire) {
  const auto bearer = [](const std::string& token) {
    return http::Headers{{"Authorization", "Bearer " + token}};
  };
  auto created =
      wire("POST", "/v1/sources", R"({"name":"Metro","scenarios":["metro"]})", bearer(op_token_));
  ASSERT_EQ(created.status, 201) << created.body;
  const json c = json::parse(created.body);
  const std::string id = c["id"].get<std::string>();
  const Key key{c["key"]["key_id"].get<std::string>(), c["key"]["secret"].get<std::string>()};

  // A signed ping; the query string is not part of what is signed.
  const std::string ping = "/v1/sources/" + id + "/ping";
  auto pinged = wire("GET", ping + "?from=e2e", {}, wire_headers(key, "GET", ping, {}));
  ASSERT_EQ(pinged.status, 200) << pinged.body;
  EXPECT_EQ(json::parse(pinged.body),
            (json{{"source_id", id}, {"key_id", key.id}, {"signature", "valid"}}));

  // A signed binding with a body; then the same bytes again (replayed) and a tampered copy.
  const std::string path = "/v1/sources/" + id + "/bindings";
  const std::string body = R"({"partner_user_ref":"wm-user-829301"})";
  const http::Headers h = wire_headers(key, "POST", path, body);
  auto bound = wire("POST", path, body, h);
  ASSERT_EQ(bound.status, 201) << bound.body;
  const std::string code = json::parse(bound.body)["code"].get<std::string>();
  EXPECT_EQ(json::parse(bound.body)["expires_at"], format_iso8601(kStartUs + 600'000'000));
  auto replayed = wire("POST", path, body, h);
  EXPECT_EQ(replayed.status, 401) << replayed.body;
  EXPECT_EQ(replayed.header("www-authenticate"), kSignatureScheme);
  EXPECT_EQ(json::parse(replayed.body)["error"]["code"], "nonce_reused");
  auto tampered = wire("POST", path, R"({"partner_user_ref":"someone-else"})",
                       wire_headers(key, "POST", path, body));
  EXPECT_EQ(tampered.status, 401) << tampered.body;
  EXPECT_EQ(tampered.header("www-authenticate"), kSignatureScheme);
  EXPECT_EQ(json::parse(tampered.body)["error"]["code"], "bad_signature");

  // The member redeems the code in the app.
  auto granted = wire("POST", "/v1/me/consents", json{{"code", code}}.dump(), bearer(a_token_));
  ASSERT_EQ(granted.status, 201) << granted.body;
  EXPECT_EQ(json::parse(granted.body)["partner_user_ref"], "wm-user-829301");
  EXPECT_EQ(json::parse(granted.body)["live"], true);
}

TANPU_INSTANTIATE_ENGINES(IngestEndToEnd);

}  // namespace
}  // namespace tanpu::test
