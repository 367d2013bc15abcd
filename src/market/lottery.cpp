#include "market/lottery.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>

#include "core/assert.h"
#include "store/sql_text.h"

namespace tanpu::market {
namespace {

// lottery_lotteries: one row per lottery; next_draw is the number the next draw gets, taken with
// an UPDATE that locks the row, so draws of one lottery are numbered 1, 2, 3… without gaps even
// with concurrent writers and several server processes (a refused draw rolls its number back).
// lottery_prizes: the prizes in range order; stock is what is left (never below zero).
// lottery_draws: one row per draw, unique per (lottery, number) and per (member, idempotency key).
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE lottery_lotteries (
  id {{serial_pk}},
  kind TEXT NOT NULL CHECK (kind IN ('lottery', 'lucky_bag')),
  title TEXT NOT NULL,
  price_points BIGINT NOT NULL CHECK (price_points > 0),
  opens_at_us BIGINT NOT NULL,
  closes_at_us BIGINT NOT NULL,
  per_member_day_max BIGINT NOT NULL,
  per_member_total_max BIGINT NOT NULL,
  no_prize_ppm BIGINT NOT NULL,
  seed {{blob}} NOT NULL,
  seed_commitment TEXT NOT NULL,
  account_id BIGINT NOT NULL,
  next_draw BIGINT NOT NULL CHECK (next_draw >= 1),
  created_by BIGINT NOT NULL REFERENCES members (id),
  create_key TEXT,
  request_hash {{blob}} NOT NULL,
  created_at_us BIGINT NOT NULL,
  UNIQUE (created_by, create_key)
) {{update_heavy}};
CREATE TABLE lottery_prizes (
  lottery_id BIGINT NOT NULL REFERENCES lottery_lotteries (id),
  prize_no INTEGER NOT NULL,
  name TEXT NOT NULL,
  odds_ppm BIGINT NOT NULL CHECK (odds_ppm >= 0),
  stock_initial BIGINT NOT NULL,
  stock BIGINT NOT NULL CHECK (stock >= 0),
  PRIMARY KEY (lottery_id, prize_no)
) {{update_heavy}};
CREATE TABLE lottery_draws (
  id {{serial_pk}},
  lottery_id BIGINT NOT NULL REFERENCES lottery_lotteries (id),
  draw_no BIGINT NOT NULL,
  member_id BIGINT NOT NULL REFERENCES members (id),
  idempotency_key TEXT NOT NULL,
  request_hash {{blob}} NOT NULL,
  client_seed TEXT NOT NULL,
  ticket BIGINT NOT NULL CHECK (ticket >= 0 AND ticket < 1000000),
  range_prize_no INTEGER,
  prize_no INTEGER,
  reason TEXT CHECK (reason IN ('no_prize_range', 'out_of_stock')),
  price_points BIGINT NOT NULL,
  transfer_id {{blob}} NOT NULL,
  draw_day BIGINT NOT NULL,
  drawn_at_us BIGINT NOT NULL,
  UNIQUE (lottery_id, draw_no),
  UNIQUE (member_id, idempotency_key)
);
CREATE INDEX lottery_draws_member_day ON lottery_draws (lottery_id, member_id, draw_day);
CREATE INDEX lottery_draws_member ON lottery_draws (member_id, id);
)sql";

constexpr std::array kMigrations{
    store::Migration{"lottery", 1, "lotteries_prizes_draws", kSchemaV1},
};

constexpr std::string_view kMessagePrefix = "tanpu-lottery-v1|";
constexpr std::string_view kLotteryColumns =
    "id, kind, title, price_points, opens_at_us, closes_at_us, per_member_day_max, "
    "per_member_total_max, no_prize_ppm, seed, seed_commitment, account_id, next_draw, "
    "created_by, created_at_us, request_hash";
constexpr std::string_view kDrawSelect =
    "SELECT d.id, d.lottery_id, d.draw_no, d.member_id, d.client_seed, d.ticket, "
    "d.range_prize_no, d.prize_no, p.name, d.reason, d.price_points, d.transfer_id, "
    "d.drawn_at_us, d.request_hash FROM lottery_draws d LEFT JOIN lottery_prizes p ON "
    "p.lottery_id = d.lottery_id AND p.prize_no = d.prize_no WHERE ";

std::unexpected<Error> invalid(std::string code, std::string message, std::string field) {
  return fail(ErrorKind::invalid, std::move(code), std::move(message), std::move(field));
}

std::unexpected<Error> conflict(std::string code, std::string message, std::string field = {}) {
  return fail(ErrorKind::conflict, std::move(code), std::move(message), std::move(field));
}

std::unexpected<Error> lottery_not_found() {
  return fail(ErrorKind::not_found, "lottery_not_found", "no such lottery");
}

// The lottery with what only the server sees: the seed and the creation request's hash.
struct LotteryRow {
  Lottery view;
  std::vector<std::uint8_t> seed;
  std::vector<std::uint8_t> request_hash;
};

LotteryRow lottery_from_row(const store::Rows& rows, std::size_t r) {
  LotteryRow out;
  Lottery& l = out.view;
  l.id = rows.i64(r, 0);
  l.kind = parse_lottery_kind(rows.text(r, 1)).value_or(LotteryKind::lottery);
  l.title = std::string(rows.text(r, 2));
  l.price_points = rows.i64(r, 3);
  l.opens_at_us = rows.i64(r, 4);
  l.closes_at_us = rows.i64(r, 5);
  if (rows.i64(r, 6) > 0) l.per_member_day_max = rows.i64(r, 6);
  if (rows.i64(r, 7) > 0) l.per_member_total_max = rows.i64(r, 7);
  l.no_prize_ppm = rows.i64(r, 8);
  const auto seed = rows.blob(r, 9);
  out.seed.assign(seed.begin(), seed.end());
  l.seed_commitment = std::string(rows.text(r, 10));
  l.account_id = rows.i64(r, 11);
  l.draws = rows.i64(r, 12) - 1;
  l.created_by = rows.i64(r, 13);
  l.created_at_us = rows.i64(r, 14);
  const auto hash = rows.blob(r, 15);
  out.request_hash.assign(hash.begin(), hash.end());
  TANPU_ASSERT(out.seed.size() == kLotterySeedBytes);
  return out;
}

// Fills the prizes of lotteries (at most limits::page_size_max of them) from one query.
Result<void> load_prizes(store::Connection& c, std::span<LotteryRow> lotteries) {
  if (lotteries.empty()) return {};
  std::vector<store::Param> ids;
  for (const auto& l : lotteries) ids.emplace_back(l.view.id);
  auto rows = c.query(
      "SELECT lottery_id, prize_no, name, odds_ppm, stock_initial, stock FROM lottery_prizes "
      "WHERE lottery_id IN " +
          store::placeholder_list(ids.size()) + " ORDER BY lottery_id, prize_no",
      ids);
  if (!rows) return fail(rows.error());
  for (std::size_t r = 0; r < rows->size(); ++r) {
    auto owner = std::ranges::find_if(
        lotteries, [&](const LotteryRow& l) { return l.view.id == rows->i64(r, 0); });
    TANPU_ASSERT(owner != lotteries.end());
    owner->view.prizes.push_back(Prize{static_cast<std::int32_t>(rows->i64(r, 1)),
                                       std::string(rows->text(r, 2)), rows->i64(r, 3),
                                       rows->i64(r, 4), rows->i64(r, 5)});
  }
  return {};
}

Result<std::optional<LotteryRow>> load_lottery(store::Connection& c, std::string_view where,
                                               std::initializer_list<store::Param> params) {
  auto rows = c.query("SELECT " + std::string(kLotteryColumns) + " FROM lottery_lotteries WHERE " +
                          std::string(where),
                      params);
  if (!rows) return fail(rows.error());
  if (rows->empty()) return std::optional<LotteryRow>();
  LotteryRow row = lottery_from_row(*rows, 0);
  if (auto p = load_prizes(c, std::span(&row, 1)); !p) return fail(p.error());
  return std::optional<LotteryRow>(std::move(row));
}

// The public view: the seed only once the window has closed.
Lottery public_view(LotteryRow row, std::int64_t now_us) {
  if (now_us >= row.view.closes_at_us) row.view.seed = to_hex(row.seed);
  return std::move(row.view);
}

std::optional<NoPrizeReason> parse_reason(std::string_view text) {
  if (text == "no_prize_range") return NoPrizeReason::no_prize_range;
  if (text == "out_of_stock") return NoPrizeReason::out_of_stock;
  return std::nullopt;
}

struct DrawRow {
  Draw draw;
  std::vector<std::uint8_t> request_hash;
};

DrawRow draw_from_row(const store::Rows& rows, std::size_t r) {
  DrawRow out;
  Draw& d = out.draw;
  d.id = rows.i64(r, 0);
  d.lottery_id = rows.i64(r, 1);
  d.draw_no = rows.i64(r, 2);
  d.member_id = rows.i64(r, 3);
  d.client_seed = std::string(rows.text(r, 4));
  d.ticket = rows.i64(r, 5);
  if (!rows.is_null(r, 6)) d.range_prize_no = static_cast<std::int32_t>(rows.i64(r, 6));
  if (!rows.is_null(r, 7)) d.prize_no = static_cast<std::int32_t>(rows.i64(r, 7));
  if (!rows.is_null(r, 8)) d.prize_name = std::string(rows.text(r, 8));
  if (!rows.is_null(r, 9)) d.reason = parse_reason(rows.text(r, 9)).value_or(NoPrizeReason::none);
  d.price_points = rows.i64(r, 10);
  d.transfer_id = Id128::from_bytes(rows.blob(r, 11));
  d.drawn_at_us = rows.i64(r, 12);
  const auto hash = rows.blob(r, 13);
  out.request_hash.assign(hash.begin(), hash.end());
  // Paired with the write: a draw either won a prize or says why not.
  TANPU_ASSERT(d.prize_no.has_value() == (d.reason == NoPrizeReason::none));
  return out;
}

Result<std::optional<DrawRow>> find_draw(store::Connection& c, std::string_view where,
                                         std::initializer_list<store::Param> params) {
  auto rows = c.query(std::string(kDrawSelect) + std::string(where), params);
  if (!rows) return fail(rows.error());
  if (rows->empty()) return std::optional<DrawRow>();
  return std::optional<DrawRow>(draw_from_row(*rows, 0));
}

// A length-prefixed field, so that no two different inputs hash the same.
void hash_field(Sha256& h, std::string_view text) {
  h.update(std::to_string(text.size()) + ":");
  h.update(text);
  h.update("\n");
}

Sha256Digest creation_hash(const LotteryInput& in) {
  Sha256 h;
  hash_field(h, "tanpu-lottery-create-v1");
  hash_field(h, to_string(in.kind));
  hash_field(h, in.title);
  for (const std::int64_t v :
       {in.price_points, in.opens_at_us, in.closes_at_us, in.per_member_day_max.value_or(0),
        in.per_member_total_max.value_or(0), in.no_prize_ppm}) {
    hash_field(h, std::to_string(v));
  }
  for (const auto& p : in.prizes) {
    hash_field(h, p.name);
    hash_field(h, std::to_string(p.stock));
    hash_field(h, std::to_string(p.odds_ppm));
  }
  return h.finish();
}

Sha256Digest draw_hash(const DrawInput& in) {
  Sha256 h;
  hash_field(h, "tanpu-lottery-draw-v1");
  hash_field(h, std::to_string(in.lottery_id));
  hash_field(h, in.client_seed);
  return h.finish();
}

Result<std::int64_t> parse_cursor(std::string_view cursor) {
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(cursor.data(), cursor.data() + cursor.size(), id);
  if (ec != std::errc() || end != cursor.data() + cursor.size() || id <= 0) {
    return invalid("invalid_cursor", "the cursor is not one this server gave", "cursor");
  }
  return id;
}

Result<void> validate_window(const LotteryInput& in, std::int64_t now_us) {
  if (in.opens_at_us <= now_us) {
    return invalid("opens_at_in_past", "the draw window must open in the future", "opens_at");
  }
  if (in.opens_at_us - now_us > kLotteryOpensAheadMaxUs) {
    return invalid("opens_at_too_far", "the draw window must open within 366 days", "opens_at");
  }
  if (in.closes_at_us <= in.opens_at_us) {
    return invalid("closes_at_not_after_opens_at", "the window must close after it opens",
                   "closes_at");
  }
  if (in.closes_at_us - in.opens_at_us > kLotteryWindowMaxUs) {
    return invalid("window_too_long", "the draw window may last at most 366 days", "closes_at");
  }
  return {};
}

Result<void> validate_limits(const LotteryInput& in) {
  if (in.per_member_day_max &&
      (*in.per_member_day_max < 1 || *in.per_member_day_max > kDrawsPerMemberDayMax)) {
    return invalid("invalid_draw_limit", "the daily draw limit must be 1 to 10000",
                   "per_member_day_max");
  }
  if (in.per_member_total_max &&
      (*in.per_member_total_max < 1 || *in.per_member_total_max > kDrawsPerMemberTotalMax)) {
    return invalid("invalid_draw_limit", "the total draw limit must be 1 to 1000000",
                   "per_member_total_max");
  }
  return {};
}

Result<void> validate_prizes(const LotteryInput& in) {
  if (in.prizes.empty()) return invalid("prizes_required", "a lottery needs a prize", "prizes");
  if (in.prizes.size() > kPrizesMax) {
    return invalid("too_many_prizes", "a lottery has at most 32 prizes", "prizes");
  }
  // Each term is checked to be within 0..kPpm first, so the sum cannot overflow.
  std::int64_t sum_ppm = 0;
  for (std::size_t i = 0; i < in.prizes.size(); ++i) {
    const PrizeInput& p = in.prizes[i];
    const std::string at = "prizes[" + std::to_string(i) + "].";
    if (p.name.empty()) return invalid("prize_name_required", "a prize needs a name", at + "name");
    if (p.name.size() > kPrizeNameBytesMax) {
      return invalid("prize_name_too_long", "a prize name has at most 120 bytes", at + "name");
    }
    if (p.stock < 0 || p.stock > kPrizeStockMax) {
      return invalid("invalid_stock", "a prize's stock must be 0 to 10000000", at + "stock");
    }
    if (p.odds_ppm < 0 || p.odds_ppm > kPpm) {
      return invalid("invalid_odds", "odds are 0 to 1000000 parts per million", at + "odds_ppm");
    }
    sum_ppm += p.odds_ppm;
  }
  if (in.no_prize_ppm < 0 || in.no_prize_ppm > kPpm) {
    return invalid("invalid_no_prize_ppm", "no_prize_ppm is 0 to 1000000 parts per million",
                   "no_prize_ppm");
  }
  if (sum_ppm + in.no_prize_ppm != kPpm) {
    return invalid("odds_must_sum_to_one",
                   "the prizes' odds_ppm and no_prize_ppm must sum to exactly 1000000 (they sum "
                   "to " +
                       std::to_string(sum_ppm + in.no_prize_ppm) + ")",
                   "prizes");
  }
  if (in.kind == LotteryKind::lucky_bag && in.no_prize_ppm != 0) {
    return invalid("lucky_bag_must_always_win", "a lucky bag has no_prize_ppm 0", "no_prize_ppm");
  }
  return {};
}

Error ledger_refusal(ledger::TransferStatus s) {
  if (s == ledger::TransferStatus::exceeds_credits) {
    return Error{ErrorKind::conflict,
                 "insufficient_points",
                 "your points account does not hold enough available points for this draw",
                 {}};
  }
  return Error{ErrorKind::internal,
               "ledger_refused",
               "the ledger refused the draw's transfer: " + std::string(ledger::to_string(s)),
               {}};
}

// Refuses the draw when the member has reached limit draws (of draw_day, or in total).
Result<void> check_limit(store::Connection& c, std::int64_t lottery_id, std::int64_t member_id,
                         std::optional<std::int64_t> draw_day, std::int64_t limit) {
  // Counting at most `limit` rows keeps the statement's work bounded by the limit.
  const std::string filter = draw_day ? " AND draw_day = ?" : "";
  const std::string sql =
      "SELECT COUNT(*) FROM (SELECT 1 FROM lottery_draws WHERE lottery_id = ? AND member_id = ?" +
      filter + " LIMIT ?) AS t";
  auto rows = draw_day ? c.query(sql, {lottery_id, member_id, *draw_day, limit})
                       : c.query(sql, {lottery_id, member_id, limit});
  if (!rows) return fail(rows.error());
  if (rows->i64(0, 0) < limit) return {};
  return draw_day ? conflict("draw_limit_reached",
                             "you have drawn this lottery " + std::to_string(limit) +
                                 " times today, its daily limit",
                             "per_member_day_max")
                  : conflict("draw_limit_reached",
                             "you have drawn this lottery " + std::to_string(limit) +
                                 " times, its limit per member",
                             "per_member_total_max");
}

// Writes the lottery, its ledger account and its prizes inside the caller's transaction.
Result<std::int64_t> insert_lottery(store::Connection& c, ledger::Ledger& ledger,
                                    const LotteryInput& input, std::span<const std::uint8_t> seed,
                                    std::string_view commitment, std::span<const std::uint8_t> hash,
                                    std::int64_t operator_id, std::int64_t now) {
  auto row = c.query(
      "INSERT INTO lottery_lotteries (kind, title, price_points, opens_at_us, closes_at_us, "
      "per_member_day_max, per_member_total_max, no_prize_ppm, seed, seed_commitment, "
      "account_id, next_draw, created_by, create_key, request_hash, created_at_us) VALUES (?, "
      "?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 1, ?, ?, ?, ?) RETURNING id",
      {to_string(input.kind), std::string_view(input.title), input.price_points, input.opens_at_us,
       input.closes_at_us, input.per_member_day_max.value_or(0),
       input.per_member_total_max.value_or(0), input.no_prize_ppm, seed, commitment, operator_id,
       !input.idempotency_key.empty() ? store::Param(std::string_view(input.idempotency_key))
                                      : store::Param(nullptr),
       hash, now});
  if (!row) return fail(row.error());
  const std::int64_t lottery = row->i64(0, 0);
  // Takes the prices; nothing debits it in this module, so it needs no balance flag.
  const ledger::NewAccount account{ledger::Currency::points, "lottery", std::to_string(lottery), 0};
  auto accounts = ledger.create_accounts(c, std::span(&account, 1));
  if (!accounts) return fail(accounts.error());
  if (auto u = c.exec("UPDATE lottery_lotteries SET account_id = ? WHERE id = ?",
                      {accounts->front(), lottery});
      !u) {
    return fail(u.error());
  }
  for (std::size_t i = 0; i < input.prizes.size(); ++i) {
    const PrizeInput& p = input.prizes[i];
    auto ins = c.exec(
        "INSERT INTO lottery_prizes (lottery_id, prize_no, name, odds_ppm, stock_initial, "
        "stock) VALUES (?, ?, ?, ?, ?, ?)",
        {lottery, static_cast<std::int64_t>(i + 1), std::string_view(p.name), p.odds_ppm, p.stock,
         p.stock});
    if (!ins) return fail(ins.error());
  }
  return lottery;
}

}  // namespace

std::span<const store::Migration> lottery_migrations() {
  return kMigrations;
}

std::string_view to_string(LotteryKind kind) {
  return kind == LotteryKind::lucky_bag ? "lucky_bag" : "lottery";
}

std::optional<LotteryKind> parse_lottery_kind(std::string_view text) {
  if (text == "lottery") return LotteryKind::lottery;
  if (text == "lucky_bag") return LotteryKind::lucky_bag;
  return std::nullopt;
}

std::string_view to_string(NoPrizeReason reason) {
  switch (reason) {
    case NoPrizeReason::none:
      return "none";
    case NoPrizeReason::no_prize_range:
      return "no_prize_range";
    case NoPrizeReason::out_of_stock:
      return "out_of_stock";
  }
  return "none";
}

std::string_view Lottery::status(std::int64_t now_us) const {
  if (now_us < opens_at_us) return "scheduled";
  if (now_us < closes_at_us) return "open";
  return "closed";
}

Lotteries::Lotteries(store::Store& store, ledger::Ledger& ledger, members::Members& members,
                     const Clock& clock, LotteryOptions options)
    : store_(store), ledger_(ledger), members_(members), clock_(clock), options_(options) {}

std::string Lotteries::draw_message(std::int64_t lottery_id, std::int64_t draw_no,
                                    std::int64_t member_id, std::string_view client_seed) {
  std::string m(kMessagePrefix);
  m += std::to_string(lottery_id);
  m += '|';
  m += std::to_string(draw_no);
  m += '|';
  m += std::to_string(member_id);
  m += '|';
  m += client_seed;
  return m;
}

std::int64_t Lotteries::draw_ticket(std::span<const std::uint8_t> seed, std::int64_t lottery_id,
                                    std::int64_t draw_no, std::int64_t member_id,
                                    std::string_view client_seed) {
  const Sha256Digest mac =
      hmac_sha256(seed, draw_message(lottery_id, draw_no, member_id, client_seed));
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8; ++i) value = (value << 8U) | mac[i];
  // The modulo's bias is 2^64 mod 10^6 values in 2^64: below 10^-13, far under any odds.
  return static_cast<std::int64_t>(value % static_cast<std::uint64_t>(kPpm));
}

std::optional<std::size_t> Lotteries::prize_for_ticket(std::int64_t ticket,
                                                       std::span<const std::int64_t> odds_ppm) {
  TANPU_ASSERT(ticket >= 0 && ticket < kPpm);
  std::int64_t from = 0;
  for (std::size_t i = 0; i < odds_ppm.size(); ++i) {
    TANPU_ASSERT(odds_ppm[i] >= 0);
    from += odds_ppm[i];
    if (ticket < from) return i;
  }
  return std::nullopt;
}

Result<void> Lotteries::check_client_seed(std::string_view client_seed) {
  if (client_seed.size() > kClientSeedBytesMax) {
    return invalid("client_seed_too_long", "client_seed has at most 64 characters", "client_seed");
  }
  const bool printable =
      std::ranges::all_of(client_seed, [](char ch) { return ch >= 0x20 && ch <= 0x7E; });
  if (!printable) {
    return invalid("invalid_client_seed",
                   "client_seed may hold only printable ASCII characters (space to ~)",
                   "client_seed");
  }
  return {};
}

Result<void> Lotteries::validate(const LotteryInput& in, std::int64_t now_us) {
  if (in.title.empty()) return invalid("title_required", "a lottery needs a title", "title");
  if (in.title.size() > kLotteryTitleBytesMax) {
    return invalid("title_too_long", "a title has at most 120 bytes", "title");
  }
  if (in.price_points <= 0) {
    return invalid("price_must_be_positive", "a draw costs at least 1 point", "price_points");
  }
  if (in.price_points > kLotteryPriceMax) {
    return invalid("price_too_large", "a draw costs at most 10000000 points", "price_points");
  }
  if (auto r = validate_window(in, now_us); !r) return r;
  if (auto r = validate_limits(in); !r) return r;
  return validate_prizes(in);
}

Result<Lottery> Lotteries::create(const LotteryInput& input, std::int64_t operator_id) {
  const std::int64_t now = clock_.now_us();
  const Sha256Digest hash = creation_hash(input);
  const bool keyed = !input.idempotency_key.empty();
  auto replay = [&](store::Connection& c) -> Result<std::optional<Lottery>> {
    auto row = load_lottery(c, "created_by = ? AND create_key = ?",
                            {operator_id, std::string_view(input.idempotency_key)});
    if (!row) return fail(row.error());
    if (!*row) return std::optional<Lottery>();
    if (!constant_time_equal((*row)->request_hash, hash)) {
      return conflict("idempotency_conflict",
                      "this Idempotency-Key was used to create another lottery", "Idempotency-Key");
    }
    Lottery l = public_view(std::move(**row), now);
    l.replayed = true;
    return std::optional<Lottery>(std::move(l));
  };
  if (keyed) {
    auto lease = store_.acquire();
    if (!lease) return fail(lease.error());
    auto first = replay(**lease);
    if (!first) return fail(first.error());
    if (*first) return std::move(**first);
  }
  if (auto r = validate(input, now); !r) return fail(r.error());

  std::array<std::uint8_t, kLotterySeedBytes> seed{};
  random_bytes(seed);
  const std::string commitment = to_hex(sha256(seed));
  auto id = store_.write_value<std::int64_t>([&](store::Connection& c) {
    return insert_lottery(c, ledger_, input, seed, commitment, hash, operator_id, now);
  });
  if (!id && keyed && id.error().code == store::kUniqueViolation) {
    // The same key raced in from a concurrent request.
    auto lease = store_.acquire();
    if (!lease) return fail(lease.error());
    auto first = replay(**lease);
    if (!first) return fail(first.error());
    if (*first) return std::move(**first);
  }
  if (!id) return fail(id.error());
  return get(*id);
}

Result<Lottery> Lotteries::get(std::int64_t lottery_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto row = load_lottery(**lease, "id = ?", {lottery_id});
  if (!row) return fail(row.error());
  if (!*row) return lottery_not_found();
  return public_view(std::move(**row), clock_.now_us());
}

Result<LotteryPage> Lotteries::list(std::string_view cursor, std::size_t limit) {
  TANPU_ASSERT(limit >= 1);
  std::int64_t before = std::numeric_limits<std::int64_t>::max();
  if (!cursor.empty()) {
    auto c = parse_cursor(cursor);
    if (!c) return fail(c.error());
    before = *c;
  }
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto rows = (*lease)->query("SELECT " + std::string(kLotteryColumns) +
                                  " FROM lottery_lotteries WHERE id < ? ORDER BY id DESC LIMIT ?",
                              {before, static_cast<std::int64_t>(limit + 1)});
  if (!rows) return fail(rows.error());
  std::vector<LotteryRow> found;
  for (std::size_t r = 0; r < rows->size() && r < limit; ++r) {
    found.push_back(lottery_from_row(*rows, r));
  }
  if (auto p = load_prizes(**lease, found); !p) return fail(p.error());
  LotteryPage page;
  const std::int64_t now = clock_.now_us();
  for (auto& l : found) page.lotteries.push_back(public_view(std::move(l), now));
  if (rows->size() > limit) page.next_cursor = std::to_string(page.lotteries.back().id);
  return page;
}

Result<Draw> Lotteries::draw(const DrawInput& input) {
  if (auto r = check_client_seed(input.client_seed); !r) return fail(r.error());
  TANPU_ASSERT(!input.idempotency_key.empty());
  const Sha256Digest hash = draw_hash(input);
  auto replay = [&]() -> Result<std::optional<Draw>> {
    auto lease = store_.acquire();
    if (!lease) return fail(lease.error());
    auto row = find_draw(**lease, "d.member_id = ? AND d.idempotency_key = ?",
                         {input.member_id, std::string_view(input.idempotency_key)});
    if (!row) return fail(row.error());
    if (!*row) return std::optional<Draw>();
    if (!constant_time_equal((*row)->request_hash, hash)) {
      return conflict("idempotency_conflict",
                      "this Idempotency-Key was used for another draw request", "Idempotency-Key");
    }
    Draw d = std::move((*row)->draw);
    d.replayed = true;
    return std::optional<Draw>(std::move(d));
  };
  if (auto first = replay(); !first || *first) {
    if (!first) return fail(first.error());
    return std::move(**first);
  }

  const std::int64_t now = clock_.now_us();
  const std::int64_t day = local_day(now, options_.utc_offset_minutes);
  std::optional<Draw> made;
  auto done = store_.write([&](store::Connection& c) -> Result<void> {
    made.reset();
    auto d = draw_in(c, input, hash, now, day);
    if (!d) return fail(d.error());
    made = std::move(*d);
    return {};
  });
  if (!done && done.error().code == store::kUniqueViolation) {
    // The same key raced in from a concurrent request: answer what it drew.
    auto first = replay();
    if (!first) return fail(first.error());
    if (*first) return std::move(**first);
  }
  if (!done) return fail(done.error());
  TANPU_ASSERT(made.has_value());
  return std::move(*made);
}

Result<Draw> Lotteries::draw_in(store::Connection& c, const DrawInput& input,
                                std::span<const std::uint8_t> request_hash, std::int64_t now,
                                std::int64_t day) {
  auto found = load_lottery(c, "id = ?", {input.lottery_id});
  if (!found) return fail(found.error());
  if (!*found) return lottery_not_found();
  const LotteryRow& lottery = **found;
  const Lottery& l = lottery.view;
  if (now < l.opens_at_us) {
    return conflict("lottery_not_open", "the lottery opens at its opens_at; draw then");
  }
  if (now >= l.closes_at_us) return conflict("lottery_closed", "the lottery has closed");
  // Locks the lottery's row until commit: the draws of one lottery are serialised from here, so
  // the limits below count committed draws and the numbers have no gaps.
  auto next = c.query(
      "UPDATE lottery_lotteries SET next_draw = next_draw + 1 WHERE id = ? RETURNING next_draw",
      {l.id});
  if (!next) return fail(next.error());
  TANPU_ASSERT(next->size() == 1);
  const std::int64_t draw_no = next->i64(0, 0) - 1;
  TANPU_ASSERT(draw_no >= 1);
  if (l.per_member_day_max) {
    auto r = check_limit(c, l.id, input.member_id, day, *l.per_member_day_max);
    if (!r) return fail(r.error());
  }
  if (l.per_member_total_max) {
    auto r = check_limit(c, l.id, input.member_id, std::nullopt, *l.per_member_total_max);
    if (!r) return fail(r.error());
  }
  if (l.kind == LotteryKind::lucky_bag) {
    auto left =
        c.query("SELECT 1 FROM lottery_prizes WHERE lottery_id = ? AND stock > 0 LIMIT 1", {l.id});
    if (!left) return fail(left.error());
    if (left->empty()) return conflict("lucky_bag_sold_out", "every prize of this bag is gone");
  }
  auto charged = charge(c, l, input.member_id, draw_no);
  if (!charged) return fail(charged.error());

  Draw d;
  d.lottery_id = l.id;
  d.draw_no = draw_no;
  d.member_id = input.member_id;
  d.client_seed = input.client_seed;
  d.ticket = draw_ticket(lottery.seed, l.id, draw_no, input.member_id, input.client_seed);
  d.price_points = l.price_points;
  d.transfer_id = *charged;
  d.drawn_at_us = now;
  if (auto r = award(c, l, d); !r) return fail(r.error());
  const auto transfer = d.transfer_id.to_bytes();
  const std::string_view reason = d.reason == NoPrizeReason::none ? "" : to_string(d.reason);
  auto id = c.query(
      "INSERT INTO lottery_draws (lottery_id, draw_no, member_id, idempotency_key, request_hash, "
      "client_seed, ticket, range_prize_no, prize_no, reason, price_points, transfer_id, "
      "draw_day, drawn_at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
      {l.id, draw_no, input.member_id, std::string_view(input.idempotency_key), request_hash,
       std::string_view(d.client_seed), d.ticket, store::nullable(d.range_prize_no),
       store::nullable(d.prize_no), reason.empty() ? store::Param(nullptr) : store::Param(reason),
       d.price_points, std::span<const std::uint8_t>(transfer), day, now});
  if (!id) return fail(id.error());
  d.id = id->i64(0, 0);
  return d;
}

// Takes the price: one single-phase transfer from the member to the lottery's account.
Result<Id128> Lotteries::charge(store::Connection& c, const Lottery& l, std::int64_t member_id,
                                std::int64_t draw_no) {
  const std::array member_ids{member_id};
  auto accounts = members_.ledger_accounts(c, member_ids);
  if (!accounts) return fail(accounts.error());
  const auto account = accounts->find(member_id);
  if (account == accounts->end()) {
    return fail(ErrorKind::not_found, "member_not_found", "no such member");
  }
  ledger::Transfer t;
  t.id = new_time_ordered_id();
  t.debit_account_id = account->second.points_account_id;
  t.credit_account_id = l.account_id;
  t.amount = l.price_points;
  t.code = ledger::codes::lottery_entry;
  t.reference = "lottery:" + std::to_string(l.id) + ":" + std::to_string(draw_no);
  auto applied = ledger_.create_transfers(c, std::span(&t, 1));
  if (!applied) return fail(applied.error());
  TANPU_ASSERT(applied->statuses.size() == 1);
  if (applied->statuses[0] != ledger::TransferStatus::ok) {
    return fail(ledger_refusal(applied->statuses[0]));
  }
  return t.id;
}

// Picks the prize of d.ticket and takes one unit of its stock, if any is left.
Result<void> Lotteries::award(store::Connection& c, const Lottery& l, Draw& d) {
  std::vector<std::int64_t> odds;
  odds.reserve(l.prizes.size());
  for (const auto& p : l.prizes) odds.push_back(p.odds_ppm);
  const auto index = prize_for_ticket(d.ticket, odds);
  if (!index) {
    d.reason = NoPrizeReason::no_prize_range;
    return {};
  }
  const Prize& prize = l.prizes[*index];
  d.range_prize_no = prize.prize_no;
  // The WHERE makes the decrement and the check one step: stock never goes below zero, whatever
  // runs concurrently.
  auto taken = c.exec(
      "UPDATE lottery_prizes SET stock = stock - 1 WHERE lottery_id = ? AND prize_no = ? AND "
      "stock > 0",
      {l.id, std::int64_t{prize.prize_no}});
  if (!taken) return fail(taken.error());
  if (*taken == 0) {
    d.reason = NoPrizeReason::out_of_stock;
    return {};
  }
  TANPU_ASSERT(*taken == 1);
  d.prize_no = prize.prize_no;
  d.prize_name = prize.name;
  return {};
}

Result<DrawPage> Lotteries::member_draws(std::int64_t member_id, std::int64_t lottery_id,
                                         std::string_view cursor, std::size_t limit) {
  TANPU_ASSERT(limit >= 1);
  std::int64_t before = std::numeric_limits<std::int64_t>::max();
  if (!cursor.empty()) {
    auto c = parse_cursor(cursor);
    if (!c) return fail(c.error());
    before = *c;
  }
  const auto fetch = static_cast<std::int64_t>(limit + 1);
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto rows = lottery_id > 0
                  ? (*lease)->query(std::string(kDrawSelect) +
                                        "d.member_id = ? AND d.lottery_id = ? AND d.id < ? ORDER "
                                        "BY d.id DESC LIMIT ?",
                                    {member_id, lottery_id, before, fetch})
                  : (*lease)->query(std::string(kDrawSelect) +
                                        "d.member_id = ? AND d.id < ? ORDER BY d.id DESC LIMIT ?",
                                    {member_id, before, fetch});
  if (!rows) return fail(rows.error());
  DrawPage page;
  for (std::size_t r = 0; r < rows->size() && r < limit; ++r) {
    page.draws.push_back(draw_from_row(*rows, r).draw);
  }
  if (rows->size() > limit) page.next_cursor = std::to_string(page.draws.back().id);
  return page;
}

Result<Verification> Lotteries::verify(std::int64_t member_id, std::int64_t lottery_id,
                                       std::int64_t draw_no, bool any_member) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto found = load_lottery(**lease, "id = ?", {lottery_id});
  if (!found) return fail(found.error());
  if (!*found) return lottery_not_found();
  auto row = find_draw(**lease, "d.lottery_id = ? AND d.draw_no = ?", {lottery_id, draw_no});
  if (!row) return fail(row.error());
  if (!*row || (!any_member && (*row)->draw.member_id != member_id)) {
    return fail(ErrorKind::not_found, "draw_not_found", "no such draw of yours in this lottery");
  }
  const LotteryRow& lottery = **found;
  Verification v;
  v.draw = std::move((*row)->draw);
  v.message = draw_message(lottery_id, draw_no, v.draw.member_id, v.draw.client_seed);
  std::vector<std::int64_t> odds;
  std::int64_t from = 0;
  for (const auto& p : lottery.view.prizes) {
    v.ranges.push_back(TicketRange{p.prize_no, from, from + p.odds_ppm});
    from += p.odds_ppm;
    odds.push_back(p.odds_ppm);
  }
  v.ranges.push_back(TicketRange{std::nullopt, from, kPpm});
  v.seed_commitment = lottery.view.seed_commitment;
  v.revealed = clock_.now_us() >= lottery.view.closes_at_us;
  if (!v.revealed) return v;
  v.seed = to_hex(lottery.seed);
  v.commitment_matches = to_hex(sha256(lottery.seed)) == v.seed_commitment;
  v.recomputed_ticket =
      draw_ticket(lottery.seed, lottery_id, draw_no, v.draw.member_id, v.draw.client_seed);
  v.ticket_matches = *v.recomputed_ticket == v.draw.ticket;
  const auto index = prize_for_ticket(*v.recomputed_ticket, odds);
  const std::optional<std::int32_t> range =
      index ? std::optional<std::int32_t>(lottery.view.prizes[*index].prize_no) : std::nullopt;
  v.range_matches = range == v.draw.range_prize_no;
  return v;
}

}  // namespace tanpu::market
