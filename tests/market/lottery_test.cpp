// Lotteries and lucky bags (src/market/lottery.h) on every engine: the ticket recipe against fixed
// vectors, creation checks, draws that take points and number themselves, every refusal changing
// nothing, limits, stock exhaustion, idempotency, the odds in practice, the seed hidden until the
// close and every recorded ticket recomputed after it, and concurrent draws (two stores on one
// database) that never oversell and keep the ledger balanced.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/crypto.h"
#include "market/lottery.h"
#include "members/members_fixture.h"

namespace tanpu::test {
namespace {

using market::Lotteries;
using market::LotteryInput;
using market::NoPrizeReason;

constexpr std::int64_t kHourUs = 3'600'000'000;
constexpr std::int64_t kDayUs = 24 * kHourUs;

std::array<std::uint8_t, 32> counting_seed() {
  std::array<std::uint8_t, 32> seed{};
  for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(i);
  return seed;
}

// Vectors computed independently (Python's hmac module), also used in docs/lottery.md.
TEST(LotteryTicket, IsTheDocumentedRecipe) {
  const auto seed = counting_seed();
  EXPECT_EQ(Lotteries::draw_message(7, 3, 42, "hello"), "tanpu-lottery-v1|7|3|42|hello");
  EXPECT_EQ(to_hex(hmac_sha256(seed, Lotteries::draw_message(7, 3, 42, "hello"))),
            "414afeb100d2515130148cb9f26c458fe9da99cc91fce54e9b488b4925fad52c");
  EXPECT_EQ(Lotteries::draw_ticket(seed, 7, 3, 42, "hello"), 354257);
  EXPECT_EQ(Lotteries::draw_ticket(seed, 7, 1, 42, ""), 528790);
  // The top bit set: the value is read unsigned.
  EXPECT_EQ(Lotteries::draw_ticket(seed, 1, 1, 1, ""), 831859);
  EXPECT_EQ(to_hex(sha256(seed)),
            "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd");
}

TEST(LotteryTicket, PrizeRangesAreConsecutiveInListOrder) {
  const std::array<std::int64_t, 3> odds{100'000, 0, 250'000};
  EXPECT_EQ(Lotteries::prize_for_ticket(0, odds), 0U);
  EXPECT_EQ(Lotteries::prize_for_ticket(99'999, odds), 0U);
  EXPECT_EQ(Lotteries::prize_for_ticket(100'000, odds), 2U);  // a zero-width range never wins
  EXPECT_EQ(Lotteries::prize_for_ticket(349'999, odds), 2U);
  EXPECT_EQ(Lotteries::prize_for_ticket(350'000, odds), std::nullopt);
  EXPECT_EQ(Lotteries::prize_for_ticket(999'999, odds), std::nullopt);
  const std::array<std::int64_t, 1> all{1'000'000};
  EXPECT_EQ(Lotteries::prize_for_ticket(999'999, all), 0U);
}

TEST(LotteryTicket, TicketsFollowTheOdds) {
  // 100,000 tickets of one seed: each range's share within 1 % (absolute) of its odds.
  const auto seed = counting_seed();
  const std::array<std::int64_t, 2> odds{100'000, 300'000};
  std::array<int, 3> hits{};
  constexpr int kTickets = 100'000;
  for (int i = 1; i <= kTickets; ++i) {
    const auto prize = Lotteries::prize_for_ticket(Lotteries::draw_ticket(seed, 1, i, 5, ""), odds);
    ++hits[prize ? *prize : 2];
  }
  EXPECT_NEAR(hits[0], 10'000, 1'000);
  EXPECT_NEAR(hits[1], 30'000, 1'000);
  EXPECT_NEAR(hits[2], 60'000, 1'000);
}

TEST(LotteryTicket, ClientSeedsArePrintableAndShort) {
  EXPECT_TRUE(Lotteries::check_client_seed("").has_value());
  EXPECT_TRUE(Lotteries::check_client_seed(std::string(64, '~')).has_value());
  EXPECT_TRUE(Lotteries::check_client_seed("my lucky | seed 7").has_value());
  EXPECT_EQ(Lotteries::check_client_seed(std::string(65, 'a')).error().code,
            "client_seed_too_long");
  EXPECT_EQ(Lotteries::check_client_seed("tab\there").error().code, "invalid_client_seed");
  EXPECT_EQ(Lotteries::check_client_seed("\xE5\xA5\xBD").error().code, "invalid_client_seed");
}

class LotteryTest : public MembersFixture {
 protected:
  void SetUp() override {
    MembersFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    auto lease = db_->store().acquire();
    ASSERT_OK(lease);
    std::vector<store::Migration> all(ledger::migrations().begin(), ledger::migrations().end());
    all.insert(all.end(), members::migrations().begin(), members::migrations().end());
    all.insert(all.end(), market::lottery_migrations().begin(), market::lottery_migrations().end());
    ASSERT_OK(store::migrate(**lease, all));
    lotteries_ = std::make_unique<Lotteries>(db_->store(), *ledger_, *members_, clock_);
    op_ = must_register(std::nullopt, "op@example.com", members::Role::operator_);
    alice_ = must_register(std::nullopt, "alice@example.com");
    bob_ = must_register(std::nullopt, "bob@example.com");
    fund(alice_, 1000);
  }
  void TearDown() override {
    lotteries_.reset();
    MembersFixture::TearDown();
  }

  // Opens in an hour, for a day; 10 points a draw; a metro card (10 %, 5 in stock) and a bike
  // pass (20 %, 10 in stock), else nothing.
  LotteryInput input() const {
    LotteryInput in;
    in.title = "Green week";
    in.price_points = 10;
    in.opens_at_us = clock_.now_us() + kHourUs;
    in.closes_at_us = clock_.now_us() + kHourUs + kDayUs;
    in.no_prize_ppm = 700'000;
    in.prizes = {{"Metro card", 5, 100'000}, {"Bike pass", 10, 200'000}};
    return in;
  }

  market::Lottery must_create(const LotteryInput& in) {
    auto l = lotteries_->create(in, op_.id);
    EXPECT_TRUE(l.has_value()) << (l ? "" : l.error().code);
    return l ? *l : market::Lottery{};
  }

  // Creates input() (changed by `change`) and moves the clock into its window.
  market::Lottery open_lottery(const std::function<void(LotteryInput&)>& change = {}) {
    LotteryInput in = input();
    if (change) change(in);
    market::Lottery l = must_create(in);
    clock_.advance_us(l.opens_at_us - clock_.now_us());
    return l;
  }

  Result<market::Draw> draw(std::int64_t lottery_id, const members::MemberView& m,
                            const std::string& key, const std::string& client_seed = {}) {
    return lotteries_->draw({lottery_id, m.id, key, client_seed});
  }

  std::int64_t balance(std::int64_t account_id) {
    auto a = ledger_->lookup_account(account_id);
    EXPECT_TRUE(a.has_value());
    return a ? a->balance() : -1;
  }

  // What a refused draw must leave alone.
  struct Snapshot {
    std::int64_t member_points = 0;
    std::int64_t lottery_points = 0;
    std::vector<std::int64_t> stocks;
    std::int64_t draws = 0;
    std::int64_t draw_rows = 0;
    std::int64_t transfers = 0;
    bool operator==(const Snapshot&) const = default;
  };
  Snapshot snapshot(const market::Lottery& l, const members::MemberView& m) {
    Snapshot s;
    s.member_points = balance(m.points_account_id);
    s.lottery_points = l.account_id > 0 ? balance(l.account_id) : 0;
    if (auto now = lotteries_->get(l.id)) {
      for (const auto& p : now->prizes) s.stocks.push_back(p.stock_remaining);
      s.draws = now->draws;
    }
    s.draw_rows = count("lottery_draws");
    s.transfers = count("ledger_transfers");
    return s;
  }

  // Expects draw to be refused with code, changing nothing.
  void expect_refused(const market::Lottery& l, const members::MemberView& m,
                      const std::function<Result<market::Draw>()>& attempt, const char* code,
                      const char* field = nullptr) {
    const Snapshot before = snapshot(l, m);
    auto r = attempt();
    ASSERT_FALSE(r.has_value()) << code;
    EXPECT_EQ(r.error().code, code);
    if (field != nullptr) {
      EXPECT_EQ(r.error().field, field);
    }
    EXPECT_TRUE(snapshot(l, m) == before) << code << ": a refused draw changed something";
  }

  std::unique_ptr<Lotteries> lotteries_;
  members::MemberView op_, alice_, bob_;
};

TEST_P(LotteryTest, CreationRefusesWhatIsWrongAndCreatesNothing) {
  const std::int64_t accounts = count("ledger_accounts");
  const auto refused = [&](const std::function<void(LotteryInput&)>& change, const char* code,
                           const char* field) {
    LotteryInput in = input();
    change(in);
    auto r = lotteries_->create(in, op_.id);
    ASSERT_FALSE(r.has_value()) << code;
    EXPECT_EQ(r.error().code, code);
    EXPECT_EQ(r.error().kind, ErrorKind::invalid) << code;
    EXPECT_EQ(r.error().field, field) << code;
  };
  refused([](LotteryInput& in) { in.title.clear(); }, "title_required", "title");
  refused([](LotteryInput& in) { in.title.assign(121, 'x'); }, "title_too_long", "title");
  refused([](LotteryInput& in) { in.price_points = 0; }, "price_must_be_positive", "price_points");
  refused([](LotteryInput& in) { in.price_points = -5; }, "price_must_be_positive", "price_points");
  refused([](LotteryInput& in) { in.price_points = 10'000'001; }, "price_too_large",
          "price_points");
  refused([&](LotteryInput& in) { in.opens_at_us = clock_.now_us(); }, "opens_at_in_past",
          "opens_at");
  refused([&](LotteryInput& in) { in.opens_at_us = clock_.now_us() + 367 * kDayUs; },
          "opens_at_too_far", "opens_at");
  refused([](LotteryInput& in) { in.closes_at_us = in.opens_at_us; },
          "closes_at_not_after_opens_at", "closes_at");
  refused([](LotteryInput& in) { in.closes_at_us = in.opens_at_us + 366 * kDayUs + 1; },
          "window_too_long", "closes_at");
  refused([](LotteryInput& in) { in.per_member_day_max = 0; }, "invalid_draw_limit",
          "per_member_day_max");
  refused([](LotteryInput& in) { in.per_member_total_max = -1; }, "invalid_draw_limit",
          "per_member_total_max");
  refused([](LotteryInput& in) { in.prizes.clear(); }, "prizes_required", "prizes");
  refused(
      [](LotteryInput& in) {
        in.prizes.assign(33, {"Sticker", 1, 0});
        in.no_prize_ppm = 1'000'000;
      },
      "too_many_prizes", "prizes");
  refused([](LotteryInput& in) { in.prizes[1].name.clear(); }, "prize_name_required",
          "prizes[1].name");
  refused([](LotteryInput& in) { in.prizes[0].name.assign(121, 'n'); }, "prize_name_too_long",
          "prizes[0].name");
  refused([](LotteryInput& in) { in.prizes[1].stock = -1; }, "invalid_stock", "prizes[1].stock");
  refused(
      [](LotteryInput& in) {
        in.prizes[0].odds_ppm = -100'000;  // the sum would still be one million
        in.no_prize_ppm = 900'000;
      },
      "invalid_odds", "prizes[0].odds_ppm");
  refused([](LotteryInput& in) { in.no_prize_ppm = -1; }, "invalid_no_prize_ppm", "no_prize_ppm");
  refused([](LotteryInput& in) { in.no_prize_ppm = 699'999; }, "odds_must_sum_to_one", "prizes");
  refused([](LotteryInput& in) { in.prizes[1].odds_ppm = 200'001; }, "odds_must_sum_to_one",
          "prizes");
  refused([](LotteryInput& in) { in.kind = market::LotteryKind::lucky_bag; },
          "lucky_bag_must_always_win", "no_prize_ppm");
  EXPECT_EQ(count("lottery_lotteries"), 0);
  EXPECT_EQ(count("lottery_prizes"), 0);
  EXPECT_EQ(count("ledger_accounts"), accounts);

  // Exactly one million, 32 prizes, zero stock and zero odds are all allowed.
  LotteryInput edge = input();
  edge.prizes.assign(32, {"Sticker", 0, 31'250});
  edge.no_prize_ppm = 0;
  edge.closes_at_us = edge.opens_at_us + 366 * kDayUs;
  EXPECT_OK(lotteries_->create(edge, op_.id));
}

TEST_P(LotteryTest, CreationCommitsToASeedThatIsRevealedOnlyAfterTheClose) {
  const market::Lottery l = must_create(input());
  ASSERT_GT(l.id, 0);
  EXPECT_EQ(l.status(clock_.now_us()), "scheduled");
  EXPECT_EQ(l.seed_commitment.size(), 64U);
  EXPECT_FALSE(l.seed.has_value());
  ASSERT_EQ(l.prizes.size(), 2U);
  EXPECT_EQ(l.prizes[0].prize_no, 1);
  EXPECT_EQ(l.prizes[1].name, "Bike pass");
  EXPECT_EQ(l.prizes[1].stock_remaining, 10);
  EXPECT_EQ(l.draws, 0);
  auto account = ledger_->lookup_account(l.account_id);
  ASSERT_OK(account);
  EXPECT_EQ(account->owner_kind, "lottery");
  EXPECT_EQ(account->owner_id, std::to_string(l.id));
  EXPECT_EQ(account->currency, ledger::Currency::points);

  clock_.advance_us(l.closes_at_us - clock_.now_us() - 1);  // the last microsecond of the window
  auto open = lotteries_->get(l.id);
  ASSERT_OK(open);
  EXPECT_EQ(open->status(clock_.now_us()), "open");
  EXPECT_FALSE(open->seed.has_value());
  auto listed = lotteries_->list("", 10);
  ASSERT_OK(listed);
  ASSERT_EQ(listed->lotteries.size(), 1U);
  EXPECT_FALSE(listed->lotteries[0].seed.has_value());

  clock_.advance_us(1);
  auto closed = lotteries_->get(l.id);
  ASSERT_OK(closed);
  EXPECT_EQ(closed->status(clock_.now_us()), "closed");
  ASSERT_TRUE(closed->seed.has_value());
  auto seed = from_hex(*closed->seed);
  ASSERT_OK(seed);
  EXPECT_EQ(seed->size(), 32U);
  EXPECT_EQ(to_hex(sha256(*seed)), l.seed_commitment);
  // Another lottery has another seed.
  const market::Lottery other = must_create(input());
  EXPECT_NE(other.seed_commitment, l.seed_commitment);
  EXPECT_EQ(lotteries_->get(999'999).error().code, "lottery_not_found");
}

TEST_P(LotteryTest, CreationIsIdempotentByKey) {
  LotteryInput in = input();
  in.idempotency_key = "create-1";
  const market::Lottery first = must_create(in);
  EXPECT_FALSE(first.replayed);
  auto again = lotteries_->create(in, op_.id);
  ASSERT_OK(again);
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->id, first.id);
  in.title = "Another title";
  auto other = lotteries_->create(in, op_.id);
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().code, "idempotency_conflict");
  EXPECT_EQ(count("lottery_lotteries"), 1);
}

TEST_P(LotteryTest, DrawsTakeThePriceAndAreNumberedInOrder) {
  const market::Lottery l = open_lottery();
  for (int i = 1; i <= 3; ++i) {
    auto d = draw(l.id, alice_, "k" + std::to_string(i), "seed-" + std::to_string(i));
    ASSERT_OK(d);
    EXPECT_EQ(d->draw_no, i);
    EXPECT_EQ(d->lottery_id, l.id);
    EXPECT_EQ(d->member_id, alice_.id);
    EXPECT_EQ(d->price_points, 10);
    EXPECT_FALSE(d->replayed);
    EXPECT_GE(d->ticket, 0);
    EXPECT_LT(d->ticket, 1'000'000);
    EXPECT_EQ(d->prize_no.has_value(), d->reason == NoPrizeReason::none);
    // The range follows from the ticket and the odds.
    const std::array<std::int64_t, 2> odds{100'000, 200'000};
    const auto index = Lotteries::prize_for_ticket(d->ticket, odds);
    EXPECT_EQ(d->range_prize_no.has_value(), index.has_value());
    if (index) {
      EXPECT_EQ(*d->range_prize_no, static_cast<std::int32_t>(*index) + 1);
    }
    auto t = ledger_->lookup_transfer(d->transfer_id);
    ASSERT_OK(t);
    EXPECT_EQ(t->debit_account_id, alice_.points_account_id);
    EXPECT_EQ(t->credit_account_id, l.account_id);
    EXPECT_EQ(t->amount, 10);
    EXPECT_EQ(t->code, ledger::codes::lottery_entry);
    EXPECT_EQ(t->flags, 0U);
  }
  EXPECT_EQ(balance(alice_.points_account_id), 970);
  EXPECT_EQ(balance(l.account_id), 30);
  auto now = lotteries_->get(l.id);
  ASSERT_OK(now);
  EXPECT_EQ(now->draws, 3);
  fund(bob_, 10);
  auto d = draw(l.id, bob_, "k1");  // keys belong to their member
  ASSERT_OK(d);
  EXPECT_EQ(d->draw_no, 4);
  EXPECT_EQ(d->client_seed, "");
}

TEST_P(LotteryTest, RefusedDrawsChangeNothing) {
  const market::Lottery l = must_create(input());
  expect_refused(
      l, alice_, [&] { return draw(l.id, alice_, "early"); }, "lottery_not_open");
  clock_.advance_us(l.opens_at_us - clock_.now_us());
  expect_refused(
      l, alice_, [&] { return draw(987'654, alice_, "nowhere"); }, "lottery_not_found");
  expect_refused(
      l, alice_, [&] { return draw(l.id, alice_, "long", std::string(65, 'a')); },
      "client_seed_too_long", "client_seed");
  expect_refused(
      l, alice_, [&] { return draw(l.id, alice_, "bad", "new\nline"); }, "invalid_client_seed",
      "client_seed");
  // Bob has no points.
  expect_refused(
      l, bob_, [&] { return draw(l.id, bob_, "poor"); }, "insufficient_points");
  fund(bob_, 9);
  expect_refused(
      l, bob_, [&] { return draw(l.id, bob_, "poorer"); }, "insufficient_points");
  // A refused key is not used up: the same key works once the points are there.
  fund(bob_, 1);
  auto ok = draw(l.id, bob_, "poor");
  ASSERT_OK(ok);
  EXPECT_EQ(ok->draw_no, 1);
  EXPECT_EQ(balance(bob_.points_account_id), 0);
  // The same key with another body conflicts, and replaying it neither charges nor draws again.
  expect_refused(
      l, bob_, [&] { return draw(l.id, bob_, "poor", "other seed"); }, "idempotency_conflict",
      "Idempotency-Key");
  const Snapshot before = snapshot(l, bob_);
  auto replay = draw(l.id, bob_, "poor");
  ASSERT_OK(replay);
  EXPECT_TRUE(replay->replayed);
  EXPECT_EQ(replay->draw_no, ok->draw_no);
  EXPECT_EQ(replay->ticket, ok->ticket);
  EXPECT_EQ(replay->transfer_id, ok->transfer_id);
  EXPECT_TRUE(snapshot(l, bob_) == before);
  // The same key on another lottery is another request.
  const market::Lottery other = must_create(input());
  expect_refused(
      l, bob_, [&] { return draw(other.id, bob_, "poor"); }, "idempotency_conflict");
  clock_.advance_us(l.closes_at_us - clock_.now_us());
  expect_refused(
      l, alice_, [&] { return draw(l.id, alice_, "late"); }, "lottery_closed");
}

TEST_P(LotteryTest, DrawLimitsPerDayAndInTotal) {
  const market::Lottery l = open_lottery([](LotteryInput& in) {
    in.per_member_day_max = 2;
    in.per_member_total_max = 3;
    in.closes_at_us = in.opens_at_us + 5 * kDayUs;
  });
  ASSERT_OK(draw(l.id, alice_, "d1"));
  ASSERT_OK(draw(l.id, alice_, "d2"));
  expect_refused(
      l, alice_, [&] { return draw(l.id, alice_, "d3"); }, "draw_limit_reached",
      "per_member_day_max");
  fund(bob_, 100);  // the limits are per member
  ASSERT_OK(draw(l.id, bob_, "b1"));
  // The next local day (UTC+8) allows two more, of which the total allows one.
  clock_.advance_us(kDayUs);
  auto third = draw(l.id, alice_, "d3");
  ASSERT_OK(third);
  EXPECT_EQ(third->draw_no, 4);
  expect_refused(
      l, alice_, [&] { return draw(l.id, alice_, "d4"); }, "draw_limit_reached",
      "per_member_total_max");
  EXPECT_EQ(balance(alice_.points_account_id), 1000 - 30);
}

TEST_P(LotteryTest, AnEmptyPrizeIsNoPrizeAndTheDrawStillCounts) {
  // Every ticket lands on the single prize, which has 2 units.
  const market::Lottery l = open_lottery([](LotteryInput& in) {
    in.prizes = {{"Tote bag", 2, 1'000'000}};
    in.no_prize_ppm = 0;
  });
  for (int i = 1; i <= 2; ++i) {
    auto d = draw(l.id, alice_, "s" + std::to_string(i));
    ASSERT_OK(d);
    EXPECT_EQ(d->prize_no, 1);
    EXPECT_EQ(d->prize_name, "Tote bag");
    EXPECT_EQ(d->reason, NoPrizeReason::none);
  }
  auto third = draw(l.id, alice_, "s3");
  ASSERT_OK(third);
  EXPECT_EQ(third->range_prize_no, 1);
  EXPECT_FALSE(third->prize_no.has_value());
  EXPECT_EQ(third->reason, NoPrizeReason::out_of_stock);
  EXPECT_TRUE(third->prize_name.empty());
  auto now = lotteries_->get(l.id);
  ASSERT_OK(now);
  EXPECT_EQ(now->prizes[0].stock_remaining, 0);
  EXPECT_EQ(now->prizes[0].stock_initial, 2);
  EXPECT_EQ(balance(alice_.points_account_id), 970);
  // As listed, the draw says why.
  auto page = lotteries_->member_draws(alice_.id, l.id, "", 10);
  ASSERT_OK(page);
  ASSERT_EQ(page->draws.size(), 3U);
  EXPECT_EQ(page->draws[0].reason, NoPrizeReason::out_of_stock);
  EXPECT_EQ(page->draws[2].prize_name, "Tote bag");
}

TEST_P(LotteryTest, ALuckyBagAlwaysWinsUntilItIsSoldOut) {
  const market::Lottery bag = open_lottery([](LotteryInput& in) {
    in.kind = market::LotteryKind::lucky_bag;
    in.prizes = {{"Seed packet", 1, 500'000}, {"Cup", 1, 500'000}};
    in.no_prize_ppm = 0;
  });
  EXPECT_EQ(bag.kind, market::LotteryKind::lucky_bag);
  int won = 0;
  for (int i = 0; i < 40 && won < 2; ++i) {
    auto d = draw(bag.id, alice_, "bag" + std::to_string(i));
    ASSERT_OK(d);
    ASSERT_TRUE(d->range_prize_no.has_value());  // never the no-prize range
    if (d->prize_no) ++won;
  }
  ASSERT_EQ(won, 2);
  expect_refused(
      bag, alice_, [&] { return draw(bag.id, alice_, "bag-more"); }, "lucky_bag_sold_out");
}

TEST_P(LotteryTest, OddsHoldOverTwoThousandDrawsAndEveryTicketVerifiesAfterTheClose) {
  const market::Lottery l = open_lottery([](LotteryInput& in) {
    in.price_points = 1;
    in.prizes = {{"Metro card", 100'000, 100'000}, {"Bike pass", 100'000, 300'000}};
    in.no_prize_ppm = 600'000;
  });
  constexpr int kThreads = 8;
  constexpr int kPerThread = 250;
  std::vector<members::MemberView> drawers;
  for (int t = 0; t < kThreads; ++t) {
    drawers.push_back(must_register(std::nullopt, "odds" + std::to_string(t) + "@example.com"));
    fund(drawers.back(), kPerThread);
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!draw(l.id, drawers[static_cast<std::size_t>(t)], "o" + std::to_string(i),
                  std::to_string(t)))
          ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  std::map<std::int32_t, int> hits;  // 0: no prize
  std::vector<market::Draw> all;
  for (const auto& m : drawers) {
    std::string cursor;
    do {
      auto page = lotteries_->member_draws(m.id, l.id, cursor, 100);
      ASSERT_OK(page);
      for (const auto& d : page->draws) {
        ++hits[d.prize_no.value_or(0)];
        all.push_back(d);
      }
      cursor = page->next_cursor;
    } while (!cursor.empty());
  }
  ASSERT_EQ(all.size(), 2000U);
  // Loose: about 5 standard deviations of a binomial over 2,000 draws.
  EXPECT_NEAR(hits[1], 200, 70);
  EXPECT_NEAR(hits[2], 600, 105);
  EXPECT_NEAR(hits[0], 1200, 110);

  // After the close, the revealed seed recomputes every recorded ticket.
  clock_.advance_us(l.closes_at_us - clock_.now_us());
  auto closed = lotteries_->get(l.id);
  ASSERT_OK(closed);
  ASSERT_TRUE(closed->seed.has_value());
  auto seed = from_hex(*closed->seed);
  ASSERT_OK(seed);
  ASSERT_EQ(to_hex(sha256(*seed)), l.seed_commitment);
  std::vector<bool> numbers(2001, false);
  for (const auto& d : all) {
    EXPECT_EQ(Lotteries::draw_ticket(*seed, l.id, d.draw_no, d.member_id, d.client_seed), d.ticket);
    ASSERT_GE(d.draw_no, 1);
    ASSERT_LE(d.draw_no, 2000);
    EXPECT_FALSE(numbers[static_cast<std::size_t>(d.draw_no)]) << "draw_no twice";
    numbers[static_cast<std::size_t>(d.draw_no)] = true;
  }
  auto v = lotteries_->verify(drawers[3].id, l.id, all[800].draw_no, true);
  ASSERT_OK(v);
  EXPECT_TRUE(v->revealed);
  EXPECT_EQ(v->commitment_matches, true);
  EXPECT_EQ(v->ticket_matches, true);
  EXPECT_EQ(v->range_matches, true);
}

TEST_P(LotteryTest, VerificationIsTheDrawersAndRevealsOnlyAfterTheClose) {
  const market::Lottery l = open_lottery();
  auto d = draw(l.id, alice_, "v1", "alice's seed");
  ASSERT_OK(d);
  auto before = lotteries_->verify(alice_.id, l.id, d->draw_no);
  ASSERT_OK(before);
  EXPECT_FALSE(before->revealed);
  EXPECT_FALSE(before->seed.has_value());
  EXPECT_FALSE(before->recomputed_ticket.has_value());
  EXPECT_FALSE(before->ticket_matches.has_value());
  EXPECT_EQ(before->message, "tanpu-lottery-v1|" + std::to_string(l.id) + "|1|" +
                                 std::to_string(alice_.id) + "|alice's seed");
  ASSERT_EQ(before->ranges.size(), 3U);
  EXPECT_EQ(before->ranges[0].from, 0);
  EXPECT_EQ(before->ranges[0].to, 100'000);
  EXPECT_EQ(before->ranges[1].prize_no, 2);
  EXPECT_EQ(before->ranges[1].to, 300'000);
  EXPECT_FALSE(before->ranges[2].prize_no.has_value());
  EXPECT_EQ(before->ranges[2].to, 1'000'000);
  EXPECT_EQ(before->seed_commitment, l.seed_commitment);
  // Bob cannot see Alice's draw; unknown draws and lotteries are not found.
  EXPECT_EQ(lotteries_->verify(bob_.id, l.id, 1).error().code, "draw_not_found");
  EXPECT_EQ(lotteries_->verify(alice_.id, l.id, 2).error().code, "draw_not_found");
  EXPECT_EQ(lotteries_->verify(alice_.id, 424'242, 1).error().code, "lottery_not_found");

  clock_.advance_us(l.closes_at_us - clock_.now_us());
  auto after = lotteries_->verify(alice_.id, l.id, d->draw_no);
  ASSERT_OK(after);
  EXPECT_TRUE(after->revealed);
  ASSERT_TRUE(after->seed.has_value());
  EXPECT_EQ(after->commitment_matches, true);
  EXPECT_EQ(after->recomputed_ticket, d->ticket);
  EXPECT_EQ(after->ticket_matches, true);
  EXPECT_EQ(after->range_matches, true);
  // The member's own recomputation, from the published pieces only.
  auto seed = from_hex(*after->seed);
  ASSERT_OK(seed);
  EXPECT_EQ(to_hex(hmac_sha256(*seed, after->message)).substr(0, 16).size(), 16U);
  EXPECT_EQ(Lotteries::draw_ticket(*seed, l.id, 1, alice_.id, "alice's seed"), d->ticket);
}

TEST_P(LotteryTest, MemberDrawsArePagedNewestFirst) {
  const market::Lottery a = open_lottery();
  const market::Lottery b = must_create(input());
  clock_.advance_us(b.opens_at_us - clock_.now_us());
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK(draw(i % 2 == 0 ? a.id : b.id, alice_, "p" + std::to_string(i)));
  }
  auto first = lotteries_->member_draws(alice_.id, 0, "", 2);
  ASSERT_OK(first);
  ASSERT_EQ(first->draws.size(), 2U);
  EXPECT_EQ(first->draws[0].lottery_id, a.id);  // p4
  EXPECT_EQ(first->draws[0].draw_no, 3);
  ASSERT_FALSE(first->next_cursor.empty());
  auto second = lotteries_->member_draws(alice_.id, 0, first->next_cursor, 2);
  ASSERT_OK(second);
  ASSERT_EQ(second->draws.size(), 2U);
  auto third = lotteries_->member_draws(alice_.id, 0, second->next_cursor, 2);
  ASSERT_OK(third);
  ASSERT_EQ(third->draws.size(), 1U);
  EXPECT_TRUE(third->next_cursor.empty());
  auto only_b = lotteries_->member_draws(alice_.id, b.id, "", 10);
  ASSERT_OK(only_b);
  EXPECT_EQ(only_b->draws.size(), 2U);
  auto bobs = lotteries_->member_draws(bob_.id, 0, "", 10);
  ASSERT_OK(bobs);
  EXPECT_TRUE(bobs->draws.empty());
  EXPECT_EQ(lotteries_->member_draws(alice_.id, 0, "x1", 10).error().code, "invalid_cursor");
  EXPECT_EQ(lotteries_->list("-3", 10).error().code, "invalid_cursor");
  auto lotteries = lotteries_->list("", 1);
  ASSERT_OK(lotteries);
  ASSERT_EQ(lotteries->lotteries.size(), 1U);
  EXPECT_EQ(lotteries->lotteries[0].id, b.id);
  auto rest = lotteries_->list(lotteries->next_cursor, 5);
  ASSERT_OK(rest);
  ASSERT_EQ(rest->lotteries.size(), 1U);
  EXPECT_EQ(rest->lotteries[0].id, a.id);
  EXPECT_TRUE(rest->next_cursor.empty());
}

// Eight threads draw at once, half through a second store, ledger and module on the same
// database (a second server process): the prize's stock never goes below zero, every unit is
// given exactly once, the numbers are 1..N without gaps and the lottery's account holds exactly
// the draws' prices.
TEST_P(LotteryTest, ConcurrentDrawsNeverOversellAndBalance) {
  const market::Lottery l = open_lottery([](LotteryInput& in) {
    in.prizes = {{"Scarce prize", 7, 500'000}};
    in.no_prize_ppm = 500'000;
  });
  std::unique_ptr<store::Store> second_store = db_->open_another();
  ledger::Ledger second_ledger(*second_store, clock_);
  members::Members second_members(*second_store, second_ledger, keys_, clock_, options());
  Lotteries second(*second_store, second_ledger, second_members, clock_);

  constexpr int kThreads = 8;
  constexpr int kPerThread = 20;
  std::vector<members::MemberView> drawers;
  for (int t = 0; t < kThreads; ++t) {
    drawers.push_back(must_register(std::nullopt, "c" + std::to_string(t) + "@example.com"));
    fund(drawers.back(), kPerThread * 10);
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Lotteries& via = t % 2 == 0 ? *lotteries_ : second;
      for (int i = 0; i < kPerThread; ++i) {
        auto d =
            via.draw({l.id, drawers[static_cast<std::size_t>(t)].id, "c" + std::to_string(i), {}});
        if (!d) {
          ADD_FAILURE() << d.error().code << ": " << d.error().message;
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  constexpr std::int64_t kDraws = kThreads * kPerThread;
  auto now = lotteries_->get(l.id);
  ASSERT_OK(now);
  EXPECT_EQ(now->draws, kDraws);
  EXPECT_EQ(now->prizes[0].stock_remaining, 0);  // ~80 tickets in range for 7 units
  int won = 0, out_of_stock = 0, in_range = 0;
  std::vector<bool> numbers(kDraws + 1, false);
  for (const auto& m : drawers) {
    auto page = lotteries_->member_draws(m.id, l.id, "", 100);
    ASSERT_OK(page);
    ASSERT_EQ(page->draws.size(), static_cast<std::size_t>(kPerThread));
    for (const auto& d : page->draws) {
      won += d.prize_no ? 1 : 0;
      out_of_stock += d.reason == NoPrizeReason::out_of_stock ? 1 : 0;
      in_range += d.range_prize_no ? 1 : 0;
      ASSERT_GE(d.draw_no, 1);
      ASSERT_LE(d.draw_no, kDraws);
      EXPECT_FALSE(numbers[static_cast<std::size_t>(d.draw_no)]);
      numbers[static_cast<std::size_t>(d.draw_no)] = true;
    }
    EXPECT_EQ(balance(m.points_account_id), 0);
  }
  EXPECT_EQ(won, 7);
  EXPECT_EQ(won + out_of_stock, in_range);
  auto account = ledger_->lookup_account(l.account_id);
  ASSERT_OK(account);
  EXPECT_EQ(account->credits_posted, kDraws * 10);
  EXPECT_EQ(account->debits_posted, 0);
  EXPECT_EQ(count("lottery_draws"), kDraws);
}

TANPU_INSTANTIATE_ENGINES(LotteryTest);

}  // namespace
}  // namespace tanpu::test
