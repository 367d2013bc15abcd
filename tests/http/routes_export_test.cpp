// GET /v1/me/export through the real App on every engine: a member's whole data, in clear for
// them alone, each module's sections present, nothing secret, nothing of anyone else; the answer
// is held to docs/openapi.json.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "http/app_routes_fixture.h"
#include "http/route_call.h"
#include "ingest/member_data.h"
#include "ingest/sources.h"
#include "market/donations.h"
#include "market/lottery.h"
#include "market/market_fixture.h"
#include "orgs/orgs.h"
#include "points/points.h"

namespace tanpu::test {
namespace {

using nlohmann::json;

class ExportRoutesTest : public AppRoutesFixture<MarketFixture> {
 protected:
  void SetUp() override {
    MarketFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    std::vector<store::Migration> rest;
    for (auto part :
         {points::migrations(), ingest::migrations(), market::migrations(),
          market::lottery_migrations(), market::donation_migrations(), orgs::migrations()}) {
      rest.insert(rest.end(), part.begin(), part.end());
    }
    migrate_with(rest);
    if (HasFatalFailure()) return;
    members_->add_export_hook(&ingest::export_member);
    members_->add_export_hook(&market::export_member);
    members_->add_export_hook(&orgs::export_member);
    start_app([this](http::App& a) { a.market = market_.get(); });
  }
  void TearDown() override {
    stop_app();
    MarketFixture::TearDown();
  }

  json export_of(const std::string& token) {
    auto r = call_route(router_, token, "GET", "/v1/me/export");
    expect_documented(doc_, r, "/v1/me/export", "get");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? json::parse(r.body) : json();
  }
};

TEST_P(ExportRoutesTest, AMemberGetsAllTheirDataAndNothingElse) {
  fund(alice_, 1000);
  const auto offer = must_offer(offer_input(5, 200));
  auto placed = order(alice_, offer.id, "k1");
  ASSERT_OK(placed);
  EXPECT_FALSE(order(bob_, offer.id, "k1").has_value());  // bob has no points
  auto created = sources_->create("Metro", std::vector<std::string>{"metro"});
  ASSERT_OK(created);
  auto binding = consents_->create_binding(created->source.id, "u-alice");
  ASSERT_OK(binding);
  ASSERT_OK(consents_->grant(alice_.id, binding->code));

  auto r = call_route(router_, alice_token_, "GET", "/v1/me/export");
  ASSERT_EQ(r.status, 200) << r.body;
  bool no_store = false;
  bool attachment = false;
  for (const auto& [k, v] : r.headers) {
    no_store = no_store || (k == "Cache-Control" && v == "no-store");
    attachment = attachment ||
                 (k == "Content-Disposition" && v == "attachment; filename=\"tanpu-export-" +
                                                         std::to_string(alice_.id) + ".json\"");
  }
  EXPECT_TRUE(no_store);
  EXPECT_TRUE(attachment);
  // Nothing secret: no password hash, no session token, no voucher secret.
  EXPECT_EQ(r.body.find("argon2"), std::string::npos);
  EXPECT_EQ(r.body.find(alice_token_), std::string::npos);
  EXPECT_EQ(r.body.find("voucher_secret"), std::string::npos);

  const json e = export_of(alice_token_);
  EXPECT_EQ(e["format"], "tanpu-member-export/1");
  EXPECT_EQ(e["member"]["id"], alice_.id);
  EXPECT_EQ(e["member"]["email"], "alice@example.com");  // in clear, for the member
  EXPECT_EQ(e["member"]["closed_at"], nullptr);
  ASSERT_EQ(e["sessions"].size(), 1U);
  EXPECT_EQ(e["sessions"][0]["id"].get<std::string>().size(), 16U);
  ASSERT_EQ(e["accounts"].size(), 2U);
  EXPECT_EQ(e["accounts"][0]["currency"], "points");
  EXPECT_EQ(e["accounts"][0]["balance"], 1000);
  EXPECT_EQ(e["accounts"][0]["pending_debits"], 200);
  ASSERT_EQ(e["transfers"].size(), 2U);  // the funding and the order's hold, newest first
  EXPECT_EQ(e["transfers"][0]["amount"], 200);
  EXPECT_EQ(e["transfers"][1]["amount"], 1000);
  ASSERT_EQ(e["orders"].size(), 1U);
  EXPECT_EQ(e["orders"][0]["id"], placed->id);
  EXPECT_EQ(e["orders"][0]["voucher_code"], placed->voucher_code);
  EXPECT_EQ(e["orders"][0]["offer_title"], "Lunch voucher");
  EXPECT_EQ(e["orders"][0]["status"], "held");
  ASSERT_EQ(e["consents"].size(), 1U);
  EXPECT_EQ(e["consents"][0]["partner_user_ref"], "u-alice");
  EXPECT_EQ(e["consents"][0]["revoked_at"], nullptr);
  for (const char* empty :
       {"behaviour_records", "evidence", "donations", "lottery_draws", "organisations",
        "roster_entries", "activity_signups", "organisation_roles", "truncated"}) {
    EXPECT_EQ(e[empty], json::array()) << empty;
  }
  // Bob's export has none of alice's things.
  const json b = export_of(bob_token_);
  EXPECT_EQ(b["member"]["email"], "bob@example.com");
  EXPECT_EQ(b["orders"], json::array());
  EXPECT_EQ(b["consents"], json::array());
  EXPECT_EQ(b["transfers"], json::array());
  // No session, no export.
  EXPECT_EQ(call_route(router_, "", "GET", "/v1/me/export").status, 401);
}

TANPU_INSTANTIATE_ENGINES(ExportRoutesTest);

}  // namespace
}  // namespace tanpu::test
