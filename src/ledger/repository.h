// The ledger's SQL: loading the snapshot a batch needs and writing its outcome, on either engine.
// Only the ledger module touches ledger_* tables.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/crypto.h"
#include "core/result.h"
#include "ledger/apply.h"
#include "store/connection.h"

namespace tanpu::ledger {

// The hot accounts (flag hot; their currency and flags never change), so that a batch knows them
// without reading, and so never locks their rows. Other accounts are not kept: a batch reads them
// (or takes them from the BalanceCache) anyway. Hot accounts are few (the platform's issuance
// accounts), so the look-up per batch is one lock and a small map.
class AccountCache {
 public:
  struct Entry {
    Currency currency;
    std::uint32_t flags;
  };
  // Remembers id if its flags say hot; ignores any other account.
  void put(std::int64_t id, Entry e);
  // Adds the hot accounts among ids to snapshot (zero balances: a batch only produces their
  // deltas) and returns the other ids, in order.
  std::vector<std::int64_t> take_hot(std::span<const std::int64_t> ids, Snapshot& snapshot) const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::int64_t, Entry> hot_;
};

struct ChainLink {
  std::int64_t chain_pos = 0;
  Sha256Digest hash{};
  bool operator==(const ChainLink&) const = default;
};

// The state of non-hot accounts as the ledger last wrote or read it, so a batch need not read the
// accounts it touches. Every ledger batch, in any process and on either engine, locks the chain
// head before it reads an account and moves the head when it writes one (SQLite: the write
// transaction's database lock makes reading the head locking it; PostgreSQL: SELECT … FOR
// UPDATE). So while the head is the link this cache was stored at, no batch has changed an
// account since, and the cached state is the stored state. Any other head (another process or
// server wrote, or a transaction that wrote the cache rolled back) drops it. Bounded: past
// capacity, arbitrary entries are dropped (a miss only means a read).
//
// Accounts may also be read before the head is locked (prefill), so that a large batch on
// PostgreSQL reads the accounts it lacks while another batch holds the head. Such rows are the
// stored state at the head they were read with. The cache keeps the run of links it moved through
// by its own batches since it last dropped anything: an account absent from the cache was not
// touched between any link of that run and the cache's head (every batch of the run put its
// accounts in the cache, and none were dropped since), so rows read at a link of the run are still
// the stored state at the cache's head, and fill in what is absent.
class BalanceCache {
 public:
  explicit BalanceCache(std::size_t capacity) : capacity_(capacity) {}
  // With the head locked: copies the cached accounts among ids into snapshot and returns the ids
  // that must be read; drops everything first if head is not the link last stored.
  std::vector<std::int64_t> take(const ChainLink& head, std::span<const std::int64_t> ids,
                                 Snapshot& snapshot);
  // After a batch wrote its outcome: its accounts as it left them. from: the head the batch
  // locked; to: the head it wrote (the same if it applied nothing).
  void store(const ChainLink& from, const ChainLink& to, const Snapshot& snapshot);
  // The ids (in order) that are not cached, whatever the head: the ones worth reading ahead.
  std::vector<std::int64_t> absent(std::span<const std::int64_t> ids) const;
  // Accounts read, without the head lock, in one snapshot with the head `read_at`: kept where
  // absent if read_at is a link of the cache's run (or the cache is empty), else dropped. Returns
  // whether they were kept. Hot accounts are never kept.
  bool prefill(const ChainLink& read_at, std::span<const Account> accounts);
  std::size_t size() const;

  // Links of the run kept at most: a read ahead is at most a few batches behind.
  static constexpr std::size_t kRunLinksMax = 16;

 private:
  struct Entry {
    Currency currency;
    std::uint32_t flags;
    std::int64_t debits_pending, debits_posted, credits_pending, credits_posted, last_seq;
  };
  void drop();
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::optional<ChainLink> head_;
  std::vector<ChainLink> run_;  // the links since entries_ was last dropped, oldest first
  std::unordered_map<std::int64_t, Entry> entries_;
};

class Repository {
 public:
  Repository(store::Connection& conn, AccountCache& cache, BalanceCache* balances = nullptr)
      : conn_(conn), cache_(cache), balances_(balances) {}

  // Loads what a batch needs: the pending transfers that post/void transfers name, the stored
  // transfers with those ids, and every account referenced. With probe_ids, also every stored
  // transfer whose id is in the batch; without, the caller relies on the unique index.
  //
  // The locking protocol, the same on both engines and for every batch: the chain head first
  // (held to COMMIT), then the accounts from the balance cache when it is valid at that head,
  // else from the table. Rows need no locks of their own: no batch touches an account or a pending
  // row without holding the head, so batches run one at a time from their first statement to their
  // COMMIT. Needs the repository's balance cache.
  Result<void> load_snapshot(std::span<const Transfer> transfers, Snapshot& snapshot,
                             bool probe_ids);
  // The chain head as this batch locked it, and after write_outcome as it left it.
  [[nodiscard]] const ChainLink& head() const;
  // Whether load_snapshot read every stored transfer with an id of the batch (it does for a small
  // batch even when not asked to: the read rides with the head lock).
  [[nodiscard]] bool probed() const { return probed_; }

  // Writes an outcome: transfers (seq and chain link assigned here), account balances, hot-account
  // deltas, pending rows and their resolutions. Returns the batch id, or 0 if nothing was applied.
  // at_commit: nothing but COMMIT follows in this transaction, so the writes may go with it
  // (Connection::run_deferred).
  Result<std::int64_t> write_outcome(Outcome& outcome, Snapshot& snapshot, std::int64_t now_us,
                                     bool at_commit);

  // Reads.
  Result<Account> account(std::int64_t id);
  // The account of an owner in one currency (at most one there) as one statement, and the account
  // in what it came to.
  static store::Statement owner_account_statement(Currency currency, std::string_view owner_kind,
                                                  std::string_view owner_id);
  static Result<Account> owner_account_from(Result<store::Rows> rows);
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
  struct Writes;
  Result<void> load_pipelined(std::span<const Id128> ids, std::span<const Id128> pending_ids,
                              std::vector<std::int64_t> account_ids, Snapshot& snapshot);
  Result<void> load_existing(std::span<const Id128> ids, Snapshot& snapshot);
  Result<void> load_pendings(std::span<const Id128> ids, Snapshot& snapshot);
  Result<void> load_accounts(std::vector<std::int64_t> ids, Snapshot& snapshot);
  Result<void> read_ahead(std::span<const std::int64_t> sorted_ids);
  void take_accounts(const store::Rows& rows, Snapshot& snapshot);
  void link_histories(Outcome& outcome, Snapshot& snapshot);
  // Add a batch's writes to w (or, for many rows, write them at once).
  Result<void> add_rows(std::string_view table, std::span<const std::string_view> columns,
                        std::span<const store::Param> values, Writes& w);
  // self_check: the statements fail unless they change every row (nobody reads their answer).
  void add_balances(const Snapshot& snapshot, std::int64_t batch_id, bool self_check, Writes& w);
  Result<void> add_pendings(const Outcome& outcome,
                            std::vector<std::array<std::uint8_t, 16>>& bytes,
                            std::vector<store::Param>& values, Writes& w);
  // The statements that move the chain head to link (its hash made by the caller).
  void add_link(std::int64_t batch_id, const ChainLink& link, std::size_t transfers,
                std::int64_t now_us, Writes& w);
  Result<void> lock_head();
  void take_head(const store::Rows& head);
  static ChainLink link_from(const store::Rows& rows, std::size_t r, std::size_t pos_col,
                             std::size_t hash_col);
  bool postgres() const { return conn_.dialect() == store::Dialect::postgres; }

  store::Connection& conn_;
  AccountCache& cache_;
  BalanceCache* balances_;
  std::optional<ChainLink> head_;
  std::int64_t last_batch_id_ = 0;  // as the head lock read it
  bool probed_ = false;
};

}  // namespace tanpu::ledger
