// Shared by the market's source files (not part of its interface).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

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
