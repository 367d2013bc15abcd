#include "ledger/repository.h"

#include <algorithm>
#include <array>
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
// costs a handful of round trips on PostgreSQL rather than one per 256 rows.
constexpr std::array<std::size_t, 3> kInSizes = {64, 512, 4096};

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
    entries_.clear();
    head_.reset();
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
  // Entries stored at a head other than the one this batch started at may be stale.
  if (head_ != from) entries_.clear();
  head_.reset();
  if (capacity_ == 0) return;
  for (const auto& [id, st] : snapshot.accounts) {
    const Account& a = st.account;
    if ((a.flags & account_flags::hot) != 0) continue;
    entries_.insert_or_assign(id, Entry{a.currency, a.flags, a.debits_pending, a.debits_posted,
                                        a.credits_pending, a.credits_posted, a.last_seq});
  }
  // Past capacity, drop arbitrary entries down to seven eighths of it.
  if (entries_.size() > capacity_) {
    const std::size_t keep = capacity_ - capacity_ / 8;
    while (entries_.size() > keep) entries_.erase(entries_.begin());
  }
  head_ = to;
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
  if (auto r = lock_head(); !r) return r;
  std::vector<Id128> ids;
  std::vector<Id128> pending_ids;
  if (probe_ids) ids.reserve(transfers.size());
  for (const Transfer& t : transfers) {
    if (probe_ids) ids.push_back(t.id);
    if (!t.pending_id.is_zero()) {
      ids.push_back(t.pending_id);
      pending_ids.push_back(t.pending_id);
    }
  }
  if (auto r = load_existing(ids, snapshot); !r) return r;
  std::sort(pending_ids.begin(), pending_ids.end());
  pending_ids.erase(std::unique(pending_ids.begin(), pending_ids.end()), pending_ids.end());
  if (auto r = load_pendings(pending_ids, snapshot); !r) return r;
  std::vector<std::int64_t> account_ids;
  account_ids.reserve(transfers.size() * 2);
  for (const Transfer& t : transfers) {
    if (t.debit_account_id > 0) account_ids.push_back(t.debit_account_id);
    if (t.credit_account_id > 0) account_ids.push_back(t.credit_account_id);
  }
  for (const auto& [id, rec] : snapshot.pendings) {
    account_ids.push_back(rec.transfer.debit_account_id);
    account_ids.push_back(rec.transfer.credit_account_id);
  }
  return load_accounts(std::move(account_ids), snapshot);
}

Result<void> Repository::load_existing(std::span<const Id128> ids, Snapshot& snapshot) {
  if (ids.empty()) return {};
  static const InQuery sql("SELECT " + std::string(kTransferColumns) +
                           " FROM ledger_transfers WHERE id");
  std::vector<std::array<std::uint8_t, 16>> bytes(kInSizes.back());
  return chunked_in<Id128>(
      conn_, sql, ids,
      [&](const Id128& id, std::size_t i) {
        bytes[i] = id.to_bytes();
        return Param(std::span<const std::uint8_t>(bytes[i]));
      },
      [&](const store::Rows& rows) {
        for (std::size_t r = 0; r < rows.size(); ++r) {
          Transfer t = transfer_from_row(rows, r);
          snapshot.existing.emplace(t.id, std::move(t));
        }
      });
}

Result<void> Repository::load_pendings(std::span<const Id128> ids, Snapshot& snapshot) {
  if (ids.empty()) return {};
  static constexpr std::string_view head =
      "SELECT id, debit_account_id, credit_account_id, amount, expires_at_us, state "
      "FROM ledger_pending WHERE id";
  static const InQuery sql(head);
  std::vector<std::array<std::uint8_t, 16>> bytes(kInSizes.back());
  return chunked_in<Id128>(
      conn_, sql, ids,
      [&](const Id128& id, std::size_t i) {
        bytes[i] = id.to_bytes();
        return Param(std::span<const std::uint8_t>(bytes[i]));
      },
      [&](const store::Rows& rows) {
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
      });
}

Result<void> Repository::load_accounts(std::vector<std::int64_t> ids, Snapshot& snapshot) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  snapshot.accounts.reserve(snapshot.accounts.size() + ids.size());
  std::vector<std::int64_t> cold = cache_.take_hot(ids, snapshot);
  const std::vector<std::int64_t> to_read = balances_->take(head(), cold, snapshot);
  if (to_read.empty()) return {};
  // No owner columns: a batch needs only what the rules read.
  static constexpr std::string_view select =
      "SELECT a.id, a.currency, a.flags, b.debits_pending, b.debits_posted, b.credits_pending, "
      "b.credits_posted, b.last_seq FROM ledger_accounts a JOIN ledger_balances b ON "
      "b.account_id = a.id WHERE a.id";
  static const InQuery sql(select);
  return chunked_in<std::int64_t>(
      conn_, sql, to_read, [](std::int64_t id, std::size_t) { return Param(id); },
      [&](const store::Rows& rows) {
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
      });
}

Result<std::int64_t> Repository::write_outcome(Outcome& outcome, Snapshot& snapshot,
                                               std::int64_t now_us) {
  if (outcome.applied.empty()) return 0;
  TANPU_ASSERT(outcome.applied.size() < (std::size_t{1} << kSeqPositionBits));
  auto batch = conn_.query(
      "INSERT INTO ledger_batches (transfer_count, created_at_us) VALUES (?, ?) RETURNING id",
      {static_cast<std::int64_t>(outcome.applied.size()), now_us});
  if (!batch) return std::unexpected(batch.error());
  const std::int64_t batch_id = batch->i64(0, 0);
  for (std::size_t i = 0; i < outcome.applied.size(); ++i) {
    outcome.applied[i].seq = make_seq(batch_id, i);
  }
  link_histories(outcome, snapshot);
  if (auto r = insert_transfers(outcome.applied); !r) return std::unexpected(r.error());
  if (auto r = update_accounts(snapshot, batch_id); !r) return std::unexpected(r.error());
  if (auto r = write_pendings(outcome); !r) return std::unexpected(r.error());
  if (auto r = append_link(batch_id, outcome.applied); !r) return std::unexpected(r.error());
  return batch_id;
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

Result<void> Repository::insert_transfers(std::span<const Transfer> applied) {
  std::vector<std::array<std::uint8_t, 16>> id_bytes;
  std::vector<Param> values;
  transfer_params(applied, id_bytes, values);
  return conn_.bulk_insert("ledger_transfers", kTransferInsertColumns, values);
}

Result<void> Repository::update_accounts(const Snapshot& snapshot, std::int64_t batch_id) {
  std::vector<const Account*> touched;
  for (const auto& [id, st] : snapshot.accounts) {
    if (!st.touched) continue;
    const Account& a = st.account;
    if ((a.flags & account_flags::hot) != 0) {
      auto r = conn_.exec(
          "INSERT INTO ledger_hot_deltas (batch_id, account_id, debits_pending, debits_posted, "
          "credits_pending, credits_posted) VALUES (?, ?, ?, ?, ?, ?)",
          {batch_id, a.id, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted});
      if (!r) return std::unexpected(r.error());
      continue;
    }
    touched.push_back(&a);
  }
  if (touched.empty()) return {};
  std::sort(touched.begin(), touched.end(),
            [](const Account* x, const Account* y) { return x->id < y->id; });
  // Multi-row upserts (arrays on PostgreSQL, VALUES chunks on SQLite) rather than a statement per
  // account: the rows exist (create_accounts writes them), so each is an update.
  static constexpr std::size_t kWidth = 6;
  std::vector<Param> values;
  values.reserve(touched.size() * kWidth);
  for (const Account* a : touched) {
    for (std::int64_t v : {a->id, a->debits_pending, a->debits_posted, a->credits_pending,
                           a->credits_posted, a->last_seq}) {
      values.emplace_back(v);
    }
  }
  return store::upsert_rows(
      conn_, "ledger_balances",
      "account_id, debits_pending, debits_posted, credits_pending, credits_posted, last_seq",
      kWidth, "account_id",
      "debits_pending = excluded.debits_pending, debits_posted = excluded.debits_posted, "
      "credits_pending = excluded.credits_pending, credits_posted = excluded.credits_posted, "
      "last_seq = excluded.last_seq",
      values);
}

Result<void> Repository::write_pendings(const Outcome& outcome) {
  if (!outcome.new_pendings.empty()) {
    static constexpr std::array<std::string_view, 6> cols = {
        "id", "debit_account_id", "credit_account_id", "amount", "expires_at_us", "state"};
    std::vector<std::array<std::uint8_t, 16>> ids(outcome.new_pendings.size());
    std::vector<Param> values;
    values.reserve(ids.size() * cols.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const PendingRecord& p = outcome.new_pendings[i];
      ids[i] = p.transfer.id.to_bytes();
      values.emplace_back(std::span<const std::uint8_t>(ids[i]));
      values.emplace_back(p.transfer.debit_account_id);
      values.emplace_back(p.transfer.credit_account_id);
      values.emplace_back(p.transfer.amount);
      values.emplace_back(p.expires_at_us);
      values.emplace_back(std::int64_t{0});
    }
    if (auto r = conn_.bulk_insert("ledger_pending", cols, values); !r) return r;
  }
  for (const PendingRecord& p : outcome.resolved) {
    const auto id = p.transfer.id.to_bytes();
    auto r = conn_.exec("UPDATE ledger_pending SET state = ? WHERE id = ? AND state = 0",
                        {static_cast<std::int64_t>(p.state), std::span<const std::uint8_t>(id)});
    if (!r) return std::unexpected(r.error());
    TANPU_ASSERT_MSG(*r == 1, "resolved a pending transfer that is not pending in the store");
  }
  return {};
}

Result<void> Repository::lock_head() {
  auto head =
      conn_.query(postgres() ? "SELECT chain_pos, hash FROM ledger_chain_head WHERE singleton = 1 "
                               "FOR UPDATE"
                             : "SELECT chain_pos, hash FROM ledger_chain_head WHERE singleton = 1");
  if (!head) return std::unexpected(head.error());
  TANPU_ASSERT(head->size() == 1);
  auto hash = from_hex(head->text(0, 1));
  TANPU_ASSERT(hash && hash->size() == 32);
  ChainLink link;
  link.chain_pos = head->i64(0, 0);
  std::copy(hash->begin(), hash->end(), link.hash.begin());
  head_ = link;
  return {};
}

const ChainLink& Repository::head() const {
  TANPU_ASSERT_MSG(head_.has_value(), "the chain head was not locked");
  return *head_;
}

Result<void> Repository::append_link(std::int64_t batch_id, std::span<const Transfer> applied) {
  if (!head_) {
    if (auto r = lock_head(); !r) return r;
  }
  const ChainLink prev = head();
  ChainLink link;
  link.chain_pos = prev.chain_pos + 1;
  link.hash = link_hash(prev.hash, link.chain_pos, batch_id, applied);
  const std::string prev_hex = to_hex(prev.hash);
  const std::string hash_hex = to_hex(link.hash);
  auto u1 = conn_.exec("UPDATE ledger_chain_head SET chain_pos = ?, hash = ? WHERE singleton = 1",
                       {link.chain_pos, std::string_view(hash_hex)});
  if (!u1) return std::unexpected(u1.error());
  auto u2 = conn_.exec(
      "UPDATE ledger_batches SET chain_pos = ?, prev_hash = ?, hash = ? WHERE id = ?",
      {link.chain_pos, std::string_view(prev_hex), std::string_view(hash_hex), batch_id});
  if (!u2) return std::unexpected(u2.error());
  head_ = link;
  return {};
}

Result<Account> Repository::account(std::int64_t id) {
  // One statement, so the row and its hot deltas are read from one snapshot on PostgreSQL.
  static const std::string sql =
      "SELECT a.id, a.currency, a.owner_kind, a.owner_id, a.flags, "
      "b.debits_pending + COALESCE(d.dp, 0), b.debits_posted + COALESCE(d.dpo, 0), "
      "b.credits_pending + COALESCE(d.cp, 0), b.credits_posted + COALESCE(d.cpo, 0), "
      "a.created_at_us, b.last_seq FROM ledger_accounts a JOIN ledger_balances b ON b.account_id "
      "= a.id LEFT JOIN (SELECT account_id, "
      "CAST(SUM(debits_pending) AS BIGINT) AS dp, CAST(SUM(debits_posted) AS BIGINT) AS dpo, "
      "CAST(SUM(credits_pending) AS BIGINT) AS cp, CAST(SUM(credits_posted) AS BIGINT) AS cpo "
      "FROM ledger_hot_deltas WHERE account_id = ? GROUP BY account_id) d ON d.account_id = a.id "
      "WHERE a.id = ?";
  auto rows = conn_.query(sql, {id, id});
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) {
    return fail(ErrorKind::not_found, "account_not_found", "no account with this id", "account_id");
  }
  return account_from_row(*rows, 0);
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
