// The market routes (src/http/routes_market.cpp) through the Router of the real App, on every
// engine: the member's redeem → voucher → write-off / cancel / expiry flow, roles (operator,
// merchant staff, member), the Idempotency-Key, settlement as JSON and CSV; every answer is held
// to docs/openapi.json.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "http/app.h"
#include "http/app_routes_fixture.h"
#include "http/metrics.h"
#include "http/route_call.h"
#include "ingest/consents.h"
#include "ingest/sources.h"
#include "market/market_fixture.h"
#include "support/test_catalog.h"

namespace tanpu::test {
namespace {

using nlohmann::json;

class MarketRoutesTest : public AppRoutesFixture<MarketFixture> {
 protected:
  void SetUp() override {
    MarketFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    start_app([this](http::App& a) { a.market = market_.get(); });
    staff_ = must_register(std::nullopt, "staff@example.com");
    staff_token_ = login("staff@example.com");
    fund(alice_, 1000);
  }
  void TearDown() override {
    stop_app();
    MarketFixture::TearDown();
  }

  // Calls the route and holds the answer to the document (documented path pattern `pattern`).
  http::Response call(const std::string& token, const std::string& method, const std::string& path,
                      const std::string& pattern, const std::string& body = {},
                      RouteHeaders headers = {}) {
    auto r = call_route(router_, token, method, path, body, std::move(headers));
    std::string lower = method;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    expect_documented(doc_, r, pattern, lower);
    return r;
  }

  json offer_body(int stock = 5, int price = 300) const {
    return {{"title", "Metro ride coupon"},
            {"category", "metro"},
            {"price_points", price},
            {"stock", stock},
            {"per_member_total_max", 2},
            {"sale_starts_at", "2026-11-17T00:00:00+08:00"},
            {"sale_ends_at", "2026-12-31T00:00:00+08:00"},
            {"voucher_valid_days", 7}};
  }

  members::MemberView staff_;
  std::string staff_token_;
};

TEST_P(MarketRoutesTest, RedeemWriteOffCancelAndSettle) {
  const std::string m = "/v1/merchants/" + std::to_string(merchant_.id);
  // Staff are granted by the operator; before that, and for members, the merchant is closed.
  auto r = call(staff_token_, "POST", m + "/offers", "/v1/merchants/{merchant_id}/offers",
                offer_body().dump());
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(error_code(r), "merchant_staff_only");
  r = call(alice_token_, "POST", m + "/staff", "/v1/merchants/{merchant_id}/staff",
           json{{"member_id", staff_.id}}.dump());
  EXPECT_EQ(r.status, 403);
  r = call(op_token_, "POST", m + "/staff", "/v1/merchants/{merchant_id}/staff",
           json{{"member_id", staff_.id}}.dump());
  ASSERT_EQ(r.status, 201) << r.body;

  r = call(staff_token_, "POST", m + "/offers", "/v1/merchants/{merchant_id}/offers",
           offer_body().dump());
  ASSERT_EQ(r.status, 201) << r.body;
  const std::int64_t offer = json::parse(r.body)["id"];
  const std::string orders = "/v1/offers/" + std::to_string(offer) + "/orders";
  r = call({}, "GET", "/v1/offers", "/v1/offers");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["offers"][0]["status"], "on_sale");

  // Redeeming takes an Idempotency-Key.
  r = call(alice_token_, "POST", orders, "/v1/offers/{offer_id}/orders");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_code(r), "idempotency_key_required");
  r = call(alice_token_, "POST", orders, "/v1/offers/{offer_id}/orders", {},
           {{"idempotency-key", "bad key!"}});
  EXPECT_EQ(error_code(r), "invalid_idempotency_key");
  r = call(alice_token_, "POST", orders, "/v1/offers/{offer_id}/orders", {},
           {{"idempotency-key", "order-1"}});
  ASSERT_EQ(r.status, 201) << r.body;
  const json first = json::parse(r.body);
  EXPECT_EQ(first["status"], "held");
  r = call(alice_token_, "POST", orders, "/v1/offers/{offer_id}/orders", {},
           {{"idempotency-key", "order-1"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["id"], first["id"]);
  r = call(alice_token_, "POST", orders, "/v1/offers/{offer_id}/orders",
           json{{"delivery_address", "Dorm 7"}}.dump(), {{"idempotency-key", "order-1"}});
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(error_code(r), "idempotency_conflict");
  EXPECT_EQ(account(alice_.points_account_id).available(), 700);

  // The member's view, with the voucher and its QR code.
  const std::string mine = "/v1/me/orders/" + std::to_string(first["id"].get<std::int64_t>());
  r = call(alice_token_, "GET", "/v1/me/orders", "/v1/me/orders");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["orders"].size(), 1U);
  r = call(alice_token_, "GET", mine + "/qr.svg", "/v1/me/orders/{order_id}/qr.svg");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "image/svg+xml");
  r = call(staff_token_, "GET", mine, "/v1/me/orders/{order_id}");
  EXPECT_EQ(r.status, 404);  // not staff's order

  // At the counter: a member cannot write off; staff can, once.
  const json redeem{{"code", first["voucher"]["code"]}};
  r = call(alice_token_, "POST", m + "/redemptions", "/v1/merchants/{merchant_id}/redemptions",
           redeem.dump());
  EXPECT_EQ(r.status, 403);
  r = call(staff_token_, "POST", m + "/redemptions", "/v1/merchants/{merchant_id}/redemptions",
           json{{"code", "0000-0000-0000"}}.dump());
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(error_code(r), "voucher_not_found");
  r = call(staff_token_, "POST", m + "/redemptions", "/v1/merchants/{merchant_id}/redemptions",
           redeem.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["status"], "redeemed");
  EXPECT_FALSE(json::parse(r.body).contains("voucher"));
  r = call(staff_token_, "POST", m + "/redemptions", "/v1/merchants/{merchant_id}/redemptions",
           redeem.dump());
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(error_code(r), "voucher_redeemed");
  r = call(alice_token_, "POST", mine + "/cancel", "/v1/me/orders/{order_id}/cancel");
  EXPECT_EQ(error_code(r), "order_redeemed");

  // A second order, cancelled: the points come back.
  r = call(alice_token_, "POST", orders, "/v1/offers/{offer_id}/orders", {},
           {{"idempotency-key", "order-2"}});
  ASSERT_EQ(r.status, 201);
  const std::string second =
      "/v1/me/orders/" + std::to_string(json::parse(r.body)["id"].get<std::int64_t>());
  r = call(alice_token_, "POST", second + "/cancel", "/v1/me/orders/{order_id}/cancel");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["status"], "cancelled");
  // The per-member limit of 2 counts the written-off order; the cancelled one gave its place back.
  r = call(alice_token_, "POST", orders, "/v1/offers/{offer_id}/orders", {},
           {{"idempotency-key", "order-3"}});
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string third =
      "/v1/me/orders/" + std::to_string(json::parse(r.body)["id"].get<std::int64_t>());
  r = call(alice_token_, "POST", orders, "/v1/offers/{offer_id}/orders", {},
           {{"idempotency-key", "order-4"}});
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(error_code(r), "total_limit_reached");

  // Staff list their orders without vouchers; settlement per merchant, and the operator's view.
  r = call(staff_token_, "GET", m + "/orders?status=redeemed",
           "/v1/merchants/{merchant_id}/orders");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["orders"].size(), 1U);
  r = call(staff_token_, "GET", m + "/settlement?from=2026-11-01&to=2026-11-30",
           "/v1/merchants/{merchant_id}/settlement");
  ASSERT_EQ(r.status, 200) << r.body;
  const json s = json::parse(r.body);
  EXPECT_EQ(s["total"]["issued"], 3);
  EXPECT_EQ(s["total"]["redeemed"], 1);
  EXPECT_EQ(s["total"]["cancelled"], 1);
  EXPECT_EQ(s["total"]["points_received"], 300);
  r = call(staff_token_, "GET", m + "/settlement?from=2026-11-01&to=2026-11-30&format=csv",
           "/v1/merchants/{merchant_id}/settlement");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.starts_with("\"merchant_id\",")) << r.body;
  r = call(staff_token_, "GET", "/v1/settlement?from=2026-11-01&to=2026-11-30", "/v1/settlement");
  EXPECT_EQ(r.status, 403);
  r = call(op_token_, "GET", "/v1/settlement?from=2026-11-30&to=2026-11-01", "/v1/settlement");
  EXPECT_EQ(error_code(r), "invalid_period");
  r = call(op_token_, "GET", "/v1/settlement?from=2026-11-01&to=2026-11-30", "/v1/settlement");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["lines"].size(), 1U);

  // The third order's voucher runs out (7 days); the serve scheduler's sweep expires it.
  EXPECT_EQ(account(alice_.points_account_id).available(), 400);
  clock_.advance_us(8 * kDayUs);
  ASSERT_OK(market_->expire_orders(clock_.now_us()));
  r = call(alice_token_, "GET", third, "/v1/me/orders/{order_id}");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["status"], "expired");
  EXPECT_EQ(account(alice_.points_account_id).available(), 700);
  r = call(alice_token_, "POST", third + "/cancel", "/v1/me/orders/{order_id}/cancel");
  EXPECT_EQ(error_code(r), "order_expired");
}

// A token that names its member is checked in the round trip of the order's first reads
// (Market::place_order_for_session). The answers are those of a session checked first: a request
// whose session is not valid is unauthenticated, however else it is wrong.
TEST_P(MarketRoutesTest, AnOrderWithoutAValidSessionIsUnauthenticatedFirst) {
  const auto offer = must_offer(offer_input(5, 100));
  fund(staff_, 1000);
  const std::string orders = "/v1/offers/" + std::to_string(offer.id) + "/orders";
  const std::string pattern = "/v1/offers/{offer_id}/orders";
  const RouteHeaders key{{"idempotency-key", "k1"}};
  // Alice's token renamed to the staff member: a token no session has.
  const std::string renamed =
      alice_token_.substr(0, members::kSessionTokenBytes) + "." + std::to_string(staff_.id);
  for (const std::string& token : {renamed, "tps_" + std::string(43, 'x') + ".1"}) {
    for (const auto& [path, headers] : {std::pair{orders, RouteHeaders{}}, std::pair{orders, key},
                                        std::pair{std::string("/v1/offers/0/orders"), key}}) {
      auto r = call(token, "POST", path, pattern, {}, headers);
      EXPECT_EQ(r.status, 401) << path << " " << r.body;
      EXPECT_EQ(error_code(r), "invalid_session");
    }
  }
  // Twice, so that the second finds the offer remembered and reads the session with the key.
  for (int i = 0; i < 2; ++i) {
    auto r = call(staff_token_, "POST", orders, pattern, {}, {{"idempotency-key", "bad key!"}});
    EXPECT_EQ(error_code(r), "invalid_idempotency_key");
    r = call(staff_token_, "POST", orders, pattern, {},
             {{"idempotency-key", "s" + std::to_string(i)}});
    EXPECT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(json::parse(r.body)["member_id"], staff_.id);
  }
  ASSERT_OK(members_->logout(staff_token_));
  auto r = call(staff_token_, "POST", orders, pattern, {}, {{"idempotency-key", "s0"}});
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_EQ(error_code(r), "invalid_session");
  EXPECT_EQ(count("market_orders"), 2);
}

TEST_P(MarketRoutesTest, MerchantsAreTheOperatorsAndOffersAreValidated) {
  const json merchant{
      {"name", "Metro Shop"},
      {"category", "green_travel"},
      {"settlement",
       {{"account_name", "Metro"}, {"bank", "ICBC"}, {"account_no", "6222 0000 9876"}}},
      {"stores", {{{"name", "Line 1 kiosk"}, {"org_id", 7}}}}};
  auto r = call(alice_token_, "POST", "/v1/merchants", "/v1/merchants", merchant.dump());
  EXPECT_EQ(r.status, 403);
  r = call(op_token_, "POST", "/v1/merchants", "/v1/merchants", merchant.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(json::parse(r.body)["settlement"]["account_no"], "****9876");
  r = call(op_token_, "POST", "/v1/merchants", "/v1/merchants", merchant.dump());
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(error_code(r), "merchant_name_taken");
  r = call(op_token_, "GET", "/v1/merchants?limit=1", "/v1/merchants");
  ASSERT_EQ(r.status, 200);
  EXPECT_FALSE(json::parse(r.body)["next_cursor"].is_null());

  const std::string offers = "/v1/merchants/" + std::to_string(merchant_.id) + "/offers";
  json bad = offer_body();
  bad["price_points"] = 0;
  r = call(op_token_, "POST", offers, "/v1/merchants/{merchant_id}/offers", bad.dump());
  EXPECT_EQ(error_code(r), "price_must_be_positive");
  bad = offer_body();
  bad["sale_ends_at"] = "tomorrow";
  r = call(op_token_, "POST", offers, "/v1/merchants/{merchant_id}/offers", bad.dump());
  EXPECT_EQ(error_code(r), "invalid_time");
  bad = offer_body();
  bad["colour"] = "green";
  r = call(op_token_, "POST", offers, "/v1/merchants/{merchant_id}/offers", bad.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(count("market_offers"), 0);
  // A physical good: ordered with an address, handed over by order id.
  json physical = offer_body();
  physical["fulfilment"] = "physical";
  r = call(op_token_, "POST", offers, "/v1/merchants/{merchant_id}/offers", physical.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string orders =
      "/v1/offers/" + std::to_string(json::parse(r.body)["id"].get<std::int64_t>()) + "/orders";
  r = call(alice_token_, "POST", orders, "/v1/offers/{offer_id}/orders", {},
           {{"idempotency-key", "mug"}});
  EXPECT_EQ(error_code(r), "delivery_address_required");
  r = call(alice_token_, "POST", orders, "/v1/offers/{offer_id}/orders",
           json{{"delivery_address", "Dorm 7, 1 Campus Road"}}.dump(),
           {{"idempotency-key", "mug"}});
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string fulfil = "/v1/merchants/" + std::to_string(merchant_.id) + "/orders/" +
                             std::to_string(json::parse(r.body)["id"].get<std::int64_t>()) +
                             "/fulfil";
  const std::string pattern = "/v1/merchants/{merchant_id}/orders/{order_id}/fulfil";
  r = call(alice_token_, "POST", fulfil, pattern);
  EXPECT_EQ(r.status, 403);
  r = call(op_token_, "POST", fulfil, pattern);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["status"], "redeemed");
  r = call(op_token_, "POST", fulfil, pattern);
  EXPECT_EQ(error_code(r), "voucher_redeemed");

  r = call(op_token_, "GET", "/v1/offers/99", "/v1/offers/{offer_id}");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(error_code(r), "offer_not_found");
}

TANPU_INSTANTIATE_ENGINES(MarketRoutesTest);

}  // namespace
}  // namespace tanpu::test
