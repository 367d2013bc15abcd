#include "ledger/repository.h"

#include <algorithm>
#include <array>
#include <future>
#include <string>

#include "core/assert.h"
#include "core/units.h"
#include "ledger/chain.h"
#include "store/connection.h"
#include "store/key_rows.h"

namespace tanpu::ledger {
namespace {

using store::Param;

// IN-lists are sent in a few fixed sizes (the last chunk padded by repeating an
// element), so each query shape is prepared once per connection, and a batch of 32k transfers
// costs a handful of round trips on PostgreSQL rather than one per 256 rows. The small sizes
// matter too: PostgreSQL expects as many rows as the list has elements, repeats included, and
// for a few thousand accounts it judged 64 index look-ups dearer than reading every account and
// balance. A batch of one or two transfers padded to 64 keys took about 0.9 ms that way, holding
// the chain head, instead of 0.02 ms by index.
constexpr std::array<std::size_t, 5> kInSizes = {4, 16, 64, 512, 4096};

// The smallest size that holds n, or the largest.
std::size_t chunk_index(std::size_t n, std::span<const std::size_t> sizes) {
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (n <= sizes[i]) return i;
  }
  return sizes.size() - 1;
}

std::string placeholders(std::size_t n) {
  std::string s;
  s.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) s += i == 0 ? "?" : ",?";
  return s;
}

// One query "head IN (?,…) tail" in each of the kInSizes shapes.
struct InQuery {
  std::array<std::string, kInSizes.size()> sql;
  InQuery(std::string_view head, std::string_view tail = {}) {
    for (std::size_t i = 0; i < kInSizes.size(); ++i) {
      sql[i] = std::string(head) + " IN (" + placeholders(kInSizes[i]) + ")" + std::string(tail);
    }
  }
};

// One statement of query for keys (at most the largest shape; padded by repeating the last key).
template <class Key, class ToParam>
store::Statement in_statement(const InQuery& query, std::span<const Key> keys, ToParam to_param) {
  TANPU_ASSERT(!keys.empty() && keys.size() <= kInSizes.back());
  const std::size_t shape = chunk_index(keys.size(), kInSizes);
  store::Statement st(query.sql[shape]);
  for (std::size_t i = 0; i < kInSizes[shape]; ++i)
    st.bind(to_param(keys[std::min(i, keys.size() - 1)]));
  return st;
}

// A batch of at most this many transfers reads everything it needs in one round trip with the
// head lock (Connection::run_all), and probes its ids rather than rely on the unique index.
constexpr std::size_t kPipelinedTransfersMax = 64;
// On PostgreSQL, up to store::kArrayInsertRowsMax rows go in as one INSERT from arrays, inside
// the batch's one round trip of writes; more go by COPY.
using store::kArrayInsertRowsMax;

constexpr std::string_view kLockHeadPostgres =
    "SELECT chain_pos, hash, last_batch_id FROM ledger_chain_head WHERE singleton = 1 FOR UPDATE";
constexpr std::string_view kLockHeadSqlite =
    "SELECT chain_pos, hash, last_batch_id FROM ledger_chain_head WHERE singleton = 1";

const InQuery& existing_query() {
  static const InQuery q("SELECT " + std::string(Repository::kTransferColumns) +
                         " FROM ledger_transfers WHERE id");
  return q;
}
const InQuery& pendings_query() {
  static const InQuery q(
      "SELECT id, debit_account_id, credit_account_id, amount, expires_at_us, state FROM "
      "ledger_pending WHERE id");
  return q;
}
// No owner columns: a batch needs only what the rules read.
const InQuery& accounts_query() {
  static const InQuery q(
      "SELECT a.id, a.currency, a.flags, b.debits_pending, b.debits_posted, b.credits_pending, "
      "b.credits_posted, b.last_seq FROM ledger_accounts a JOIN ledger_balances b ON "
      "b.account_id = a.id WHERE a.id");
  return q;
}

void take_existing(const store::Rows& rows, Snapshot& snapshot) {
  for (std::size_t r = 0; r < rows.size(); ++r) {
    Transfer t = Repository::transfer_from_row(rows, r);
    snapshot.existing.emplace(t.id, std::move(t));
  }
}

Id128 id_from(const store::Rows& rows, std::size_t r, std::size_t c);

void take_pendings(const store::Rows& rows, Snapshot& snapshot) {
  for (std::size_t r = 0; r < rows.size(); ++r) {
    PendingRecord rec;
    rec.transfer.id = id_from(rows, r, 0);
    rec.transfer.debit_account_id = rows.i64(r, 1);
    rec.transfer.credit_account_id = rows.i64(r, 2);
    rec.transfer.amount = rows.i64(r, 3);
    rec.transfer.flags = transfer_flags::pending;
    rec.expires_at_us = rows.i64(r, 4);
    rec.state = static_cast<PendingState>(rows.i64(r, 5));
    snapshot.pendings.emplace(rec.transfer.id, rec);
  }
}

Id128 id_from(const store::Rows& rows, std::size_t r, std::size_t c) {
  if (rows.is_null(r, c)) return {};
  const auto b = rows.blob(r, c);
  TANPU_ASSERT_MSG(b.size() == 16, "stored id is not 16 bytes");
  return Id128::from_bytes(b);
}

Account account_from_row(const store::Rows& rows, std::size_t r) {
  Account a;
  a.id = rows.i64(r, 0);
  a.currency = static_cast<Currency>(rows.i64(r, 1));
  a.owner_kind = std::string(rows.text(r, 2));
  a.owner_id = std::string(rows.text(r, 3));
  a.flags = static_cast<std::uint32_t>(rows.i64(r, 4));
  a.debits_pending = rows.i64(r, 5);
  a.debits_posted = rows.i64(r, 6);
  a.credits_pending = rows.i64(r, 7);
  a.credits_posted = rows.i64(r, 8);
  a.created_at_us = rows.i64(r, 9);
  a.last_seq = rows.i64(r, 10);
  return a;
}

// Runs query over keys in chunks (keys in order, so locks are taken in order); calls on_rows.
template <class Key, class ToParam, class OnRows>
Result<void> chunked_in(store::Connection& conn, const InQuery& query, std::span<const Key> keys,
                        ToParam to_param, OnRows on_rows) {
  std::vector<Param> params;
  for (std::size_t start = 0; start < keys.size();) {
    const std::size_t shape = chunk_index(keys.size() - start, kInSizes);
    const std::size_t n = kInSizes[shape];
    params.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      params[i] = to_param(keys[std::min(start + i, keys.size() - 1)], i);
    }
    start += n;
    auto rows = conn.query(query.sql[shape], params);
    if (!rows) return std::unexpected(rows.error());
    on_rows(*rows);
  }
  return {};
}

}  // namespace

void AccountCache::put(std::int64_t id, Entry e) {
  if ((e.flags & account_flags::hot) == 0) return;
  std::lock_guard lock(mu_);
  hot_.insert_or_assign(id, e);
}

std::vector<std::int64_t> AccountCache::take_hot(std::span<const std::int64_t> ids,
                                                 Snapshot& snapshot) const {
  std::vector<std::int64_t> rest;
  rest.reserve(ids.size());
  std::lock_guard lock(mu_);
  for (std::int64_t id : ids) {
    const auto it = hot_.find(id);
    if (it == hot_.end()) {
      rest.push_back(id);
      continue;
    }
    Account a;
    a.id = id;
    a.currency = it->second.currency;
    a.flags = it->second.flags;
    snapshot.accounts.emplace(id, AccountState{std::move(a), false});
  }
  return rest;
}

std::vector<std::int64_t> BalanceCache::take(const ChainLink& head,
                                             std::span<const std::int64_t> ids,
                                             Snapshot& snapshot) {
  std::lock_guard lock(mu_);
  if (head_ != head) {
    drop();
    return {ids.begin(), ids.end()};
  }
  std::vector<std::int64_t> missing;
  for (std::int64_t id : ids) {
    const auto it = entries_.find(id);
    if (it == entries_.end()) {
      missing.push_back(id);
      continue;
    }
    const Entry& e = it->second;
    Account a;
    a.id = id;
    a.currency = e.currency;
    a.flags = e.flags;
    a.debits_pending = e.debits_pending;
    a.debits_posted = e.debits_posted;
    a.credits_pending = e.credits_pending;
    a.credits_posted = e.credits_posted;
    a.last_seq = e.last_seq;
    snapshot.accounts.emplace(id, AccountState{std::move(a), false});
  }
  return missing;
}

void BalanceCache::store(const ChainLink& from, const ChainLink& to, const Snapshot& snapshot) {
  std::lock_guard lock(mu_);
  // Entries stored at a head other than the one this batch started at may be stale. Once dropped,
  // the run starts at `from`: what the batch did not touch is as it was there.
  if (head_ != from) {
    drop();
    run_.push_back(from);
  }
  if (capacity_ == 0) return;
  for (const auto& [id, st] : snapshot.accounts) {
    const Account& a = st.account;
    if ((a.flags & account_flags::hot) != 0) continue;
    entries_.insert_or_assign(id, Entry{a.currency, a.flags, a.debits_pending, a.debits_posted,
                                        a.credits_pending, a.credits_posted, a.last_seq});
  }
  // Past capacity, drop arbitrary entries down to seven eighths of it: an account absent now may
  // have been touched since any earlier link, so the run starts again here.
  if (entries_.size() > capacity_) {
    const std::size_t keep = capacity_ - capacity_ / 8;
    while (entries_.size() > keep) entries_.erase(entries_.begin());
    run_.clear();
  }
  head_ = to;
  if (run_.size() == kRunLinksMax) run_.erase(run_.begin());
  if (run_.empty() || run_.back() != to) run_.push_back(to);
}

void BalanceCache::drop() {
  entries_.clear();
  head_.reset();
  run_.clear();
}

std::vector<std::int64_t> BalanceCache::absent(std::span<const std::int64_t> ids) const {
  std::vector<std::int64_t> out;
  std::lock_guard lock(mu_);
  for (std::int64_t id : ids) {
    if (!entries_.contains(id)) out.push_back(id);
  }
  return out;
}

bool BalanceCache::prefill(const ChainLink& read_at, std::span<const Account> accounts) {
  std::lock_guard lock(mu_);
  if (capacity_ == 0) return false;
  if (!head_) {
    // Nothing cached: the rows are the whole cache, valid at the head they were read with.
    head_ = read_at;
    run_.assign(1, read_at);
  } else if (std::find(run_.begin(), run_.end(), read_at) == run_.end()) {
    return false;
  }
  for (const Account& a : accounts) {
    if ((a.flags & account_flags::hot) != 0 || entries_.size() >= capacity_) continue;
    entries_.try_emplace(a.id, Entry{a.currency, a.flags, a.debits_pending, a.debits_posted,
                                     a.credits_pending, a.credits_posted, a.last_seq});
  }
  return true;
}

std::size_t BalanceCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

Transfer Repository::transfer_from_row(const store::Rows& rows, std::size_t r) {
  Transfer t;
  t.seq = rows.i64(r, 0);
  t.id = id_from(rows, r, 1);
  t.debit_account_id = rows.i64(r, 2);
  t.credit_account_id = rows.i64(r, 3);
  t.amount = rows.i64(r, 4);
  t.pending_id = id_from(rows, r, 5);
  t.timeout_s = rows.i64(r, 6);
  t.code = static_cast<std::uint32_t>(rows.i64(r, 7));
  t.flags = static_cast<std::uint32_t>(rows.i64(r, 8));
  t.reference = std::string(rows.text(r, 9));
  t.timestamp_us = rows.i64(r, 10);
  t.debit_prev_seq = rows.i64(r, 11);
  t.credit_prev_seq = rows.i64(r, 12);
  return t;
}

Result<void> Repository::load_snapshot(std::span<const Transfer> transfers, Snapshot& snapshot,
                                       bool probe_ids) {
  TANPU_ASSERT_MSG(balances_ != nullptr, "a batch needs the balance cache");
  const bool pipelined = transfers.size() <= kPipelinedTransfersMax;
  probe_ids = probe_ids || pipelined;
  probed_ = probe_ids;
  std::vector<Id128> ids;
  std::vector<Id128> pending_ids;
  std::vector<std::int64_t> account_ids;
  if (probe_ids) ids.reserve(transfers.size());
  account_ids.reserve(transfers.size() * 2);
  for (const Transfer& t : transfers) {
    if (probe_ids) ids.push_back(t.id);
    if (!t.pending_id.is_zero()) {
      ids.push_back(t.pending_id);
      pending_ids.push_back(t.pending_id);
    }
    if (t.debit_account_id > 0) account_ids.push_back(t.debit_account_id);
    if (t.credit_account_id > 0) account_ids.push_back(t.credit_account_id);
  }
  std::sort(pending_ids.begin(), pending_ids.end());
  pending_ids.erase(std::unique(pending_ids.begin(), pending_ids.end()), pending_ids.end());
  if (pipelined) {
    if (auto r = load_pipelined(ids, pending_ids, account_ids, snapshot); !r) return r;
  } else {
    if (postgres()) {
      std::sort(account_ids.begin(), account_ids.end());
      account_ids.erase(std::unique(account_ids.begin(), account_ids.end()), account_ids.end());
      if (auto r = read_ahead(account_ids); !r) return r;
    }
    if (auto r = lock_head(); !r) return r;
    if (auto r = load_existing(ids, snapshot); !r) return r;
    if (auto r = load_pendings(pending_ids, snapshot); !r) return r;
  }
  // The accounts of the pending transfers that posts and voids name (and, for a large batch, all
  // of them): from the balance cache where it is valid, else read.
  for (const auto& [id, rec] : snapshot.pendings) {
    account_ids.push_back(rec.transfer.debit_account_id);
    account_ids.push_back(rec.transfer.credit_account_id);
  }
  std::erase_if(account_ids, [&](std::int64_t id) { return snapshot.accounts.contains(id); });
  return load_accounts(std::move(account_ids), snapshot);
}

Result<void> Repository::load_pipelined(std::span<const Id128> ids,
                                        std::span<const Id128> pending_ids,
                                        std::vector<std::int64_t> account_ids, Snapshot& snapshot) {
  std::sort(account_ids.begin(), account_ids.end());
  account_ids.erase(std::unique(account_ids.begin(), account_ids.end()), account_ids.end());
  const std::vector<std::int64_t> cold = cache_.take_hot(account_ids, snapshot);
  // The ids as bytes, made before any parameter borrows them.
  using IdBytes = std::array<std::uint8_t, 16>;
  auto to_bytes = [](std::span<const Id128> in) {
    std::vector<IdBytes> out;
    out.reserve(in.size());
    for (const Id128& id : in) out.push_back(id.to_bytes());
    return out;
  };
  const std::vector<IdBytes> id_bytes = to_bytes(ids);
  const std::vector<IdBytes> pending_bytes = to_bytes(pending_ids);
  auto blob = [](const IdBytes& b) { return Param(std::span<const std::uint8_t>(b)); };
  // The reads run after the lock, each with a snapshot of its own: they see every batch the lock
  // waited for.
  std::vector<store::Statement> reads;
  reads.emplace_back(std::string(postgres() ? kLockHeadPostgres : kLockHeadSqlite));
  if (!ids.empty()) {
    reads.push_back(in_statement(existing_query(), std::span<const IdBytes>(id_bytes), blob));
  }
  if (!pending_ids.empty()) {
    reads.push_back(in_statement(pendings_query(), std::span<const IdBytes>(pending_bytes), blob));
  }
  if (!cold.empty()) {
    reads.push_back(in_statement(accounts_query(), std::span<const std::int64_t>(cold),
                                 [](std::int64_t id) { return Param(id); }));
  }
  auto results = conn_.run_all(reads);
  if (!results) return std::unexpected(results.error());
  std::size_t next = 0;
  take_head((*results)[next++].rows);
  if (!ids.empty()) take_existing((*results)[next++].rows, snapshot);
  if (!pending_ids.empty()) take_pendings((*results)[next++].rows, snapshot);
  if (!cold.empty()) take_accounts((*results)[next++].rows, snapshot);
  return {};
}

Result<void> Repository::load_existing(std::span<const Id128> ids, Snapshot& snapshot) {
  if (ids.empty()) return {};
  std::vector<std::array<std::uint8_t, 16>> bytes(kInSizes.back());
  return chunked_in<Id128>(
      conn_, existing_query(), ids,
      [&](const Id128& id, std::size_t i) {
        bytes[i] = id.to_bytes();
        return Param(std::span<const std::uint8_t>(bytes[i]));
      },
      [&](const store::Rows& rows) { take_existing(rows, snapshot); });
}

Result<void> Repository::load_pendings(std::span<const Id128> ids, Snapshot& snapshot) {
  if (ids.empty()) return {};
  std::vector<std::array<std::uint8_t, 16>> bytes(kInSizes.back());
  return chunked_in<Id128>(
      conn_, pendings_query(), ids,
      [&](const Id128& id, std::size_t i) {
        bytes[i] = id.to_bytes();
        return Param(std::span<const std::uint8_t>(bytes[i]));
      },
      [&](const store::Rows& rows) { take_pendings(rows, snapshot); });
}

Result<void> Repository::load_accounts(std::vector<std::int64_t> ids, Snapshot& snapshot) {
  if (ids.empty()) return {};
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  snapshot.accounts.reserve(snapshot.accounts.size() + ids.size());
  const std::vector<std::int64_t> cold = cache_.take_hot(ids, snapshot);
  const std::vector<std::int64_t> to_read = balances_->take(head(), cold, snapshot);
  if (to_read.empty()) return {};
  return chunked_in<std::int64_t>(
      conn_, accounts_query(), to_read, [](std::int64_t id, std::size_t) { return Param(id); },
      [&](const store::Rows& rows) { take_accounts(rows, snapshot); });
}

// A large batch on PostgreSQL reads the accounts the balance cache lacks before it locks the
// chain head, so that the read overlaps the batch that holds it (BalanceCache::prefill). One
// statement, so one snapshot: the head and the accounts as they stood together.
Result<void> Repository::read_ahead(std::span<const std::int64_t> sorted_ids) {
  const std::vector<std::int64_t> ids = balances_->absent(sorted_ids);
  if (ids.empty()) return {};
  const std::string array = store::pg_bigint_array(ids);
  auto rows = conn_.query(
      "SELECT -1, 0, 0, 0, 0, 0, 0, chain_pos, hash FROM ledger_chain_head WHERE singleton = 1 "
      "UNION ALL SELECT a.id, a.currency, a.flags, b.debits_pending, b.debits_posted, "
      "b.credits_pending, b.credits_posted, b.last_seq, NULL FROM ledger_accounts a JOIN "
      "ledger_balances b ON b.account_id = a.id WHERE a.id = ANY(CAST(? AS BIGINT[]))",
      {Param(std::string_view(array))});
  if (!rows) return std::unexpected(rows.error());
  std::optional<ChainLink> read_at;
  std::vector<Account> accounts;
  accounts.reserve(rows->size());
  for (std::size_t r = 0; r < rows->size(); ++r) {
    if (rows->i64(r, 0) < 0) {
      read_at = link_from(*rows, r, 7, 8);
      continue;
    }
    Account& a = accounts.emplace_back();
    a.id = rows->i64(r, 0);
    a.currency = static_cast<Currency>(rows->i64(r, 1));
    a.flags = static_cast<std::uint32_t>(rows->i64(r, 2));
    a.debits_pending = rows->i64(r, 3);
    a.debits_posted = rows->i64(r, 4);
    a.credits_pending = rows->i64(r, 5);
    a.credits_posted = rows->i64(r, 6);
    a.last_seq = rows->i64(r, 7);
    cache_.put(a.id, {a.currency, a.flags});
  }
  TANPU_ASSERT_MSG(read_at.has_value(), "the chain head row is missing");
  balances_->prefill(*read_at, accounts);
  return {};
}

void Repository::take_accounts(const store::Rows& rows, Snapshot& snapshot) {
  for (std::size_t r = 0; r < rows.size(); ++r) {
    Account a;
    a.id = rows.i64(r, 0);
    a.currency = static_cast<Currency>(rows.i64(r, 1));
    a.flags = static_cast<std::uint32_t>(rows.i64(r, 2));
    cache_.put(a.id, {a.currency, a.flags});
    if ((a.flags & account_flags::hot) == 0) {
      a.debits_pending = rows.i64(r, 3);
      a.debits_posted = rows.i64(r, 4);
      a.credits_pending = rows.i64(r, 5);
      a.credits_posted = rows.i64(r, 6);
      a.last_seq = rows.i64(r, 7);
    }
    snapshot.accounts.emplace(a.id, AccountState{std::move(a), false});
  }
}

// The writes of a batch, gathered to go to the server together (Connection::run_all: one round
// trip on PostgreSQL, while every other writer waits for the chain head), each with the number of
// rows it must change.
struct Repository::Writes {
  std::vector<store::Statement> statements;
  std::vector<std::int64_t> changes;  // per statement; -1: checked as part of the group below
  // The statements [group_from, group_to) change group_rows rows between them (the balance
  // upserts, whose rows per statement are the store's choice).
  std::size_t group_from = 0, group_to = 0;
  std::int64_t group_rows = 0;
  void add(store::Statement st, std::int64_t must_change) {
    statements.push_back(std::move(st));
    changes.push_back(must_change);
  }
};

Result<std::int64_t> Repository::write_outcome(Outcome& outcome, Snapshot& snapshot,
                                               std::int64_t now_us, bool at_commit) {
  if (outcome.applied.empty()) return 0;
  TANPU_ASSERT(outcome.applied.size() < (std::size_t{1} << kSeqPositionBits));
  TANPU_ASSERT_MSG(head_.has_value(), "a batch writes only under the chain head it locked");
  const std::int64_t batch_id = last_batch_id_ + 1;
  for (std::size_t i = 0; i < outcome.applied.size(); ++i) {
    outcome.applied[i].seq = make_seq(batch_id, i);
  }
  link_histories(outcome, snapshot);
  // What the writes' parameters borrow, kept until they have run.
  std::vector<std::array<std::uint8_t, 16>> id_bytes;
  std::vector<std::array<std::uint8_t, 16>> pending_bytes;
  std::vector<Param> transfer_values;
  std::vector<Param> pending_values;
  Writes w;
  transfer_params(outcome.applied, id_bytes, transfer_values);
  ChainLink link{head_->chain_pos + 1, {}};
  // Writes that go with COMMIT (nothing but COMMIT follows, and the ids were probed, so none needs
  // the unique index's answer): one round trip fewer while the chain head is held.
  const bool deferred = at_commit && postgres();
  if (outcome.applied.size() > kArrayInsertRowsMax) {
    // Many transfers go in by themselves (COPY on PostgreSQL; on SQLite the engine's inserts, on
    // this thread), while every other writer waits for the chain head: the balance statements and
    // the link's hash are made meanwhile on another core. Both only read the outcome and the
    // snapshot, which nothing changes until the join.
    auto prepared = std::async(std::launch::async, [&] {
      add_balances(snapshot, batch_id, deferred, w);
      return link_hash(head_->hash, link.chain_pos, batch_id, outcome.applied);
    });
    auto inserted = conn_.bulk_insert("ledger_transfers", kTransferInsertColumns, transfer_values);
    link.hash = prepared.get();
    if (!inserted) return std::unexpected(inserted.error());
  } else {
    if (auto r = add_rows("ledger_transfers", kTransferInsertColumns, transfer_values, w); !r) {
      return std::unexpected(r.error());
    }
    add_balances(snapshot, batch_id, deferred, w);
    link.hash = link_hash(head_->hash, link.chain_pos, batch_id, outcome.applied);
  }
  if (auto r = add_pendings(outcome, pending_bytes, pending_values, w); !r) {
    return std::unexpected(r.error());
  }
  add_link(batch_id, link, outcome.applied.size(), now_us, w);
  if (deferred) {
    // Their failure fails the COMMIT, and so the whole transaction; none of them needs its answer
    // read (those that could change a wrong number of rows check themselves).
    if (auto r = conn_.run_deferred(std::move(w.statements)); !r) {
      return std::unexpected(r.error());
    }
  } else {
    // Every write changes exactly the rows it must: anything else is a broken invariant (a
    // balance row deleted behind the ledger's back, a pending transfer resolved twice), and the
    // batch fails (its caller rolls back) rather than write a ledger that does not add up.
    auto results = conn_.run_all(w.statements);
    if (!results) return std::unexpected(results.error());
    std::int64_t group_changed = 0;
    bool exact = true;
    for (std::size_t i = 0; i < results->size(); ++i) {
      if (i >= w.group_from && i < w.group_to) group_changed += (*results)[i].changed;
      exact = exact && (w.changes[i] < 0 || (*results)[i].changed == w.changes[i]);
    }
    if (!exact || group_changed != w.group_rows) {
      return fail(ErrorKind::internal, "ledger_write_mismatch",
                  "a ledger write changed another number of rows than it must (a balance row "
                  "missing, or a pending transfer resolved twice): run tanpu verify");
    }
  }
  head_ = link;
  last_batch_id_ = batch_id;
  return batch_id;
}

Result<void> Repository::add_rows(std::string_view table, std::span<const std::string_view> columns,
                                  std::span<const Param> values, Writes& w) {
  if (values.empty()) return {};
  const auto rows = static_cast<std::int64_t>(values.size() / columns.size());
  if (postgres() && values.size() / columns.size() <= kArrayInsertRowsMax) {
    if (auto insert = store::pg_insert_from_arrays(table, columns, values)) {
      w.add(std::move(*insert), rows);
      return {};
    }
  }
  // Many rows (COPY on PostgreSQL), or SQLite, where a statement costs no round trip: now.
  return conn_.bulk_insert(table, columns, values);
}

// Threads each applied transfer onto its accounts' history lists (hot accounts keep none).
void Repository::link_histories(Outcome& outcome, Snapshot& snapshot) {
  auto link = [&](std::int64_t account_id, std::int64_t seq, std::int64_t& prev) {
    Account& a = snapshot.accounts.at(account_id).account;
    if ((a.flags & account_flags::hot) != 0) {
      prev = 0;
      return;
    }
    prev = a.last_seq;
    a.last_seq = seq;
  };
  for (Transfer& t : outcome.applied) {
    link(t.debit_account_id, t.seq, t.debit_prev_seq);
    link(t.credit_account_id, t.seq, t.credit_prev_seq);
  }
}

void Repository::transfer_params(std::span<const Transfer> rows,
                                 std::vector<std::array<std::uint8_t, 16>>& id_bytes,
                                 std::vector<Param>& out) {
  id_bytes.resize(rows.size() * 2);
  out.reserve(out.size() + rows.size() * kTransferInsertColumns.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Transfer& t = rows[i];
    id_bytes[2 * i] = t.id.to_bytes();
    out.emplace_back(t.seq);
    out.emplace_back(std::span<const std::uint8_t>(id_bytes[2 * i]));
    out.emplace_back(t.debit_account_id);
    out.emplace_back(t.credit_account_id);
    out.emplace_back(t.amount);
    if (t.pending_id.is_zero()) {
      out.emplace_back(nullptr);
    } else {
      id_bytes[2 * i + 1] = t.pending_id.to_bytes();
      out.emplace_back(std::span<const std::uint8_t>(id_bytes[2 * i + 1]));
    }
    out.emplace_back(t.timeout_s);
    out.emplace_back(static_cast<std::int64_t>(t.code));
    out.emplace_back(static_cast<std::int64_t>(t.flags));
    out.emplace_back(std::string_view(t.reference));
    out.emplace_back(t.timestamp_us);
    out.emplace_back(t.debit_prev_seq);
    out.emplace_back(t.credit_prev_seq);
  }
}

void Repository::add_balances(const Snapshot& snapshot, std::int64_t batch_id, bool self_check,
                              Writes& w) {
  std::vector<const Account*> touched;
  for (const auto& [id, st] : snapshot.accounts) {
    if (!st.touched) continue;
    const Account& a = st.account;
    if ((a.flags & account_flags::hot) != 0) {
      store::Statement delta(
          "INSERT INTO ledger_hot_deltas (batch_id, account_id, debits_pending, debits_posted, "
          "credits_pending, credits_posted) VALUES (?, ?, ?, ?, ?, ?)");
      for (std::int64_t v : {batch_id, a.id, a.debits_pending, a.debits_posted, a.credits_pending,
                             a.credits_posted}) {
        delta.bind(v);
      }
      w.add(std::move(delta), 1);
      continue;
    }
    touched.push_back(&a);
  }
  if (touched.empty()) return;
  std::sort(touched.begin(), touched.end(),
            [](const Account* x, const Account* y) { return x->id < y->id; });
  // Multi-row writes rather than a statement per account: the rows exist (create_accounts writes
  // them), so each is an update.
  static constexpr std::size_t kWidth = 6;
  std::vector<Param> values;
  values.reserve(touched.size() * kWidth);
  for (const Account* a : touched) {
    for (std::int64_t v : {a->id, a->debits_pending, a->debits_posted, a->credits_pending,
                           a->credits_posted, a->last_seq}) {
      values.emplace_back(v);
    }
  }
  // Integers only: the statements borrow nothing from values.
  w.group_from = w.statements.size();
  w.group_rows = static_cast<std::int64_t>(touched.size());
  if (postgres()) {
    // One UPDATE joined to the six columns as arrays: about 6 % more transfers/s in the ledger
    // bench than INSERT … ON CONFLICT DO UPDATE, which first tries each row as an insert. A
    // missing row would make it change fewer rows: run_all's caller counts them; a statement that
    // goes with COMMIT, whose answer nobody reads, checks the count itself (a division by zero).
    std::vector<std::string> arrays;
    const auto unnest = store::pg_unnest(values, kWidth, arrays);
    TANPU_ASSERT(unnest.has_value());
    const std::string update =
        "UPDATE ledger_balances b SET debits_pending = u.dp, debits_posted = u.dpo, "
        "credits_pending = u.cp, credits_posted = u.cpo, last_seq = u.ls FROM " +
        *unnest + " AS u (id, dp, dpo, cp, cpo, ls) WHERE b.account_id = u.id";
    store::Statement st(self_check ? "WITH w AS (" + update +
                                         " RETURNING 1) SELECT 1 / CAST(COUNT(*) = ? AS INTEGER) "
                                         "FROM w"
                                   : update);
    for (std::string& a : arrays) st.bind_owned(std::move(a));
    if (self_check) st.bind(w.group_rows);
    w.add(std::move(st), -1);
    w.group_to = w.statements.size();
    return;
  }
  for (store::Statement& st : store::upsert_statements(
           conn_.dialect(), "ledger_balances",
           "account_id, debits_pending, debits_posted, credits_pending, credits_posted, last_seq",
           kWidth, "account_id",
           "debits_pending = excluded.debits_pending, debits_posted = excluded.debits_posted, "
           "credits_pending = excluded.credits_pending, credits_posted = "
           "excluded.credits_posted, last_seq = excluded.last_seq",
           values)) {
    w.add(std::move(st), -1);
  }
  w.group_to = w.statements.size();
}

Result<void> Repository::add_pendings(const Outcome& outcome,
                                      std::vector<std::array<std::uint8_t, 16>>& bytes,
                                      std::vector<Param>& values, Writes& w) {
  static constexpr std::array<std::string_view, 6> cols = {
      "id", "debit_account_id", "credit_account_id", "amount", "expires_at_us", "state"};
  // Reserved first: the parameters borrow the bytes, which must not move.
  bytes.reserve(outcome.new_pendings.size() + outcome.resolved.size());
  auto id = [&](const Id128& i) {
    return std::span<const std::uint8_t>(bytes.emplace_back(i.to_bytes()));
  };
  values.reserve(outcome.new_pendings.size() * cols.size());
  for (const PendingRecord& p : outcome.new_pendings) {
    values.emplace_back(id(p.transfer.id));
    values.emplace_back(p.transfer.debit_account_id);
    values.emplace_back(p.transfer.credit_account_id);
    values.emplace_back(p.transfer.amount);
    values.emplace_back(p.expires_at_us);
    values.emplace_back(std::int64_t{0});
  }
  if (auto r = add_rows("ledger_pending", cols, values, w); !r) return r;
  // Each changes one row, or a pending transfer resolved here is not pending in the store. On
  // PostgreSQL the statement checks that itself (a division by the rows it changed), so that it
  // holds even when it goes with COMMIT and nobody reads its answer first.
  for (const PendingRecord& p : outcome.resolved) {
    store::Statement st(
        postgres() ? "WITH u AS (UPDATE ledger_pending SET state = ? WHERE id = ? AND state = 0 "
                     "RETURNING 1) SELECT 1 / (SELECT COUNT(*) FROM u)"
                   : "UPDATE ledger_pending SET state = ? WHERE id = ? AND state = 0");
    st.bind(static_cast<std::int64_t>(p.state)).bind(id(p.transfer.id));
    w.add(std::move(st), postgres() ? -1 : 1);
  }
  return {};
}

Result<void> Repository::lock_head() {
  auto head = conn_.query(postgres() ? kLockHeadPostgres : kLockHeadSqlite);
  if (!head) return std::unexpected(head.error());
  take_head(*head);
  return {};
}

ChainLink Repository::link_from(const store::Rows& rows, std::size_t r, std::size_t pos_col,
                                std::size_t hash_col) {
  auto hash = from_hex(rows.text(r, hash_col));
  TANPU_ASSERT(hash && hash->size() == 32);
  ChainLink link;
  link.chain_pos = rows.i64(r, pos_col);
  std::copy(hash->begin(), hash->end(), link.hash.begin());
  return link;
}

void Repository::take_head(const store::Rows& head) {
  TANPU_ASSERT(head.size() == 1);
  head_ = link_from(head, 0, 0, 1);
  last_batch_id_ = head.i64(0, 2);
}

const ChainLink& Repository::head() const {
  TANPU_ASSERT_MSG(head_.has_value(), "the chain head was not locked");
  return *head_;
}

void Repository::add_link(std::int64_t batch_id, const ChainLink& link, std::size_t transfers,
                          std::int64_t now_us, Writes& w) {
  std::string prev_hex = to_hex(head().hash);
  std::string hash_hex = to_hex(link.hash);
  const auto count = static_cast<std::int64_t>(transfers);
  if (postgres()) {
    // One statement for the head and the batch's row.
    store::Statement st(
        "WITH h AS (UPDATE ledger_chain_head SET chain_pos = ?, hash = ?, last_batch_id = ? WHERE "
        "singleton = 1 RETURNING 1) INSERT INTO ledger_batches (id, chain_pos, prev_hash, hash, "
        "transfer_count, created_at_us) SELECT ?, ?, ?, ?, ?, ? FROM h");
    st.bind(link.chain_pos).bind_owned(hash_hex).bind(batch_id).bind(batch_id);
    st.bind(link.chain_pos).bind_owned(std::move(prev_hex)).bind_owned(std::move(hash_hex));
    st.bind(count).bind(now_us);
    w.add(std::move(st), 1);
    return;
  }
  store::Statement head_update(
      "UPDATE ledger_chain_head SET chain_pos = ?, hash = ?, last_batch_id = ? WHERE singleton "
      "= 1");
  head_update.bind(link.chain_pos).bind_owned(hash_hex).bind(batch_id);
  w.add(std::move(head_update), 1);
  store::Statement row(
      "INSERT INTO ledger_batches (id, chain_pos, prev_hash, hash, transfer_count, "
      "created_at_us) VALUES (?, ?, ?, ?, ?, ?)");
  row.bind(batch_id).bind(link.chain_pos).bind_owned(std::move(prev_hex));
  row.bind_owned(std::move(hash_hex)).bind(count).bind(now_us);
  w.add(std::move(row), 1);
}

namespace {

// One statement, so the row and its hot deltas are read from one snapshot on PostgreSQL. `key` is
// the account's id as an SQL expression; it appears twice, with its parameters each time.
std::string account_sql(std::string_view key) {
  return "SELECT a.id, a.currency, a.owner_kind, a.owner_id, a.flags, "
         "b.debits_pending + COALESCE(d.dp, 0), b.debits_posted + COALESCE(d.dpo, 0), "
         "b.credits_pending + COALESCE(d.cp, 0), b.credits_posted + COALESCE(d.cpo, 0), "
         "a.created_at_us, b.last_seq FROM ledger_accounts a JOIN ledger_balances b ON "
         "b.account_id = a.id LEFT JOIN (SELECT account_id, "
         "CAST(SUM(debits_pending) AS BIGINT) AS dp, CAST(SUM(debits_posted) AS BIGINT) AS dpo, "
         "CAST(SUM(credits_pending) AS BIGINT) AS cp, CAST(SUM(credits_posted) AS BIGINT) AS cpo "
         "FROM ledger_hot_deltas WHERE account_id = " +
         std::string(key) +
         " GROUP BY account_id) d ON d.account_id = a.id WHERE a.id = " + std::string(key);
}

Result<Account> one_account(Result<store::Rows> rows) {
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) {
    return fail(ErrorKind::not_found, "account_not_found", "no account with this id", "account_id");
  }
  return account_from_row(*rows, 0);
}

}  // namespace

Result<Account> Repository::account(std::int64_t id) {
  static const std::string sql = account_sql("?");
  return one_account(conn_.query(sql, {id, id}));
}

store::Statement Repository::owner_account_statement(Currency currency, std::string_view owner_kind,
                                                     std::string_view owner_id) {
  static const std::string sql = account_sql(
      "(SELECT id FROM ledger_accounts WHERE owner_kind = ? AND owner_id = ? AND currency = ?)");
  const auto cur = static_cast<std::int64_t>(currency);
  store::Statement st(sql);
  for (int twice = 0; twice < 2; ++twice)
    st.bind_owned(std::string(owner_kind)).bind_owned(std::string(owner_id)).bind(cur);
  return st;
}

Result<Account> Repository::owner_account_from(Result<store::Rows> rows) {
  return one_account(std::move(rows));
}

Result<std::vector<Transfer>> Repository::transfers_by_ids(std::span<const Id128> ids) {
  Snapshot s;
  if (auto r = load_existing(ids, s); !r) return std::unexpected(r.error());
  std::vector<Transfer> out;
  for (const Id128& id : ids) {
    if (const auto it = s.existing.find(id); it != s.existing.end()) out.push_back(it->second);
  }
  return out;
}

Result<std::vector<Transfer>> Repository::history(const Account& account, std::int64_t from,
                                                  std::size_t limit) {
  const auto n = static_cast<std::int64_t>(limit);
  Result<store::Rows> rows = store::Rows{};
  if ((account.flags & account_flags::hot) != 0) {
    // Hot accounts keep no list (they are on one side of nearly everything): scan.
    static const std::string scan =
        "SELECT " + std::string(kTransferColumns) +
        " FROM ledger_transfers WHERE seq <= ? AND (debit_account_id = ? OR credit_account_id = ?) "
        "ORDER BY seq DESC LIMIT ?";
    rows = conn_.query(scan, {from, account.id, account.id, n});
  } else {
    // Follow the list: each step is a primary-key look-up.
    static const std::string walk =
        "WITH RECURSIVE h(seq, depth) AS (SELECT CAST(? AS BIGINT), 1 UNION ALL "
        "SELECT CASE WHEN t.debit_account_id = ? THEN t.debit_prev_seq ELSE t.credit_prev_seq END, "
        "h.depth + 1 FROM h JOIN ledger_transfers t ON t.seq = h.seq WHERE h.depth < ?) "
        "SELECT " +
        std::string(
            "t.seq, t.id, t.debit_account_id, t.credit_account_id, t.amount, "
            "t.pending_id, t.timeout_s, t.code, t.flags, t.reference, t.timestamp_us, "
            "t.debit_prev_seq, t.credit_prev_seq") +
        " FROM h JOIN ledger_transfers t ON t.seq = h.seq ORDER BY t.seq DESC";
    rows = conn_.query(walk, {from, account.id, n});
  }
  if (!rows) return std::unexpected(rows.error());
  std::vector<Transfer> out;
  out.reserve(rows->size());
  for (std::size_t r = 0; r < rows->size(); ++r) out.push_back(transfer_from_row(*rows, r));
  return out;
}

Result<std::vector<Id128>> Repository::expired_pending(std::int64_t now_us, std::size_t max) {
  auto rows = conn_.query(
      "SELECT id FROM ledger_pending WHERE state = 0 AND expires_at_us > 0 AND expires_at_us <= ? "
      "ORDER BY expires_at_us LIMIT ?",
      {now_us, static_cast<std::int64_t>(max)});
  if (!rows) return std::unexpected(rows.error());
  std::vector<Id128> out;
  for (std::size_t r = 0; r < rows->size(); ++r) out.push_back(id_from(*rows, r, 0));
  return out;
}

Result<void> Repository::warm_cache() {
  auto rows = conn_.query("SELECT id, currency, flags FROM ledger_accounts WHERE (flags & 4) <> 0");
  if (!rows) return std::unexpected(rows.error());
  for (std::size_t r = 0; r < rows->size(); ++r) {
    cache_.put(rows->i64(r, 0), {static_cast<Currency>(rows->i64(r, 1)),
                                 static_cast<std::uint32_t>(rows->i64(r, 2))});
  }
  return {};
}

Result<std::int64_t> Repository::compact_hot_deltas(std::int64_t account_id) {
  // DELETE … RETURNING folds exactly the rows it removes, even while other batches append more.
  auto rows = conn_.query(
      "DELETE FROM ledger_hot_deltas WHERE account_id = ? RETURNING debits_pending, debits_posted, "
      "credits_pending, credits_posted",
      {account_id});
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return 0;
  std::array<std::int64_t, 4> sum{};
  for (std::size_t r = 0; r < rows->size(); ++r) {
    for (std::size_t c = 0; c < 4; ++c) {
      const auto v = checked_add(sum[c], rows->i64(r, c));
      if (!v) return fail(ErrorKind::internal, "overflow", "hot account balance passes int64");
      sum[c] = *v;
    }
  }
  auto u = conn_.exec(
      "UPDATE ledger_balances SET debits_pending = debits_pending + ?, debits_posted = "
      "debits_posted + ?, credits_pending = credits_pending + ?, credits_posted = credits_posted + "
      "? WHERE account_id = ?",
      {sum[0], sum[1], sum[2], sum[3], account_id});
  if (!u) return std::unexpected(u.error());
  return static_cast<std::int64_t>(rows->size());
}

}  // namespace tanpu::ledger
