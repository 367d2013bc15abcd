// Provably fair lotteries and lucky bags (architecture.md §7). An operator creates a lottery with a
// draw window, a points price per draw and prizes with stock and odds in parts per million. At
// creation the server draws a 32-byte secret seed and publishes only its SHA-256 (the commitment);
// after the window closes it reveals the seed, so anyone can recompute every ticket:
//   ticket = BE64(HMAC-SHA256(seed, "tanpu-lottery-v1|<lottery>|<draw_no>|<member>|<client_seed>")
//            [0..8)) mod 1,000,000
// and check which prize range it falls in. A draw takes the price with one ledger transfer from the
// member to the lottery's own points account, the next draw number and, if the ticket lands in a
// prize's range and that prize has stock left, one unit of it: all in one write transaction, so a
// refused draw changes nothing. docs/lottery.md is the guide, with a worked example.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/crypto.h"
#include "core/id.h"
#include "core/result.h"
#include "core/time.h"
#include "ledger/ledger.h"
#include "members/members.h"
#include "store/migrate.h"
#include "store/store.h"

namespace tanpu::market {

// The lotteries' tables (module "lottery", prefix lottery_). They reference the ledger's and the
// members' tables, so they run after those modules' migrations.
std::span<const store::Migration> lottery_migrations();

inline constexpr std::int64_t kPpm = 1'000'000;  // odds are parts per million of this
inline constexpr std::size_t kLotteryTitleBytesMax = 120;
inline constexpr std::size_t kPrizeNameBytesMax = 120;
inline constexpr std::size_t kPrizesMax = 32;
inline constexpr std::size_t kClientSeedBytesMax = 64;
inline constexpr std::size_t kLotterySeedBytes = 32;
inline constexpr std::int64_t kLotteryPriceMax = 10'000'000;        // points per draw
inline constexpr std::int64_t kPrizeStockMax = 10'000'000;          // units per prize
inline constexpr std::int64_t kDrawsPerMemberDayMax = 10'000;       // the largest daily limit
inline constexpr std::int64_t kDrawsPerMemberTotalMax = 1'000'000;  // the largest total limit
inline constexpr std::int64_t kLotteryWindowMaxUs = 366LL * 86'400'000'000;
inline constexpr std::int64_t kLotteryOpensAheadMaxUs = 366LL * 86'400'000'000;

// lottery: a draw may win nothing (no_prize_ppm ≥ 0). lucky_bag: every draw wins one of the prizes
// while they last (no_prize_ppm must be 0), and draws are refused once every prize is gone.
enum class LotteryKind : std::uint8_t { lottery, lucky_bag };
std::string_view to_string(LotteryKind kind);
std::optional<LotteryKind> parse_lottery_kind(std::string_view text);

struct PrizeInput {
  std::string name;           // 1..kPrizeNameBytesMax bytes
  std::int64_t stock = 0;     // 0..kPrizeStockMax units
  std::int64_t odds_ppm = 0;  // 0..kPpm: the width of this prize's ticket range
};

struct LotteryInput {
  LotteryKind kind = LotteryKind::lottery;
  std::string title;              // 1..kLotteryTitleBytesMax bytes
  std::int64_t price_points = 0;  // 1..kLotteryPriceMax
  std::int64_t opens_at_us = 0;   // after now, at most kLotteryOpensAheadMaxUs ahead
  std::int64_t closes_at_us = 0;  // after opens_at_us, at most kLotteryWindowMaxUs after it
  std::optional<std::int64_t> per_member_day_max;    // 1..kDrawsPerMemberDayMax; none: no limit
  std::optional<std::int64_t> per_member_total_max;  // 1..kDrawsPerMemberTotalMax; none: no limit
  std::int64_t no_prize_ppm = 0;                     // the prizes' odds + this == kPpm
  std::vector<PrizeInput> prizes;                    // 1..kPrizesMax, ranges in this order
  // Optional: the same key and input from the same operator answers the first lottery again.
  std::string idempotency_key;
};

struct Prize {
  std::int32_t prize_no = 0;  // 1-based position in the lottery's list
  std::string name;
  std::int64_t odds_ppm = 0;
  std::int64_t stock_initial = 0;
  std::int64_t stock_remaining = 0;
};

// A lottery as everyone may see it. The seed is present only once the window has closed.
struct Lottery {
  std::int64_t id = 0;
  LotteryKind kind = LotteryKind::lottery;
  std::string title;
  std::int64_t price_points = 0;
  std::int64_t opens_at_us = 0;
  std::int64_t closes_at_us = 0;
  std::optional<std::int64_t> per_member_day_max;
  std::optional<std::int64_t> per_member_total_max;
  std::int64_t no_prize_ppm = 0;
  std::vector<Prize> prizes;
  std::int64_t draws = 0;           // draws so far
  std::string seed_commitment;      // lower-case hex SHA-256 of the seed
  std::optional<std::string> seed;  // lower-case hex, after closes_at_us only
  std::int64_t account_id = 0;      // the ledger points account that takes the prices
  std::int64_t created_by = 0;
  std::int64_t created_at_us = 0;
  bool replayed = false;  // create(): the same idempotency key answered the first lottery

  // "scheduled", "open" or "closed" at now_us.
  std::string_view status(std::int64_t now_us) const;
};

struct LotteryPage {
  std::vector<Lottery> lotteries;  // newest first
  std::string next_cursor;         // empty when there is nothing more
};

// Why a draw won nothing.
enum class NoPrizeReason : std::uint8_t { none, no_prize_range, out_of_stock };
std::string_view to_string(NoPrizeReason reason);

struct DrawInput {
  std::int64_t lottery_id = 0;
  std::int64_t member_id = 0;
  std::string idempotency_key;  // required: 1..64 of [A-Za-z0-9_.:-] (checked by the HTTP layer)
  std::string client_seed;      // 0..kClientSeedBytesMax printable ASCII bytes
};

struct Draw {
  std::int64_t id = 0;  // row id (cursor order)
  std::int64_t lottery_id = 0;
  std::int64_t draw_no = 0;  // 1, 2, 3… per lottery
  std::int64_t member_id = 0;
  std::string client_seed;
  std::int64_t ticket = 0;                     // 0..kPpm-1
  std::optional<std::int32_t> range_prize_no;  // the prize whose range the ticket fell in
  std::optional<std::int32_t> prize_no;        // the prize won; none: no prize
  std::string prize_name;                      // empty with no prize
  NoPrizeReason reason = NoPrizeReason::none;  // none iff a prize was won
  std::int64_t price_points = 0;               // what the draw cost
  Id128 transfer_id;                           // the ledger transfer that took the price
  std::int64_t drawn_at_us = 0;
  bool replayed = false;  // draw(): the same idempotency key answered the first draw
};

struct DrawPage {
  std::vector<Draw> draws;  // newest first
  std::string next_cursor;  // empty when there is nothing more
};

// A prize's ticket range [from, to); prize_no none is the no-prize range.
struct TicketRange {
  std::optional<std::int32_t> prize_no;
  std::int64_t from = 0;
  std::int64_t to = 0;
};

// Everything a member needs to check one draw. The seed and the checks come after the close.
struct Verification {
  Draw draw;
  std::string message;  // the exact HMAC message
  std::vector<TicketRange> ranges;
  std::string seed_commitment;
  bool revealed = false;
  std::optional<std::string> seed;  // hex
  std::optional<std::int64_t> recomputed_ticket;
  std::optional<bool> commitment_matches;  // SHA-256(seed) == seed_commitment
  std::optional<bool> ticket_matches;      // recomputed_ticket == draw.ticket
  std::optional<bool> range_matches;       // the recomputed range == draw.range_prize_no
};

struct LotteryOptions {
  // Day boundaries of the per-day draw limit are local midnights in this zone (Asia/Shanghai).
  std::int32_t utc_offset_minutes = 480;
};

class Lotteries {
 public:
  // store must have the ledger's, the members' and lottery_migrations() applied. All references
  // must outlive this object.
  Lotteries(store::Store& store, ledger::Ledger& ledger, members::Members& members,
            const Clock& clock, LotteryOptions options = {});

  // Creates a lottery, its prizes, its secret seed and its ledger points account (owner
  // "lottery"/<id>) in one transaction. Errors (invalid, each naming its field): invalid_kind,
  // title_required, title_too_long, price_must_be_positive, price_too_large, opens_at_in_past,
  // opens_at_too_far, closes_at_not_after_opens_at, window_too_long, invalid_draw_limit,
  // prizes_required, too_many_prizes, prize_name_required, prize_name_too_long, invalid_stock,
  // invalid_odds, invalid_no_prize_ppm, odds_must_sum_to_one, lucky_bag_must_always_win;
  // idempotency_conflict (conflict) for a reused key with another input.
  Result<Lottery> create(const LotteryInput& input, std::int64_t operator_id);

  // The lottery as the public sees it at now. Errors: lottery_not_found.
  Result<Lottery> get(std::int64_t lottery_id);

  // Lotteries, newest first. cursor: empty, or next_cursor of the previous page. limit ≥ 1.
  // Errors: invalid_cursor.
  Result<LotteryPage> list(std::string_view cursor, std::size_t limit);

  // One draw (see the file comment). Errors: lottery_not_found; invalid_client_seed,
  // client_seed_too_long (invalid); lottery_not_open, lottery_closed, draw_limit_reached (day or
  // total; the field says which), lucky_bag_sold_out, insufficient_points, idempotency_conflict
  // (conflict). The same key and input answers the first draw (replayed), charging nothing.
  Result<Draw> draw(const DrawInput& input);

  // The member's draws, newest first, of one lottery or (lottery_id 0) of all.
  // Errors: invalid_cursor.
  Result<DrawPage> member_draws(std::int64_t member_id, std::int64_t lottery_id,
                                std::string_view cursor, std::size_t limit);

  // The verification of draw draw_no of a lottery, for the member who drew it (any_member: for an
  // operator). Errors: lottery_not_found, draw_not_found (also when it is another member's).
  Result<Verification> verify(std::int64_t member_id, std::int64_t lottery_id, std::int64_t draw_no,
                              bool any_member = false);

  // The HMAC message of a draw: "tanpu-lottery-v1|<lottery_id>|<draw_no>|<member_id>|<seed>".
  static std::string draw_message(std::int64_t lottery_id, std::int64_t draw_no,
                                  std::int64_t member_id, std::string_view client_seed);
  // The ticket of a draw, 0..kPpm-1: the first 8 bytes of HMAC-SHA256(seed, draw_message(…)) as a
  // big-endian unsigned integer, modulo kPpm.
  static std::int64_t draw_ticket(std::span<const std::uint8_t> seed, std::int64_t lottery_id,
                                  std::int64_t draw_no, std::int64_t member_id,
                                  std::string_view client_seed);
  // The 0-based index of the prize whose range holds ticket, the ranges being consecutive in
  // list order from 0; nullopt for the no-prize range beyond them. Requires 0 ≤ ticket < kPpm.
  static std::optional<std::size_t> prize_for_ticket(std::int64_t ticket,
                                                     std::span<const std::int64_t> odds_ppm);
  // Checks a client seed. Errors: client_seed_too_long, invalid_client_seed.
  static Result<void> check_client_seed(std::string_view client_seed);
  // Checks a lottery's input (the errors of create() except idempotency_conflict) at now_us.
  static Result<void> validate(const LotteryInput& input, std::int64_t now_us);

 private:
  // The draw's work inside the write transaction; any error rolls all of it back.
  Result<Draw> draw_in(store::Connection& c, const DrawInput& input,
                       std::span<const std::uint8_t> request_hash, std::int64_t now,
                       std::int64_t day);
  Result<Id128> charge(store::Connection& c, const Lottery& l, std::int64_t member_id,
                       std::int64_t draw_no);
  Result<void> award(store::Connection& c, const Lottery& l, Draw& d);

  store::Store& store_;
  ledger::Ledger& ledger_;
  members::Members& members_;
  const Clock& clock_;
  LotteryOptions options_;
};

}  // namespace tanpu::market
