// The market module on every engine: merchants and offers, the order → write-off / cancel /
// expiry lifecycle with its ledger effects, every refusal leaving points, stock and rows as they
// were, concurrent buyers that never oversell, and settlement.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <memory>
#include <thread>

#include "ledger/verify.h"
#include "market/market_fixture.h"

namespace tanpu::test {
namespace {

class MarketTest : public MarketFixture {
 protected:
  // What a refused order must not change.
  struct Snapshot {
    std::int64_t orders, remaining, available, debits_pending;
    bool operator==(const Snapshot&) const = default;
  };
  Snapshot snapshot(const members::MemberView& m, std::int64_t offer_id) {
    const auto a = account(m.points_account_id);
    return {count("market_orders"), remaining(offer_id), a.available(), a.debits_pending};
  }
  // tanpu verify's checks over the whole database.
  void expect_ledger_verifies() {
    auto lease = db_->store().acquire();
    ASSERT_OK(lease);
    ASSERT_OK((*lease)->begin());
    auto report = ledger::verify(**lease);
    (void)(*lease)->rollback();
    ASSERT_OK(report);
    EXPECT_TRUE(report->ok()) << report->problems.front();
  }
  void expect_refused(const Result<market::Order>& r, std::string_view code) {
    ASSERT_FALSE(r.has_value()) << "expected " << code;
    EXPECT_EQ(r.error().code, code) << r.error().message;
  }
};

TEST_P(MarketTest, MerchantValidationAndUniqueness) {
  auto bad = merchant_input("");
  EXPECT_EQ(market_->create_merchant(bad).error().code, "name_required");
  bad = merchant_input("X");
  bad.category = "casino";
  EXPECT_EQ(market_->create_merchant(bad).error().code, "invalid_category");
  bad = merchant_input("X");
  bad.settlement_account_no = "12;DROP";
  EXPECT_EQ(market_->create_merchant(bad).error().code, "invalid_settlement_account_no");
  bad = merchant_input("X");
  bad.stores[0].name = "";
  EXPECT_EQ(market_->create_merchant(bad).error().field, "stores[0].name");
  auto dup = market_->create_merchant(merchant_input("Campus Cafe"));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, "merchant_name_taken");
  EXPECT_EQ(count("market_merchants"), 1);
  EXPECT_EQ(merchant_.settlement_account_masked, "****1234");
  EXPECT_EQ(merchant_.stores.size(), 1U);
}

TEST_P(MarketTest, OfferValidation) {
  auto in = offer_input();
  in.price_points = 0;
  EXPECT_EQ(market_->create_offer(in).error().code, "price_must_be_positive");
  in = offer_input(0);
  EXPECT_EQ(market_->create_offer(in).error().code, "stock_out_of_range");
  in = offer_input();
  in.sale_ends_us = in.sale_starts_us;
  EXPECT_EQ(market_->create_offer(in).error().code, "invalid_sale_window");
  in = offer_input();
  in.category = "weapons";
  EXPECT_EQ(market_->create_offer(in).error().code, "invalid_category");
  in = offer_input();
  in.store_id = 999;
  EXPECT_EQ(market_->create_offer(in).error().code, "store_not_found");
  in = offer_input();
  in.eligible_region = "cn sc";
  EXPECT_EQ(market_->create_offer(in).error().code, "invalid_region");
  EXPECT_EQ(count("market_offers"), 0);
  EXPECT_EQ(count("market_stock"), 0);
  // Stock is split into buckets that add up to it.
  const auto big = must_offer(offer_input(1000));
  EXPECT_EQ(big.remaining, 1000);
  EXPECT_EQ(count("market_stock"), 16);
}

TEST_P(MarketTest, OrderHoldsPointsAndWriteOffPostsThemToTheMerchant) {
  const auto alice = funded("alice@example.com", 1000);
  const auto offer = must_offer(offer_input(10, 300));
  auto placed = order(alice, offer.id, "k1");
  ASSERT_OK(placed);
  EXPECT_EQ(placed->status, market::OrderStatus::held);
  EXPECT_FALSE(placed->replayed);
  EXPECT_EQ(placed->voucher_code.size(), 12U);
  EXPECT_TRUE(placed->voucher_qr.starts_with("tanpu:v1:" + std::to_string(placed->id) + ":"));
  EXPECT_EQ(placed->expires_at_us, clock_.now_us() + 7 * kDayUs);
  EXPECT_EQ(remaining(offer.id), 9);
  auto a = account(alice.points_account_id);
  EXPECT_EQ(a.balance(), 1000);  // held, not spent
  EXPECT_EQ(a.available(), 700);

  // The same key again: the same order, nothing held twice. Another body: a conflict.
  auto again = order(alice, offer.id, "k1");
  ASSERT_OK(again);
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->id, placed->id);
  EXPECT_EQ(account(alice.points_account_id).available(), 700);
  EXPECT_EQ(order(alice, offer.id, "k1", "somewhere else").error().code, "idempotency_conflict");

  // Forged, guessed and foreign codes change nothing.
  EXPECT_EQ(market_->redeem(merchant_.id, "ZZZZZZZZZZZZ", std::nullopt).error().code,
            "voucher_not_found");
  EXPECT_EQ(market_->redeem(merchant_.id, "short", std::nullopt).error().code, "voucher_not_found");
  std::string forged = placed->voucher_qr;
  forged.back() = forged.back() == '0' ? '1' : '0';
  EXPECT_EQ(market_->redeem(merchant_.id, forged, std::nullopt).error().code, "voucher_not_found");
  auto other = market_->create_merchant(merchant_input("Other Shop"));
  ASSERT_OK(other);
  EXPECT_EQ(market_->redeem(other->id, placed->voucher_code, std::nullopt).error().code,
            "voucher_of_another_merchant");
  EXPECT_EQ(market_->redeem(merchant_.id, placed->voucher_code, 999).error().code,
            "store_not_found");
  EXPECT_EQ(account(alice.points_account_id).available(), 700);

  // Typed in lower case with a hyphen, at the store: written off, the hold posted.
  std::string typed = placed->voucher_code;
  std::ranges::transform(typed, typed.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  typed.insert(4, "-");
  auto done = market_->redeem(merchant_.id, typed, merchant_.stores[0].id);
  ASSERT_OK(done);
  EXPECT_EQ(done->status, market::OrderStatus::redeemed);
  EXPECT_EQ(done->redeemed_store_id, merchant_.stores[0].id);
  a = account(alice.points_account_id);
  EXPECT_EQ(a.balance(), 700);
  EXPECT_EQ(a.debits_pending, 0);
  EXPECT_EQ(account(merchant_.account_id).balance(), 300);

  // Once written off: not again, not cancelled.
  EXPECT_EQ(market_->redeem(merchant_.id, placed->voucher_qr, std::nullopt).error().code,
            "voucher_redeemed");
  EXPECT_EQ(market_->cancel_order(alice.id, placed->id).error().code, "order_redeemed");
  EXPECT_EQ(account(merchant_.account_id).balance(), 300);
}

TEST_P(MarketTest, CancelVoidsTheHoldAndReturnsStockAndLimit) {
  const auto alice = funded("alice@example.com", 1000);
  auto in = offer_input(2, 200);
  in.per_member_total_max = 1;
  const auto offer = must_offer(in);
  auto placed = order(alice, offer.id, "k1");
  ASSERT_OK(placed);
  EXPECT_EQ(remaining(offer.id), 1);
  EXPECT_EQ(order(alice, offer.id, "k2").error().code, "total_limit_reached");
  const auto bob = funded("bob@example.com", 1000);
  ASSERT_OK(order(bob, offer.id, "k1"));
  const auto carol = funded("carol@example.com", 1000);
  EXPECT_EQ(order(carol, offer.id, "k1").error().code, "sold_out");

  EXPECT_EQ(market_->cancel_order(bob.id, placed->id).error().code, "order_not_found");
  auto cancelled = market_->cancel_order(alice.id, placed->id);
  ASSERT_OK(cancelled);
  EXPECT_EQ(cancelled->status, market::OrderStatus::cancelled);
  EXPECT_EQ(remaining(offer.id), 1);
  EXPECT_EQ(account(alice.points_account_id).available(), 1000);
  EXPECT_EQ(market_->cancel_order(alice.id, placed->id).error().code, "order_cancelled");
  EXPECT_EQ(market_->redeem(merchant_.id, placed->voucher_code, std::nullopt).error().code,
            "voucher_cancelled");
  // The unit and the limit came back.
  ASSERT_OK(order(alice, offer.id, "k3"));
  EXPECT_EQ(remaining(offer.id), 0);
}

TEST_P(MarketTest, ClosingAnAccountCancelsItsHeldOrdersFirst) {
  members_->add_closure_hook(
      [this](store::Connection& c, std::int64_t member_id, std::int64_t now_us) -> Result<void> {
        auto n = market_->cancel_held_orders(c, member_id, now_us);
        if (!n) return fail(n.error());
        EXPECT_EQ(*n, 2);
        return {};
      });
  const auto alice = funded("alice@example.com", 1000);
  const auto bob = funded("bob@example.com", 1000);
  const auto offer = must_offer(offer_input(5, 200));
  auto first = order(alice, offer.id, "k1");
  ASSERT_OK(first);
  auto second = order(alice, offer.id, "k2");
  ASSERT_OK(second);
  auto bobs = order(bob, offer.id, "k1");
  ASSERT_OK(bobs);
  EXPECT_EQ(remaining(offer.id), 2);
  auto session = members_->login("alice@example.com", "s3cret-pass");
  ASSERT_OK(session);
  auto receipt = members_->close_account(session->token, "s3cret-pass");
  ASSERT_OK(receipt);
  // The holds were voided before the balance was forfeited: all 1,000 points went back.
  EXPECT_EQ(receipt->points_forfeited, 1000);
  EXPECT_EQ(account(alice.points_account_id).available(), 0);
  EXPECT_EQ(account(alice.points_account_id).debits_pending, 0);
  EXPECT_EQ(remaining(offer.id), 4);
  for (const auto& o : {*first, *second}) {
    auto now = market_->member_order(alice.id, o.id);
    ASSERT_OK(now);
    EXPECT_EQ(now->status, market::OrderStatus::cancelled);
    EXPECT_EQ(market_->redeem(merchant_.id, o.voucher_code, std::nullopt).error().code,
              "voucher_cancelled");
  }
  // Another member's order is untouched.
  auto kept = market_->member_order(bob.id, bobs->id);
  ASSERT_OK(kept);
  EXPECT_EQ(kept->status, market::OrderStatus::held);
}

TEST_P(MarketTest, ExpiryVoidsTheHoldAndReturnsTheUnit) {
  const auto alice = funded("alice@example.com", 1000);
  const auto offer = must_offer(offer_input(5, 100));
  auto placed = order(alice, offer.id, "k1");
  ASSERT_OK(placed);
  clock_.advance_us(7 * kDayUs);
  // Past its validity a voucher is refused even before the sweep.
  EXPECT_EQ(market_->redeem(merchant_.id, placed->voucher_code, std::nullopt).error().code,
            "voucher_expired");
  EXPECT_EQ(market_->cancel_order(alice.id, placed->id).error().code, "order_expired");
  auto n = market_->expire_orders(clock_.now_us());
  ASSERT_OK(n);
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(remaining(offer.id), 5);
  EXPECT_EQ(account(alice.points_account_id).available(), 1000);
  EXPECT_EQ(account(alice.points_account_id).debits_pending, 0);
  auto after = market_->member_order(alice.id, placed->id);
  ASSERT_OK(after);
  EXPECT_EQ(after->status, market::OrderStatus::expired);
  EXPECT_EQ(*market_->expire_orders(clock_.now_us()), 0);
  EXPECT_EQ(market_->redeem(merchant_.id, placed->voucher_code, std::nullopt).error().code,
            "voucher_expired");
}

TEST_P(MarketTest, RefusalsChangeNothing) {
  const auto poor = funded("poor@example.com", 50);
  const auto alice = funded("alice@example.com", 10'000);
  auto in = offer_input(3, 100);
  in.per_member_day_max = 1;
  const auto offer = must_offer(in);

  auto before = snapshot(poor, offer.id);
  expect_refused(order(poor, offer.id, "k"), "insufficient_points");
  EXPECT_EQ(snapshot(poor, offer.id), before);
  EXPECT_EQ(count("market_member_counts"), 0);  // the limit row went with the refusal

  expect_refused(order(alice, 9999, "k"), "offer_not_found");
  ASSERT_OK(order(alice, offer.id, "k1"));
  // The offer is now remembered (Market::RecentOffers): the key and the points account are read in
  // one round trip, and too few points is still refused, changing nothing.
  before = snapshot(poor, offer.id);
  expect_refused(order(poor, offer.id, "k-again"), "insufficient_points");
  EXPECT_EQ(snapshot(poor, offer.id), before);
  before = snapshot(alice, offer.id);
  expect_refused(order(alice, offer.id, "k2"), "day_limit_reached");
  EXPECT_EQ(snapshot(alice, offer.id), before);
  clock_.advance_us(kDayUs);  // a new local day
  ASSERT_OK(order(alice, offer.id, "k3"));

  auto later = offer_input();
  later.sale_starts_us = clock_.now_us() + kHourUs;
  const auto upcoming = must_offer(later);
  expect_refused(order(alice, upcoming.id, "k4"), "sale_not_started");
  auto ended_in = offer_input();
  ended_in.sale_ends_us = clock_.now_us() + kHourUs;
  const auto ending = must_offer(ended_in);
  clock_.advance_us(2 * kHourUs);
  expect_refused(order(alice, ending.id, "k5"), "sale_ended");

  const auto withdrawn = must_offer(offer_input());
  ASSERT_OK(market_->withdraw_offer(withdrawn.id));
  expect_refused(order(alice, withdrawn.id, "k6"), "offer_withdrawn");

  auto physical_in = offer_input();
  physical_in.fulfilment = market::Fulfilment::physical;
  const auto physical = must_offer(physical_in);
  expect_refused(order(alice, physical.id, "k7"), "delivery_address_required");
  expect_refused(order(alice, physical.id, "k7", "x"), "invalid_delivery_address");
  expect_refused(order(alice, offer.id, "k8", "1 Campus Road"), "delivery_address_not_applicable");
  auto shipped = order(alice, physical.id, "k9", "Dorm 7, 1 Campus Road");
  ASSERT_OK(shipped);
  EXPECT_EQ(shipped->delivery_address, "Dorm 7, 1 Campus Road");
  // Physical goods are written off by order id when shipped; e-vouchers are not.
  auto other = market_->create_merchant(merchant_input("Other Shop"));
  ASSERT_OK(other);
  EXPECT_EQ(market_->fulfil(other->id, shipped->id).error().code, "order_not_found");
  auto evoucher = order(alice, must_offer(offer_input()).id, "k12");
  ASSERT_OK(evoucher);
  EXPECT_EQ(market_->fulfil(merchant_.id, evoucher->id).error().code, "not_a_physical_good");
  auto sent = market_->fulfil(merchant_.id, shipped->id);
  ASSERT_OK(sent);
  EXPECT_EQ(sent->status, market::OrderStatus::redeemed);
  EXPECT_EQ(market_->fulfil(merchant_.id, shipped->id).error().code, "voucher_redeemed");

  // An organisation-limited offer: refused when nothing can tell membership, and decided by the
  // organisations' check when one is wired.
  auto campus_in = offer_input();
  campus_in.eligible_org_id = 42;
  const auto campus = must_offer(campus_in);
  before = snapshot(alice, campus.id);
  expect_refused(order(alice, campus.id, "k10"), "not_eligible");
  EXPECT_EQ(snapshot(alice, campus.id), before);
  market::Options with_orgs;
  with_orgs.eligibility = [&](std::int64_t member, std::optional<std::int64_t> org,
                              const std::optional<std::string>&) -> Result<bool> {
    return member == alice.id && org == 42;
  };
  market_ = make_market(with_orgs);
  ASSERT_OK(order(alice, campus.id, "k11"));
  expect_refused(order(poor, campus.id, "k1"), "not_eligible");
}

TEST_P(MarketTest, ConcurrentBuyersNeverOversell) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 6;
  auto in = offer_input(20, 100);
  in.per_member_total_max = 2;
  const auto offer = must_offer(in);
  std::vector<members::MemberView> buyers;
  for (int i = 0; i < kThreads * kPerThread; ++i) {
    buyers.push_back(funded("b" + std::to_string(i) + "@example.com", 1000));
  }
  std::atomic<int> ok{0}, sold_out{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Every buyer tries three times with different keys: the limit of two must hold too.
        const auto& b = buyers[static_cast<std::size_t>(t * kPerThread + i)];
        for (int k = 0; k < 3; ++k) {
          auto r = order(b, offer.id, "k" + std::to_string(k));
          if (r) {
            ++ok;
          } else if (r.error().code == "sold_out" || r.error().code == "total_limit_reached") {
            ++sold_out;
          } else {
            ++other;
            ADD_FAILURE() << r.error().code << ": " << r.error().message;
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 20);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(remaining(offer.id), 0);
  EXPECT_EQ(count("market_orders"), 20);
  auto lease = db_->store().acquire();
  ASSERT_OK(lease);
  auto over = (*lease)->query(
      "SELECT COUNT(*) FROM (SELECT member_id FROM market_orders GROUP BY member_id HAVING "
      "COUNT(*) > 2) x");
  ASSERT_OK(over);
  EXPECT_EQ(over->i64(0, 0), 0);
  for (const auto& b : buyers) EXPECT_GE(account(b.points_account_id).available(), 800);
  expect_ledger_verifies();
}

// Many members order a physical good at the same moment (on PostgreSQL, placed in batches whose
// limits, units and rows are one statement each): some are at a limit already, and the stock runs
// out among them. A limit is counted only for an order placed, the delivery addresses go to
// their own orders, and nothing is oversold.
TEST_P(MarketTest, SimultaneousOrdersCountLimitsOnlyForOrdersPlaced) {
  constexpr int kMembers = 32;
  constexpr std::int64_t kStock = 12;
  auto in = offer_input(kStock + 2, 100);
  in.fulfilment = market::Fulfilment::physical;
  in.per_member_day_max = 1;
  in.per_member_total_max = 2;
  const auto offer = must_offer(in);
  std::vector<members::MemberView> buyers;
  for (int i = 0; i < kMembers; ++i) {
    buyers.push_back(funded("s" + std::to_string(i) + "@example.com", 1000));
  }
  auto address = [](std::size_t i) { return "Dorm " + std::to_string(i) + ", 1 Campus Road"; };
  // Two members have ordered today already: their day limit is reached.
  ASSERT_OK(order(buyers[0], offer.id, "early", address(0)));
  ASSERT_OK(order(buyers[1], offer.id, "early", address(1)));
  std::atomic<int> ready{0}, ok{0}, sold_out{0}, day_limit{0}, other{0};
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < buyers.size(); ++i) {
    threads.emplace_back([&, i] {
      ++ready;
      while (ready.load() < kMembers) std::this_thread::yield();
      auto r = order(buyers[i], offer.id, "now", address(i));
      if (r) {
        ++ok;
        EXPECT_EQ(r->delivery_address, address(i));
        EXPECT_EQ(r->member_id, buyers[i].id);
      } else if (r.error().code == "sold_out") {
        ++sold_out;
      } else if (r.error().code == "day_limit_reached") {
        ++day_limit;
      } else {
        ++other;
        ADD_FAILURE() << r.error().code << ": " << r.error().message;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(other.load(), 0);
  // The two at their limit get day_limit_reached, or sold_out if the last unit went first.
  EXPECT_EQ(ok.load(), kStock);
  EXPECT_LE(day_limit.load(), 2);
  EXPECT_EQ(sold_out.load() + day_limit.load(), kMembers - kStock);
  EXPECT_EQ(remaining(offer.id), 0);
  auto lease = db_->store().acquire();
  ASSERT_OK(lease);
  // Each member's counts (the day's and the total) equal the orders it holds.
  for (std::size_t i = 0; i < buyers.size(); ++i) {
    auto orders = (*lease)->query(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN delivery_address = ? THEN 0 ELSE 1 END), 0) "
        "FROM market_orders WHERE member_id = ? AND offer_id = ?",
        {address(i), buyers[i].id, offer.id});
    ASSERT_OK(orders);
    EXPECT_EQ(orders->i64(0, 1), 0) << "an order with another member's address";
    auto counts = (*lease)->query(
        "SELECT day, orders FROM market_member_counts WHERE member_id = ? AND offer_id = ?",
        {buyers[i].id, offer.id});
    ASSERT_OK(counts);
    for (std::size_t r = 0; r < counts->size(); ++r) {
      EXPECT_EQ(counts->i64(r, 1), orders->i64(0, 0))
          << "member " << i << ", limit row of day " << counts->i64(r, 0);
    }
    const auto acct = account(buyers[i].points_account_id);
    EXPECT_EQ(acct.debits_pending, 100 * orders->i64(0, 0));
  }
  expect_ledger_verifies();
}

// Each member can pay for one of the two orders it places at once, on two offers. Both pass the
// points check made before the write transaction, so the ledger refuses one hold when the holds
// are written at the end of the transaction (the whole group's COMMIT then fails, and its orders
// run again alone): exactly one order per member, the other insufficient_points, its unit back.
TEST_P(MarketTest, SimultaneousOrdersBeyondTheBalanceGetExactlyOneHold) {
  constexpr int kMembers = 24;
  constexpr int kStock = kMembers + 12;  // room for the other buyers' orders too
  const auto a = must_offer(offer_input(kStock, 100));
  const auto b = must_offer(offer_input(kStock, 100));
  std::vector<members::MemberView> buyers;
  for (int i = 0; i < kMembers; ++i) {
    buyers.push_back(funded("p" + std::to_string(i) + "@example.com", 150));
  }
  std::atomic<int> ok{0}, insufficient{0}, other{0};
  auto buy = [&](std::int64_t offer_id) {
    for (const auto& m : buyers) {
      auto r = order(m, offer_id, "key-" + std::to_string(offer_id));
      if (r) {
        ++ok;
      } else if (r.error().code == "insufficient_points") {
        ++insufficient;
      } else {
        ++other;
        ADD_FAILURE() << r.error().code << ": " << r.error().message;
      }
    }
  };
  std::thread ta([&] { buy(a.id); });
  std::thread tb([&] { buy(b.id); });
  std::vector<std::thread> more;  // other buyers' orders, so that groups form
  for (int t = 0; t < 4; ++t) {
    more.emplace_back([&, t] {
      const auto m = funded("q" + std::to_string(t) + "@example.com", 10'000);
      for (int i = 0; i < 3; ++i) (void)order(m, t % 2 == 0 ? a.id : b.id, "q" + std::to_string(i));
    });
  }
  ta.join();
  tb.join();
  for (auto& t : more) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(ok.load(), kMembers);
  EXPECT_EQ(insufficient.load(), kMembers);
  auto lease = db_->store().acquire();
  ASSERT_OK(lease);
  for (const auto& m : buyers) {
    auto rows = (*lease)->query("SELECT COUNT(*) FROM market_orders WHERE member_id = ?", {m.id});
    ASSERT_OK(rows);
    EXPECT_EQ(rows->i64(0, 0), 1);
    const auto acct = account(m.points_account_id);
    EXPECT_EQ(acct.debits_pending, 100);
    EXPECT_EQ(acct.available(), 50);
  }
  // Every unit not ordered is back: stock = orders + remaining, per offer.
  for (const auto& o : {a, b}) {
    auto rows = (*lease)->query("SELECT COUNT(*) FROM market_orders WHERE offer_id = ?", {o.id});
    ASSERT_OK(rows);
    EXPECT_EQ(rows->i64(0, 0) + remaining(o.id), kStock);
  }
  expect_ledger_verifies();
}

// Once an offer is seen sold out, buyers are answered from memory; a replay of a placed order
// still gets its order; a unit given back in this process is on sale again at once, and one given
// back through another server (a second Market on the same database) within kOfferMemoryFor.
TEST_P(MarketTest, SoldOutAnswersAndUnitsGivenBack) {
  const auto offer = must_offer(offer_input(1, 100));
  const auto a = funded("a@example.com", 1000);
  const auto b = funded("b@example.com", 1000);
  const auto c = funded("c@example.com", 1000);
  auto first = order(a, offer.id, "k1");
  ASSERT_OK(first);
  expect_refused(order(b, offer.id, "k1"), "sold_out");
  expect_refused(order(b, offer.id, "k2"), "sold_out");
  auto again = order(a, offer.id, "k1");
  ASSERT_OK(again);
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->id, first->id);
  // The same key for another request is still a conflict, not sold_out.
  expect_refused(order(a, offer.id, "k1", "1 Campus Road"), "idempotency_conflict");

  ASSERT_OK(market_->cancel_order(a.id, first->id));
  auto second = order(b, offer.id, "k3");  // at once: this process gave the unit back
  ASSERT_OK(second);
  expect_refused(order(c, offer.id, "k1"), "sold_out");

  auto other = make_market({});
  ASSERT_OK(other->cancel_order(b.id, second->id));
  std::this_thread::sleep_for(market::Market::kOfferMemoryFor + std::chrono::milliseconds(50));
  auto third = order(c, offer.id, "k2");
  ASSERT_OK(third);
  EXPECT_EQ(remaining(offer.id), 0);
  EXPECT_EQ(account(c.points_account_id).debits_pending, 100);
}

// An offer withdrawn through another server (a second Market on the same database) while this
// one still remembers it (kOfferMemoryFor): the order is refused in its transaction, where
// withdrawal is checked under lock, and changes nothing.
TEST_P(MarketTest, AWithdrawalOnAnotherServerIsCaughtUnderLock) {
  auto in = offer_input(5, 100);
  in.per_member_day_max = 3;
  const auto offer = must_offer(in);
  const auto a = funded("a@example.com", 1000);
  ASSERT_OK(order(a, offer.id, "k1"));  // this server has read the offer now
  auto other = make_market({});
  ASSERT_OK(other->withdraw_offer(offer.id));
  const auto before = snapshot(a, offer.id);
  const auto counted = count("market_member_counts WHERE orders > 0");
  expect_refused(order(a, offer.id, "k2"), "offer_withdrawn");
  EXPECT_EQ(snapshot(a, offer.id), before);
  EXPECT_EQ(count("market_member_counts WHERE orders > 0"), counted);
  auto lease = db_->store().acquire();
  ASSERT_OK(lease);
  auto day = (*lease)->query(
      "SELECT orders FROM market_member_counts WHERE member_id = ? AND offer_id = ? AND day <> 0",
      {a.id, offer.id});
  ASSERT_OK(day);
  ASSERT_EQ(day->size(), 1U);
  EXPECT_EQ(day->i64(0, 0), 1);  // the refused order's count was given back
}

// An order for a session token that names its member reads the session with the order's first
// reads: the order is that member's, and a token without a live session of that member places
// nothing, whether or not this server remembers the offer. A token without a hint (issued before
// tokens named their member) is authenticated first.
TEST_P(MarketTest, AnOrderForASessionTokenIsItsMembersAndNeedsALiveSession) {
  const auto offer = must_offer(offer_input(5, 100));
  const auto a = funded("a@example.com", 1000);
  const auto b = funded("b@example.com", 1000);
  auto session = members_->login("a@example.com", "s3cret-pass");
  ASSERT_OK(session);
  const auto place = [&](market::Market& m, const std::string& token, std::string key) {
    return m.place_order_for_session(token, {.member_id = 0,
                                             .offer_id = offer.id,
                                             .idempotency_key = std::move(key),
                                             .delivery_address = std::nullopt});
  };
  // The first order reads the offer; the second finds it remembered.
  for (const char* key : {"k1", "k2"}) {
    auto placed = place(*market_, session->token, key);
    ASSERT_OK(placed);
    EXPECT_EQ(placed->member_id, a.id);
  }
  EXPECT_EQ(account(a.points_account_id).debits_pending, 200);

  const auto before_a = snapshot(a, offer.id);
  const auto before_b = snapshot(b, offer.id);
  const std::string renamed =
      session->token.substr(0, members::kSessionTokenBytes) + "." + std::to_string(b.id);
  auto fresh = make_market({});  // has not read the offer
  for (market::Market* m : {market_.get(), fresh.get()}) {
    expect_refused(place(*m, renamed, "k3"), "invalid_session");
    expect_refused(place(*m, "tps_not-a-token", "k3"), "invalid_session");
  }
  ASSERT_OK(members_->logout(session->token));
  auto fresh_again = make_market({});
  for (market::Market* m : {market_.get(), fresh_again.get()}) {
    expect_refused(place(*m, session->token, "k3"), "invalid_session");
    expect_refused(place(*m, session->token, "k1"), "invalid_session");  // not even a replay
  }
  EXPECT_EQ(snapshot(a, offer.id), before_a);
  EXPECT_EQ(snapshot(b, offer.id), before_b);

  const std::string legacy = "tps_" + std::string(43, 'L');
  insert_session(legacy, b.id);
  auto placed = place(*market_, legacy, "k1");
  ASSERT_OK(placed);
  EXPECT_EQ(placed->member_id, b.id);
  expect_ledger_verifies();
}

// On PostgreSQL, another server's transaction holds every stock bucket while buyers order: their
// batches find no unit they can take, go into the next batch and then alone, and get their units
// when that transaction lets go. Limits are counted once per order placed.
TEST_P(MarketTest, OrdersGetTheUnitsAnotherServerHeldOnceItLetsGo) {
  if (db_->store().dialect() != store::Dialect::postgres) {
    GTEST_SKIP() << "SQLite has one writer: no bucket is held while another transaction writes";
  }
  constexpr int kBuyers = 12;
  auto in = offer_input(40, 100);
  in.per_member_total_max = 1;
  const auto offer = must_offer(in);
  std::vector<members::MemberView> buyers;
  buyers.reserve(kBuyers);
  for (int i = 0; i < kBuyers; ++i) {
    buyers.push_back(funded("h" + std::to_string(i) + "@example.com", 1000));
  }
  std::unique_ptr<store::Store> other = db_->open_another();
  std::atomic<bool> held{false};
  std::atomic<bool> let_go{false};
  std::thread holder([&] {
    auto r = other->write([&](store::Connection& c) -> Result<void> {
      auto rows =
          c.query("SELECT bucket FROM market_stock WHERE offer_id = ? FOR UPDATE", {offer.id});
      if (!rows) return fail(rows.error());
      held = true;
      while (!let_go) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return {};
    });
    EXPECT_TRUE(r.has_value());
  });
  while (!held) std::this_thread::yield();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  threads.reserve(kBuyers);
  for (int i = 0; i < kBuyers; ++i) {
    threads.emplace_back([&, i] {
      auto r = order(buyers[static_cast<std::size_t>(i)], offer.id, "now");
      if (r) {
        ++ok;
      } else {
        ADD_FAILURE() << r.error().code << ": " << r.error().message;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(ok.load(), 0);  // no unit while every bucket is held
  let_go = true;
  holder.join();
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kBuyers);
  EXPECT_EQ(remaining(offer.id), 40 - kBuyers);
  EXPECT_EQ(count("market_orders"), kBuyers);
  EXPECT_EQ(count("market_member_counts WHERE orders = 1"), kBuyers);
  EXPECT_EQ(count("market_member_counts WHERE orders <> 1"), 0);
  expect_ledger_verifies();
}

TEST_P(MarketTest, SettlementCountsThePeriodAndExportsCsv) {
  const auto alice = funded("alice@example.com", 10'000);
  auto in = offer_input(10, 100);
  in.title = "=HYPERLINK(\"x\")";
  const auto offer = must_offer(in);
  const std::int64_t from = clock_.now_us();
  auto a = order(alice, offer.id, "a");
  auto b = order(alice, offer.id, "b");
  auto c = order(alice, offer.id, "c");
  ASSERT_OK(a);
  ASSERT_OK(b);
  ASSERT_OK(c);
  ASSERT_OK(market_->redeem(merchant_.id, a->voucher_code, std::nullopt));
  ASSERT_OK(market_->cancel_order(alice.id, b->id));
  clock_.advance_us(8 * kDayUs);
  ASSERT_OK(market_->expire_orders(clock_.now_us()));
  auto s = market_->settlement(merchant_.id, from, clock_.now_us() + 1);
  ASSERT_OK(s);
  ASSERT_EQ(s->lines.size(), 1U);
  EXPECT_EQ(s->lines[0].issued, 3);
  EXPECT_EQ(s->lines[0].redeemed, 1);
  EXPECT_EQ(s->lines[0].cancelled, 1);
  EXPECT_EQ(s->lines[0].expired, 1);
  EXPECT_EQ(s->lines[0].points_received, 100);
  EXPECT_EQ(s->total.points_received, account(merchant_.account_id).balance());
  // A period after all of it is empty; a reversed or too long one is refused.
  auto later = market_->settlement(0, clock_.now_us() + 1, clock_.now_us() + kDayUs);
  ASSERT_OK(later);
  EXPECT_TRUE(later->lines.empty());
  EXPECT_EQ(market_->settlement(0, from, from).error().code, "invalid_period");
  EXPECT_EQ(market_->settlement(0, from, from + 400 * kDayUs).error().code, "invalid_period");

  const std::string csv = market::settlement_csv(*s);
  EXPECT_TRUE(csv.starts_with("\"merchant_id\",\"merchant\",")) << csv;
  EXPECT_NE(csv.find("\"'=HYPERLINK(\"\"x\"\")\""), std::string::npos) << csv;
  EXPECT_NE(csv.find("\"TOTAL\""), std::string::npos);
}

TEST_P(MarketTest, VoucherQrIsAnSvgImage) {
  auto svg = market::voucher_qr_svg("tanpu:v1:1:00112233445566778899aabbccddeeff");
  ASSERT_OK(svg);
  EXPECT_TRUE(svg->starts_with("<svg"));
  EXPECT_NE(svg->find("h1v1h-1z"), std::string::npos);
}

TANPU_INSTANTIATE_ENGINES(MarketTest);

}  // namespace
}  // namespace tanpu::test
