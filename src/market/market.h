// The rewards market (architecture.md §7): merchants and their stores and staff, offers with stock,
// limits, sale windows and eligibility, orders that hold the member's points with a pending
// (two-phase) ledger transfer and take one unit of stock in the same transaction, vouchers written
// off at the counter, cancellation and expiry that void the hold and return the stock, and
// settlement per merchant and period. docs/market.md explains the flows and why a flash sale never
// oversells.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/id.h"
#include "core/result.h"
#include "core/time.h"
#include "ledger/ledger.h"
#include "members/members.h"
#include "store/migrate.h"
#include "store/store.h"

namespace tanpu::market {

// The market's tables (module "market"). They reference the ledger's and the members' tables.
std::span<const store::Migration> migrations();

// A member's orders (with voucher codes, never their secrets), donations and lottery draws, as
// sections "orders", "donations" and "lottery_draws" of their data export (members::ExportHook).
// Needs the market's, the lotteries' and the donations' tables.
Result<void> export_member(store::Connection& c, std::int64_t member_id, nlohmann::json& out);

// Offer categories, as the API names them (Chengdu's mall: green travel first).
std::span<const std::string_view> offer_categories();
// Merchant categories.
std::span<const std::string_view> merchant_categories();

enum class Fulfilment : std::uint8_t { evoucher, physical };
std::string_view to_string(Fulfilment f);

struct StoreInput {
  std::string name;                    // 1..120 bytes
  std::string address;                 // 0..300 bytes
  std::optional<std::int64_t> org_id;  // only that organisation's members may buy its offers
};

struct MerchantInput {
  std::string name;                     // 1..120 bytes, unique
  std::string category;                 // merchant_categories()
  std::string settlement_account_name;  // 1..120 bytes: who is paid
  std::string settlement_bank;          // 1..120 bytes
  std::string settlement_account_no;    // 4..34 characters [0-9A-Z ]: shown masked
  std::vector<StoreInput> stores;       // 0..200
};

struct StoreView {
  std::int64_t id = 0;
  std::string name;
  std::string address;
  std::optional<std::int64_t> org_id;
};

struct Merchant {
  std::int64_t id = 0;
  std::string name;
  std::string category;
  std::string settlement_account_name;
  std::string settlement_bank;
  std::string settlement_account_masked;  // "****1234"
  std::int64_t account_id = 0;            // the ledger points account written-off holds post to
  std::int64_t created_at_us = 0;
  std::vector<StoreView> stores;
};

struct OfferInput {
  std::int64_t merchant_id = 0;
  std::optional<std::int64_t> store_id;  // a store of the merchant; its organisation limit applies
  std::string title;                     // 1..120 bytes
  std::string category;                  // offer_categories()
  Fulfilment fulfilment = Fulfilment::evoucher;
  std::int64_t price_points = 0;          // 1..10,000,000
  std::int64_t stock = 0;                 // 1..10,000,000 units
  std::int64_t per_member_day_max = 0;    // 0: no daily limit; else 1..1,000
  std::int64_t per_member_total_max = 0;  // 0: no total limit; else 1..10,000
  std::int64_t sale_starts_us = 0;
  std::int64_t sale_ends_us = 0;                // after the start, at most 366 days later
  std::optional<std::int64_t> eligible_org_id;  // only members of this organisation (subtree)
  std::optional<std::string> eligible_region;   // only members of this region ("CN-SC-CTU")
  std::int64_t voucher_valid_days = 30;         // 1..365
};

struct Offer {
  std::int64_t id = 0;
  std::int64_t merchant_id = 0;
  std::string merchant_name;
  std::optional<std::int64_t> store_id;
  std::string title;
  std::string category;
  Fulfilment fulfilment = Fulfilment::evoucher;
  std::int64_t price_points = 0;
  std::int64_t stock = 0;      // units put on sale
  std::int64_t remaining = 0;  // units not held or sold (cancelled and expired orders return)
  std::int64_t per_member_day_max = 0;
  std::int64_t per_member_total_max = 0;
  std::int64_t sale_starts_us = 0;
  std::int64_t sale_ends_us = 0;
  std::optional<std::int64_t> eligible_org_id;  // the store's organisation if the offer names none
  std::optional<std::string> eligible_region;
  std::int64_t voucher_valid_days = 0;
  bool withdrawn = false;
  std::int64_t created_at_us = 0;
};

enum class OrderStatus : std::uint8_t { held, redeemed, cancelled, expired };
std::string_view to_string(OrderStatus s);

struct Order {
  std::int64_t id = 0;
  std::int64_t member_id = 0;
  std::int64_t offer_id = 0;
  std::int64_t merchant_id = 0;
  std::string offer_title;
  std::int64_t price_points = 0;
  OrderStatus status = OrderStatus::held;
  Id128 hold_id;             // the pending ledger transfer
  std::string voucher_code;  // 12 characters, for the counter
  std::string voucher_qr;    // "tanpu:v1:<order id>:<secret, 32 hex>" : what the QR code holds
  std::optional<std::string> delivery_address;
  std::int64_t created_at_us = 0;
  std::int64_t expires_at_us = 0;
  std::optional<std::int64_t> redeemed_at_us;
  std::optional<std::int64_t> redeemed_store_id;
  std::optional<std::int64_t> closed_at_us;  // written off, cancelled or expired
  bool replayed = false;  // answered from an earlier request with the same idempotency key
};

struct OrderInput {
  std::int64_t member_id = 0;
  std::int64_t offer_id = 0;
  std::string idempotency_key;
  std::optional<std::string> delivery_address;  // physical goods: 5..300 bytes; e-vouchers: none
};

struct OrderPage {
  std::vector<Order> orders;  // newest first
  std::optional<std::int64_t> next_before_id;
};

// One settlement line: one merchant's offer over a period [from, to).
struct SettlementLine {
  std::int64_t merchant_id = 0;
  std::string merchant_name;
  std::int64_t offer_id = 0;
  std::string offer_title;
  std::int64_t issued = 0;           // orders placed in the period
  std::int64_t redeemed = 0;         // vouchers written off in the period
  std::int64_t expired = 0;          // expired in the period
  std::int64_t cancelled = 0;        // cancelled by the member in the period
  std::int64_t points_received = 0;  // points posted to the merchant by the write-offs
};

struct Settlement {
  std::int64_t from_us = 0;
  std::int64_t to_us = 0;
  std::vector<SettlementLine> lines;  // by merchant, then offer
  SettlementLine total;               // sums (ids 0)
};

// Whether a member may buy where an organisation or region limit applies. The organisations
// module answers it; until one is wired, every limited offer is refused (not_eligible).
using EligibilityCheck =
    std::function<Result<bool>(std::int64_t member_id, std::optional<std::int64_t> org_id,
                               const std::optional<std::string>& region)>;

struct Options {
  std::int32_t utc_offset_minutes = 480;  // day boundaries of the daily limits (Asia/Shanghai)
  EligibilityCheck eligibility;           // empty: limited offers are refused
  // New offers split their stock into at most this many rows (docs/market.md); 1 is the
  // conventional single stock row, kept for the benchmark's baseline.
  std::int64_t stock_buckets_max = 16;
};

class Market {
 public:
  Market(store::Store& store, ledger::Ledger& ledger, members::Members& members, const Clock& clock,
         Options options = {});
  ~Market();
  Market(const Market&) = delete;
  Market& operator=(const Market&) = delete;

  // How long an offer read or seen sold out is answered from memory (no oversell depends on it):
  // a unit given back or an offer withdrawn on another server shows here after at most this long.
  static constexpr std::chrono::milliseconds kOfferMemoryFor{250};

  // Merchants (operator). Errors: invalid fields (name_required, name_too_long, invalid_category,
  // invalid_settlement, too_many_stores…), merchant_name_taken (conflict).
  Result<Merchant> create_merchant(const MerchantInput& input);
  Result<Merchant> get_merchant(std::int64_t merchant_id);  // not_found: merchant_not_found
  Result<std::vector<Merchant>> list_merchants(std::size_t limit, std::int64_t after_id);
  // Staff: members who act for a merchant (offers, write-off, settlement).
  Result<void> add_staff(std::int64_t merchant_id, std::int64_t member_id);
  Result<void> remove_staff(std::int64_t merchant_id, std::int64_t member_id);
  Result<bool> is_staff(std::int64_t merchant_id, std::int64_t member_id);

  // Offers (the merchant's staff or the operator). Errors: merchant_not_found, store_not_found,
  // invalid fields, invalid_sale_window.
  Result<Offer> create_offer(const OfferInput& input);
  Result<Offer> get_offer(std::int64_t offer_id);  // offer_not_found
  // Offers on sale at now (or all of a merchant's, merchant_id > 0), newest first.
  Result<std::vector<Offer>> list_offers(std::int64_t merchant_id,
                                         std::optional<std::string> category, std::size_t limit,
                                         std::int64_t before_id);
  Result<Offer> withdraw_offer(std::int64_t offer_id);

  // Redeems: holds the price (pending transfer), takes a unit, issues the voucher, all in one
  // transaction. The same idempotency key with the same input answers the first order
  // (replayed=true); with another input: idempotency_conflict. Errors: offer_not_found,
  // offer_withdrawn, sale_not_started, sale_ended, not_eligible (forbidden), sold_out,
  // day_limit_reached, total_limit_reached, insufficient_points (conflict),
  // delivery_address_required, delivery_address_not_applicable, invalid_delivery_address.
  Result<Order> place_order(const OrderInput& input);
  // place_order for the member of a session token (input.member_id is set from it). When the
  // token names its member (members::Members::member_hint), the session is read in the same round
  // trip as the order's own first reads, and must confirm that member. Errors: those of
  // members::Members::authenticate, then those of place_order.
  Result<Order> place_order_for_session(std::string_view session_token, OrderInput input);
  // The member's own order. Errors: order_not_found.
  Result<Order> member_order(std::int64_t member_id, std::int64_t order_id);
  Result<OrderPage> member_orders(std::int64_t member_id, std::size_t limit,
                                  std::optional<std::int64_t> before_id);
  // Cancels a held order before write-off: voids the hold, returns the unit and the limit.
  // Errors: order_not_found, order_redeemed, order_cancelled, order_expired (conflict).
  Result<Order> cancel_order(std::int64_t member_id, std::int64_t order_id);

  // Writes off a voucher at merchant_id's counter: `code` is the 12-character voucher code or the
  // QR payload. Posts the hold to the merchant's account. Errors: voucher_not_found (a forged or
  // guessed code), voucher_of_another_merchant (forbidden), voucher_redeemed, voucher_cancelled,
  // voucher_expired (conflict), store_not_found.
  Result<Order> redeem(std::int64_t merchant_id, std::string_view code,
                       std::optional<std::int64_t> store_id);
  // Physical goods are written off when the merchant hands them over or ships them, by order id
  // (staff never see voucher codes). Errors: order_not_found (not this merchant's),
  // not_a_physical_good, and those of redeem.
  Result<Order> fulfil(std::int64_t merchant_id, std::int64_t order_id);
  // The merchant's orders (staff view: includes delivery addresses), newest first.
  Result<OrderPage> merchant_orders(std::int64_t merchant_id, std::optional<OrderStatus> status,
                                    std::size_t limit, std::optional<std::int64_t> before_id);

  // Expires held orders whose voucher validity ended before now_us: voids the hold, returns the
  // unit and the limit. At most max orders; returns how many expired. Run by the serve scheduler.
  Result<std::int64_t> expire_orders(std::int64_t now_us, std::size_t max = 5'000);

  // Cancels every held order of the member inside the caller's transaction (their holds voided,
  // their stock returned), as closing the member's account does. Returns how many.
  Result<std::int64_t> cancel_held_orders(store::Connection& c, std::int64_t member_id,
                                          std::int64_t now_us);

  // Settlement over [from_us, to_us) (at most 366 days): one merchant (merchant_id > 0) or all.
  Result<Settlement> settlement(std::int64_t merchant_id, std::int64_t from_us, std::int64_t to_us);

  const Options& options() const { return options_; }

 private:
  // Offers this process read or saw sold out (internal.h). Buyers then cost one look-up of their
  // Idempotency-Key instead of the offer query.
  struct RecentOffers;
  // PostgreSQL: concurrent orders of one offer placed together (orders.cpp, docs/market.md).
  struct BatchedOrder;
  struct OrderBatcher;
  std::optional<Result<Order>> place_batched(BatchedOrder& order);
  // place_order; with a session token, input.member_id is its hint, confirmed by the session read.
  Result<Order> place(const OrderInput& input, std::optional<std::string_view> session_token);
  void write_batch(std::span<BatchedOrder* const> batch);
  Result<void> transact(const store::WriteJob& job);
  store::Store& store_;
  ledger::Ledger& ledger_;
  members::Members& members_;
  const Clock& clock_;
  Options options_;
  std::unique_ptr<RecentOffers> recent_offers_;
  std::unique_ptr<OrderBatcher> batcher_;
};

// The settlement as CSV (RFC 4180; cells that a spreadsheet would read as a formula are prefixed
// with an apostrophe).
std::string settlement_csv(const Settlement& s);

// The voucher's QR code as an SVG image (libqrencode, error correction M).
Result<std::string> voucher_qr_svg(std::string_view payload);

}  // namespace tanpu::market
