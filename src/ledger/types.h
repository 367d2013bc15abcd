// Ledger data: accounts and transfers (architecture.md §4, after TigerBeetle's model).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/id.h"

namespace tanpu::ledger {

enum class Currency : std::uint8_t { points = 1, co2e_mg = 2 };

std::string_view to_string(Currency c);
std::optional<Currency> parse_currency(std::string_view text);

namespace account_flags {
// Every member account: the balance (credits - debits, pending debits included) never goes below 0.
inline constexpr std::uint32_t debits_must_not_exceed_credits = 1U << 0;
// Sinks such as retirement: nothing is ever debited from them.
inline constexpr std::uint32_t credit_only = 1U << 1;
// Platform issuance accounts, one side of almost every credit. Their balances are not a row that
// each batch locks: each batch appends its net delta to ledger_hot_deltas and the balance is
// derived. A hot account can have no balance limit (debits_must_not_exceed_credits is refused with
// hot).
inline constexpr std::uint32_t hot = 1U << 2;
inline constexpr std::uint32_t all = debits_must_not_exceed_credits | credit_only | hot;
}  // namespace account_flags

struct Account {
  std::int64_t id = 0;
  Currency currency = Currency::points;
  std::string owner_kind;  // "member", "platform", "org", "merchant", "lot", "event", "retirement"…
  std::string owner_id;    // the owner's id within its kind
  std::uint32_t flags = 0;
  std::int64_t debits_pending = 0;
  std::int64_t debits_posted = 0;
  std::int64_t credits_pending = 0;
  std::int64_t credits_posted = 0;
  std::int64_t created_at_us = 0;
  std::int64_t last_seq = 0;  // newest transfer touching this account (0: none; hot accounts: 0)

  // Posted balance, credit-normal (what a member owns).
  std::int64_t balance() const { return credits_posted - debits_posted; }
  // What can still be debited: posted balance minus debits held by pending transfers.
  std::int64_t available() const { return credits_posted - debits_posted - debits_pending; }
};

struct NewAccount {
  Currency currency = Currency::points;
  std::string owner_kind;
  std::string owner_id;
  std::uint32_t flags = 0;
};

namespace transfer_flags {
// This transfer succeeds only together with the next one in the request (a chain ends at the first
// transfer without the flag); if any fails, none applies.
inline constexpr std::uint32_t linked = 1U << 0;
// Two-phase, first phase: reserves amount (pending balances) until posted, voided or timed out.
inline constexpr std::uint32_t pending = 1U << 1;
// Second phase: posts the pending transfer pending_id (amount 0 = the full pending amount).
inline constexpr std::uint32_t post_pending = 1U << 2;
// Second phase: voids the pending transfer pending_id.
inline constexpr std::uint32_t void_pending = 1U << 3;
// Set by the ledger on the void it writes when a pending transfer times out.
inline constexpr std::uint32_t expired = 1U << 4;
inline constexpr std::uint32_t client_settable = linked | pending | post_pending | void_pending;
}  // namespace transfer_flags

// Transfer codes (why money moved). Modules add theirs here so codes stay unique.
namespace codes {
inline constexpr std::uint32_t pending_expired = 1;  // the void the ledger writes on timeout
inline constexpr std::uint32_t operator_adjustment = 2;
inline constexpr std::uint32_t behaviour_credit = 100;
inline constexpr std::uint32_t points_expiry = 110;     // expired points return to the issuer
inline constexpr std::uint32_t account_closure = 120;   // a closed account's points return too
inline constexpr std::uint32_t market_order = 200;      // an order's hold, posted at write-off
inline constexpr std::uint32_t lottery_entry = 210;     // the points price of one lottery draw
inline constexpr std::uint32_t donation = 220;          // points given to a charity project
inline constexpr std::uint32_t activity_checkin = 300;  // an organisation activity's check-in
inline constexpr std::uint32_t bench = 9000;
}  // namespace codes

struct Transfer {
  Id128 id;                           // client-generated, unique; the idempotency key
  std::int64_t debit_account_id = 0;  // for post/void: may be 0 (taken from the pending transfer)
  std::int64_t credit_account_id = 0;
  std::int64_t amount = 0;     // > 0; for post: 0 means the whole pending amount
  Id128 pending_id;            // for post/void: the pending transfer
  std::int64_t timeout_s = 0;  // for pending: seconds until it expires (0 = never)
  std::uint32_t code = 0;      // why (e.g. 1 = behaviour credit); > 0
  std::uint32_t flags = 0;
  std::string reference;          // what it is about ("behaviour:…", "order:…"), bounded
  std::int64_t timestamp_us = 0;  // assigned by the ledger when applied
  std::int64_t seq = 0;           // assigned by the ledger: batch id << 20 | position in batch
  // Assigned by the ledger: the previous transfer of the debit (credit) account, 0 if none or if
  // that account is hot. Each account's history is a list threaded through these, newest first,
  // so the transfers table needs no per-account index (whose random inserts would cap throughput).
  std::int64_t debit_prev_seq = 0;
  std::int64_t credit_prev_seq = 0;
};

// Outcome of one transfer in a request, in the order given.
enum class TransferStatus : std::uint8_t {
  ok,
  exists,               // same id, same content: applied before, nothing done now
  conflict,             // same id, other content
  linked_event_failed,  // another transfer of its linked chain failed
  linked_chain_open,    // the last transfer of the request has the linked flag
  invalid_id,           // id is zero
  invalid_flags,        // unknown or contradictory flags
  invalid_code,         // code is 0
  amount_must_be_positive,
  reference_too_long,
  accounts_must_differ,
  debit_account_not_found,
  credit_account_not_found,
  currency_mismatch,  // the two accounts hold different currencies
  exceeds_credits,    // the debit account would go below zero
  debit_account_credit_only,
  overflow,  // a balance would pass int64
  timeout_out_of_range,
  timeout_without_pending,
  pending_not_found,
  pending_not_pending,  // pending_id names a transfer that is not a pending one
  pending_already_posted,
  pending_already_voided,
  pending_expired,
  post_amount_exceeds_pending,
  pending_accounts_mismatch,  // post/void named accounts other than the pending transfer's
  pending_id_must_be_zero,    // only post/void name a pending transfer
  pending_id_required,        // post/void without pending_id
  amount_must_match_pending,  // a void names an amount other than 0 or the pending amount
};

std::string_view to_string(TransferStatus s);

// The names of flag bits, as the API shows them.
struct FlagName {
  std::uint32_t bit;
  std::string_view name;
};
std::span<const FlagName> transfer_flag_names();
std::span<const FlagName> account_flag_names();

}  // namespace tanpu::ledger
