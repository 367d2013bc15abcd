// The market's part of a member's data export (members::ExportHook).
#include <array>

#include "market/market.h"
#include "store/rows_json.h"

namespace tanpu::market {
namespace {

using K = store::JsonColumn::Kind;

constexpr std::array<store::JsonColumn, 12> kOrders{{{"id", K::integer},
                                                     {"offer_id", K::integer},
                                                     {"offer_title", K::text},
                                                     {"merchant_id", K::integer},
                                                     {"price_points", K::integer},
                                                     {"status", K::text},
                                                     {"voucher_code", K::text},
                                                     {"delivery_address", K::text},
                                                     {"created_at", K::time_us},
                                                     {"expires_at", K::time_us},
                                                     {"redeemed_at", K::time_us},
                                                     {"closed_at", K::time_us}}};
constexpr std::array<store::JsonColumn, 7> kDonations{{{"id", K::integer},
                                                       {"project_id", K::integer},
                                                       {"project_title", K::text},
                                                       {"points", K::integer},
                                                       {"anonymous", K::flag},
                                                       {"certificate_serial", K::text},
                                                       {"created_at", K::time_us}}};
constexpr std::array<store::JsonColumn, 9> kDraws{{{"lottery_id", K::integer},
                                                   {"lottery_title", K::text},
                                                   {"draw_no", K::integer},
                                                   {"client_seed", K::text},
                                                   {"ticket", K::integer},
                                                   {"prize_no", K::integer},
                                                   {"no_prize_reason", K::text},
                                                   {"price_points", K::integer},
                                                   {"drawn_at", K::time_us}}};

constexpr std::array<store::ExportSection, 3> kSections{{
    {"orders",
     "SELECT o.id, o.offer_id, f.title, o.merchant_id, o.price_points, o.status, o.voucher_code, "
     "o.delivery_address, o.created_at_us, o.expires_at_us, o.redeemed_at_us, o.closed_at_us "
     "FROM market_orders o JOIN market_offers f ON f.id = o.offer_id WHERE o.member_id = ? "
     "ORDER BY o.id DESC LIMIT ?",
     kOrders},
    {"donations",
     "SELECT d.id, d.project_id, p.title, d.points, d.anonymous, d.serial, d.created_at_us FROM "
     "charity_donations d JOIN charity_projects p ON p.id = d.project_id WHERE d.member_id = ? "
     "ORDER BY d.id DESC LIMIT ?",
     kDonations},
    {"lottery_draws",
     "SELECT d.lottery_id, l.title, d.draw_no, d.client_seed, d.ticket, d.prize_no, d.reason, "
     "d.price_points, d.drawn_at_us FROM lottery_draws d JOIN lottery_lotteries l ON l.id = "
     "d.lottery_id WHERE d.member_id = ? ORDER BY d.id DESC LIMIT ?",
     kDraws},
}};

}  // namespace

Result<void> export_member(store::Connection& c, std::int64_t member_id, nlohmann::json& out) {
  return store::export_sections(c, member_id, out, kSections);
}

}  // namespace tanpu::market
