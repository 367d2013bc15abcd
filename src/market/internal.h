// Shared by the market's source files (not part of its interface).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/crypto.h"
#include "core/result.h"
#include "market/market.h"
#include "store/connection.h"

namespace tanpu::market::detail {

// The columns of an offer, in the order offer_from_row reads them; FROM market_offers o JOIN
// market_merchants m ON m.id = o.merchant_id LEFT JOIN market_stores s ON s.id = o.store_id.
extern const std::string_view kOfferColumns;
Offer offer_from_row(const store::Rows& rows, std::size_t i);

// The offer with its remaining stock. Errors: offer_not_found.
Result<Offer> load_offer(store::Connection& c, std::int64_t offer_id);

inline std::unexpected<Error> conflict(std::string code, std::string message) {
  return fail(ErrorKind::conflict, std::move(code), std::move(message));
}

}  // namespace tanpu::market::detail

namespace tanpu::market {

// Offers this process read or saw sold out, each for kOfferMemoryFor. An offer's terms never
// change (it can only be withdrawn), so the buyers of a flash sale cost one look-up of their
// Idempotency-Key (a replay still gets its order) instead of the offer query with its joins and
// stock, once per request. A flash sale's last unit goes in the first second: an order that found
// no unit puts the offer here as sold out, and the buyers after it are answered from memory. A
// unit given back or an offer withdrawn in this process clears it at once; on another server, that
// shows here within kOfferMemoryFor. Orders never rely on it: the unit is taken, and withdrawal
// checked, under lock in the write transaction.
struct Market::RecentOffers {
  static constexpr std::size_t kOffersMax = 4'096;
  struct Entry {
    Offer offer;
    std::int64_t merchant_account = 0;
    std::chrono::steady_clock::time_point seen;
  };

  std::optional<Entry> get(std::int64_t offer_id) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mu);
    const auto it = offers.find(offer_id);
    if (it == offers.end()) return std::nullopt;
    if (now - it->second.seen >= kOfferMemoryFor) {
      offers.erase(it);
      return std::nullopt;
    }
    return it->second;
  }
  void put(const Offer& offer, std::int64_t merchant_account) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mu);
    if (offers.size() >= kOffersMax) offers.clear();
    offers.insert_or_assign(
        offer.id, Entry{.offer = offer, .merchant_account = merchant_account, .seen = now});
  }
  void clear() {
    std::lock_guard lock(mu);
    offers.clear();
  }

  std::mutex mu;
  std::unordered_map<std::int64_t, Entry> offers;
};

// An order waiting to be placed with others (PostgreSQL). What the request read before its
// transaction, and, set under OrderBatcher::mu by the order's batch, how it came out.
struct Market::BatchedOrder {
  // again: left without a unit while another transaction held every bucket with stock; queued
  // for this server's next batch (at most OrderBatcher::kRoundsMax times, then placed alone).
  enum class Outcome : std::uint8_t { waiting, placed, refused, alone, again };
  const OrderInput* input = nullptr;
  const Offer* offer = nullptr;
  Sha256Digest hash{};
  std::int64_t day = 0;
  std::int64_t now_us = 0;
  std::int64_t points_account = 0;
  std::int64_t merchant_account = 0;
  Outcome outcome = Outcome::waiting;
  int rounds = 0;              // batches it came out of `again`
  Order order;                 // placed
  std::optional<Error> error;  // refused: a limit reached, sold out, withdrawn
};

// Concurrent orders of one offer go to the database together: the first waiting request leads,
// taking the queued orders that can share its statements (the same offer and day; one
// per member, so every limit row is counted once per statement) into one write job whose
// limits, units and order rows are one statement each. One batch per process is written at a time
// while the next one forms in the queue: two at once (tried) made smaller batches that contended
// for the same buckets and the ledger's chain head.
struct Market::OrderBatcher {
  static constexpr std::size_t kOrdersMax = 64;
  static constexpr int kRoundsMax = 8;
  std::mutex mu;
  std::condition_variable settled;
  std::deque<BatchedOrder*> queue;
  bool writing = false;  // a batch of this process is being written
};

}  // namespace tanpu::market
