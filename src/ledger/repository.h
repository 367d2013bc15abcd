// The ledger's SQL: loading the snapshot a batch needs and writing its outcome, on either engine.
// Only the ledger module touches ledger_* tables.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/crypto.h"
#include "core/result.h"
#include "ledger/apply.h"
#include "store/connection.h"

namespace tanpu::ledger {

// Immutable facts about accounts (currency and flags never change), cached across batches so hot
// accounts are known without reading, and so never locked, by the batch path.
class AccountCache {
 public:
  struct Entry {
    Currency currency;
    std::uint32_t flags;
  };
  bool get(std::int64_t id, Entry* out) const;
  void put(std::int64_t id, Entry e);

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::int64_t, Entry> entries_;
};

struct ChainLink {
  std::int64_t chain_pos = 0;
  Sha256Digest hash{};
};

class Repository {
 public:
  Repository(store::Connection& conn, AccountCache& cache) : conn_(conn), cache_(cache) {}

  // Loads the pending transfers that post/void transfers name (locked on PostgreSQL) and the stored
  // transfers with those ids, and every account referenced (non-hot ones locked on PostgreSQL, in
  // id order so concurrent batches cannot deadlock). With probe_ids, also every stored transfer
  // whose id is in the batch; without, the caller relies on the unique index to report one.
  Result<void> load_snapshot(std::span<const Transfer> transfers, Snapshot& snapshot,
                             bool probe_ids);

  // Writes an outcome: transfers (seq and chain link assigned here), account balances, hot-account
  // deltas, pending rows and their resolutions. Returns the batch id, or 0 if nothing was applied.
  Result<std::int64_t> write_outcome(Outcome& outcome, Snapshot& snapshot, std::int64_t now_us);

  // Reads.
  Result<Account> account(std::int64_t id);
  Result<std::vector<Transfer>> transfers_by_ids(std::span<const Id128> ids);
  // Up to `limit` transfers of account_id, newest first, starting at seq `from` (inclusive): for
  // a normal account by following its history list from `from`, for a hot account by scanning.
  Result<std::vector<Transfer>> history(const Account& account, std::int64_t from,
                                        std::size_t limit);
  // Pending transfers still open whose expiry is at or before now_us.
  Result<std::vector<Id128>> expired_pending(std::int64_t now_us, std::size_t max);
  // Loads the cache with every hot account.
  Result<void> warm_cache();
  // Folds hot-account deltas into the account rows (keeps balance reads cheap). Returns rows
  // folded.
  Result<std::int64_t> compact_hot_deltas(std::int64_t account_id);

  static Transfer transfer_from_row(const store::Rows& rows, std::size_t r);
  // The columns of a stored transfer, and the params of rows for them (ids are copied into
  // id_bytes, which must outlive the params).
  static constexpr std::array<std::string_view, 13> kTransferInsertColumns = {"seq",
                                                                              "id",
                                                                              "debit_account_id",
                                                                              "credit_account_id",
                                                                              "amount",
                                                                              "pending_id",
                                                                              "timeout_s",
                                                                              "code",
                                                                              "flags",
                                                                              "reference",
                                                                              "timestamp_us",
                                                                              "debit_prev_seq",
                                                                              "credit_prev_seq"};
  static void transfer_params(std::span<const Transfer> rows,
                              std::vector<std::array<std::uint8_t, 16>>& id_bytes,
                              std::vector<store::Param>& out);
  static constexpr std::string_view kTransferColumns =
      "seq, id, debit_account_id, credit_account_id, amount, pending_id, timeout_s, code, flags, "
      "reference, timestamp_us, debit_prev_seq, credit_prev_seq";

 private:
  Result<void> load_existing(std::span<const Id128> ids, Snapshot& snapshot);
  Result<void> load_pendings(std::span<const Id128> ids, Snapshot& snapshot);
  Result<void> load_accounts(std::vector<std::int64_t> ids, Snapshot& snapshot);
  Result<void> insert_transfers(std::span<const Transfer> applied);
  void link_histories(Outcome& outcome, Snapshot& snapshot);
  Result<void> update_accounts(const Snapshot& snapshot, std::int64_t batch_id);
  Result<void> write_pendings(const Outcome& outcome);
  Result<ChainLink> append_link(std::int64_t batch_id, std::span<const Transfer> applied);
  bool postgres() const { return conn_.dialect() == store::Dialect::postgres; }

  store::Connection& conn_;
  AccountCache& cache_;
};

}  // namespace tanpu::ledger
