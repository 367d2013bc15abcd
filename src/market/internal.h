// Shared by the market's source files (not part of its interface).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

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

// Offers this process saw sold out, for kSoldOutFor. A flash sale's last unit goes in the first
// second; the buyers after it then cost one look-up of their Idempotency-Key (a replay still gets
// its order) instead of the offer query with its stock. A unit given back in this process (a
// cancellation, an expiry) clears it at once; one given back on another server shows here within
// kSoldOutFor. Orders never rely on it: the unit is taken under lock in the write transaction.
struct Market::SoldOut {
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
    if (now - it->second.seen >= kSoldOutFor) {
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

}  // namespace tanpu::market
