// Orders and vouchers: place (hold + one unit + voucher, one transaction), cancel, write off,
// expire. docs/market.md describes the flows and the stock buckets that keep a flash sale from
// overselling without making every buyer wait on one row.
#include <algorithm>
#include <array>
#include <charconv>
#include <random>

#include "core/assert.h"
#include "core/crypto.h"
#include "core/limits.h"
#include "market/internal.h"
#include "market/market.h"
#include "store/key_rows.h"

namespace tanpu::market {

using detail::conflict;

namespace {

constexpr std::string_view kQrPrefix = "tanpu:v1:";
constexpr std::string_view kCodeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";  // Crockford
constexpr std::size_t kCodeChars = 12;                                          // 60 bits
constexpr std::int64_t kDayUs = 86'400'000'000;
constexpr std::int64_t kHoldGraceDays = 30;  // ledger hold timeout beyond the voucher's validity

constexpr std::string_view kOrderColumns =
    "o.id, o.member_id, o.offer_id, o.merchant_id, f.title, o.price_points, o.status, o.hold_id, "
    "o.voucher_code, o.voucher_secret, o.delivery_address, o.created_at_us, o.expires_at_us, "
    "o.redeemed_at_us, o.redeemed_store_id, o.closed_at_us, o.request_hash, o.bucket, o.order_day";

std::string order_select(std::string_view where) {
  return "SELECT " + std::string(kOrderColumns) +
         " FROM market_orders o JOIN market_offers f ON f.id = o.offer_id WHERE " +
         std::string(where);
}

OrderStatus parse_status(std::string_view s) {
  if (s == "redeemed") return OrderStatus::redeemed;
  if (s == "cancelled") return OrderStatus::cancelled;
  if (s == "expired") return OrderStatus::expired;
  return OrderStatus::held;
}

std::optional<std::int64_t> opt_i64(const store::Rows& rows, std::size_t i, std::size_t col) {
  if (rows.is_null(i, col)) return std::nullopt;
  return rows.i64(i, col);
}

// What an order row holds beyond the Order the API shows.
struct OrderRow {
  Order order;
  std::vector<std::uint8_t> secret;
  std::vector<std::uint8_t> request_hash;
  std::int64_t bucket = 0;
  std::int64_t order_day = 0;
};

// What the voucher's QR code encodes: the order and its 128-bit secret.
std::string voucher_qr(std::int64_t order_id, std::span<const std::uint8_t> secret) {
  return std::string(kQrPrefix) + std::to_string(order_id) + ":" + to_hex(secret);
}

OrderRow order_from_row(const store::Rows& rows, std::size_t i) {
  OrderRow r;
  Order& o = r.order;
  o.id = rows.i64(i, 0);
  o.member_id = rows.i64(i, 1);
  o.offer_id = rows.i64(i, 2);
  o.merchant_id = rows.i64(i, 3);
  o.offer_title = rows.text(i, 4);
  o.price_points = rows.i64(i, 5);
  o.status = parse_status(rows.text(i, 6));
  o.hold_id = Id128::from_bytes(rows.blob(i, 7));
  o.voucher_code = rows.text(i, 8);
  const auto secret = rows.blob(i, 9);
  r.secret.assign(secret.begin(), secret.end());
  o.voucher_qr = voucher_qr(o.id, secret);
  if (!rows.is_null(i, 10)) o.delivery_address = std::string(rows.text(i, 10));
  o.created_at_us = rows.i64(i, 11);
  o.expires_at_us = rows.i64(i, 12);
  o.redeemed_at_us = opt_i64(rows, i, 13);
  o.redeemed_store_id = opt_i64(rows, i, 14);
  o.closed_at_us = opt_i64(rows, i, 15);
  const auto hash = rows.blob(i, 16);
  r.request_hash.assign(hash.begin(), hash.end());
  r.bucket = rows.i64(i, 17);
  r.order_day = rows.i64(i, 18);
  return r;
}

Result<std::optional<OrderRow>> find_order(store::Connection& c, std::string_view where,
                                           std::initializer_list<store::Param> params) {
  auto rows = c.query(order_select(where), params);
  if (!rows) return fail(rows.error());
  if (rows->empty()) return std::optional<OrderRow>{};
  return std::optional<OrderRow>(order_from_row(*rows, 0));
}

std::string new_voucher_code() {
  std::array<std::uint8_t, 8> bytes{};
  random_bytes(bytes);
  std::uint64_t bits = 0;
  for (auto b : bytes) bits = (bits << 8U) | b;
  std::string code(kCodeChars, '0');
  for (auto& ch : code) {
    ch = kCodeAlphabet[bits & 31U];
    bits >>= 5U;
  }
  return code;
}

// A typed code: upper case; spaces and hyphens dropped; Crockford's look-alikes folded.
std::string normalise_code(std::string_view code) {
  std::string out;
  for (char ch : code) {
    if (ch == ' ' || ch == '-') continue;
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
    if (ch == 'O') ch = '0';
    if (ch == 'I' || ch == 'L') ch = '1';
    out += ch;
    if (out.size() > kCodeChars) break;
  }
  return out;
}

Sha256Digest request_hash(const OrderInput& in) {
  return sha256("offer=" + std::to_string(in.offer_id) +
                "\ndelivery=" + (in.delivery_address ? "1:" + *in.delivery_address : "0:"));
}

Result<void> check_delivery(const Offer& offer, const std::optional<std::string>& address) {
  if (offer.fulfilment == Fulfilment::evoucher) {
    if (address) {
      return fail(ErrorKind::invalid, "delivery_address_not_applicable",
                  "this offer is an e-voucher: there is nothing to deliver", "delivery_address");
    }
    return {};
  }
  if (!address) {
    return fail(ErrorKind::invalid, "delivery_address_required",
                "this offer is a physical good: give a delivery address", "delivery_address");
  }
  if (address->size() < 5 || address->size() > 300 || std::ranges::any_of(*address, [](char ch) {
        return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
      })) {
    return fail(ErrorKind::invalid, "invalid_delivery_address",
                "delivery_address must be 5 to 300 bytes without control characters",
                "delivery_address");
  }
  return {};
}

// The refusals of an order beyond the offer's limits.
Error day_limit_error(const Offer& offer) {
  return Error{ErrorKind::conflict,
               "day_limit_reached",
               "you have ordered this offer " + std::to_string(offer.per_member_day_max) +
                   " times today, its daily limit",
               {}};
}
Error total_limit_error(const Offer& offer) {
  return Error{ErrorKind::conflict,
               "total_limit_reached",
               "you have ordered this offer " + std::to_string(offer.per_member_total_max) +
                   " times, its limit",
               {}};
}

// Counts one more order of the member against a limit row; false when the limit is reached.
Result<bool> count_order(store::Connection& c, std::int64_t offer_id, std::int64_t member_id,
                         std::int64_t day, std::int64_t max) {
  auto n = c.exec(
      "INSERT INTO market_member_counts (offer_id, member_id, day, orders) VALUES (?, ?, ?, 1) "
      "ON CONFLICT (offer_id, member_id, day) DO UPDATE SET orders = market_member_counts.orders "
      "+ 1 WHERE market_member_counts.orders < ?",
      {offer_id, member_id, day, max});
  if (!n) return fail(n.error());
  return *n == 1;
}

// Gives an order's unit and limits back (cancel, expiry). Lock order as place_order's: the
// member's limit rows, then the stock bucket.
Result<void> give_back(store::Connection& c, const OrderRow& row) {
  for (const std::int64_t day : {row.order_day, std::int64_t{0}}) {
    auto n = c.exec(
        "UPDATE market_member_counts SET orders = orders - 1 WHERE offer_id = ? AND member_id = ? "
        "AND day = ? AND orders > 0",
        {row.order.offer_id, row.order.member_id, day});
    if (!n) return fail(n.error());
  }
  auto n =
      c.exec("UPDATE market_stock SET remaining = remaining + 1 WHERE offer_id = ? AND bucket = ?",
             {row.order.offer_id, row.bucket});
  if (!n) return fail(n.error());
  return {};
}

// After a take that took nothing: the offer's withdrawal or sold-out as the error, or nothing if
// a bucket still has stock (PostgreSQL: one was held, or emptied while waited for).
Result<void> why_nothing_taken(store::Connection& c, std::int64_t offer_id) {
  auto why = c.query(
      "SELECT o.withdrawn, CASE WHEN EXISTS (SELECT 1 FROM market_stock k WHERE k.offer_id = "
      "o.id AND k.remaining > 0) THEN 1 ELSE 0 END FROM market_offers o WHERE o.id = ?",
      {offer_id});
  if (!why) return fail(why.error());
  if (why->empty() || why->i64(0, 0) != 0) {
    return conflict("offer_withdrawn", "the offer has been withdrawn");
  }
  if (why->i64(0, 1) == 0) return conflict("sold_out", "the offer is sold out");
  return {};
}

// SQLite (one writer, so the buckets change nothing): takes one unit unless the offer has been
// withdrawn; returns its bucket. Errors: sold_out, offer_withdrawn.
Result<std::int64_t> take_unit_sqlite(store::Connection& c, std::int64_t offer_id) {
  auto taken = c.query(
      "UPDATE market_stock SET remaining = remaining - 1 WHERE offer_id = ? AND remaining > 0 AND "
      "bucket = (SELECT bucket FROM market_stock WHERE offer_id = ? AND remaining > 0 ORDER BY "
      "bucket LIMIT 1) AND NOT EXISTS (SELECT 1 FROM market_offers WHERE id = ? AND withdrawn <> "
      "0) RETURNING bucket",
      {offer_id, offer_id, offer_id});
  if (!taken) return fail(taken.error());
  if (!taken->empty()) return taken->i64(0, 0);
  if (auto r = why_nothing_taken(c, offer_id); !r) return fail(r.error());
  // One writer: nothing can have been taken between the two statements.
  return fail(ErrorKind::internal, "stock_inconsistent", "a bucket with stock was not taken");
}

// The bucket this writer thread takes from first (see place_pg).
std::int64_t start_bucket() {
  thread_local const auto start = static_cast<std::int64_t>(std::random_device{}() % 16U);
  return start;
}

// What the PostgreSQL order statement came to (see place_pg).
struct Placed {
  bool day_ok = true, total_ok = true;
  std::optional<std::int64_t> bucket, order_id;
};

// PostgreSQL: the order's limit rows, its unit and its row in one statement (a round trip instead
// of three, each of which a flash sale's buyers pay while the whole machine is busy). The limits
// are data-modifying CTEs the unit's UPDATE requires, and the order row is inserted from the
// unit's; so a refused limit takes no unit and writes no order, and a limit counted for an order
// that then got no unit is undone with the job (its savepoint). `insert_params` are the order
// row's columns as in kOrderInsert, but for the bucket.
Result<Placed> place_pg(store::Connection& c, std::int64_t offer_id, std::int64_t member_id,
                        std::int64_t day, std::int64_t day_max, std::int64_t total_max,
                        bool may_wait, std::span<const store::Param> insert_params) {
  // Each writer thread starts at a bucket of its own, so the jobs of one group transaction keep
  // taking from the bucket it already holds instead of locking one bucket after another (which
  // would leave the other writers' transactions nothing to skip to). A bucket another transaction
  // holds is skipped (SKIP LOCKED), unless the job runs again alone (may_wait), holding nothing.
  const std::int64_t start = start_bucket();
  std::string sql = "WITH ";
  std::vector<store::Param> p;
  auto limit = [&](std::string_view name, std::int64_t limit_day, std::int64_t max) {
    sql += std::string(name) +
           " AS (INSERT INTO market_member_counts (offer_id, member_id, day, orders) VALUES (?, ?, "
           "?, 1) ON CONFLICT (offer_id, member_id, day) DO UPDATE SET orders = "
           "market_member_counts.orders + 1 WHERE market_member_counts.orders < ? RETURNING 1), ";
    p.insert(p.end(), {offer_id, member_id, limit_day, max});
  };
  if (day_max > 0) limit("d", day, day_max);
  if (total_max > 0) limit("t", 0, total_max);
  sql +=
      "k AS (UPDATE market_stock SET remaining = remaining - 1 WHERE offer_id = ? AND remaining > "
      "0 AND bucket = (SELECT bucket FROM market_stock WHERE offer_id = ? AND remaining > 0 ORDER "
      "BY CASE WHEN bucket >= ? THEN 0 ELSE 1 END, bucket LIMIT 1 " +
      std::string(may_wait ? "FOR UPDATE" : "FOR UPDATE SKIP LOCKED") +
      ") AND NOT EXISTS (SELECT 1 FROM market_offers WHERE id = ? AND withdrawn <> 0)" +
      std::string(day_max > 0 ? " AND EXISTS (SELECT 1 FROM d)" : "") +
      std::string(total_max > 0 ? " AND EXISTS (SELECT 1 FROM t)" : "") +
      " RETURNING bucket), o AS (INSERT INTO market_orders (member_id, offer_id, merchant_id, "
      "idempotency_key, request_hash, price_points, order_day, hold_id, status, voucher_code, "
      "voucher_secret, delivery_address, created_at_us, expires_at_us, bucket) SELECT ?, ?, ?, ?, "
      "?, ?, ?, ?, 'held', ?, ?, ?, ?, ?, k.bucket FROM k RETURNING id) SELECT " +
      std::string(day_max > 0 ? "(SELECT COUNT(*) FROM d), " : "") +
      std::string(total_max > 0 ? "(SELECT COUNT(*) FROM t), " : "") +
      "(SELECT bucket FROM k), (SELECT id FROM o)";
  p.insert(p.end(), {offer_id, offer_id, start, offer_id});
  p.insert(p.end(), insert_params.begin(), insert_params.end());
  auto rows = c.query(sql, p);
  if (!rows) return fail(rows.error());
  Placed out;
  std::size_t col = 0;
  if (day_max > 0) out.day_ok = rows->i64(0, col++) == 1;
  if (total_max > 0) out.total_ok = rows->i64(0, col++) == 1;
  out.bucket = opt_i64(*rows, 0, col++);
  out.order_id = opt_i64(*rows, 0, col);
  return out;
}

// The order's limits, unit and row on PostgreSQL; returns its bucket and id. Nothing taken: the
// offer was withdrawn, or is sold out, or a bucket waited for was emptied meanwhile although other
// buckets have stock; then the limits counted are undone and the statement runs again (each round
// another transaction took a unit, so the rounds are bounded by the stock; the cap is a guard).
// Errors: day_limit_reached, total_limit_reached, sold_out, offer_withdrawn, kRetryable (every
// bucket with stock held by another transaction).
Result<std::pair<std::int64_t, std::int64_t>> place_on_postgres(
    store::Connection& c, const Offer& offer, std::int64_t member_id, std::int64_t day,
    bool may_wait, std::span<const store::Param> insert_params) {
  constexpr std::string_view kSavepoint = "order_unit";
  constexpr int kPicksMax = 64;
  for (int round = 0;; ++round) {
    if (auto r = c.savepoint(kSavepoint); !r) return fail(r.error());
    auto placed = place_pg(c, offer.id, member_id, day, offer.per_member_day_max,
                           offer.per_member_total_max, may_wait, insert_params);
    if (!placed) return fail(placed.error());
    if (!placed->day_ok) return std::unexpected(day_limit_error(offer));
    if (!placed->total_ok) return std::unexpected(total_limit_error(offer));
    if (placed->order_id) {
      if (auto r = c.release(kSavepoint); !r) return fail(r.error());
      return std::pair(*placed->bucket, *placed->order_id);
    }
    if (auto r = why_nothing_taken(c, offer.id); !r) return fail(r.error());
    if (!may_wait || round + 1 >= kPicksMax) {
      return fail(ErrorKind::unavailable, std::string(store::kRetryable),
                  "every stock bucket is being taken from; try again");
    }
    if (auto r = c.rollback_to(kSavepoint); !r) return fail(r.error());
    if (auto r = c.release(kSavepoint); !r) return fail(r.error());
  }
}

Error ledger_refusal(ledger::TransferStatus s) {
  if (s == ledger::TransferStatus::exceeds_credits) {
    return Error{ErrorKind::conflict,
                 "insufficient_points",
                 "the points account does not hold enough available points",
                 {}};
  }
  return Error{ErrorKind::internal,
               "ledger_refused",
               "the ledger refused the transfer: " + std::string(ledger::to_string(s)),
               {}};
}

// A new order as the job writes it: everything but its id and bucket.
OrderRow draft_order(const OrderInput& in, const Offer& offer, const Sha256Digest& hash,
                     std::int64_t day, std::int64_t now) {
  OrderRow row;
  row.secret.resize(16);
  random_bytes(row.secret);
  row.request_hash.assign(hash.begin(), hash.end());
  row.order_day = day;
  Order& o = row.order;
  o.member_id = in.member_id;
  o.offer_id = offer.id;
  o.merchant_id = offer.merchant_id;
  o.offer_title = offer.title;
  o.price_points = offer.price_points;
  o.hold_id = new_time_ordered_id();
  o.voucher_code = new_voucher_code();
  o.delivery_address = in.delivery_address;
  o.created_at_us = now;
  o.expires_at_us = now + offer.voucher_valid_days * kDayUs;
  return row;
}

// The order's hold: pending until written off (posted to the merchant) or cancelled/expired
// (voided). Its ledger timeout is 30 days after the voucher's, so the market's own expiry (every
// few seconds in serve) voids it long before; the ledger's expiry is the backstop for a platform
// that was down for a month.
ledger::Transfer hold_of(const Order& o, const Offer& offer, std::int64_t points_account,
                         std::int64_t merchant_account) {
  ledger::Transfer t;
  t.id = o.hold_id;
  t.debit_account_id = points_account;
  t.credit_account_id = merchant_account;
  t.amount = o.price_points;
  t.timeout_s = (offer.voucher_valid_days + kHoldGraceDays) * 86'400;
  t.code = ledger::codes::market_order;
  t.flags = ledger::transfer_flags::pending;
  t.reference = "order:" + std::to_string(o.id);
  return t;
}

// PostgreSQL, a batch of orders of one offer (Market::write_batch), members in ascending order so
// that concurrent batches lock limit rows in one order. Counts one order of each member against
// the offer's limits in one statement; returns, per member, whether the day limit and the total
// limit admitted it (a limit the offer does not set admits everyone).
Result<std::vector<std::pair<bool, bool>>> count_batch(store::Connection& c, const Offer& offer,
                                                       std::int64_t day,
                                                       std::span<const store::Param> members) {
  std::vector<std::pair<bool, bool>> out(members.size(), {true, true});
  if (offer.per_member_day_max <= 0 && offer.per_member_total_max <= 0) return out;
  std::vector<std::string> arrays;
  arrays.reserve(3);  // p points into them: never reallocated
  std::vector<store::Param> p;
  std::string ctes;
  auto member_array = [&] {
    const auto unnest = store::pg_unnest(members, 1, arrays);
    TANPU_ASSERT(unnest.has_value());
    return *unnest;
  };
  auto limit = [&](std::string_view name, std::int64_t limit_day, std::int64_t max) {
    if (max <= 0) return std::string("1");
    ctes += std::string(ctes.empty() ? "WITH " : ", ") + std::string(name) +
            " AS (INSERT INTO market_member_counts (offer_id, member_id, day, orders) SELECT ?, "
            "x.m, ?, 1 FROM " +
            member_array() +
            " AS x (m) ON CONFLICT (offer_id, member_id, day) DO UPDATE SET orders = "
            "market_member_counts.orders + 1 WHERE market_member_counts.orders < ? RETURNING "
            "member_id)";
    p.insert(p.end(), {offer.id, limit_day});
    p.emplace_back(std::string_view(arrays.back()));
    p.emplace_back(max);
    return "CASE WHEN EXISTS (SELECT 1 FROM " + std::string(name) +
           " WHERE member_id = x.m) THEN 1 ELSE 0 END";
  };
  const std::string day_ok = limit("d", day, offer.per_member_day_max);
  const std::string total_ok = limit("t", 0, offer.per_member_total_max);
  const std::string sql = ctes + " SELECT " + day_ok + ", " + total_ok + " FROM " + member_array() +
                          " WITH ORDINALITY AS x (m, i) ORDER BY x.i";
  p.emplace_back(std::string_view(arrays.back()));
  auto rows = c.query(sql, p);
  if (!rows) return fail(rows.error());
  TANPU_ASSERT(rows->size() == members.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = {rows->i64(i, 0) == 1, rows->i64(i, 1) == 1};
  }
  return out;
}

// Takes up to `need` units of the offer, bucket by bucket (skipping buckets other transactions
// hold), unless it has been withdrawn; returns each unit's bucket. Fewer than `need`: the offer
// is withdrawn or sold out (the error), or every bucket with stock left is held elsewhere.
struct Taken {
  std::vector<std::int64_t> buckets;
  std::optional<Error> why_short;
};
Result<Taken> take_units(store::Connection& c, std::int64_t offer_id, std::size_t need) {
  Taken out;
  const std::int64_t start = start_bucket();
  while (out.buckets.size() < need) {
    const auto want = static_cast<std::int64_t>(need - out.buckets.size());
    auto rows = c.query(
        "WITH b AS (SELECT bucket, remaining FROM market_stock WHERE offer_id = ? AND remaining "
        "> 0 ORDER BY CASE WHEN bucket >= ? THEN 0 ELSE 1 END, bucket LIMIT 1 FOR UPDATE SKIP "
        "LOCKED) UPDATE market_stock s SET remaining = s.remaining - LEAST(b.remaining, ?) FROM b "
        "WHERE s.offer_id = ? AND s.bucket = b.bucket AND s.remaining = b.remaining AND NOT "
        "EXISTS (SELECT 1 FROM market_offers WHERE id = ? AND withdrawn <> 0) RETURNING s.bucket, "
        "LEAST(b.remaining, ?)",
        {offer_id, start, want, offer_id, offer_id, want});
    if (!rows) return fail(rows.error());
    if (rows->empty()) {
      auto why = why_nothing_taken(c, offer_id);
      if (!why) out.why_short = why.error();
      return out;
    }
    const std::int64_t got = rows->i64(0, 1);
    TANPU_ASSERT(got > 0 && got <= want);
    out.buckets.insert(out.buckets.end(), static_cast<std::size_t>(got), rows->i64(0, 0));
  }
  return out;
}

// The array literals of a pg_unnest, one parameter each (views into `arrays`).
std::vector<store::Param> array_params(const std::vector<std::string>& arrays) {
  std::vector<store::Param> p;
  p.reserve(arrays.size() + 1);
  for (const std::string& a : arrays) p.emplace_back(std::string_view(a));
  return p;
}

// Gives back the limit counts of orders that got no unit: the day's row of `day_members` and
// the total row of `total_members`. Each is read by its primary key (member_id = ANY): a join
// with the members' array was planned, on a table the planner still thought small, as a scan of
// every row of the offer, milliseconds with the rows locked.
Result<void> uncount_batch(store::Connection& c, const Offer& offer, std::int64_t day,
                           const std::vector<std::int64_t>& day_members,
                           const std::vector<std::int64_t>& total_members) {
  std::vector<store::Statement> updates;
  for (const auto& [row_day, members] :
       {std::pair{day, &day_members}, std::pair{std::int64_t{0}, &total_members}}) {
    if (members->empty()) continue;
    updates
        .emplace_back(
            "UPDATE market_member_counts SET orders = orders - 1 WHERE offer_id = ? AND day = ? "
            "AND member_id = ANY(CAST(? AS BIGINT[])) AND orders > 0")
        .bind(offer.id)
        .bind(row_day)
        .bind_owned(store::pg_bigint_array(*members));
  }
  if (updates.empty()) return {};
  auto n = c.run_all(updates);
  if (!n) return fail(n.error());
  return {};
}

// An order row's columns as both engines' INSERTs list them, up to its expiry (its bucket comes
// next). `hold` is the hold id's bytes, kept by the caller. The delivery address is a column only
// `with_address` (NULL for an order without one).
void add_order_columns(std::vector<store::Param>& out, const OrderRow& row, std::string_view key,
                       std::span<const std::uint8_t> hold, bool with_address) {
  const Order& o = row.order;
  out.insert(out.end(),
             {o.member_id, o.offer_id, o.merchant_id, key,
              std::span<const std::uint8_t>(row.request_hash), o.price_points, row.order_day, hold,
              std::string_view(o.voucher_code), std::span<const std::uint8_t>(row.secret)});
  if (with_address) out.push_back(store::nullable(o.delivery_address));
  out.insert(out.end(), {o.created_at_us, o.expires_at_us});
}

// Inserts the batch's order rows (bucket set) in one statement and sets their ids.
Result<void> insert_batch(store::Connection& c, std::span<OrderRow> rows,
                          std::span<const std::string_view> keys, bool with_address) {
  std::vector<std::array<std::uint8_t, 16>> holds;
  holds.reserve(rows.size());
  std::vector<store::Param> values;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    holds.push_back(rows[i].order.hold_id.to_bytes());
    // check_delivery: physical goods have an address (an array of NULLs has no type to unnest).
    TANPU_ASSERT(!with_address || rows[i].order.delivery_address.has_value());
    add_order_columns(values, rows[i], keys[i], holds.back(), with_address);
    values.emplace_back(rows[i].bucket);
  }
  const std::size_t width = with_address ? 14 : 13;
  std::vector<std::string> arrays;
  const auto unnest = store::pg_unnest(values, width, arrays);
  TANPU_ASSERT(unnest.has_value());
  const std::vector<store::Param> p = array_params(arrays);
  const std::string address = with_address ? "delivery_address, " : "";
  const std::string k_address = with_address ? "k.address, " : "";
  const std::string k_address_col = with_address ? "address, " : "";
  auto ids = c.query(
      "INSERT INTO market_orders (member_id, offer_id, merchant_id, idempotency_key, "
      "request_hash, price_points, order_day, hold_id, status, voucher_code, voucher_secret, " +
          address +
          "created_at_us, expires_at_us, bucket) SELECT k.member_id, k.offer_id, k.merchant_id, "
          "k.idem, k.hash, k.price, k.day, k.hold, 'held', k.code, k.secret, " +
          k_address + "k.created, k.expires, k.bucket FROM " + *unnest +
          " AS k (member_id, offer_id, merchant_id, idem, hash, price, day, hold, code, secret, " +
          k_address_col + "created, expires, bucket) RETURNING member_id, id",
      p);
  if (!ids) return fail(ids.error());
  TANPU_ASSERT(ids->size() == rows.size());
  for (std::size_t r = 0; r < ids->size(); ++r) {
    const auto it = std::ranges::find_if(
        rows, [&](const OrderRow& row) { return row.order.member_id == ids->i64(r, 0); });
    TANPU_ASSERT(it != rows.end());
    it->order.id = ids->i64(r, 1);
  }
  return {};
}

}  // namespace

Result<Order> Market::place_order(const OrderInput& input) {
  return place(input, std::nullopt);
}

Result<Order> Market::place_order_for_session(std::string_view session_token, OrderInput input) {
  if (const auto hint = members::Members::member_hint(session_token)) {
    input.member_id = *hint;
    return place(input, session_token);
  }
  auto who = members_.authenticate(session_token);
  if (!who) return fail(who.error());
  input.member_id = who->member_id;
  return place(input, std::nullopt);
}

Result<Order> Market::place(const OrderInput& input,
                            std::optional<std::string_view> session_token) {
  // The session's principal must be the member its token named (the hint covered by its hash).
  const auto confirm = [&](Result<members::Principal> who) -> Result<void> {
    if (!who) return fail(who.error());
    if (who->member_id != input.member_id) {
      return fail(ErrorKind::unauthenticated, "invalid_session", "the session is unknown");
    }
    return {};
  };
  const std::int64_t now = clock_.now_us();
  const Sha256Digest hash = request_hash(input);
  auto replay = [&](const OrderRow& row) -> Result<Order> {
    if (!constant_time_equal(row.request_hash, hash)) {
      return conflict("idempotency_conflict",
                      "this Idempotency-Key was used for another order request");
    }
    Order o = row.order;
    o.replayed = true;
    return o;
  };
  Offer offer;
  std::int64_t merchant_account = 0;
  // The member's points account, when it was read with the key (below).
  std::optional<Result<store::Rows>> account_rows;
  if (auto seen = recent_offers_->get(input.offer_id)) {
    // Read a moment ago (Market::RecentOffers; offers change only by being withdrawn): only the
    // key is looked up, so a replay still gets its order; everyone else gets the offer as it was
    // read, sold out if it was then or if an order since found no unit. While it has stock, the
    // member's points account is read in the same round trip (Connection::run_all).
    auto lease = store_.acquire();
    if (!lease) return fail(lease.error());
    // With a session token, its session first: the other reads are of the member it named, and
    // count for nothing unless the session confirms that member.
    std::vector<store::Statement> reads;
    if (session_token) {
      auto session = members::Members::session_statement(*session_token);
      if (!session) return fail(session.error());
      reads.push_back(std::move(*session));
    }
    const std::size_t key_read = reads.size();
    reads.emplace_back("SELECT id FROM market_orders WHERE member_id = ? AND idempotency_key = ?")
        .bind(input.member_id)
        .bind(std::string_view(input.idempotency_key));
    if (seen->offer.remaining > 0)
      reads.push_back(members::Members::points_account_statement(input.member_id));
    auto read = (*lease)->run_all(reads);
    if (!read) return fail(read.error());
    if (session_token) {
      if (auto ok = confirm(members_.principal_from(std::move((*read)[0].rows))); !ok) {
        return fail(ok.error());
      }
    }
    const store::Rows& placed = (*read)[key_read].rows;
    if (read->size() > key_read + 1) account_rows = std::move((*read)[key_read + 1].rows);
    if (!placed.empty()) {
      auto existing = find_order(**lease, "o.id = ?", {placed.i64(0, 0)});
      if (!existing) return fail(existing.error());
      if (*existing) return replay(**existing);
    }
    offer = std::move(seen->offer);
    merchant_account = seen->merchant_account;
  } else {
    if (session_token) {
      if (auto ok = confirm(members_.authenticate(*session_token)); !ok) return fail(ok.error());
    }
    auto lease = store_.acquire();
    if (!lease) return fail(lease.error());
    // One round trip: the offer with its stock, and the order this key placed before, if any.
    static const std::string sql =
        "SELECT " + std::string(detail::kOfferColumns) +
        ", m.account_id"
        ", (SELECT x.id FROM market_orders x WHERE x.member_id = ? AND x.idempotency_key = ?)"
        " FROM market_offers o JOIN market_merchants m ON m.id = o.merchant_id"
        " LEFT JOIN market_stores s ON s.id = o.store_id WHERE o.id = ?";
    auto rows = (*lease)->query(sql, {input.member_id, input.idempotency_key, input.offer_id});
    if (!rows) return fail(rows.error());
    const bool placed_before = !rows->empty() && !rows->is_null(0, rows->columns() - 1);
    if (rows->empty() || placed_before) {
      // A key is the member's across offers: replayed against another offer, it is a conflict.
      auto existing = find_order(**lease, "o.member_id = ? AND o.idempotency_key = ?",
                                 {input.member_id, input.idempotency_key});
      if (!existing) return fail(existing.error());
      if (*existing) return replay(**existing);
      return fail(ErrorKind::not_found, "offer_not_found", "no such offer");
    }
    offer = detail::offer_from_row(*rows, 0);
    merchant_account = rows->i64(0, rows->columns() - 2);  // set when the merchant was created
    recent_offers_->put(offer, merchant_account);
  }
  // Checks that need no lock; the stock, the limits and the points are checked again under lock.
  if (offer.withdrawn) return conflict("offer_withdrawn", "the offer has been withdrawn");
  if (now < offer.sale_starts_us) return conflict("sale_not_started", "the sale has not started");
  if (now >= offer.sale_ends_us) return conflict("sale_ended", "the sale has ended");
  if (auto r = check_delivery(offer, input.delivery_address); !r) return fail(r.error());
  if (offer.eligible_org_id || offer.eligible_region) {
    Result<bool> ok = false;
    if (options_.eligibility) {
      ok = options_.eligibility(input.member_id, offer.eligible_org_id, offer.eligible_region);
    }
    if (!ok) return fail(ok.error());
    if (!*ok) {
      return fail(ErrorKind::forbidden, "not_eligible",
                  "the offer is limited to members of another organisation or region");
    }
  }
  if (offer.remaining <= 0) return conflict("sold_out", "the offer is sold out");
  // The member's points account never changes: read it here, outside the write transaction, with
  // its balance. Too few points is answered from that read; points spent meanwhile are caught by
  // the ledger when the hold is written (at the end of the transaction).
  std::int64_t points_account = 0;
  {
    const auto read_account = [&]() -> Result<ledger::Account> {
      if (account_rows) return members::Members::points_account_from(std::move(*account_rows));
      auto lease = store_.acquire();
      if (!lease) return fail(lease.error());
      return members_.points_account(**lease, input.member_id);
    };
    auto account = read_account();
    if (!account) return fail(account.error());
    points_account = account->id;
    if (account->available() < offer.price_points) {
      return fail(ledger_refusal(ledger::TransferStatus::exceeds_credits));
    }
  }

  const std::int64_t day = local_day(now, options_.utc_offset_minutes);
  // An order that found no unit: the buyers after it are answered from memory (RecentOffers).
  const auto remember_sold_out = [&](const Error& e) {
    if (e.code != "sold_out") return;
    offer.remaining = 0;
    recent_offers_->put(offer, merchant_account);
  };
  if (store_.dialect() == store::Dialect::postgres) {
    BatchedOrder batched;
    batched.input = &input;
    batched.offer = &offer;
    batched.hash = hash;
    batched.day = day;
    batched.now_us = now;
    batched.points_account = points_account;
    batched.merchant_account = merchant_account;
    if (auto done = place_batched(batched)) {
      if (!*done) remember_sold_out(done->error());
      return std::move(*done);
    }
    // Placed alone below: the batch failed as a whole (a hold refused by the ledger, a key that
    // raced in), or every bucket with stock was held by another transaction.
  }
  std::optional<OrderRow> placed;
  int runs = 0;
  auto job = [&](store::Connection& c) -> Result<void> {
    placed.reset();
    ++runs;  // a job run again runs alone (Store::write), holding no other order's locks
    OrderRow row = draft_order(input, offer, hash, day, now);
    Order& o = row.order;
    const auto hold = o.hold_id.to_bytes();
    // The order row's columns but its bucket, in the order of both engines' INSERTs.
    std::vector<store::Param> columns;
    add_order_columns(columns, row, input.idempotency_key, hold, true);
    if (c.dialect() == store::Dialect::postgres) {
      auto unit = place_on_postgres(c, offer, input.member_id, day, runs > 1, columns);
      if (!unit) return fail(unit.error());
      row.bucket = unit->first;
      o.id = unit->second;
    } else {
      if (offer.per_member_day_max > 0) {
        auto ok = count_order(c, offer.id, input.member_id, day, offer.per_member_day_max);
        if (!ok) return fail(ok.error());
        if (!*ok) return std::unexpected(day_limit_error(offer));
      }
      if (offer.per_member_total_max > 0) {
        auto ok = count_order(c, offer.id, input.member_id, 0, offer.per_member_total_max);
        if (!ok) return fail(ok.error());
        if (!*ok) return std::unexpected(total_limit_error(offer));
      }
      auto bucket = take_unit_sqlite(c, offer.id);
      if (!bucket) return fail(bucket.error());
      row.bucket = *bucket;
      columns.emplace_back(row.bucket);
      auto id = c.query(
          "INSERT INTO market_orders (member_id, offer_id, merchant_id, idempotency_key, "
          "request_hash, price_points, order_day, hold_id, status, voucher_code, voucher_secret, "
          "delivery_address, created_at_us, expires_at_us, bucket) VALUES (?, ?, ?, ?, ?, ?, ?, "
          "?, 'held', ?, ?, ?, ?, ?, ?) RETURNING id",
          columns);
      if (!id) return fail(id.error());
      o.id = id->i64(0, 0);
    }
    o.voucher_qr = voucher_qr(o.id, row.secret);

    const ledger::Transfer t = hold_of(o, offer, points_account, merchant_account);
    // Written with the other orders' holds of this transaction, as one ledger batch at its end:
    // the chain head is then held from there to COMMIT only, not from this order on.
    ledger_.defer_transfers(c, std::span(&t, 1), &ledger_refusal);
    placed = std::move(row);
    return {};
  };
  for (int attempt = 0;; ++attempt) {
    auto r = transact(job);
    if (r) break;
    remember_sold_out(r.error());
    if (r.error().code != store::kUniqueViolation || attempt >= 3) return fail(r.error());
    // The same key raced in from a concurrent request (or, once in 2^60, a voucher code clashed).
    auto lease = store_.acquire();
    if (!lease) return fail(lease.error());
    auto existing = find_order(**lease, "o.member_id = ? AND o.idempotency_key = ?",
                               {input.member_id, input.idempotency_key});
    if (!existing) return fail(existing.error());
    if (*existing) return replay(**existing);
  }
  return placed->order;
}

// Waits for the order's batch: written by this request (leading it) or by another one.
// nullopt: place the order alone.
std::optional<Result<Order>> Market::place_batched(BatchedOrder& order) {
  using Outcome = BatchedOrder::Outcome;
  OrderBatcher& b = *batcher_;
  std::unique_lock lock(b.mu);
  b.queue.push_back(&order);
  while (order.outcome == Outcome::waiting) {
    if (b.writing || b.queue.empty()) {
      b.settled.wait(lock);
      continue;
    }
    // Lead a batch: this order if still queued (else the oldest), and the queued orders that can
    // share its statements.
    const auto own = std::ranges::find(b.queue, &order);
    BatchedOrder* first = own != b.queue.end() ? *own : b.queue.front();
    b.queue.erase(own != b.queue.end() ? own : b.queue.begin());
    std::vector<BatchedOrder*> batch{first};
    const Offer& offer = *first->offer;
    for (auto it = b.queue.begin();
         it != b.queue.end() && batch.size() < OrderBatcher::kOrdersMax;) {
      const BatchedOrder& o = **it;
      // An offer's terms (limits, fulfilment) never change: its id decides them.
      const bool fits = o.offer->id == offer.id && o.day == first->day &&
                        std::ranges::none_of(batch, [&](const BatchedOrder* x) {
                          return x->input->member_id == o.input->member_id;
                        });
      if (fits) {
        batch.push_back(*it);
        it = b.queue.erase(it);
      } else {
        ++it;
      }
    }
    b.writing = true;
    lock.unlock();
    write_batch(batch);  // sets the outcomes under b.mu
    lock.lock();
    b.writing = false;
    b.settled.notify_all();
  }
  switch (order.outcome) {
    case Outcome::placed:
      return Result<Order>(std::move(order.order));
    case Outcome::refused:
      return Result<Order>(std::unexpected(*order.error));
    default:
      return std::nullopt;
  }
}

// One write job for the batch: the members' limit counts, the units, the order rows, each one
// statement, and the holds with the rest of the group's ledger batch at COMMIT. An order refused
// here (a limit reached, sold out, withdrawn) gets its error, and a sold-out answers the offer's
// queued orders too; one left without a unit while another transaction held the buckets goes into
// the next batch (up to kRoundsMax times, then alone); every order of a batch whose write failed
// (a hold refused by the ledger, a key raced in) is placed alone: the batch is an optimisation,
// never a second set of rules.
void Market::write_batch(std::span<BatchedOrder* const> batch_in) {
  using Outcome = BatchedOrder::Outcome;
  std::vector<BatchedOrder*> batch(batch_in.begin(), batch_in.end());
  std::ranges::sort(batch, {}, [](const BatchedOrder* o) { return o->input->member_id; });
  const Offer& offer = *batch.front()->offer;
  const std::int64_t day = batch.front()->day;
  const std::size_t n = batch.size();
  std::vector<Outcome> outcome(n);
  std::vector<std::optional<Error>> error(n);
  std::vector<OrderRow> rows;
  std::vector<std::size_t> row_order;  // the batch index of each row
  auto job = [&](store::Connection& c) -> Result<void> {
    std::ranges::fill(outcome, Outcome::alone);
    std::ranges::fill(error, std::nullopt);
    rows.clear();
    row_order.clear();
    std::vector<store::Param> members;
    members.reserve(n);
    for (const BatchedOrder* o : batch) members.emplace_back(o->input->member_id);
    // Undoes the batch's limit counts at once when no order gets a unit.
    constexpr std::string_view kCounted = "order_batch";
    if (auto r = c.savepoint(kCounted); !r) return fail(r.error());
    auto admitted = count_batch(c, offer, day, members);
    if (!admitted) return fail(admitted.error());
    std::vector<std::size_t> wanting;  // indexes of the orders both limits admitted
    // The members whose day or total limit was counted for no order.
    std::vector<std::int64_t> uncount_day;
    std::vector<std::int64_t> uncount_total;
    auto give_back_limits = [&](std::size_t i) {
      const auto [day_ok, total_ok] = (*admitted)[i];
      const std::int64_t member = batch[i]->input->member_id;
      if (offer.per_member_day_max > 0 && day_ok) uncount_day.push_back(member);
      if (offer.per_member_total_max > 0 && total_ok) uncount_total.push_back(member);
    };
    for (std::size_t i = 0; i < n; ++i) {
      const auto [day_ok, total_ok] = (*admitted)[i];
      if (day_ok && total_ok) {
        wanting.push_back(i);
        continue;
      }
      outcome[i] = Outcome::refused;
      error[i] = day_ok ? total_limit_error(offer) : day_limit_error(offer);
      give_back_limits(i);
    }
    auto taken = take_units(c, offer.id, wanting.size());
    if (!taken) return fail(taken.error());
    std::vector<std::string_view> keys;
    for (std::size_t w = 0; w < wanting.size(); ++w) {
      const std::size_t i = wanting[w];
      if (w >= taken->buckets.size()) {
        // Sold out or withdrawn; else the other buckets with stock were held elsewhere: this
        // order goes into the next batch, after this one's transaction has let go of its locks.
        outcome[i] = taken->why_short ? Outcome::refused : Outcome::again;
        error[i] = taken->why_short;
        give_back_limits(i);
        continue;
      }
      const BatchedOrder& o = *batch[i];
      OrderRow row = draft_order(*o.input, *o.offer, o.hash, day, o.now_us);
      row.bucket = taken->buckets[w];
      rows.push_back(std::move(row));
      row_order.push_back(i);
      keys.emplace_back(o.input->idempotency_key);
    }
    if (rows.empty()) {
      if (auto r = c.rollback_to(kCounted); !r) return fail(r.error());
      return c.release(kCounted);
    }
    if (auto r = c.release(kCounted); !r) return fail(r.error());
    if (auto r = uncount_batch(c, offer, day, uncount_day, uncount_total); !r) return r;
    if (auto r = insert_batch(c, rows, keys, offer.fulfilment == Fulfilment::physical); !r) {
      return r;
    }
    std::vector<ledger::Transfer> holds;
    holds.reserve(rows.size());
    for (std::size_t r = 0; r < rows.size(); ++r) {
      Order& o = rows[r].order;
      o.voucher_qr = voucher_qr(o.id, rows[r].secret);
      const BatchedOrder& b = *batch[row_order[r]];
      holds.push_back(hold_of(o, *b.offer, b.points_account, b.merchant_account));
      outcome[row_order[r]] = Outcome::placed;
    }
    // With the group's other holds, as one ledger batch at its end (see place_order).
    ledger_.defer_transfers(c, holds, &ledger_refusal);
    return {};
  };
  const bool written = transact(job).has_value();
  // The batch's sold_out, which the offer's queued orders get too (below).
  std::optional<Error> sold_out;
  if (const auto it =
          std::ranges::find_if(error, [](const auto& e) { return e && e->code == "sold_out"; });
      written && it != error.end()) {
    sold_out = *it;
  }
  OrderBatcher& b = *batcher_;
  const std::lock_guard lock(b.mu);
  std::vector<BatchedOrder*> again;
  for (std::size_t i = 0; i < n; ++i) {
    BatchedOrder& o = *batch[i];
    o.outcome = written ? outcome[i] : Outcome::alone;
    if (o.outcome == Outcome::refused) o.error = std::move(error[i]);
    if (o.outcome == Outcome::again) {
      o.outcome = ++o.rounds <= OrderBatcher::kRoundsMax ? Outcome::waiting : Outcome::alone;
      if (o.outcome == Outcome::waiting) again.push_back(&o);
    }
  }
  // Ahead of the orders that came later.
  b.queue.insert(b.queue.begin(), again.begin(), again.end());
  if (sold_out) {
    // Every bucket was empty under lock at this commit: the queued orders of the offer get the
    // answer their batch would have given, without writing one (as RecentOffers answers later
    // buyers).
    std::erase_if(b.queue, [&](BatchedOrder* o) {
      if (o->offer->id != offer.id) return false;
      o->outcome = Outcome::refused;
      o->error = sold_out;
      return true;
    });
  }
  if (!written) return;
  for (std::size_t r = 0; r < rows.size(); ++r)
    batch[row_order[r]]->order = std::move(rows[r].order);
}

Result<Order> Market::member_order(std::int64_t member_id, std::int64_t order_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto row = find_order(**lease, "o.id = ? AND o.member_id = ?", {order_id, member_id});
  if (!row) return fail(row.error());
  if (!*row) return fail(ErrorKind::not_found, "order_not_found", "no such order");
  return (*row)->order;
}

namespace {

Result<OrderPage> order_page(store::Store& store, std::string where,
                             std::vector<store::Param> params, std::size_t limit,
                             std::optional<std::int64_t> before_id) {
  if (before_id) {
    where += " AND o.id < ?";
    params.emplace_back(*before_id);
  }
  params.emplace_back(static_cast<std::int64_t>(limit + 1));
  auto lease = store.acquire();
  if (!lease) return fail(lease.error());
  auto rows = (*lease)->query(order_select(where + " ORDER BY o.id DESC LIMIT ?"), params);
  if (!rows) return fail(rows.error());
  OrderPage page;
  for (std::size_t i = 0; i < rows->size() && i < limit; ++i) {
    page.orders.push_back(order_from_row(*rows, i).order);
  }
  if (rows->size() > limit) page.next_before_id = page.orders.back().id;
  return page;
}

}  // namespace

Result<OrderPage> Market::member_orders(std::int64_t member_id, std::size_t limit,
                                        std::optional<std::int64_t> before_id) {
  return order_page(store_, "o.member_id = ?", {member_id}, limit, before_id);
}

Result<OrderPage> Market::merchant_orders(std::int64_t merchant_id,
                                          std::optional<OrderStatus> status, std::size_t limit,
                                          std::optional<std::int64_t> before_id) {
  std::vector<store::Param> params{merchant_id};
  std::string where = "o.merchant_id = ?";
  if (status) {
    where += " AND o.status = ?";
    params.emplace_back(to_string(*status));
  }
  return order_page(store_, std::move(where), std::move(params), limit, before_id);
}

namespace {

// Closes a held order in c: status, the unit and limits back, the hold voided. A hold the ledger
// voided already (its timeout passed) counts as voided.
Result<void> close_held(store::Connection& c, ledger::Ledger& ledger, const OrderRow& row,
                        std::string_view status, std::int64_t now) {
  auto n = c.exec(
      "UPDATE market_orders SET status = ?, closed_at_us = ? WHERE id = ? AND status = 'held'",
      {status, now, row.order.id});
  if (!n) return fail(n.error());
  if (*n != 1)
    return fail(ErrorKind::conflict, std::string(store::kRetryable), "the order changed meanwhile");
  if (auto r = give_back(c, row); !r) return r;
  ledger::Transfer t;
  t.id = new_time_ordered_id();
  t.pending_id = row.order.hold_id;
  t.code = ledger::codes::market_order;
  t.flags = ledger::transfer_flags::void_pending;
  t.reference = "order:" + std::to_string(row.order.id);
  auto applied = ledger.create_transfers(c, std::span(&t, 1));
  if (!applied) return fail(applied.error());
  const auto s = applied->statuses[0];
  if (s != ledger::TransferStatus::ok && s != ledger::TransferStatus::pending_expired &&
      s != ledger::TransferStatus::pending_already_voided) {
    return fail(ledger_refusal(s));
  }
  return {};
}

Error closed_error(OrderStatus status, std::string_view noun) {
  const std::string n(noun);
  switch (status) {
    case OrderStatus::redeemed:
      return Error{ErrorKind::conflict, n + "_redeemed", "the voucher has been written off", {}};
    case OrderStatus::cancelled:
      return Error{ErrorKind::conflict, n + "_cancelled", "the order was cancelled", {}};
    case OrderStatus::expired:
    case OrderStatus::held:
      break;
  }
  return Error{ErrorKind::conflict, n + "_expired", "the voucher has expired", {}};
}

// Writes off a held order in c for merchant_id: posts the hold to the merchant, marks it redeemed.
Result<void> write_off(store::Connection& c, ledger::Ledger& ledger, OrderRow& o,
                       std::int64_t merchant_id, std::optional<std::int64_t> store_id,
                       std::int64_t now) {
  if (o.order.merchant_id != merchant_id) {
    return fail(ErrorKind::forbidden, "voucher_of_another_merchant",
                "this voucher is for another merchant's offer", "code");
  }
  if (o.order.status != OrderStatus::held || now >= o.order.expires_at_us) {
    return fail(closed_error(o.order.status, "voucher"));
  }
  auto n = c.exec(
      "UPDATE market_orders SET status = 'redeemed', redeemed_at_us = ?, closed_at_us = ?, "
      "redeemed_store_id = ? WHERE id = ? AND status = 'held'",
      {now, now, store_id ? store::Param(*store_id) : store::Param(nullptr), o.order.id});
  if (!n) return fail(n.error());
  if (*n != 1) {
    return fail(ErrorKind::conflict, std::string(store::kRetryable), "the order changed meanwhile");
  }
  ledger::Transfer t;
  t.id = new_time_ordered_id();
  t.pending_id = o.order.hold_id;
  t.code = ledger::codes::market_order;
  t.flags = ledger::transfer_flags::post_pending;
  t.reference = "order:" + std::to_string(o.order.id);
  auto applied = ledger.create_transfers(c, std::span(&t, 1));
  if (!applied) return fail(applied.error());
  if (applied->statuses[0] == ledger::TransferStatus::pending_expired) {
    return fail(closed_error(OrderStatus::expired, "voucher"));
  }
  if (applied->statuses[0] != ledger::TransferStatus::ok) {
    return fail(ledger_refusal(applied->statuses[0]));
  }
  o.order.status = OrderStatus::redeemed;
  o.order.redeemed_at_us = now;
  o.order.redeemed_store_id = store_id;
  o.order.closed_at_us = now;
  return {};
}

}  // namespace

Result<Order> Market::cancel_order(std::int64_t member_id, std::int64_t order_id) {
  const std::int64_t now = clock_.now_us();
  std::optional<Order> out;
  auto r = transact([&](store::Connection& c) -> Result<void> {
    auto row = find_order(c, "o.id = ? AND o.member_id = ?", {order_id, member_id});
    if (!row) return fail(row.error());
    if (!*row) return fail(ErrorKind::not_found, "order_not_found", "no such order");
    OrderRow& o = **row;
    if (o.order.status != OrderStatus::held || now >= o.order.expires_at_us) {
      return fail(closed_error(o.order.status, "order"));
    }
    if (auto closed = close_held(c, ledger_, o, "cancelled", now); !closed) return closed;
    o.order.status = OrderStatus::cancelled;
    o.order.closed_at_us = now;
    out = o.order;
    return {};
  });
  if (!r) return fail(r.error());
  recent_offers_->clear();  // a unit is back
  return *out;
}

Result<Order> Market::redeem(std::int64_t merchant_id, std::string_view code,
                             std::optional<std::int64_t> store_id) {
  const std::int64_t now = clock_.now_us();
  const Error not_found{ErrorKind::not_found, "voucher_not_found", "no voucher has this code",
                        "code"};
  if (code.size() > 200) return fail(not_found);
  // The QR payload names the order and carries its secret; the short code is looked up.
  std::optional<std::int64_t> qr_order;
  std::vector<std::uint8_t> qr_secret;
  std::string short_code;
  if (code.starts_with(kQrPrefix)) {
    const std::string_view rest = code.substr(kQrPrefix.size());
    const auto colon = rest.find(':');
    std::int64_t id = 0;
    const auto [end, ec] =
        std::from_chars(rest.data(), rest.data() + std::min(colon, rest.size()), id);
    auto secret = colon == std::string_view::npos ? Result<std::vector<std::uint8_t>>{}
                                                  : from_hex(rest.substr(colon + 1));
    if (ec != std::errc{} || colon == std::string_view::npos || end != rest.data() + colon ||
        !secret || secret->size() != 16) {
      return fail(not_found);
    }
    qr_order = id;
    qr_secret = std::move(*secret);
  } else {
    short_code = normalise_code(code);
    if (short_code.size() != kCodeChars) return fail(not_found);
  }
  if (store_id) {
    auto merchant = get_merchant(merchant_id);
    if (!merchant) return fail(merchant.error());
    if (std::ranges::none_of(merchant->stores,
                             [&](const StoreView& s) { return s.id == *store_id; })) {
      return fail(ErrorKind::invalid, "store_not_found", "the merchant has no such store",
                  "store_id");
    }
  }
  std::optional<Order> out;
  auto r = transact([&](store::Connection& c) -> Result<void> {
    auto row = qr_order ? find_order(c, "o.id = ?", {*qr_order})
                        : find_order(c, "o.voucher_code = ?", {std::string_view(short_code)});
    if (!row) return fail(row.error());
    if (!*row || (qr_order && !constant_time_equal((*row)->secret, qr_secret))) {
      return fail(not_found);
    }
    if (auto done = write_off(c, ledger_, **row, merchant_id, store_id, now); !done) return done;
    out = (*row)->order;
    return {};
  });
  if (!r) return fail(r.error());
  return *out;
}

Result<Order> Market::fulfil(std::int64_t merchant_id, std::int64_t order_id) {
  const std::int64_t now = clock_.now_us();
  std::optional<Order> out;
  auto r = transact([&](store::Connection& c) -> Result<void> {
    auto row = find_order(c, "o.id = ? AND o.merchant_id = ?", {order_id, merchant_id});
    if (!row) return fail(row.error());
    if (!*row)
      return fail(ErrorKind::not_found, "order_not_found", "no such order of this merchant");
    if (!(*row)->order.delivery_address) {
      return conflict("not_a_physical_good",
                      "e-vouchers are written off with their code at the counter");
    }
    if (auto done = write_off(c, ledger_, **row, merchant_id, std::nullopt, now); !done) {
      return done;
    }
    out = (*row)->order;
    return {};
  });
  if (!r) return fail(r.error());
  return *out;
}

Result<std::int64_t> Market::cancel_held_orders(store::Connection& c, std::int64_t member_id,
                                                std::int64_t now_us) {
  // A member holds few orders at once (per-member limits), so one read of their ids is bounded.
  auto rows =
      c.query("SELECT id FROM market_orders WHERE member_id = ? AND status = 'held'", {member_id});
  if (!rows) return fail(rows.error());
  std::int64_t cancelled = 0;
  for (std::size_t i = 0; i < rows->size(); ++i) {
    auto row = find_order(c, "o.id = ? AND o.status = 'held'", {rows->i64(i, 0)});
    if (!row) return fail(row.error());
    if (!*row) continue;
    if (auto closed = close_held(c, ledger_, **row, "cancelled", now_us); !closed) {
      return fail(closed.error());
    }
    ++cancelled;
  }
  if (cancelled > 0) recent_offers_->clear();  // units are coming back (once the caller commits)
  return cancelled;
}

Result<std::int64_t> Market::expire_orders(std::int64_t now_us, std::size_t max) {
  std::int64_t expired = 0;
  while (static_cast<std::size_t>(expired) < max) {
    std::vector<std::int64_t> ids;
    {
      auto lease = store_.acquire();
      if (!lease) return fail(lease.error());
      auto rows = (*lease)->query(
          "SELECT id FROM market_orders WHERE status = 'held' AND expires_at_us <= ? ORDER BY "
          "expires_at_us LIMIT ?",
          {now_us, static_cast<std::int64_t>(
                       std::min<std::size_t>(500, max - static_cast<std::size_t>(expired)))});
      if (!rows) return fail(rows.error());
      for (std::size_t i = 0; i < rows->size(); ++i) ids.push_back(rows->i64(i, 0));
    }
    if (ids.empty()) break;
    for (const std::int64_t id : ids) {
      bool done = false;
      auto r = transact([&](store::Connection& c) -> Result<void> {
        done = false;
        auto row = find_order(c, "o.id = ? AND o.status = 'held'", {id});
        if (!row) return fail(row.error());
        if (!*row) return {};  // cancelled or written off meanwhile
        if (auto closed = close_held(c, ledger_, **row, "expired", now_us); !closed) return closed;
        done = true;
        return {};
      });
      if (!r) return fail(r.error());
      if (done) {
        ++expired;
        recent_offers_->clear();  // a unit is back
      }
    }
  }
  return expired;
}

}  // namespace tanpu::market
