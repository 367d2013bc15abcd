// The organisation routes (src/http/routes_orgs.cpp), through the Router of the real App with plain
// Request objects, on every engine: a university → two colleges → classes built through the API, a
// roster imported and activated, an activity checked into, a credit programme's transcript, the
// dashboards, bad input, and the role × endpoint matrix. Answers are held to docs/openapi.json.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/time.h"
#include "http/app.h"
#include "http/app_routes_fixture.h"
#include "http/route_call.h"
#include "http/router.h"
#include "members/members_fixture.h"
#include "orgs/orgs.h"
#include "support/openapi_conform.h"
#include "tabular/tabular.h"

namespace tanpu::test {
namespace {

using nlohmann::json;
using tanpu::testing::conform;

constexpr std::int64_t kHourUs = 3'600'000'000;

// A signed-in member the tests act as.
struct Who {
  members::MemberView view;
  std::string token;
};

class OrgRoutesTest : public AppRoutesFixture<MembersFixture> {
 protected:
  void SetUp() override {
    MembersFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    migrate_with(orgs::migrations());
    if (HasFatalFailure()) return;
    orgs_ = std::make_unique<orgs::Orgs>(db_->store(), *ledger_, *members_, keys_, clock_);
    start_app([this](http::App& a) { a.orgs = orgs_.get(); });
  }
  void TearDown() override {
    stop_app();
    orgs_.reset();
    MembersFixture::TearDown();
  }

  static std::string outcome(const http::Response& r) {
    return std::to_string(r.status) + " " + error_code(r);
  }

  // Why the answer does not conform to the document (status, content type, JSON schema), or "".
  std::string undocumented(const http::Response& r, const std::string& path,
                           const std::string& method) {
    const json& op = doc_["paths"][path][method];
    if (!op.is_object()) return method + " " + path + " is not documented";
    const std::string status = std::to_string(r.status);
    const std::string key = op["responses"].contains(status) ? status : "default";
    if (!op["responses"].contains(key)) return method + " " + path + " lacks " + status;
    if (r.status == 204) return r.body.empty() ? "" : "a 204 with a body";
    const json& content = op["responses"][key]["content"];
    const std::string type = r.content_type.substr(0, r.content_type.find(';'));
    if (!content.contains(type)) return method + " " + path + " " + status + " answers " + type;
    if (type != "application/json") return "";
    const json body = json::parse(r.body, nullptr, false);
    if (body.is_discarded()) return method + " " + path + ": not JSON: " + r.body;
    return conform(doc_, content[type]["schema"], body, "$");
  }

  void expect_doc(const http::Response& r, const std::string& path, const std::string& method) {
    EXPECT_EQ(undocumented(r, path, method), "") << r.body;
  }

  Who member(const std::string& tag) {
    const std::string email = tag + "@example.com";
    Who w{must_register(std::nullopt, email), {}};
    w.token = login(email);
    return w;
  }

  static std::string id_of(const json& j) { return std::to_string(j["id"].get<std::int64_t>()); }

  json must(const http::Response& r, int status) {
    EXPECT_EQ(r.status, status) << r.body;
    return json::parse(r.body, nullptr, false);
  }

  json make_org(const std::string& token, std::optional<std::int64_t> parent,
                const std::string& type, const std::string& name) {
    json b{{"type", type}, {"name", name}};
    if (parent) b["parent_id"] = *parent;
    auto r = send(token, "POST", "/v1/orgs", b.dump());
    expect_doc(r, "/v1/orgs", "post");
    return must(r, 201);
  }

  void grant(const std::string& token, const json& org, const Who& who, const std::string& role) {
    auto r = send(token, "PUT",
                  "/v1/orgs/" + id_of(org) + "/roles/" + std::to_string(who.view.id) + "/" + role);
    EXPECT_EQ(r.status, 204) << r.body;
    expect_doc(r, "/v1/orgs/{id}/roles/{member_id}/{role}", "put");
  }

  http::Response import(const std::string& token, const json& org, const std::string& csv,
                        bool dry_run) {
    return send(token, "POST",
                "/v1/orgs/" + id_of(org) + "/imports?dry_run=" + (dry_run ? "true" : "false"), csv);
  }

  // The tree of the tests: University → College A (Class A1), College B (Class B1), built through
  // the API by the operator, the university's admin and the colleges' admins.
  void build_tree(std::int32_t depth_max = 3) {
    uni_admin_ = member("uni-admin");
    a_admin_ = member("a-admin");
    b_admin_ = member("b-admin");
    a1_admin_ = member("a1-admin");
    a_reviewer_ = member("a-reviewer");
    uni_ = must(
        send(op_token_, "POST", "/v1/orgs",
             json{{"type", "university"}, {"name", "North University"}, {"depth_max", depth_max}}
                 .dump()),
        201);
    grant(op_token_, uni_, uni_admin_, "admin");
    college_a_ = make_org(uni_admin_.token, uni_["id"].get<std::int64_t>(), "college", "College A");
    college_b_ = make_org(uni_admin_.token, uni_["id"].get<std::int64_t>(), "college", "College B");
    grant(uni_admin_.token, college_a_, a_admin_, "admin");
    grant(uni_admin_.token, college_b_, b_admin_, "admin");
    grant(uni_admin_.token, college_a_, a_reviewer_, "reviewer");
    class_a1_ = make_org(a_admin_.token, college_a_["id"].get<std::int64_t>(), "class", "Class A1");
    class_b1_ = make_org(b_admin_.token, college_b_["id"].get<std::int64_t>(), "class", "Class B1");
    grant(a_admin_.token, class_a1_, a1_admin_, "admin");
  }

  // Imports `csv` into org for real and answers the activation code of each created row.
  std::map<std::string, std::string> import_codes(const json& org, const std::string& csv) {
    auto r = import(op_token_, org, csv, false);
    const json report = must(r, 200);
    std::map<std::string, std::string> codes;
    for (const auto& row : report["results"]) {
      if (row.contains("activation_code"))
        codes[row["member_number"].get<std::string>()] = row["activation_code"].get<std::string>();
    }
    return codes;
  }

  // Activates who with code through the API, which must work.
  void activate(const Who& who, const std::string& code) {
    auto r = send(who.token, "POST", "/v1/me/activations", json{{"code", code}}.dump());
    expect_doc(r, "/v1/me/activations", "post");
    EXPECT_EQ(r.status, 200) << r.body;
  }

  // A running activity of org (started an hour ago, ends in three), created by the operator.
  json make_activity(const json& org, std::int64_t points, std::int64_t reduction_mg) {
    const std::int64_t now = clock_.now_us();
    const json b{{"title", "Tree planting"},
                 {"place", "East campus"},
                 {"starts_at", format_iso8601(now - kHourUs)},
                 {"ends_at", format_iso8601(now + 3 * kHourUs)},
                 {"capacity", 50},
                 {"points_per_checkin", points},
                 {"reduction_mg_per_checkin", reduction_mg},
                 {"scenario", "tree_planting"}};
    auto r = send(op_token_, "POST", "/v1/orgs/" + id_of(org) + "/activities", b.dump());
    expect_doc(r, "/v1/orgs/{id}/activities", "post");
    return must(r, 201);
  }

  std::string current_code(std::int64_t activity_id) {
    auto code = orgs_->checkin_code(orgs::Actor{op_.id, true}, activity_id);
    EXPECT_TRUE(code.has_value());
    return code ? code->code : std::string();
  }

  std::unique_ptr<orgs::Orgs> orgs_;
  Who uni_admin_, a_admin_, b_admin_, a1_admin_, a_reviewer_;
  json uni_, college_a_, college_b_, class_a1_, class_b1_;
};

constexpr const char* kRosterCsv =
    "name,member_number,phone,email,org_path\n"
    "Li Wei,S001,13800138001,,Class A1\n"
    "Wang Fang,S002,,wang.fang@example.edu,Class A1\n"
    "Zhang Min,S003,13800138003,zhang.min@example.edu,\n"
    "Bad Phone,S004,12,,Class A1\n";

TEST_P(OrgRoutesTest, ATreeIsBuiltReadMovedAndArchivedThroughTheApi) {
  build_tree();
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(uni_["depth"], 1);
  EXPECT_EQ(uni_["parent_id"], nullptr);
  EXPECT_EQ(uni_["depth_max"], 3);
  EXPECT_EQ(college_a_["parent_id"], uni_["id"]);
  EXPECT_EQ(class_a1_["depth"], 3);
  EXPECT_EQ(class_a1_["root_id"], uni_["id"]);
  EXPECT_EQ(class_a1_["type"], "class");
  EXPECT_EQ(class_a1_["archived"], false);
  EXPECT_EQ(count("orgs_orgs"), 5);

  // GET /v1/orgs: the operator sees the first tier; an admin the top of what they administer.
  auto roots = send(op_token_, "GET", "/v1/orgs");
  expect_doc(roots, "/v1/orgs", "get");
  EXPECT_EQ(must(roots, 200)["orgs"].size(), 1u);
  auto mine = must(send(a_admin_.token, "GET", "/v1/orgs"), 200);
  ASSERT_EQ(mine["orgs"].size(), 1u);
  EXPECT_EQ(mine["orgs"][0]["id"], college_a_["id"]);

  auto kids = send(uni_admin_.token, "GET", "/v1/orgs/" + id_of(uni_) + "/children");
  expect_doc(kids, "/v1/orgs/{id}/children", "get");
  const json k = must(kids, 200);
  ASSERT_EQ(k["orgs"].size(), 2u);
  EXPECT_EQ(k["orgs"][0]["name"], "College A");
  EXPECT_EQ(k["orgs"][1]["name"], "College B");

  // Rename, then refusals that change nothing.
  const std::string a1 = "/v1/orgs/" + id_of(class_a1_);
  auto renamed = send(a1_admin_.token, "PATCH", a1, R"({"name":"Class A1 2026"})");
  expect_doc(renamed, "/v1/orgs/{id}", "patch");
  EXPECT_EQ(must(renamed, 200)["name"], "Class A1 2026");
  const auto refused = [&](const std::string& method, const std::string& path,
                           const std::string& doc_path, const std::string& body,
                           const std::string& expected) {
    auto r = send(uni_admin_.token, method, path, body);
    EXPECT_EQ(outcome(r), expected) << method << " " << path << " " << body;
    expect_doc(r, doc_path, method == "PATCH" ? "patch" : "post");
  };
  refused("PATCH", a1, "/v1/orgs/{id}", R"({"name":)", "400 invalid_json");
  refused("PATCH", a1, "/v1/orgs/{id}", R"({"name":"X","colour":"red"})", "400 unknown_field");
  refused("PATCH", a1, "/v1/orgs/{id}", R"({"name":7})", "400 wrong_type");
  refused("PATCH", a1, "/v1/orgs/{id}", R"({"name":""})", "400 name_required");
  refused("PATCH", a1, "/v1/orgs/{id}", "", "400 body_required");
  refused("PATCH", "/v1/orgs/abc", "/v1/orgs/{id}", R"({"name":"X"})", "404 org_not_found");
  refused("PATCH", "/v1/orgs/999", "/v1/orgs/{id}", R"({"name":"X"})", "404 org_not_found");
  refused("PATCH", a1, "/v1/orgs/{id}", R"({"name":"Class A1 2026"})", "200 ");
  const std::string a_id = id_of(college_a_);
  refused("POST", "/v1/orgs", "/v1/orgs",
          R"({"parent_id":)" + a_id + R"(,"type":"class","name":"Class A1 2026"})",
          "409 sibling_name_taken");
  refused("POST", "/v1/orgs", "/v1/orgs",
          R"({"parent_id":)" + a_id + R"(,"type":"ship","name":"S"})", "400 invalid_type");
  refused("POST", "/v1/orgs", "/v1/orgs",
          R"({"parent_id":)" + a_id + R"(,"type":"college","name":"Sub"})", "400 invalid_type");
  refused("POST", "/v1/orgs", "/v1/orgs",
          R"({"parent_id":)" + id_of(class_a1_) + R"(,"type":"group","name":"Too deep"})",
          "400 depth_exceeded");
  refused("POST", "/v1/orgs", "/v1/orgs",
          R"({"parent_id":)" + a_id + R"(,"type":"class","name":"C","depth_max":4})",
          "400 invalid_depth_max");
  refused("POST", "/v1/orgs", "/v1/orgs", R"({"type":"university","name":"Mine"})",
          "403 forbidden");
  refused("POST", "/v1/orgs", "/v1/orgs", R"({"parent_id":99999,"type":"class","name":"C"})",
          "404 org_not_found");
  EXPECT_EQ(count("orgs_orgs"), 5);

  // Moves: a college cannot go under its own class; a class moves between colleges and back.
  refused("POST", "/v1/orgs/" + a_id + "/move", "/v1/orgs/{id}/move",
          R"({"parent_id":)" + id_of(class_a1_) + "}", "400 move_into_descendant");
  refused("POST", "/v1/orgs/" + a_id + "/move", "/v1/orgs/{id}/move",
          R"({"parent_id":)" + a_id + "}", "400 move_into_descendant");
  refused("POST", "/v1/orgs/" + id_of(uni_) + "/move", "/v1/orgs/{id}/move",
          R"({"parent_id":)" + a_id + "}", "400 move_root");
  refused("POST", a1 + "/move", "/v1/orgs/{id}/move", R"({"parent_id":"x"})", "400 wrong_type");
  auto unmoved = must(send(op_token_, "GET", "/v1/orgs/" + a_id), 200);
  EXPECT_EQ(unmoved["parent_id"], uni_["id"]);
  EXPECT_EQ(unmoved["depth"], 2);
  auto moved =
      send(uni_admin_.token, "POST", a1 + "/move", json{{"parent_id", college_b_["id"]}}.dump());
  expect_doc(moved, "/v1/orgs/{id}/move", "post");
  EXPECT_EQ(must(moved, 200)["parent_id"], college_b_["id"]);
  // Now under College B, A's admin no longer reaches it.
  EXPECT_EQ(outcome(send(a_admin_.token, "GET", a1)), "403 forbidden");
  EXPECT_EQ(send(b_admin_.token, "GET", a1).status, 200);
  EXPECT_EQ(must(send(uni_admin_.token, "POST", a1 + "/move",
                      json{{"parent_id", college_a_["id"]}}.dump()),
                 200)["parent_id"],
            college_a_["id"]);

  // Archive: the subtree is archived, and takes no new children.
  auto archived = send(a_admin_.token, "POST", "/v1/orgs/" + a_id + "/archive");
  expect_doc(archived, "/v1/orgs/{id}/archive", "post");
  EXPECT_EQ(must(archived, 200)["archived"], true);
  EXPECT_EQ(must(send(a_admin_.token, "GET", a1), 200)["archived"], true);
  refused("POST", "/v1/orgs", "/v1/orgs",
          R"({"parent_id":)" + id_of(class_a1_) + R"(,"type":"group","name":"G"})",
          "409 parent_archived");
  EXPECT_EQ(outcome(send(a_admin_.token, "POST", "/v1/orgs/" + a_id + "/archive", R"({"x":1})")),
            "400 unknown_field");
  EXPECT_EQ(count("orgs_orgs"), 5);
}

TEST_P(OrgRoutesTest, RolesAreGrantedAndRevoked) {
  build_tree();
  const std::string path =
      "/v1/orgs/" + id_of(class_a1_) + "/roles/" + std::to_string(bob_.id) + "/reviewer";
  const std::string doc_path = "/v1/orgs/{id}/roles/{member_id}/{role}";
  EXPECT_EQ(outcome(send(bob_token_, "GET", "/v1/orgs/" + id_of(class_a1_) + "/dashboard")),
            "403 forbidden");
  auto bad_role =
      send(a_admin_.token, "PUT",
           "/v1/orgs/" + id_of(class_a1_) + "/roles/" + std::to_string(bob_.id) + "/owner");
  EXPECT_EQ(outcome(bad_role), "400 invalid_role");
  expect_doc(bad_role, doc_path, "put");
  auto no_member =
      send(a_admin_.token, "PUT", "/v1/orgs/" + id_of(class_a1_) + "/roles/99999/admin");
  EXPECT_EQ(outcome(no_member), "404 member_not_found");
  expect_doc(no_member, doc_path, "put");
  EXPECT_EQ(outcome(send(a_admin_.token, "PUT", "/v1/orgs/" + id_of(class_a1_) + "/roles/x/admin")),
            "404 member_not_found");
  // Only the operator grants on a first-tier organisation.
  EXPECT_EQ(
      outcome(send(uni_admin_.token, "PUT",
                   "/v1/orgs/" + id_of(uni_) + "/roles/" + std::to_string(bob_.id) + "/admin")),
      "403 forbidden");
  const std::int64_t roles = count("orgs_roles");

  auto granted = send(a_admin_.token, "PUT", path);
  EXPECT_EQ(granted.status, 204) << granted.body;
  EXPECT_TRUE(granted.body.empty());
  EXPECT_EQ(count("orgs_roles"), roles + 1);
  EXPECT_EQ(send(a_admin_.token, "PUT", path).status, 204);  // again: nothing new
  EXPECT_EQ(count("orgs_roles"), roles + 1);
  EXPECT_EQ(send(bob_token_, "GET", "/v1/orgs/" + id_of(class_a1_) + "/dashboard").status, 200);
  EXPECT_EQ(outcome(send(bob_token_, "PATCH", "/v1/orgs/" + id_of(class_a1_), R"({"name":"B"})")),
            "403 forbidden");

  auto revoked = send(a_admin_.token, "DELETE", path);
  EXPECT_EQ(revoked.status, 204) << revoked.body;
  expect_doc(revoked, doc_path, "delete");
  EXPECT_EQ(count("orgs_roles"), roles);
  auto again = send(a_admin_.token, "DELETE", path);
  EXPECT_EQ(outcome(again), "404 role_not_found");
  expect_doc(again, doc_path, "delete");
  EXPECT_EQ(outcome(send(bob_token_, "GET", "/v1/orgs/" + id_of(class_a1_) + "/dashboard")),
            "403 forbidden");
}

TEST_P(OrgRoutesTest, ARosterIsImportedActivatedAndPaged) {
  build_tree();
  const std::string doc_path = "/v1/orgs/{id}/imports";
  // The dry run reports and writes nothing.
  auto dry = import(a_admin_.token, college_a_, kRosterCsv, true);
  expect_doc(dry, doc_path, "post");
  const json d = must(dry, 200);
  EXPECT_EQ(d["dry_run"], true);
  EXPECT_EQ(d["rows"], 4);
  EXPECT_EQ(d["created"], 3);
  EXPECT_EQ(d["failed"], 1);
  ASSERT_EQ(d["results"].size(), 4u);
  EXPECT_EQ(d["results"][0]["row"], 2);
  EXPECT_FALSE(d["results"][0].contains("activation_code"));
  EXPECT_EQ(d["results"][3]["fate"], "failed");
  EXPECT_EQ(d["results"][3]["error"]["code"], "invalid_phone");
  EXPECT_EQ(d["results"][3]["error"]["field"], "phone");
  EXPECT_EQ(count("orgs_people"), 0);
  // dry_run is the default.
  EXPECT_EQ(
      must(send(a_admin_.token, "POST", "/v1/orgs/" + id_of(college_a_) + "/imports", kRosterCsv),
           200)["dry_run"],
      true);
  EXPECT_EQ(count("orgs_people"), 0);

  // Refused files and callers write nothing.
  const auto refused = [&](const std::string& token, const std::string& query,
                           const std::string& body, const std::string& expected) {
    auto r = send(token, "POST", "/v1/orgs/" + id_of(college_a_) + "/imports" + query, body);
    EXPECT_EQ(outcome(r), expected) << query << " " << body;
    expect_doc(r, doc_path, "post");
  };
  refused(a_admin_.token, "?dry_run=maybe", kRosterCsv, "400 invalid_dry_run");
  refused(a_admin_.token, "?dry_run=false", "", "400 empty_file");
  refused(a_admin_.token, "?dry_run=false", "name,phone\nLi,13800138001\n", "400 missing_column");
  refused(a_admin_.token, "?dry_run=false", "name,member_number,phone\n=1+1,S9,138\n",
          "400 formula_not_allowed");
  refused(a_reviewer_.token, "?dry_run=false", kRosterCsv, "403 forbidden");
  refused(b_admin_.token, "?dry_run=false", kRosterCsv, "403 forbidden");
  refused("", "?dry_run=false", kRosterCsv, "401 missing_token");
  EXPECT_EQ(count("orgs_people"), 0);
  // The route's own body limit is the module's 20 MiB, answered as file_too_large.
  http::Request probe;
  probe.method = "POST";
  probe.path = "/v1/orgs/1/imports";
  const http::Route* route = router_.match(probe, nullptr);
  ASSERT_NE(route, nullptr);
  ASSERT_TRUE(route->body_limit.has_value());
  EXPECT_EQ(route->body_limit->bytes, orgs::kImportBytesMax);
  EXPECT_EQ(route->body_limit->code, "file_too_large");

  // The real run creates three people with codes; the failing row changes nothing.
  auto real = import(a_admin_.token, college_a_, kRosterCsv, false);
  expect_doc(real, doc_path, "post");
  const json rr = must(real, 200);
  EXPECT_EQ(rr["dry_run"], false);
  EXPECT_EQ(rr["created"], 3);
  EXPECT_EQ(rr["failed"], 1);
  std::map<std::string, std::string> codes;
  for (const auto& row : rr["results"]) {
    if (row.contains("activation_code"))
      codes[row["member_number"].get<std::string>()] = row["activation_code"].get<std::string>();
  }
  ASSERT_EQ(codes.size(), 3u);
  EXPECT_EQ(codes["S001"].size(), 14u);  // XXXX-XXXX-XXXX
  EXPECT_EQ(count("orgs_people"), 3);

  // The same file again: unchanged, no new codes.
  const json again = must(import(a_admin_.token, college_a_, kRosterCsv, false), 200);
  EXPECT_EQ(again["unchanged"], 3);
  EXPECT_EQ(again["created"], 0);
  EXPECT_EQ(again["failed"], 1);
  for (const auto& row : again["results"]) EXPECT_FALSE(row.contains("activation_code"));
  EXPECT_EQ(count("orgs_people"), 3);

  // The roster, two at a time: reviewers read it, masked.
  const std::string people = "/v1/orgs/" + id_of(college_a_) + "/people";
  auto page1 = send(a_reviewer_.token, "GET", people + "?limit=2");
  expect_doc(page1, "/v1/orgs/{id}/people", "get");
  const json p1 = must(page1, 200);
  ASSERT_EQ(p1["people"].size(), 2u);
  EXPECT_EQ(p1["people"][0]["member_number"], "S001");
  EXPECT_EQ(p1["people"][0]["org_path"], "College A/Class A1");  // from below the root
  EXPECT_EQ(p1["people"][0]["org_id"], class_a1_["id"]);
  EXPECT_EQ(p1["people"][0]["member_id"], nullptr);
  EXPECT_NE(p1["people"][0]["phone_masked"], nullptr);
  EXPECT_EQ(p1["people"][0]["phone_masked"].get<std::string>().find("13800138001"),
            std::string::npos);
  EXPECT_EQ(p1["next_after"], "S002");
  const json p2 = must(send(a_reviewer_.token, "GET", people + "?limit=2&after=S002"), 200);
  ASSERT_EQ(p2["people"].size(), 1u);
  EXPECT_EQ(p2["people"][0]["member_number"], "S003");
  EXPECT_EQ(p2["people"][0]["org_path"], "College A");
  EXPECT_EQ(p2["next_after"], nullptr);
  // A class's roster is its own subtree.
  EXPECT_EQ(
      must(send(a1_admin_.token, "GET", "/v1/orgs/" + id_of(class_a1_) + "/people"), 200)["people"]
          .size(),
      2u);
  for (const char* bad : {"?limit=0", "?limit=1001", "?limit=x"}) {
    auto r = send(a_admin_.token, "GET", people + bad);
    EXPECT_EQ(r.status, 400) << bad;
    expect_doc(r, "/v1/orgs/{id}/people", "get");
  }

  // A registered member activates S001; the code works once.
  const Who carol = member("carol");
  auto activated =
      send(carol.token, "POST", "/v1/me/activations", json{{"code", codes["S001"]}}.dump());
  expect_doc(activated, "/v1/me/activations", "post");
  const json person = must(activated, 200);
  EXPECT_EQ(person["member_id"], carol.view.id);
  EXPECT_EQ(person["member_number"], "S001");
  EXPECT_EQ(person["org_path"], "College A/Class A1");
  EXPECT_NE(person["activated_at"], nullptr);
  auto my_orgs = send(carol.token, "GET", "/v1/me/orgs");
  expect_doc(my_orgs, "/v1/me/orgs", "get");
  const json mo = must(my_orgs, 200);
  ASSERT_EQ(mo["orgs"].size(), 1u);
  EXPECT_EQ(mo["orgs"][0]["id"], class_a1_["id"]);
  const Who dave = member("dave");
  auto reused =
      send(dave.token, "POST", "/v1/me/activations", json{{"code", codes["S001"]}}.dump());
  EXPECT_EQ(outcome(reused), "404 invalid_activation_code");
  expect_doc(reused, "/v1/me/activations", "post");
  auto second =
      send(carol.token, "POST", "/v1/me/activations", json{{"code", codes["S002"]}}.dump());
  EXPECT_EQ(outcome(second), "409 already_in_tree");
  expect_doc(second, "/v1/me/activations", "post");
  EXPECT_EQ(outcome(send(dave.token, "POST", "/v1/me/activations", R"({"code":"x","y":1})")),
            "400 unknown_field");
  EXPECT_EQ(outcome(send("", "POST", "/v1/me/activations", R"({"code":"x"})")),
            "401 missing_token");
  EXPECT_EQ(count("orgs_memberships"), 1);

  // A new code for S002: the old one stops working, the new one activates dave.
  const std::int64_t s002 = p1["people"][1]["id"].get<std::int64_t>();
  const std::string reissue =
      "/v1/orgs/" + id_of(class_a1_) + "/people/" + std::to_string(s002) + "/activation-code";
  auto fresh = send(a1_admin_.token, "POST", reissue);
  expect_doc(fresh, "/v1/orgs/{id}/people/{person_id}/activation-code", "post");
  const std::string new_code = must(fresh, 200)["activation_code"].get<std::string>();
  EXPECT_NE(new_code, codes["S002"]);
  EXPECT_EQ(
      outcome(send(dave.token, "POST", "/v1/me/activations", json{{"code", codes["S002"]}}.dump())),
      "404 invalid_activation_code");
  activate(dave, new_code);
  EXPECT_EQ(outcome(send(a1_admin_.token, "POST", reissue)), "409 already_activated");
  EXPECT_EQ(outcome(send(a1_admin_.token, "POST",
                         "/v1/orgs/" + id_of(class_a1_) + "/people/99999/activation-code")),
            "404 person_not_found");

  // Settings.
  auto hide = send(carol.token, "PUT", "/v1/me/org-settings", R"({"name_hidden":true})");
  EXPECT_EQ(hide.status, 204) << hide.body;
  expect_doc(hide, "/v1/me/org-settings", "put");
  auto bad = send(carol.token, "PUT", "/v1/me/org-settings", R"({"name_hidden":"yes"})");
  EXPECT_EQ(outcome(bad), "400 wrong_type");
  expect_doc(bad, "/v1/me/org-settings", "put");
}

TEST_P(OrgRoutesTest, AnActivityIsCheckedIntoAndTheDashboardsAndCreditsShowIt) {
  build_tree();
  const auto codes = import_codes(college_a_, kRosterCsv);
  ASSERT_EQ(codes.size(), 3u);
  const Who carol = member("carol");
  activate(carol, codes.at("S001"));
  const Who dave = member("dave");
  activate(dave, codes.at("S003"));  // at College A itself

  // Refused activities write nothing.
  const std::string create = "/v1/orgs/" + id_of(class_a1_) + "/activities";
  const std::int64_t now = clock_.now_us();
  json body{{"title", "Tree planting"},
            {"starts_at", format_iso8601(now - kHourUs)},
            {"ends_at", format_iso8601(now + 3 * kHourUs)},
            {"capacity", 50},
            {"points_per_checkin", 30}};
  const auto refused = [&](json change, const std::string& expected) {
    json b = body;
    b.update(change);
    auto r = send(a1_admin_.token, "POST", create, b.dump());
    EXPECT_EQ(outcome(r), expected) << change.dump();
    expect_doc(r, "/v1/orgs/{id}/activities", "post");
  };
  refused({{"title", ""}}, "400 title_required");
  refused({{"capacity", 0}}, "400 invalid_capacity");
  refused({{"ends_at", format_iso8601(now - 2 * kHourUs)}}, "400 invalid_window");
  refused({{"starts_at", "soon"}}, "400 invalid_time");
  refused({{"points_per_checkin", 10'001}}, "400 invalid_points");
  refused({{"scenario", "Tree Planting"}}, "400 invalid_scenario");
  refused({{"colour", "green"}}, "400 unknown_field");
  EXPECT_EQ(count("orgs_activities"), 0);

  const json activity = make_activity(class_a1_, 30, 2'500'000);
  EXPECT_EQ(activity["signed_up"], 0);
  EXPECT_EQ(activity["scenario"], "tree_planting");
  const std::string act = "/v1/activities/" + id_of(activity);
  auto listed = send(carol.token, "GET", "/v1/me/activities");
  expect_doc(listed, "/v1/me/activities", "get");
  ASSERT_EQ(must(listed, 200)["activities"].size(), 1u);
  EXPECT_EQ(must(send(dave.token, "GET", "/v1/me/activities"), 200)["activities"].size(), 0u);
  auto of_org = send(a_reviewer_.token, "GET", create);
  expect_doc(of_org, "/v1/orgs/{id}/activities", "get");
  EXPECT_EQ(must(of_org, 200)["activities"].size(), 1u);
  auto got = send(bob_token_, "GET", act);
  expect_doc(got, "/v1/activities/{id}", "get");
  EXPECT_EQ(must(got, 200)["title"], "Tree planting");
  EXPECT_EQ(outcome(send(bob_token_, "GET", "/v1/activities/999")), "404 activity_not_found");

  // Sign-up: members of the class only, once.
  auto outsider = send(dave.token, "POST", act + "/signups");
  EXPECT_EQ(outcome(outsider), "403 not_a_member");
  expect_doc(outsider, "/v1/activities/{id}/signups", "post");
  auto signed_up = send(carol.token, "POST", act + "/signups");
  expect_doc(signed_up, "/v1/activities/{id}/signups", "post");
  EXPECT_EQ(must(signed_up, 200)["signed_up"], 1);
  auto twice = send(carol.token, "POST", act + "/signups");
  EXPECT_EQ(outcome(twice), "409 already_signed_up");
  expect_doc(twice, "/v1/activities/{id}/signups", "post");

  // The code on the screen, then check-in: the points arrive once.
  auto screen = send(a1_admin_.token, "GET", act + "/checkin-code");
  expect_doc(screen, "/v1/activities/{id}/checkin-code", "get");
  const json code = must(screen, 200);
  const std::string typed = code["code"].get<std::string>();
  EXPECT_EQ(typed.size(), orgs::kCheckinCodeChars);
  EXPECT_EQ(code["qr_text"], "tanpu:checkin:v1:" + id_of(activity) + ":" + typed);
  const std::int64_t before = balance(carol.view.points_account_id);
  const std::string checkins = act + "/checkins";
  auto not_signed = send(dave.token, "POST", checkins, json{{"code", typed}}.dump());
  EXPECT_EQ(outcome(not_signed), "403 not_signed_up");
  expect_doc(not_signed, "/v1/activities/{id}/checkins", "post");
  auto wrong = send(carol.token, "POST", checkins,
                    json{{"code", typed == "00000000" ? "11111111" : "00000000"}}.dump());
  EXPECT_EQ(outcome(wrong), "400 invalid_code");
  expect_doc(wrong, "/v1/activities/{id}/checkins", "post");
  EXPECT_EQ(balance(carol.view.points_account_id), before);
  auto in = send(carol.token, "POST", checkins, json{{"code", typed}}.dump());
  expect_doc(in, "/v1/activities/{id}/checkins", "post");
  const json c = must(in, 200);
  EXPECT_EQ(c["points"], 30);
  EXPECT_EQ(c["reduction_mg"], 2'500'000);
  EXPECT_EQ(c["member_id"], carol.view.id);
  EXPECT_EQ(balance(carol.view.points_account_id), before + 30);
  auto again = send(carol.token, "POST", checkins, json{{"code", typed}}.dump());
  EXPECT_EQ(outcome(again), "409 already_checked_in");
  expect_doc(again, "/v1/activities/{id}/checkins", "post");
  EXPECT_EQ(balance(carol.view.points_account_id), before + 30);
  EXPECT_EQ(must(send(carol.token, "GET", act), 200)["checked_in"], 1);

  // The dashboards: the class, the college and the university count the check-in; B does not.
  const auto board = [&](const std::string& token, const json& org) {
    auto r = send(token, "GET", "/v1/orgs/" + id_of(org) + "/dashboard");
    expect_doc(r, "/v1/orgs/{id}/dashboard", "get");
    return must(r, 200);
  };
  const json da = board(a_reviewer_.token, college_a_);
  EXPECT_EQ(da["org"]["id"], college_a_["id"]);
  EXPECT_EQ(da["today"], format_date(local_day(clock_.now_us(), 480)));
  EXPECT_EQ(da["imported"], 3);
  EXPECT_EQ(da["activated"], 2);
  EXPECT_DOUBLE_EQ(da["registration_rate"].get<double>(), 2.0 / 3.0);
  EXPECT_EQ(da["members"], 2);
  EXPECT_EQ(da["active_7d"], 1);
  EXPECT_EQ(da["records"], 1);
  EXPECT_EQ(da["points"], 30);
  EXPECT_EQ(da["reduction_mg"], 2'500'000);
  EXPECT_EQ(da["reduction_display"], "2.5 kg");
  ASSERT_EQ(da["scenarios"].size(), 1u);
  EXPECT_EQ(da["scenarios"][0]["scenario"], "tree_planting");
  EXPECT_DOUBLE_EQ(da["scenarios"][0]["count_share"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(da["scenarios"][0]["volume_share"].get<double>(), 1.0);
  ASSERT_EQ(da["trend"].size(), 30u);
  EXPECT_EQ(da["trend"][29]["day"], da["today"]);
  EXPECT_EQ(da["trend"][29]["points"], 30);
  EXPECT_EQ(da["trend"][0]["records"], 0);
  ASSERT_EQ(da["children"].size(), 1u);
  EXPECT_EQ(da["children"][0]["org_id"], class_a1_["id"]);
  EXPECT_EQ(da["children"][0]["members"], 1);
  EXPECT_EQ(da["children"][0]["reduction_mg"], 2'500'000);
  ASSERT_EQ(da["top_members"].size(), 2u);
  EXPECT_EQ(da["top_members"][0]["member_id"], carol.view.id);
  EXPECT_EQ(da["top_members"][0]["level"], 1);
  EXPECT_EQ(da["top_members"][0]["level_title"], "sprout");
  const json du = board(uni_admin_.token, uni_);
  EXPECT_EQ(du["points"], 30);
  EXPECT_EQ(du["members"], 2);
  EXPECT_EQ(board(a1_admin_.token, class_a1_)["records"], 1);
  const json db = board(b_admin_.token, college_b_);
  EXPECT_EQ(db["records"], 0);
  EXPECT_EQ(db["members"], 0);
  EXPECT_EQ(db["reduction_display"], "0 mg");
  EXPECT_EQ(outcome(send(carol.token, "GET", "/v1/orgs/" + id_of(class_a1_) + "/dashboard")),
            "403 forbidden");
}

TEST_P(OrgRoutesTest, ACreditProgrammeAndItsTranscriptInEveryFormat) {
  build_tree();
  const auto codes = import_codes(college_a_, kRosterCsv);
  ASSERT_EQ(codes.size(), 3u);
  const Who carol = member("carol");
  activate(carol, codes.at("S001"));
  const json activity = make_activity(class_a1_, 45, 0);
  const std::string act = "/v1/activities/" + id_of(activity);
  ASSERT_EQ(send(carol.token, "POST", act + "/signups").status, 200);
  ASSERT_EQ(send(carol.token, "POST", act + "/checkins",
                 json{{"code", current_code(activity["id"].get<std::int64_t>())}}.dump())
                .status,
            200);

  const std::string create = "/v1/orgs/" + id_of(college_a_) + "/credit-programmes";
  const json body{{"name", "Undergraduate 2026"},
                  {"points_per_credit", 20},
                  {"credits_max", 4},
                  {"enrolment_starts", "2026-09-01"},
                  {"enrolment_years", 4}};
  const auto refused = [&](json change, const std::string& expected) {
    json b = body;
    b.update(change);
    auto r = send(a_admin_.token, "POST", create, b.dump());
    EXPECT_EQ(outcome(r), expected) << change.dump();
    expect_doc(r, "/v1/orgs/{id}/credit-programmes", "post");
  };
  refused({{"points_per_credit", 0}}, "400 invalid_points_per_credit");
  refused({{"credits_max", 0}}, "400 invalid_credits_max");
  refused({{"enrolment_years", 11}}, "400 invalid_enrolment_years");
  refused({{"enrolment_years", 4'294'967'297LL}}, "400 invalid_enrolment_years");
  refused({{"enrolment_starts", "2026-02-30"}}, "400 invalid_date");
  refused({{"name", ""}}, "400 name_required");
  refused({{"extra", 1}}, "400 unknown_field");
  EXPECT_EQ(outcome(send(a_admin_.token, "POST", create, "{")), "400 invalid_json");
  EXPECT_EQ(outcome(send(a_reviewer_.token, "POST", create, body.dump())), "403 forbidden");
  EXPECT_EQ(count("orgs_programmes"), 0);

  auto made = send(a_admin_.token, "POST", create, body.dump());
  expect_doc(made, "/v1/orgs/{id}/credit-programmes", "post");
  const json p = must(made, 201);
  EXPECT_EQ(p["enrolment_starts"], "2026-09-01");
  EXPECT_EQ(p["enrolment_ends"], "2030-09-01");
  auto listed = send(a_reviewer_.token, "GET", create);
  expect_doc(listed, "/v1/orgs/{id}/credit-programmes", "get");
  EXPECT_EQ(must(listed, 200)["programmes"].size(), 1u);

  const std::string transcript = "/v1/credit-programmes/" + id_of(p) + "/transcript";
  const std::string doc_path = "/v1/credit-programmes/{id}/transcript";
  auto as_json = send(a_reviewer_.token, "GET", transcript);
  expect_doc(as_json, doc_path, "get");
  const json t = must(as_json, 200);
  EXPECT_EQ(t["programme"]["id"], p["id"]);
  ASSERT_EQ(t["lines"].size(), 1u);
  EXPECT_EQ(t["lines"][0]["member_number"], "S001");
  EXPECT_EQ(t["lines"][0]["org_path"], "College A/Class A1");
  EXPECT_EQ(t["lines"][0]["points_earned"], 45);
  EXPECT_EQ(t["lines"][0]["credits"], 2);

  auto csv = send(a_reviewer_.token, "GET", transcript + "?format=csv");
  EXPECT_EQ(csv.status, 200);
  expect_doc(csv, doc_path, "get");
  EXPECT_EQ(csv.content_type.substr(0, 8), "text/csv");
  const auto read_back = [](const std::string& file) {
    return tabular::read(std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(file.data()), file.size()));
  };
  const std::vector<std::string> header{"member_number", "name", "org_path", "points_earned",
                                        "credits"};
  const std::vector<std::string> line{"S001", "Li Wei", "College A/Class A1", "45", "2"};
  auto csv_sheet = read_back(csv.body);
  ASSERT_OK(csv_sheet);
  EXPECT_EQ(csv_sheet->header, header);
  ASSERT_EQ(csv_sheet->rows.size(), 1u);
  EXPECT_EQ(csv_sheet->rows[0], line);
  const auto disposition = [](const http::Response& r) {
    for (const auto& [name, value] : r.headers)
      if (name == "Content-Disposition") return value;
    return std::string();
  };
  EXPECT_EQ(disposition(csv), "attachment; filename=\"transcript-" + id_of(p) + ".csv\"");

  auto xlsx = send(a_reviewer_.token, "GET", transcript + "?format=xlsx");
  EXPECT_EQ(xlsx.status, 200);
  expect_doc(xlsx, doc_path, "get");
  ASSERT_GE(xlsx.body.size(), 2u);
  EXPECT_EQ(xlsx.body.substr(0, 2), "PK");
  EXPECT_EQ(disposition(xlsx), "attachment; filename=\"transcript-" + id_of(p) + ".xlsx\"");
  auto sheet = read_back(xlsx.body);
  ASSERT_OK(sheet);
  EXPECT_EQ(sheet->header, header);
  ASSERT_EQ(sheet->rows.size(), 1u);
  EXPECT_EQ(sheet->rows[0], line);

  auto bad_format = send(a_reviewer_.token, "GET", transcript + "?format=pdf");
  EXPECT_EQ(outcome(bad_format), "400 invalid_format");
  expect_doc(bad_format, doc_path, "get");
  EXPECT_EQ(outcome(send(a_reviewer_.token, "GET", "/v1/credit-programmes/999/transcript")),
            "404 programme_not_found");

  auto mine = send(carol.token, "GET", "/v1/me/credits");
  expect_doc(mine, "/v1/me/credits", "get");
  const json m = must(mine, 200);
  ASSERT_EQ(m["programmes"].size(), 1u);
  EXPECT_EQ(m["programmes"][0]["id"], p["id"]);
  EXPECT_EQ(m["programmes"][0]["points_earned"], 45);
  EXPECT_EQ(m["programmes"][0]["credits"], 2);
  EXPECT_EQ(must(send(bob_token_, "GET", "/v1/me/credits"), 200)["programmes"].size(), 0u);
}

TEST_P(OrgRoutesTest, AnIdempotencyKeyAnswersTheFirstCreation) {
  const std::string body = json{{"type", "university"}, {"name", "Keyed University"}}.dump();
  const RouteHeaders key{{"idempotency-key", "uni-2026"}};
  const json first = must(send(op_token_, "POST", "/v1/orgs", body, key), 201);
  const json again = must(send(op_token_, "POST", "/v1/orgs", body, key), 200);
  EXPECT_EQ(again["id"], first["id"]);
  EXPECT_EQ(count("orgs_orgs"), 1);
  const std::string other = json{{"type", "university"}, {"name", "Other University"}}.dump();
  EXPECT_EQ(outcome(send(op_token_, "POST", "/v1/orgs", other, key)), "409 idempotency_conflict");
  EXPECT_EQ(outcome(send(op_token_, "POST", "/v1/orgs", other, {{"idempotency-key", "a b"}})),
            "400 invalid_idempotency_key");
  EXPECT_EQ(count("orgs_orgs"), 1);
}

TEST_P(OrgRoutesTest, AnActivityQuantifiedByAMethodologyCreditsItsReduction) {
  build_tree();
  const std::int64_t now = clock_.now_us();
  json b{{"title", "Arbor Day"},
         {"starts_at", format_iso8601(now - kHourUs)},
         {"ends_at", format_iso8601(now + kHourUs)},
         {"capacity", 10},
         {"points_per_checkin", 5},
         {"methodology",
          {{"scenario", "tree_planting"}, {"region", "CN-LN-SHE"}, {"inputs", {{"trees", 1}}}}}};
  const std::string path = "/v1/orgs/" + id_of(college_a_) + "/activities";
  auto r = send(a_admin_.token, "POST", path, b.dump());
  expect_doc(r, "/v1/orgs/{id}/activities", "post");
  const json a = must(r, 201);
  // One tree: 17.9 kg under the national default (data/methodologies/CN), its scenario.
  EXPECT_EQ(a["reduction_mg_per_checkin"], 17'900'000);
  EXPECT_EQ(a["methodology"], "tanpu-cn-tree-planting@2026.1");
  EXPECT_EQ(a["scenario"], "tree_planting");
  // Both a reduction and a methodology, or inputs the methodology refuses: nothing is created.
  b["reduction_mg_per_checkin"] = 1;
  EXPECT_EQ(outcome(send(a_admin_.token, "POST", path, b.dump())), "400 reduction_and_methodology");
  b.erase("reduction_mg_per_checkin");
  b["methodology"]["inputs"]["trees"] = 0;
  EXPECT_EQ(outcome(send(a_admin_.token, "POST", path, b.dump())), "422 input_out_of_bounds");
  EXPECT_EQ(count("orgs_activities"), 1);
}

TEST_P(OrgRoutesTest, WithoutTheModuleTheRoutesAnswer503) {
  http::App bare = *app_;
  bare.orgs = nullptr;
  http::Router router;
  http::add_all_routes(router, bare);
  auto r = call_route(router, alice_token_, "GET", "/v1/me/orgs");
  EXPECT_EQ(outcome(r), "503 orgs_unavailable");
  expect_doc(r, "/v1/me/orgs", "get");
  EXPECT_EQ(outcome(call_route(router, "", "GET", "/v1/me/orgs")), "401 missing_token");
}

// ── The role × endpoint matrix ────────────────────────────────────────────────────────────────

enum Actor : std::size_t {
  kOperator,
  kUniAdmin,
  kAAdmin,
  kBAdmin,
  kA1Admin,
  kAReviewer,
  kA1Member,
  kNoOrg,
  kAnonymous,
  kActors
};
constexpr std::array<const char*, kActors> kActorNames{
    "operator",   "university admin", "college-A admin",  "college-B admin", "class-A1 admin",
    "A reviewer", "A1 member",        "member of no org", "anonymous"};

using Actors = std::set<Actor>;

// One endpoint called against one target: who may (every other signed-in actor: 403).
struct Row {
  std::string method;
  std::string path;      // as called
  std::string doc_path;  // as documented
  std::function<std::string(Actor)> body;
  Actors allowed;
  int ok_status = 200;
};

TEST_P(OrgRoutesTest, TheRoleMatrix) {
  build_tree(4);  // room for a group under a class
  ASSERT_FALSE(HasFailure());
  const auto codes = import_codes(class_a1_,
                                  "name,member_number,email\n"
                                  "Member One,M001,m1@example.edu\n"
                                  "Not Yet,M002,m2@example.edu\n");
  ASSERT_EQ(codes.size(), 2u);
  const Who a1_member = member("a1-member");
  activate(a1_member, codes.at("M001"));
  const Who no_org = member("no-org");
  const Who grantee = member("grantee");
  const json act_a = make_activity(college_a_, 10, 0);
  const json act_a1 = make_activity(class_a1_, 10, 0);
  const json prog_a =
      must(send(op_token_, "POST", "/v1/orgs/" + id_of(college_a_) + "/credit-programmes",
                json{{"name", "P"},
                     {"points_per_credit", 500},
                     {"credits_max", 4},
                     {"enrolment_starts", "2026-09-01"},
                     {"enrolment_years", 4}}
                    .dump()),
           201);
  const auto people = must(send(op_token_, "GET", "/v1/orgs/" + id_of(class_a1_) + "/people"), 200);
  ASSERT_EQ(people["people"].size(), 2u);
  const std::string not_yet = std::to_string(people["people"][1]["id"].get<std::int64_t>());
  ASSERT_FALSE(HasFailure());

  const std::array<std::string, kActors> tokens{
      op_token_,       uni_admin_.token, a_admin_.token,
      b_admin_.token,  a1_admin_.token,  a_reviewer_.token,
      a1_member.token, no_org.token,     ""};

  const std::string A = "/v1/orgs/" + id_of(college_a_);
  const std::string A1 = "/v1/orgs/" + id_of(class_a1_);
  const std::string B = "/v1/orgs/" + id_of(college_b_);
  const std::string ACT_A = "/v1/activities/" + id_of(act_a);
  const std::string ACT_A1 = "/v1/activities/" + id_of(act_a1);
  const std::string TR_A = "/v1/credit-programmes/" + id_of(prog_a) + "/transcript";
  const std::string grantee_id = std::to_string(grantee.view.id);

  const Actors over_a{kOperator, kUniAdmin, kAAdmin};             // admins of A (or above)
  const Actors over_a1{kOperator, kUniAdmin, kAAdmin, kA1Admin};  // admins of A1 (or above)
  const Actors read_a{kOperator, kUniAdmin, kAAdmin, kAReviewer};
  const Actors read_a1{kOperator, kUniAdmin, kAAdmin, kA1Admin, kAReviewer};
  const Actors over_b{kOperator, kUniAdmin, kBAdmin};
  const Actors signed_in{kOperator, kUniAdmin,  kAAdmin,   kBAdmin,
                         kA1Admin,  kAReviewer, kA1Member, kNoOrg};
  const auto none = [](Actor) { return std::string(); };
  const auto fixed = [](std::string b) { return [b](Actor) { return b; }; };
  const auto child = [](std::int64_t parent, const char* type) {
    return [parent, type](Actor a) {
      return json{
          {"parent_id", parent}, {"type", type}, {"name", std::string("Matrix ") + kActorNames[a]}}
          .dump();
    };
  };
  const std::string activity_body = json{
      {"title", "Matrix walk"},
      {"starts_at", format_iso8601(clock_.now_us())},
      {"ends_at", format_iso8601(clock_.now_us() + kHourUs)},
      {"capacity", 5},
      {"points_per_checkin", 1}}.dump();
  const std::string programme_body = json{
      {"name", "Matrix"},
      {"points_per_credit", 100},
      {"credits_max", 2},
      {"enrolment_starts", "2026-01-01"},
      {"enrolment_years", 1}}.dump();
  const std::string roster = "name,member_number,email\nDry Run,D001,d1@example.edu\n";
  const std::int64_t a_id = college_a_["id"].get<std::int64_t>();
  const std::int64_t a1_id = class_a1_["id"].get<std::int64_t>();
  const std::int64_t act_a_id = act_a["id"].get<std::int64_t>();
  // The member signs up before checking in: the rows are walked in order for each actor.
  const auto checkin = [this, act_a_id](Actor) {
    return json{{"code", current_code(act_a_id)}}.dump();
  };

  std::vector<Row> rows{
      // Reads of the tree: admins and reviewers of it or above, and members inside.
      {"GET", A, "/v1/orgs/{id}", none, {kOperator, kUniAdmin, kAAdmin, kAReviewer, kA1Member}},
      {"GET",
       A1,
       "/v1/orgs/{id}",
       none,
       {kOperator, kUniAdmin, kAAdmin, kA1Admin, kAReviewer, kA1Member}},
      {"GET", B, "/v1/orgs/{id}", none, over_b},
      {"GET",
       A + "/children",
       "/v1/orgs/{id}/children",
       none,
       {kOperator, kUniAdmin, kAAdmin, kAReviewer, kA1Member}},
      {"GET",
       A1 + "/children",
       "/v1/orgs/{id}/children",
       none,
       {kOperator, kUniAdmin, kAAdmin, kA1Admin, kAReviewer, kA1Member}},
      // Writes of the tree (renames to the same name and moves to the same parent change
      // nothing).
      {"PATCH", A, "/v1/orgs/{id}", fixed(R"({"name":"College A"})"), over_a},
      {"PATCH", A1, "/v1/orgs/{id}", fixed(R"({"name":"Class A1"})"), over_a1},
      {"PATCH", B, "/v1/orgs/{id}", fixed(R"({"name":"College B"})"), over_b},
      {"POST", A1 + "/move", "/v1/orgs/{id}/move", fixed(json{{"parent_id", a_id}}.dump()), over_a},
      {"POST", "/v1/orgs", "/v1/orgs", child(a_id, "class"), over_a, 201},
      {"POST", "/v1/orgs", "/v1/orgs", child(a1_id, "group"), over_a1, 201},
      {"POST", "/v1/orgs", "/v1/orgs", child(college_b_["id"].get<std::int64_t>(), "class"), over_b,
       201},
      {"PUT", A + "/roles/" + grantee_id + "/reviewer", "/v1/orgs/{id}/roles/{member_id}/{role}",
       none, over_a, 204},
      {"DELETE", A + "/roles/" + grantee_id + "/reviewer", "/v1/orgs/{id}/roles/{member_id}/{role}",
       none, over_a, 204},
      {"PUT", A1 + "/roles/" + grantee_id + "/admin", "/v1/orgs/{id}/roles/{member_id}/{role}",
       none, over_a1, 204},
      {"DELETE", A1 + "/roles/" + grantee_id + "/admin", "/v1/orgs/{id}/roles/{member_id}/{role}",
       none, over_a1, 204},
      // The roster.
      {"POST", A + "/imports?dry_run=true", "/v1/orgs/{id}/imports", fixed(roster), over_a},
      {"POST", A1 + "/imports?dry_run=true", "/v1/orgs/{id}/imports", fixed(roster), over_a1},
      {"POST", B + "/imports?dry_run=true", "/v1/orgs/{id}/imports", fixed(roster), over_b},
      {"GET", A + "/people", "/v1/orgs/{id}/people", none, read_a},
      {"GET", A1 + "/people", "/v1/orgs/{id}/people", none, read_a1},
      {"GET", B + "/people", "/v1/orgs/{id}/people", none, over_b},
      {"POST", A + "/people/" + not_yet + "/activation-code",
       "/v1/orgs/{id}/people/{person_id}/activation-code", none, over_a},
      {"POST", A1 + "/people/" + not_yet + "/activation-code",
       "/v1/orgs/{id}/people/{person_id}/activation-code", none, over_a1},
      // Activities.
      {"POST", A + "/activities", "/v1/orgs/{id}/activities", fixed(activity_body), over_a, 201},
      {"POST", A1 + "/activities", "/v1/orgs/{id}/activities", fixed(activity_body), over_a1, 201},
      {"POST", B + "/activities", "/v1/orgs/{id}/activities", fixed(activity_body), over_b, 201},
      {"GET", A + "/activities", "/v1/orgs/{id}/activities", none, read_a},
      {"GET", A1 + "/activities", "/v1/orgs/{id}/activities", none, read_a1},
      {"GET", ACT_A, "/v1/activities/{id}", none, signed_in},
      {"GET", ACT_A + "/checkin-code", "/v1/activities/{id}/checkin-code", none, over_a},
      {"GET", ACT_A1 + "/checkin-code", "/v1/activities/{id}/checkin-code", none, over_a1},
      {"POST", ACT_A + "/signups", "/v1/activities/{id}/signups", none, {kA1Member}},
      {"POST", ACT_A + "/checkins", "/v1/activities/{id}/checkins", checkin, {kA1Member}},
      // Credit programmes.
      {"POST", A + "/credit-programmes", "/v1/orgs/{id}/credit-programmes", fixed(programme_body),
       over_a, 201},
      {"POST", A1 + "/credit-programmes", "/v1/orgs/{id}/credit-programmes", fixed(programme_body),
       over_a1, 201},
      {"GET", A + "/credit-programmes", "/v1/orgs/{id}/credit-programmes", none, read_a},
      {"GET", A1 + "/credit-programmes", "/v1/orgs/{id}/credit-programmes", none, read_a1},
      {"GET", TR_A, "/v1/credit-programmes/{id}/transcript", none, read_a},
      {"GET", TR_A + "?format=csv", "/v1/credit-programmes/{id}/transcript", none, read_a},
      // Dashboards.
      {"GET", A + "/dashboard", "/v1/orgs/{id}/dashboard", none, read_a},
      {"GET", A1 + "/dashboard", "/v1/orgs/{id}/dashboard", none, read_a1},
      {"GET", B + "/dashboard", "/v1/orgs/{id}/dashboard", none, over_b},
  };
  // Archiving is walked last (for every actor), so that it does not refuse the rows above.
  const std::vector<Row> last{
      {"POST", A1 + "/archive", "/v1/orgs/{id}/archive", none, over_a1},
      {"POST", A + "/archive", "/v1/orgs/{id}/archive", none, over_a},
  };

  const std::int64_t orgs_before = count("orgs_orgs");
  const std::int64_t activities_before = count("orgs_activities");
  const std::int64_t programmes_before = count("orgs_programmes");
  const std::int64_t people_before = count("orgs_people");
  std::vector<std::string> mismatches;
  const auto walk = [&](const Row& row, Actor actor) {
    const bool allowed = row.allowed.contains(actor);
    const int expected = actor == kAnonymous ? 401 : allowed ? row.ok_status : 403;
    auto r = send(tokens[actor], row.method, row.path, row.body(actor));
    const std::string where = std::string(kActorNames[actor]) + ": " + row.method + " " + row.path;
    if (r.status != expected) {
      mismatches.push_back(where + " answered " + outcome(r) + ", expected " +
                           std::to_string(expected) + " " + r.body);
    }
    const std::string lower = row.method == "GET"     ? "get"
                              : row.method == "POST"  ? "post"
                              : row.method == "PUT"   ? "put"
                              : row.method == "PATCH" ? "patch"
                                                      : "delete";
    if (auto why = undocumented(r, row.doc_path, lower); !why.empty())
      mismatches.push_back(where + ": " + why);
  };
  for (std::size_t a = 0; a < kActors; ++a)
    for (const Row& row : rows) walk(row, static_cast<Actor>(a));
  // What was written is what the allowed calls wrote.
  const auto allowed_creates = [&](const std::string& doc_path) {
    std::int64_t n = 0;
    for (const Row& row : rows)
      if (row.doc_path == doc_path && row.method == "POST")
        n += static_cast<std::int64_t>(row.allowed.size());
    return n;
  };
  EXPECT_EQ(count("orgs_orgs"), orgs_before + allowed_creates("/v1/orgs"));
  EXPECT_EQ(count("orgs_activities"),
            activities_before + allowed_creates("/v1/orgs/{id}/activities"));
  EXPECT_EQ(count("orgs_programmes"),
            programmes_before + allowed_creates("/v1/orgs/{id}/credit-programmes"));
  EXPECT_EQ(count("orgs_people"), people_before);  // dry runs only
  for (std::size_t a = 0; a < kActors; ++a)
    for (const Row& row : last) walk(row, static_cast<Actor>(a));

  std::string report;
  for (const auto& m : mismatches) report += "\n  " + m;
  EXPECT_TRUE(mismatches.empty()) << mismatches.size() << " mismatches:" << report;
}

TANPU_INSTANTIATE_ENGINES(OrgRoutesTest);

}  // namespace
}  // namespace tanpu::test
