// Merchants, stores, staff, offers and settlement; the transaction runner shared with orders.cpp.
#include "market/market.h"

#include <qrencode.h>

#include <algorithm>
#include <array>
#include <memory>

#include "core/limits.h"
#include "market/internal.h"

extern "C" {
#include <csv.h>
}

namespace tanpu::market {

using detail::conflict;

namespace {

constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE market_merchants (
  id {{serial_pk}},
  name TEXT NOT NULL UNIQUE,
  category TEXT NOT NULL,
  settlement_account_name TEXT NOT NULL,
  settlement_bank TEXT NOT NULL,
  settlement_account_no TEXT NOT NULL,
  account_id BIGINT NOT NULL,  -- the ledger account, created right after the row
  created_at_us BIGINT NOT NULL
);
CREATE TABLE market_stores (
  id {{serial_pk}},
  merchant_id BIGINT NOT NULL REFERENCES market_merchants (id),
  name TEXT NOT NULL,
  address TEXT NOT NULL,
  org_id BIGINT
);
CREATE INDEX market_stores_merchant ON market_stores (merchant_id);
CREATE TABLE market_staff (
  member_id BIGINT NOT NULL REFERENCES members (id),
  merchant_id BIGINT NOT NULL REFERENCES market_merchants (id),
  created_at_us BIGINT NOT NULL,
  PRIMARY KEY (member_id, merchant_id)
);
CREATE TABLE market_offers (
  id {{serial_pk}},
  merchant_id BIGINT NOT NULL REFERENCES market_merchants (id),
  store_id BIGINT REFERENCES market_stores (id),
  title TEXT NOT NULL,
  category TEXT NOT NULL,
  fulfilment TEXT NOT NULL,
  price_points BIGINT NOT NULL,
  stock BIGINT NOT NULL,
  per_member_day_max BIGINT NOT NULL,
  per_member_total_max BIGINT NOT NULL,
  sale_starts_us BIGINT NOT NULL,
  sale_ends_us BIGINT NOT NULL,
  eligible_org_id BIGINT,
  eligible_region TEXT,
  voucher_valid_days BIGINT NOT NULL,
  withdrawn BIGINT NOT NULL DEFAULT 0,
  created_at_us BIGINT NOT NULL
);
CREATE INDEX market_offers_merchant ON market_offers (merchant_id, id);
CREATE INDEX market_offers_sale ON market_offers (sale_ends_us, id);
CREATE TABLE market_stock (
  offer_id BIGINT NOT NULL REFERENCES market_offers (id),
  bucket BIGINT NOT NULL,
  remaining BIGINT NOT NULL CHECK (remaining >= 0),
  PRIMARY KEY (offer_id, bucket)
) {{update_heavy}};
CREATE TABLE market_member_counts (
  offer_id BIGINT NOT NULL,
  member_id BIGINT NOT NULL,
  day BIGINT NOT NULL,
  orders BIGINT NOT NULL CHECK (orders >= 0),
  PRIMARY KEY (offer_id, member_id, day)
) {{update_heavy}};
CREATE TABLE market_orders (
  id {{serial_pk}},
  member_id BIGINT NOT NULL REFERENCES members (id),
  offer_id BIGINT NOT NULL REFERENCES market_offers (id),
  merchant_id BIGINT NOT NULL,
  idempotency_key TEXT NOT NULL,
  request_hash {{blob}} NOT NULL,
  price_points BIGINT NOT NULL,
  bucket BIGINT NOT NULL,
  order_day BIGINT NOT NULL,
  hold_id {{blob}} NOT NULL,
  status TEXT NOT NULL,
  voucher_code TEXT NOT NULL UNIQUE,
  voucher_secret {{blob}} NOT NULL,
  delivery_address TEXT,
  created_at_us BIGINT NOT NULL,
  expires_at_us BIGINT NOT NULL,
  redeemed_at_us BIGINT,
  redeemed_store_id BIGINT,
  closed_at_us BIGINT,
  UNIQUE (member_id, idempotency_key)
) {{update_heavy}};
CREATE INDEX market_orders_member ON market_orders (member_id, id);
CREATE INDEX market_orders_merchant ON market_orders (merchant_id, id);
CREATE INDEX market_orders_held ON market_orders (status, expires_at_us);
CREATE INDEX market_orders_created ON market_orders (merchant_id, created_at_us);
CREATE INDEX market_orders_closed ON market_orders (merchant_id, closed_at_us);
)sql";

const std::array kMigrations{store::Migration{"market", 1, "merchants_offers_orders", kSchemaV1}};

constexpr std::array<std::string_view, 13> kOfferCategories{
    "bus",    "metro",           "bike",        "charging",  "parking", "ride_hailing", "dining",
    "retail", "culture_tourism", "merchandise", "lucky_bag", "charity", "other"};
constexpr std::array<std::string_view, 7> kMerchantCategories{
    "green_travel", "dining", "retail", "culture_tourism", "platform", "charity", "campus"};

constexpr std::int64_t kDayUs = 86'400'000'000;
constexpr std::size_t kNameMax = 120;
constexpr std::size_t kStoresMax = 200;

Result<void> check_text(std::string_view value, std::size_t min, std::size_t max,
                        std::string_view field) {
  if (value.size() < min) {
    return fail(ErrorKind::invalid, std::string(field) + "_required",
                std::string(field) + " is required", std::string(field));
  }
  if (value.size() > max) {
    return fail(ErrorKind::invalid, std::string(field) + "_too_long",
                std::string(field) + " is longer than " + std::to_string(max) + " bytes",
                std::string(field));
  }
  if (std::ranges::any_of(
          value, [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; })) {
    return fail(ErrorKind::invalid, "invalid_" + std::string(field),
                std::string(field) + " must not contain control characters", std::string(field));
  }
  return {};
}

Result<void> check_range(std::int64_t value, std::int64_t min, std::int64_t max,
                         std::string_view field) {
  if (value < min || value > max) {
    return fail(ErrorKind::invalid, std::string(field) + "_out_of_range",
                std::string(field) + " must be between " + std::to_string(min) + " and " +
                    std::to_string(max),
                std::string(field));
  }
  return {};
}

bool one_of(std::span<const std::string_view> set, std::string_view v) {
  return std::ranges::find(set, v) != set.end();
}

std::string mask_account(std::string_view no) {
  return "****" + std::string(no.substr(no.size() - std::min<std::size_t>(4, no.size())));
}

Result<void> validate(const MerchantInput& in) {
  if (auto r = check_text(in.name, 1, kNameMax, "name"); !r) return r;
  if (!one_of(kMerchantCategories, in.category)) {
    return fail(ErrorKind::invalid, "invalid_category", "unknown merchant category", "category");
  }
  if (auto r = check_text(in.settlement_account_name, 1, kNameMax, "settlement_account_name"); !r)
    return r;
  if (auto r = check_text(in.settlement_bank, 1, kNameMax, "settlement_bank"); !r) return r;
  const auto& no = in.settlement_account_no;
  if (no.size() < 4 || no.size() > 34 || !std::ranges::all_of(no, [](char ch) {
        return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || ch == ' ';
      })) {
    return fail(ErrorKind::invalid, "invalid_settlement_account_no",
                "settlement_account_no must be 4 to 34 digits, capital letters or spaces",
                "settlement_account_no");
  }
  if (in.stores.size() > kStoresMax) {
    return fail(ErrorKind::invalid, "too_many_stores",
                "a merchant is created with at most " + std::to_string(kStoresMax) + " stores",
                "stores");
  }
  for (std::size_t i = 0; i < in.stores.size(); ++i) {
    const auto& s = in.stores[i];
    auto r = check_text(s.name, 1, kNameMax, "name");
    if (r) r = check_text(s.address, 0, 300, "address");
    if (!r) {
      auto e = r.error();
      e.field = "stores[" + std::to_string(i) + "]." + e.field;
      return fail(std::move(e));
    }
  }
  return {};
}

Result<void> validate(const OfferInput& in) {
  if (auto r = check_text(in.title, 1, kNameMax, "title"); !r) return r;
  if (!one_of(kOfferCategories, in.category)) {
    return fail(ErrorKind::invalid, "invalid_category", "unknown offer category", "category");
  }
  if (in.price_points <= 0) {
    return fail(ErrorKind::invalid, "price_must_be_positive", "price_points must be above 0",
                "price_points");
  }
  if (auto r = check_range(in.price_points, 1, 10'000'000, "price_points"); !r) return r;
  if (auto r = check_range(in.stock, 1, 10'000'000, "stock"); !r) return r;
  if (auto r = check_range(in.per_member_day_max, 0, 1'000, "per_member_day_max"); !r) return r;
  if (auto r = check_range(in.per_member_total_max, 0, 10'000, "per_member_total_max"); !r)
    return r;
  if (auto r = check_range(in.voucher_valid_days, 1, 365, "voucher_valid_days"); !r) return r;
  if (in.sale_ends_us <= in.sale_starts_us || in.sale_ends_us - in.sale_starts_us > 366 * kDayUs) {
    return fail(ErrorKind::invalid, "invalid_sale_window",
                "the sale must end after it starts, at most 366 days later", "sale_ends_at");
  }
  if (in.eligible_region) {
    const auto& r = *in.eligible_region;
    if (r.empty() || r.size() > 16 || !std::ranges::all_of(r, [](char ch) {
          return (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-';
        })) {
      return fail(ErrorKind::invalid, "invalid_region",
                  "eligible_region is a region code such as CN-SC-CTU", "eligible_region");
    }
  }
  return {};
}

// Stock is split into buckets so concurrent buyers lock different rows (docs/market.md).
std::int64_t bucket_count(std::int64_t stock, std::int64_t buckets_max) {
  return std::clamp<std::int64_t>(stock / 32, 1, std::clamp<std::int64_t>(buckets_max, 1, 16));
}

StoreView store_from_row(const store::Rows& rows, std::size_t i) {
  StoreView s{rows.i64(i, 0), std::string(rows.text(i, 1)), std::string(rows.text(i, 2)), {}};
  if (!rows.is_null(i, 3)) s.org_id = rows.i64(i, 3);
  return s;
}

constexpr std::string_view kMerchantColumns =
    "id, name, category, settlement_account_name, settlement_bank, settlement_account_no, "
    "account_id, created_at_us";

Merchant merchant_from_row(const store::Rows& rows, std::size_t i) {
  return Merchant{rows.i64(i, 0),
                  std::string(rows.text(i, 1)),
                  std::string(rows.text(i, 2)),
                  std::string(rows.text(i, 3)),
                  std::string(rows.text(i, 4)),
                  mask_account(rows.text(i, 5)),
                  rows.i64(i, 6),
                  rows.i64(i, 7),
                  {}};
}

Result<void> load_stores(store::Connection& c, Merchant& m) {
  auto rows = c.query(
      "SELECT id, name, address, org_id FROM market_stores WHERE merchant_id = ? ORDER BY id",
      {m.id});
  if (!rows) return fail(rows.error());
  for (std::size_t i = 0; i < rows->size(); ++i) m.stores.push_back(store_from_row(*rows, i));
  return {};
}

std::optional<std::int64_t> opt_i64(const store::Rows& rows, std::size_t i, std::size_t col) {
  if (rows.is_null(i, col)) return std::nullopt;
  return rows.i64(i, col);
}

}  // namespace

namespace detail {

const std::string_view kOfferColumns =
    "o.id, o.merchant_id, m.name, o.store_id, o.title, o.category, o.fulfilment, o.price_points, "
    "o.stock, (SELECT COALESCE(SUM(k.remaining), 0) FROM market_stock k WHERE k.offer_id = o.id), "
    "o.per_member_day_max, o.per_member_total_max, o.sale_starts_us, o.sale_ends_us, "
    "COALESCE(o.eligible_org_id, s.org_id), o.eligible_region, o.voucher_valid_days, o.withdrawn, "
    "o.created_at_us";

Offer offer_from_row(const store::Rows& rows, std::size_t i) {
  Offer o;
  o.id = rows.i64(i, 0);
  o.merchant_id = rows.i64(i, 1);
  o.merchant_name = rows.text(i, 2);
  o.store_id = opt_i64(rows, i, 3);
  o.title = rows.text(i, 4);
  o.category = rows.text(i, 5);
  o.fulfilment = rows.text(i, 6) == "physical" ? Fulfilment::physical : Fulfilment::evoucher;
  o.price_points = rows.i64(i, 7);
  o.stock = rows.i64(i, 8);
  o.remaining = rows.i64(i, 9);
  o.per_member_day_max = rows.i64(i, 10);
  o.per_member_total_max = rows.i64(i, 11);
  o.sale_starts_us = rows.i64(i, 12);
  o.sale_ends_us = rows.i64(i, 13);
  o.eligible_org_id = opt_i64(rows, i, 14);
  if (!rows.is_null(i, 15)) o.eligible_region = std::string(rows.text(i, 15));
  o.voucher_valid_days = rows.i64(i, 16);
  o.withdrawn = rows.i64(i, 17) != 0;
  o.created_at_us = rows.i64(i, 18);
  return o;
}

Result<Offer> load_offer(store::Connection& c, std::int64_t offer_id) {
  static const std::string sql =
      "SELECT " + std::string(kOfferColumns) +
      " FROM market_offers o JOIN market_merchants m ON m.id = o.merchant_id"
      " LEFT JOIN market_stores s ON s.id = o.store_id WHERE o.id = ?";
  auto rows = c.query(sql, {offer_id});
  if (!rows) return fail(rows.error());
  if (rows->empty()) return fail(ErrorKind::not_found, "offer_not_found", "no such offer");
  return offer_from_row(*rows, 0);
}

}  // namespace detail

std::span<const store::Migration> migrations() {
  return kMigrations;
}
std::span<const std::string_view> offer_categories() {
  return kOfferCategories;
}
std::span<const std::string_view> merchant_categories() {
  return kMerchantCategories;
}

std::string_view to_string(Fulfilment f) {
  return f == Fulfilment::physical ? "physical" : "evoucher";
}

std::string_view to_string(OrderStatus s) {
  switch (s) {
    case OrderStatus::held:
      return "held";
    case OrderStatus::redeemed:
      return "redeemed";
    case OrderStatus::cancelled:
      return "cancelled";
    case OrderStatus::expired:
      return "expired";
  }
  return "held";
}

Market::Market(store::Store& store, ledger::Ledger& ledger, members::Members& members,
               const Clock& clock, Options options)
    : store_(store),
      ledger_(ledger),
      members_(members),
      clock_(clock),
      options_(std::move(options)),
      recent_offers_(std::make_unique<RecentOffers>()),
      batcher_(std::make_unique<OrderBatcher>()) {}

Market::~Market() = default;

// Every market write joins the store's group-committed write path: one commit (one fsync) for many
// orders, whose holds are written as one ledger batch at the end of the group's transaction
// (Ledger::defer_transfers). Locks come in one order: the member's limit rows, a stock bucket, the
// order row; at the end, the ledger accounts and the chain head.
Result<void> Market::transact(const store::WriteJob& job) {
  return store_.write(job);
}

Result<Merchant> Market::create_merchant(const MerchantInput& input) {
  if (auto r = validate(input); !r) return fail(r.error());
  const std::int64_t now = clock_.now_us();
  auto id = store_.write_value<std::int64_t>([&](store::Connection& c) -> Result<std::int64_t> {
    auto taken = c.query("SELECT 1 FROM market_merchants WHERE name = ?", {input.name});
    if (!taken) return fail(taken.error());
    if (!taken->empty()) return conflict("merchant_name_taken", "a merchant has this name already");
    auto row = c.query(
        "INSERT INTO market_merchants (name, category, settlement_account_name, settlement_bank, "
        "settlement_account_no, account_id, created_at_us) VALUES (?, ?, ?, ?, ?, 0, ?) "
        "RETURNING id",
        {input.name, input.category, input.settlement_account_name, input.settlement_bank,
         input.settlement_account_no, now});
    if (!row) return fail(row.error());
    const std::int64_t merchant = row->i64(0, 0);
    // Credited by every write-off: hot, so buyers never queue on its row (architecture.md §4).
    const ledger::NewAccount account{ledger::Currency::points, "merchant", std::to_string(merchant),
                                     ledger::account_flags::hot};
    auto accounts = ledger_.create_accounts(c, std::span(&account, 1));
    if (!accounts) return fail(accounts.error());
    if (auto u = c.exec("UPDATE market_merchants SET account_id = ? WHERE id = ?",
                        {accounts->front(), merchant});
        !u)
      return fail(u.error());
    for (const auto& s : input.stores) {
      if (auto ins = c.exec(
              "INSERT INTO market_stores (merchant_id, name, address, org_id) VALUES (?, ?, ?, ?)",
              {merchant, s.name, s.address, store::nullable(s.org_id)});
          !ins)
        return fail(ins.error());
    }
    return merchant;
  });
  if (!id && id.error().code == store::kUniqueViolation) {  // the same name, at the same moment
    return conflict("merchant_name_taken", "a merchant has this name already");
  }
  if (!id) return fail(id.error());
  return get_merchant(*id);
}

Result<Merchant> Market::get_merchant(std::int64_t merchant_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto rows = (*lease)->query(
      "SELECT " + std::string(kMerchantColumns) + " FROM market_merchants WHERE id = ?",
      {merchant_id});
  if (!rows) return fail(rows.error());
  if (rows->empty()) return fail(ErrorKind::not_found, "merchant_not_found", "no such merchant");
  Merchant m = merchant_from_row(*rows, 0);
  if (auto r = load_stores(**lease, m); !r) return fail(r.error());
  return m;
}

Result<std::vector<Merchant>> Market::list_merchants(std::size_t limit, std::int64_t after_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto rows = (*lease)->query("SELECT " + std::string(kMerchantColumns) +
                                  " FROM market_merchants WHERE id > ? ORDER BY id LIMIT ?",
                              {after_id, static_cast<std::int64_t>(limit)});
  if (!rows) return fail(rows.error());
  std::vector<Merchant> out;
  for (std::size_t i = 0; i < rows->size(); ++i) {
    out.push_back(merchant_from_row(*rows, i));
    if (auto r = load_stores(**lease, out.back()); !r) return fail(r.error());
  }
  return out;
}

Result<void> Market::add_staff(std::int64_t merchant_id, std::int64_t member_id) {
  if (auto m = get_merchant(merchant_id); !m) return fail(m.error());
  if (auto v = members_.get(member_id); !v) return fail(v.error());
  const std::int64_t now = clock_.now_us();
  return store_.write([&](store::Connection& c) -> Result<void> {
    auto n = c.exec(
        "INSERT INTO market_staff (member_id, merchant_id, created_at_us) VALUES (?, ?, ?) "
        "ON CONFLICT (member_id, merchant_id) DO NOTHING",
        {member_id, merchant_id, now});
    if (!n) return fail(n.error());
    return {};
  });
}

Result<void> Market::remove_staff(std::int64_t merchant_id, std::int64_t member_id) {
  return store_.write([&](store::Connection& c) -> Result<void> {
    auto n = c.exec("DELETE FROM market_staff WHERE member_id = ? AND merchant_id = ?",
                    {member_id, merchant_id});
    if (!n) return fail(n.error());
    if (*n == 0) return fail(ErrorKind::not_found, "staff_not_found", "no such staff member");
    return {};
  });
}

Result<bool> Market::is_staff(std::int64_t merchant_id, std::int64_t member_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto rows = (*lease)->query("SELECT 1 FROM market_staff WHERE member_id = ? AND merchant_id = ?",
                              {member_id, merchant_id});
  if (!rows) return fail(rows.error());
  return !rows->empty();
}

Result<Offer> Market::create_offer(const OfferInput& input) {
  if (auto r = validate(input); !r) return fail(r.error());
  auto merchant = get_merchant(input.merchant_id);
  if (!merchant) return fail(merchant.error());
  if (input.store_id && std::ranges::none_of(merchant->stores, [&](const StoreView& s) {
        return s.id == *input.store_id;
      })) {
    return fail(ErrorKind::invalid, "store_not_found", "the merchant has no such store",
                "store_id");
  }
  const std::int64_t now = clock_.now_us();
  auto id = store_.write_value<std::int64_t>([&](store::Connection& c) -> Result<std::int64_t> {
    const std::optional<std::string_view> region =
        input.eligible_region ? std::optional<std::string_view>(*input.eligible_region)
                              : std::nullopt;
    auto row = c.query(
        "INSERT INTO market_offers (merchant_id, store_id, title, category, fulfilment, "
        "price_points, stock, per_member_day_max, per_member_total_max, sale_starts_us, "
        "sale_ends_us, eligible_org_id, eligible_region, voucher_valid_days, created_at_us) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        {input.merchant_id, store::nullable(input.store_id), input.title, input.category,
         to_string(input.fulfilment), input.price_points, input.stock, input.per_member_day_max,
         input.per_member_total_max, input.sale_starts_us, input.sale_ends_us,
         store::nullable(input.eligible_org_id),
         region ? store::Param(*region) : store::Param(nullptr), input.voucher_valid_days, now});
    if (!row) return fail(row.error());
    const std::int64_t offer = row->i64(0, 0);
    const std::int64_t buckets = bucket_count(input.stock, options_.stock_buckets_max);
    for (std::int64_t b = 0; b < buckets; ++b) {
      const std::int64_t units = input.stock / buckets + (b < input.stock % buckets ? 1 : 0);
      if (auto ins =
              c.exec("INSERT INTO market_stock (offer_id, bucket, remaining) VALUES (?, ?, ?)",
                     {offer, b, units});
          !ins)
        return fail(ins.error());
    }
    return offer;
  });
  if (!id) return fail(id.error());
  return get_offer(*id);
}

Result<Offer> Market::get_offer(std::int64_t offer_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  return detail::load_offer(**lease, offer_id);
}

Result<std::vector<Offer>> Market::list_offers(std::int64_t merchant_id,
                                               std::optional<std::string> category,
                                               std::size_t limit, std::int64_t before_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  const std::int64_t now = clock_.now_us();
  std::string sql = "SELECT " + std::string(detail::kOfferColumns) +
                    " FROM market_offers o JOIN market_merchants m ON m.id = o.merchant_id"
                    " LEFT JOIN market_stores s ON s.id = o.store_id WHERE o.id < ?";
  std::vector<store::Param> params{before_id};
  if (merchant_id > 0) {
    sql += " AND o.merchant_id = ?";
    params.emplace_back(merchant_id);
  } else {
    sql += " AND o.withdrawn = 0 AND o.sale_ends_us > ?";
    params.emplace_back(now);
  }
  if (category) {
    sql += " AND o.category = ?";
    params.emplace_back(std::string_view(*category));
  }
  sql += " ORDER BY o.id DESC LIMIT ?";
  params.emplace_back(static_cast<std::int64_t>(limit));
  auto rows = (*lease)->query(sql, params);
  if (!rows) return fail(rows.error());
  std::vector<Offer> out;
  for (std::size_t i = 0; i < rows->size(); ++i) out.push_back(detail::offer_from_row(*rows, i));
  return out;
}

Result<Offer> Market::withdraw_offer(std::int64_t offer_id) {
  auto r = store_.write([&](store::Connection& c) -> Result<void> {
    auto n = c.exec("UPDATE market_offers SET withdrawn = 1 WHERE id = ?", {offer_id});
    if (!n) return fail(n.error());
    if (*n == 0) return fail(ErrorKind::not_found, "offer_not_found", "no such offer");
    return {};
  });
  if (!r) return fail(r.error());
  recent_offers_->clear();
  return get_offer(offer_id);
}

Result<Settlement> Market::settlement(std::int64_t merchant_id, std::int64_t from_us,
                                      std::int64_t to_us) {
  if (to_us <= from_us || to_us - from_us > 366 * kDayUs) {
    return fail(ErrorKind::invalid, "invalid_period",
                "the period must end after it starts, at most 366 days later", "to");
  }
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  // Orders placed in the period, or closed (written off, cancelled, expired) in it.
  std::string sql =
      "SELECT o.merchant_id, m.name, o.offer_id, f.title, "
      "SUM(CASE WHEN o.created_at_us >= ? AND o.created_at_us < ? THEN 1 ELSE 0 END), "
      "SUM(CASE WHEN o.status = 'redeemed' AND o.closed_at_us >= ? AND o.closed_at_us < ? "
      "THEN 1 ELSE 0 END), "
      "SUM(CASE WHEN o.status = 'expired' AND o.closed_at_us >= ? AND o.closed_at_us < ? "
      "THEN 1 ELSE 0 END), "
      "SUM(CASE WHEN o.status = 'cancelled' AND o.closed_at_us >= ? AND o.closed_at_us < ? "
      "THEN 1 ELSE 0 END), "
      "SUM(CASE WHEN o.status = 'redeemed' AND o.closed_at_us >= ? AND o.closed_at_us < ? "
      "THEN o.price_points ELSE 0 END) "
      "FROM market_orders o JOIN market_merchants m ON m.id = o.merchant_id "
      "JOIN market_offers f ON f.id = o.offer_id WHERE ";
  std::vector<store::Param> params;
  for (int i = 0; i < 5; ++i) {
    params.emplace_back(from_us);
    params.emplace_back(to_us);
  }
  // Two index ranges (placed, closed), so neither scans the merchant's whole history.
  const std::string merchant_filter = merchant_id > 0 ? "o.merchant_id = ? AND " : "";
  sql += "o.id IN (SELECT id FROM market_orders o WHERE " + merchant_filter +
         "o.created_at_us >= ? AND o.created_at_us < ? UNION SELECT id FROM market_orders o "
         "WHERE " +
         merchant_filter + "o.closed_at_us >= ? AND o.closed_at_us < ?)";
  for (int i = 0; i < 2; ++i) {
    if (merchant_id > 0) params.emplace_back(merchant_id);
    params.emplace_back(from_us);
    params.emplace_back(to_us);
  }
  sql += " GROUP BY o.merchant_id, m.name, o.offer_id, f.title ORDER BY o.merchant_id, o.offer_id";
  auto rows = (*lease)->query(sql, params);
  if (!rows) return fail(rows.error());
  Settlement s{from_us, to_us, {}, {}};
  for (std::size_t i = 0; i < rows->size(); ++i) {
    SettlementLine l{rows->i64(i, 0), std::string(rows->text(i, 1)),
                     rows->i64(i, 2), std::string(rows->text(i, 3)),
                     rows->i64(i, 4), rows->i64(i, 5),
                     rows->i64(i, 6), rows->i64(i, 7),
                     rows->i64(i, 8)};
    s.total.issued += l.issued;
    s.total.redeemed += l.redeemed;
    s.total.expired += l.expired;
    s.total.cancelled += l.cancelled;
    s.total.points_received += l.points_received;
    s.lines.push_back(std::move(l));
  }
  return s;
}

namespace {

// One CSV cell: quoted by libcsv; a leading = + - @ (a formula to a spreadsheet) gets a '.
void csv_cell(std::string& out, std::string_view text, bool last) {
  std::string safe;
  if (!text.empty() && (text[0] == '=' || text[0] == '+' || text[0] == '-' || text[0] == '@')) {
    safe = "'";
  }
  safe += text;
  std::string buf(safe.size() * 2 + 2, '\0');
  const std::size_t n = csv_write(buf.data(), buf.size(), safe.data(), safe.size());
  out.append(buf.data(), n);
  out += last ? "\r\n" : ",";
}

}  // namespace

std::string settlement_csv(const Settlement& s) {
  std::string out;
  const std::array header{"merchant_id", "merchant", "offer_id",  "offer",          "issued",
                          "redeemed",    "expired",  "cancelled", "points_received"};
  for (std::size_t i = 0; i < header.size(); ++i) csv_cell(out, header[i], i + 1 == header.size());
  auto line = [&](const SettlementLine& l, bool total) {
    csv_cell(out, total ? "" : std::to_string(l.merchant_id), false);
    csv_cell(out, total ? "TOTAL" : l.merchant_name, false);
    csv_cell(out, total ? "" : std::to_string(l.offer_id), false);
    csv_cell(out, l.offer_title, false);
    csv_cell(out, std::to_string(l.issued), false);
    csv_cell(out, std::to_string(l.redeemed), false);
    csv_cell(out, std::to_string(l.expired), false);
    csv_cell(out, std::to_string(l.cancelled), false);
    csv_cell(out, std::to_string(l.points_received), true);
  };
  for (const auto& l : s.lines) line(l, false);
  line(s.total, true);
  return out;
}

Result<std::string> voucher_qr_svg(std::string_view payload) {
  const std::string text(payload);
  std::unique_ptr<QRcode, void (*)(QRcode*)> qr(
      QRcode_encodeString(text.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1), QRcode_free);
  if (!qr) return fail(ErrorKind::internal, "qr_failed", "the QR code could not be drawn");
  const int w = qr->width;
  constexpr int kQuiet = 4;  // the quiet zone, in modules
  const int size = w + 2 * kQuiet;
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " +
                    std::to_string(size) + " " + std::to_string(size) +
                    "\" shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" "
                    "fill=\"#fff\"/><path fill=\"#000\" d=\"";
  for (int y = 0; y < w; ++y) {
    for (int x = 0; x < w; ++x) {
      if ((qr->data[y * w + x] & 1U) != 0) {
        svg += "M" + std::to_string(x + kQuiet) + " " + std::to_string(y + kQuiet) + "h1v1h-1z";
      }
    }
  }
  svg += "\"/></svg>";
  return svg;
}

}  // namespace tanpu::market
