// A market over a fresh store on one engine: a merchant with a store, a funded member, and helpers
// that read what a refusal must leave unchanged. Shared by the market tests and the route tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "ledger/ledger.h"
#include "market/market.h"
#include "members/members_fixture.h"

namespace tanpu::test {

class MarketFixture : public MembersFixture {
 protected:
  static constexpr std::int64_t kHourUs = 3'600'000'000;
  static constexpr std::int64_t kDayUs = 24 * kHourUs;

  void SetUp() override {
    MembersFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    auto lease = db_->store().acquire();
    ASSERT_OK(lease);
    std::vector<store::Migration> all(ledger::migrations().begin(), ledger::migrations().end());
    all.insert(all.end(), members::migrations().begin(), members::migrations().end());
    all.insert(all.end(), market::migrations().begin(), market::migrations().end());
    ASSERT_OK(store::migrate(**lease, all));
    market_ = make_market({});
    auto m = market_->create_merchant(merchant_input("Campus Cafe"));
    ASSERT_OK(m);
    merchant_ = *m;
  }

  void TearDown() override {
    market_.reset();
    MembersFixture::TearDown();
  }

  std::unique_ptr<market::Market> make_market(market::Options o) {
    return std::make_unique<market::Market>(db_->store(), *ledger_, *members_, clock_,
                                            std::move(o));
  }

  static market::MerchantInput merchant_input(std::string name) {
    return {std::move(name),   "campus",
            "Campus Cafe Ltd", "Bank of Shenyang",
            "6222 0000 1234",  {{"North canteen", "1 Campus Road", std::nullopt}}};
  }

  market::OfferInput offer_input(std::int64_t stock = 10, std::int64_t price = 100) const {
    market::OfferInput o;
    o.merchant_id = merchant_.id;
    o.title = "Lunch voucher";
    o.category = "dining";
    o.price_points = price;
    o.stock = stock;
    o.sale_starts_us = clock_.now_us() - kHourUs;
    o.sale_ends_us = clock_.now_us() + 10 * kDayUs;
    o.voucher_valid_days = 7;
    return o;
  }

  market::Offer must_offer(const market::OfferInput& in) {
    auto o = market_->create_offer(in);
    EXPECT_TRUE(o.has_value()) << (o ? "" : o.error().code);
    return o ? *o : market::Offer{};
  }

  // A member holding `points`.
  members::MemberView funded(const std::string& email, std::int64_t points) {
    auto m = must_register(std::nullopt, email);
    if (points > 0) fund(m.points_account_id, points);
    return m;
  }

  ledger::Account account(std::int64_t id) {
    auto a = ledger_->lookup_account(id);
    EXPECT_TRUE(a.has_value());
    return a ? *a : ledger::Account{};
  }

  std::int64_t remaining(std::int64_t offer_id) {
    auto o = market_->get_offer(offer_id);
    EXPECT_TRUE(o.has_value());
    return o ? o->remaining : -1;
  }

  Result<market::Order> order(const members::MemberView& m, std::int64_t offer_id, std::string key,
                              std::optional<std::string> address = std::nullopt) {
    return market_->place_order({m.id, offer_id, std::move(key), std::move(address)});
  }

  std::unique_ptr<market::Market> market_;
  market::Merchant merchant_;
};

}  // namespace tanpu::test
