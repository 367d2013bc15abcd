// The double-entry ledger. All balance changes in tanpu are transfers between accounts.
//
// Two ways in:
//  * inside a caller's write transaction (a Store::write job): create_accounts / create_transfers,
//    so a module can post transfers atomically with its own rows (an order and its hold, a batch of
//    behaviour records and their credits);
//  * submit(): from anywhere; concurrent submissions are coalesced into ledger batches of up to
//    limits::transfers_per_batch_max and committed together (group commit).
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "ledger/apply.h"
#include "ledger/repository.h"
#include "ledger/types.h"
#include "store/migrate.h"
#include "store/store.h"

namespace tanpu::ledger {

// The ledger's tables (module "ledger").
std::span<const store::Migration> migrations();

// Ids of the platform accounts, created by the ledger's first migration.
inline constexpr std::int64_t kPlatformPointsAccount = 1;  // issues points; hot
inline constexpr std::int64_t kPlatformCo2eAccount = 2;    // issues reductions; hot

struct BatchResult {
  std::vector<TransferStatus> statuses;  // one per transfer, in order
  std::int64_t batch_id = 0;             // the batch written (0 if nothing applied)
};

struct TransferPage {
  std::vector<Transfer> transfers;  // newest first
  std::string next_cursor;          // empty when there is nothing more
};

class Ledger {
 public:
  Ledger(store::Store& store, const Clock& clock);
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Creates accounts inside the caller's transaction; returns their ids in order.
  Result<std::vector<std::int64_t>> create_accounts(store::Connection& conn,
                                                    std::span<const NewAccount> accounts);

  // Applies transfers inside the caller's transaction as one ledger batch (one hash-chain link).
  // Each transfer gets a status; failed ones change nothing; a failed linked chain changes nothing.
  // Returns an error only for operating failures (the database), never for a refused transfer.
  Result<BatchResult> create_transfers(store::Connection& conn, std::span<Transfer> transfers);

  // Adds transfers to one ledger batch written at the end of the caller's transaction (a
  // store::TransactionTail), with every other transfer deferred in that transaction: one batch and
  // one chain link for a whole group of jobs, and the chain head held only from then to COMMIT.
  // If any of them is refused, the COMMIT fails with refusal(status) of the first refused one and
  // nothing is committed (the store then runs a group's jobs again one by one, so the job whose
  // transfer was refused is the one that gets the error). The caller sets every field the ledger
  // would otherwise return; the transfers are copied.
  using Refusal = Error (*)(TransferStatus);
  void defer_transfers(store::Connection& conn, std::span<const Transfer> transfers,
                       Refusal refusal);

  // Submits transfers from outside any transaction; they are coalesced with concurrent submissions
  // into one batch and committed durably before this returns. At most transfers_per_request_max.
  Result<std::vector<TransferStatus>> submit(std::span<const Transfer> transfers);

  // Voids pending transfers whose timeout has passed (each void is itself a transfer, flag
  // expired). Returns how many expired. Run by the scheduler and by tests.
  Result<std::int64_t> expire_pending(std::int64_t now_us, std::size_t max = 10'000);

  // Reads.
  Result<Account> lookup_account(store::Connection& conn, std::int64_t id);
  Result<Account> lookup_account(std::int64_t id);
  // The owner's account in `currency` with its balance, as one statement to run alone or with
  // others in one round trip (Connection::run_all), and the account in what it came to. Errors:
  // account_not_found.
  static store::Statement owner_account_statement(Currency currency, std::string_view owner_kind,
                                                  std::string_view owner_id);
  static Result<Account> owner_account_from(Result<store::Rows> rows);
  Result<Transfer> lookup_transfer(Id128 id);
  // Transfers that debit or credit any of account_ids (at most 8), newest first.
  // cursor: empty for the first page, else next_cursor of the previous page (opaque to callers).
  // Errors: invalid_cursor.
  Result<TransferPage> list_transfers(std::span<const std::int64_t> account_ids,
                                      std::string_view cursor, std::size_t limit);

  // Folds the hot accounts' per-batch deltas into their rows. Returns delta rows folded.
  Result<std::int64_t> compact_hot_accounts();

  store::Store& store() { return store_; }
  const Clock& clock() const { return clock_; }

 private:
  struct Coalescer;
  struct Deferred;
  struct Applied {
    Outcome outcome;
    std::int64_t batch_id = 0;
    Snapshot snapshot;   // the accounts as the batch left them
    ChainLink from, to;  // the chain head before and after the batch
  };
  // at_commit: called by a transaction tail, so nothing but COMMIT follows (the batch's writes
  // may then go with it).
  Result<BatchResult> apply(store::Connection& conn, std::span<Transfer> transfers,
                            bool allow_expired, bool at_commit = false);
  Result<Applied> apply_once(store::Connection& conn, std::span<const Transfer> transfers,
                             bool allow_expired, bool probe_ids, bool at_commit);
  void coalesce_loop();
  store::Store& store_;
  const Clock& clock_;
  std::unique_ptr<AccountCache> cache_;
  std::unique_ptr<BalanceCache> balances_;
  std::unique_ptr<Coalescer> coalescer_;
};

}  // namespace tanpu::ledger
