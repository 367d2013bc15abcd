#include "ledger/ledger.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "core/assert.h"
#include "core/limits.h"
#include "core/log.h"
#include "ledger/apply.h"
#include "ledger/chain.h"
#include "ledger/repository.h"

namespace tanpu::ledger {
namespace {

constexpr std::size_t kOwnerKindBytesMax = 32;
constexpr std::size_t kOwnerIdBytesMax = 128;
constexpr std::size_t kHistoryAccountsMax = 8;
// Two coalescers: while one batch waits for its commit, the next is being formed and applied.
constexpr std::size_t kCoalescerThreads = 2;

Result<void> validate_new_account(const NewAccount& a, std::size_t index) {
  const std::string at = "accounts[" + std::to_string(index) + "]";
  if ((a.flags & ~account_flags::all) != 0) {
    return fail(ErrorKind::invalid, "invalid_flags", "unknown account flags", at + ".flags");
  }
  if ((a.flags & account_flags::hot) != 0 &&
      (a.flags & account_flags::debits_must_not_exceed_credits) != 0) {
    return fail(ErrorKind::invalid, "invalid_flags",
                "a hot account cannot have a balance limit: it is never locked or read per batch",
                at + ".flags");
  }
  if (a.currency != Currency::points && a.currency != Currency::co2e_mg) {
    return fail(ErrorKind::invalid, "unknown_currency", "currency must be points or co2e_mg",
                at + ".currency");
  }
  if (a.owner_kind.empty() || a.owner_kind.size() > kOwnerKindBytesMax) {
    return fail(ErrorKind::invalid, "invalid_owner_kind", "owner_kind must be 1-32 bytes",
                at + ".owner_kind");
  }
  if (a.owner_id.size() > kOwnerIdBytesMax) {
    return fail(ErrorKind::invalid, "too_long", "owner_id is over 128 bytes", at + ".owner_id");
  }
  return {};
}

// The id of the void that expires a pending transfer: derived, so two servers expiring the same
// pending write the same transfer id and only one applies.
Id128 expiry_id(const Id128& pending_id) {
  const auto bytes = pending_id.to_bytes();
  Sha256 h;
  h.update(std::string_view("tanpu-expire:"));
  h.update(bytes);
  const Sha256Digest d = h.finish();
  return Id128::from_bytes(std::span<const std::uint8_t>(d.data(), 16));
}

}  // namespace

struct Ledger::Coalescer {
  struct Submission {
    std::span<const Transfer> transfers;
    std::vector<TransferStatus> statuses;
    std::optional<Error> error;
    bool done = false;
  };
  std::mutex mu;
  std::condition_variable work;
  std::condition_variable finished;
  std::deque<Submission*> queue;
  bool stopping = false;
  std::vector<std::thread> threads;
};

Ledger::Ledger(store::Store& store, const Clock& clock)
    : store_(store),
      clock_(clock),
      cache_(std::make_unique<AccountCache>()),
      balances_(std::make_unique<BalanceCache>(limits::ledger_cached_accounts_max)),
      coalescer_(std::make_unique<Coalescer>()) {
  if (auto lease = store_.acquire(); lease) {
    if (auto r = Repository(**lease, *cache_).warm_cache(); !r) {
      log::warn("ledger_cache_warm_failed", {{"error", r.error().message}});
    }
  }
  for (std::size_t i = 0; i < kCoalescerThreads; ++i) {
    coalescer_->threads.emplace_back([this] { coalesce_loop(); });
  }
}

Ledger::~Ledger() {
  {
    std::lock_guard lock(coalescer_->mu);
    coalescer_->stopping = true;
  }
  coalescer_->work.notify_all();
  for (auto& t : coalescer_->threads) t.join();
}

Result<std::vector<std::int64_t>> Ledger::create_accounts(store::Connection& conn,
                                                          std::span<const NewAccount> accounts) {
  for (std::size_t i = 0; i < accounts.size(); ++i) {
    if (auto r = validate_new_account(accounts[i], i); !r) return std::unexpected(r.error());
  }
  std::vector<std::int64_t> ids;
  ids.reserve(accounts.size());
  const std::int64_t now = clock_.now_us();
  for (const NewAccount& a : accounts) {
    auto rows = conn.query(
        "INSERT INTO ledger_accounts (currency, owner_kind, owner_id, flags, created_at_us) "
        "VALUES (?, ?, ?, ?, ?) RETURNING id",
        {static_cast<std::int64_t>(a.currency), std::string_view(a.owner_kind),
         std::string_view(a.owner_id), static_cast<std::int64_t>(a.flags), now});
    if (!rows) return std::unexpected(rows.error());
    ids.push_back(rows->i64(0, 0));
    cache_->put(ids.back(), {a.currency, a.flags});
  }
  // Every account has its balance row from the start (zeros), so a batch only ever updates one.
  std::vector<store::Param> balance_rows(ids.begin(), ids.end());
  static constexpr std::string_view kBalanceColumns[] = {"account_id"};
  if (auto r = conn.bulk_insert("ledger_balances", kBalanceColumns, balance_rows); !r) {
    return std::unexpected(r.error());
  }
  return ids;
}

Result<BatchResult> Ledger::apply(store::Connection& conn, std::span<Transfer> transfers,
                                  bool allow_expired, bool at_commit) {
  if (transfers.size() > limits::transfers_per_batch_max) {
    return fail(ErrorKind::too_large, "batch_too_large",
                "at most " + std::to_string(limits::transfers_per_batch_max) +
                    " transfers per ledger batch");
  }
  // Optimistic first: fresh ids are the rule, so do not probe for each one; the unique index
  // tells if one was stored before, and then the batch is undone and redone with probes.
  constexpr std::string_view kSavepoint = "ledger_batch";
  if (auto r = conn.savepoint(kSavepoint); !r) return std::unexpected(r.error());
  auto outcome = apply_once(conn, transfers, allow_expired, false, at_commit);
  if (!outcome && outcome.error().code == store::kUniqueViolation) {
    if (auto r = conn.rollback_to(kSavepoint); !r) return std::unexpected(r.error());
    outcome = apply_once(conn, transfers, allow_expired, true, at_commit);
    if (!outcome && outcome.error().code == store::kUniqueViolation) {
      // Another server stored one of these ids since we probed: the job is re-run from the start.
      (void)conn.rollback_to(kSavepoint);
      (void)conn.release(kSavepoint);
      return fail(ErrorKind::unavailable, std::string(store::kRetryable),
                  "a transfer id was applied concurrently; retrying");
    }
  }
  if (!outcome) {
    (void)conn.rollback_to(kSavepoint);
    (void)conn.release(kSavepoint);
    return std::unexpected(outcome.error());
  }
  if (auto r = conn.release(kSavepoint); !r) return std::unexpected(r.error());
  balances_->store(outcome->from, outcome->to, outcome->snapshot);
  // Hand the ledger-assigned fields back to the caller.
  std::size_t next = 0;
  for (std::size_t i = 0; i < transfers.size(); ++i) {
    if (outcome->outcome.statuses[i] != TransferStatus::ok) continue;
    TANPU_ASSERT(next < outcome->outcome.applied.size() &&
                 outcome->outcome.applied[next].id == transfers[i].id);
    transfers[i] = std::move(outcome->outcome.applied[next++]);
  }
  TANPU_ASSERT(next == outcome->outcome.applied.size());
  return BatchResult{std::move(outcome->outcome.statuses), outcome->batch_id};
}

Result<Ledger::Applied> Ledger::apply_once(store::Connection& conn,
                                           std::span<const Transfer> transfers, bool allow_expired,
                                           bool probe_ids, bool at_commit) {
  // Every batch locks the chain head first and takes the accounts it touches from the balance
  // cache while the head is where the cache left it (repository.h); so batches, in any process,
  // run one at a time from their first statement to their COMMIT.
  Applied out;
  Repository repo(conn, *cache_, balances_.get());
  Snapshot& snapshot = out.snapshot;
  if (auto r = repo.load_snapshot(transfers, snapshot, probe_ids); !r) {
    return std::unexpected(r.error());
  }
  out.from = repo.head();
  const ApplyContext ctx{clock_.now_us(), allow_expired};
  out.outcome = apply_batch(snapshot, transfers, ctx);
  if (!repo.probed()) {
    // A refusal may hide an id stored before (a replayed post is "already posted", not "exists"):
    // probe the refused ones, normally none, and take the probing path if any was stored.
    std::vector<Id128> refused;
    for (std::size_t i = 0; i < transfers.size(); ++i) {
      if (out.outcome.statuses[i] != TransferStatus::ok) refused.push_back(transfers[i].id);
    }
    if (!refused.empty()) {
      auto stored = repo.transfers_by_ids(refused);
      if (!stored) return std::unexpected(stored.error());
      if (!stored->empty()) {
        return fail(ErrorKind::conflict, std::string(store::kUniqueViolation), "replayed ids");
      }
    }
  }
  // Writes that go with COMMIT must not need the unique index's answer: the ids were probed.
  auto batch_id = repo.write_outcome(out.outcome, snapshot, ctx.now_us, at_commit && repo.probed());
  if (!batch_id) return std::unexpected(batch_id.error());
  out.batch_id = *batch_id;
  out.to = out.batch_id == 0 ? out.from : repo.head();
  return out;
}

Result<BatchResult> Ledger::create_transfers(store::Connection& conn,
                                             std::span<Transfer> transfers) {
  return apply(conn, transfers, false);
}

// The transfers a transaction's jobs deferred, applied at its end as few batches as the batch limit
// allows (split only between two jobs' calls, so a linked chain stays in one batch).
struct Ledger::Deferred final : store::TransactionTail {
  explicit Deferred(Ledger& l) : ledger(l) {}
  Result<void> finish(store::Connection& conn) override {
    std::size_t from = 0;
    std::size_t call = 0;
    while (from < transfers.size()) {
      std::size_t to = call_ends[call++];
      while (call < call_ends.size() && call_ends[call] - from <= limits::transfers_per_batch_max) {
        to = call_ends[call++];
      }
      const std::span<Transfer> batch = std::span(transfers).subspan(from, to - from);
      auto applied = ledger.apply(conn, batch, false, true);
      if (!applied) return std::unexpected(applied.error());
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (applied->statuses[i] != TransferStatus::ok) {
          return std::unexpected(refusals[from + i](applied->statuses[i]));
        }
      }
      from = to;
    }
    return {};
  }
  std::size_t size() const override { return transfers.size(); }
  void truncate(std::size_t entries) override {
    transfers.resize(entries);
    refusals.resize(entries);
    while (!call_ends.empty() && call_ends.back() > entries) call_ends.pop_back();
  }

  Ledger& ledger;
  std::vector<Transfer> transfers;
  std::vector<Refusal> refusals;       // one per transfer
  std::vector<std::size_t> call_ends;  // where each defer_transfers call's transfers end
};

void Ledger::defer_transfers(store::Connection& conn, std::span<const Transfer> transfers,
                             Refusal refusal) {
  TANPU_ASSERT(refusal != nullptr);
  TANPU_ASSERT_MSG(transfers.size() <= limits::transfers_per_batch_max,
                   "deferred transfers of one call go in one batch");
  if (transfers.empty()) return;
  auto* tail = static_cast<Deferred*>(conn.tail(this));
  if (tail == nullptr) {
    tail = static_cast<Deferred*>(&conn.add_tail(this, std::make_unique<Deferred>(*this)));
  }
  tail->transfers.insert(tail->transfers.end(), transfers.begin(), transfers.end());
  tail->refusals.resize(tail->transfers.size(), refusal);
  tail->call_ends.push_back(tail->transfers.size());
}

Result<std::vector<TransferStatus>> Ledger::submit(std::span<const Transfer> transfers) {
  if (transfers.empty()) return std::vector<TransferStatus>{};
  if (transfers.size() > limits::transfers_per_request_max) {
    return fail(
        ErrorKind::too_large, "too_many_transfers",
        "at most " + std::to_string(limits::transfers_per_request_max) + " transfers per request",
        "transfers");
  }
  // Requests are concatenated into one batch, so a chain left open at the end of this request
  // would link into the next request's transfers: refuse the open tail here.
  std::size_t open_from = transfers.size();
  while (open_from > 0 && (transfers[open_from - 1].flags & transfer_flags::linked) != 0) {
    --open_from;
  }
  if (open_from < transfers.size()) {
    std::vector<TransferStatus> statuses;
    if (open_from > 0) {
      auto head = submit(transfers.first(open_from));
      if (!head) return head;
      statuses = std::move(*head);
    }
    statuses.resize(transfers.size(), TransferStatus::linked_chain_open);
    return statuses;
  }
  Coalescer::Submission sub;
  sub.transfers = transfers;
  std::unique_lock lock(coalescer_->mu);
  coalescer_->queue.push_back(&sub);
  coalescer_->work.notify_one();
  coalescer_->finished.wait(lock, [&] { return sub.done; });
  if (sub.error) return std::unexpected(*sub.error);
  return std::move(sub.statuses);
}

void Ledger::coalesce_loop() {
  Coalescer& c = *coalescer_;
  for (;;) {
    std::vector<Coalescer::Submission*> group;
    {
      std::unique_lock lock(c.mu);
      c.work.wait(lock, [&] { return c.stopping || !c.queue.empty(); });
      if (c.queue.empty()) return;  // stopping and drained
      std::size_t total = 0;
      while (!c.queue.empty() && (group.empty() || total + c.queue.front()->transfers.size() <=
                                                       limits::transfers_per_batch_max)) {
        total += c.queue.front()->transfers.size();
        group.push_back(c.queue.front());
        c.queue.pop_front();
      }
    }
    std::vector<TransferStatus> statuses;
    auto r = store_.write([&](store::Connection& conn) -> Result<void> {
      // Copied per attempt: a retried job must start from the request as submitted.
      std::vector<Transfer> batch;
      for (const auto* s : group)
        batch.insert(batch.end(), s->transfers.begin(), s->transfers.end());
      auto result = apply(conn, batch, false);
      if (!result) return std::unexpected(result.error());
      statuses = std::move(result->statuses);
      return {};
    });
    std::lock_guard lock(c.mu);
    std::size_t offset = 0;
    for (auto* s : group) {
      if (r) {
        s->statuses.assign(
            statuses.begin() + static_cast<std::ptrdiff_t>(offset),
            statuses.begin() + static_cast<std::ptrdiff_t>(offset + s->transfers.size()));
      } else {
        s->error = r.error();
      }
      offset += s->transfers.size();
      s->done = true;
    }
    c.finished.notify_all();
  }
}

Result<std::int64_t> Ledger::expire_pending(std::int64_t now_us, std::size_t max) {
  return store_.write_value<std::int64_t>([&](store::Connection& conn) -> Result<std::int64_t> {
    Repository repo(conn, *cache_);
    auto ids = repo.expired_pending(now_us, std::min(max, limits::transfers_per_batch_max));
    if (!ids) return std::unexpected(ids.error());
    std::vector<Transfer> voids;
    voids.reserve(ids->size());
    for (const Id128& pid : *ids) {
      Transfer t;
      t.id = expiry_id(pid);
      t.pending_id = pid;
      t.flags = transfer_flags::void_pending | transfer_flags::expired;
      t.code = codes::pending_expired;
      t.reference = "expiry";
      voids.push_back(std::move(t));
    }
    if (voids.empty()) return 0;
    auto result = apply(conn, voids, true);
    if (!result) return std::unexpected(result.error());
    return static_cast<std::int64_t>(
        std::count(result->statuses.begin(), result->statuses.end(), TransferStatus::ok));
  });
}

Result<std::int64_t> Ledger::compact_hot_accounts() {
  return store_.write_value<std::int64_t>([&](store::Connection& conn) -> Result<std::int64_t> {
    Repository repo(conn, *cache_);
    std::int64_t folded = 0;
    for (std::int64_t id : {kPlatformPointsAccount, kPlatformCo2eAccount}) {
      auto n = repo.compact_hot_deltas(id);
      if (!n) return std::unexpected(n.error());
      folded += *n;
    }
    return folded;
  });
}

Result<Account> Ledger::lookup_account(store::Connection& conn, std::int64_t id) {
  return Repository(conn, *cache_).account(id);
}

store::Statement Ledger::owner_account_statement(Currency currency, std::string_view owner_kind,
                                                 std::string_view owner_id) {
  return Repository::owner_account_statement(currency, owner_kind, owner_id);
}

Result<Account> Ledger::owner_account_from(Result<store::Rows> rows) {
  return Repository::owner_account_from(std::move(rows));
}

Result<Account> Ledger::lookup_account(std::int64_t id) {
  auto lease = store_.acquire();
  if (!lease) return std::unexpected(lease.error());
  return lookup_account(**lease, id);
}

Result<Transfer> Ledger::lookup_transfer(Id128 id) {
  auto lease = store_.acquire();
  if (!lease) return std::unexpected(lease.error());
  const Id128 ids[] = {id};
  auto found = Repository(**lease, *cache_).transfers_by_ids(ids);
  if (!found) return std::unexpected(found.error());
  if (found->empty()) {
    return fail(ErrorKind::not_found, "transfer_not_found", "no transfer with this id", "id");
  }
  return std::move(found->front());
}

namespace {

// A history cursor holds, per account asked for, the seq to continue from (0: that account is
// done), as 16 hex digits each.
std::string encode_cursor(std::span<const std::int64_t> starts) {
  std::string out;
  for (std::int64_t v : starts) {
    std::array<std::uint8_t, 8> b{};
    for (std::size_t i = 0; i < 8; ++i) {
      b[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(v) >> (56 - 8 * i));
    }
    out += to_hex(b);
  }
  return out;
}

Result<std::vector<std::int64_t>> decode_cursor(std::string_view cursor, std::size_t accounts) {
  auto bytes = from_hex(cursor);
  if (!bytes || bytes->size() != 8 * accounts) {
    return fail(ErrorKind::invalid, "invalid_cursor", "cursor is not one this API gave", "cursor");
  }
  std::vector<std::int64_t> starts(accounts);
  for (std::size_t a = 0; a < accounts; ++a) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | (*bytes)[a * 8 + i];
    if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return fail(ErrorKind::invalid, "invalid_cursor", "cursor is not one this API gave",
                  "cursor");
    }
    starts[a] = static_cast<std::int64_t>(v);
  }
  return starts;
}

}  // namespace

Result<TransferPage> Ledger::list_transfers(std::span<const std::int64_t> account_ids,
                                            std::string_view cursor, std::size_t limit) {
  TANPU_ASSERT(!account_ids.empty() && account_ids.size() <= kHistoryAccountsMax);
  if (limit == 0 || limit > limits::page_size_max) {
    return fail(ErrorKind::invalid, "limit_out_of_range",
                "limit must be 1.." + std::to_string(limits::page_size_max), "limit");
  }
  auto lease = store_.acquire();
  if (!lease) return std::unexpected(lease.error());
  Repository repo(**lease, *cache_);
  std::vector<Account> accounts;
  for (std::int64_t id : account_ids) {
    auto a = repo.account(id);
    if (!a) return std::unexpected(a.error());
    accounts.push_back(std::move(*a));
  }
  std::vector<std::int64_t> starts(accounts.size());
  if (cursor.empty()) {
    for (std::size_t i = 0; i < accounts.size(); ++i) {
      const bool hot = (accounts[i].flags & account_flags::hot) != 0;
      starts[i] = hot ? std::numeric_limits<std::int64_t>::max() : accounts[i].last_seq;
    }
  } else {
    auto decoded = decode_cursor(cursor, accounts.size());
    if (!decoded) return std::unexpected(decoded.error());
    starts = std::move(*decoded);
  }
  // limit+1 from each list tells whether anything is left after this page.
  std::vector<std::vector<Transfer>> lists(accounts.size());
  std::vector<Transfer> merged;
  for (std::size_t i = 0; i < accounts.size(); ++i) {
    if (starts[i] == 0) continue;
    auto part = repo.history(accounts[i], starts[i], limit + 1);
    if (!part) return std::unexpected(part.error());
    lists[i] = std::move(*part);
    merged.insert(merged.end(), lists[i].begin(), lists[i].end());
  }
  std::sort(merged.begin(), merged.end(),
            [](const Transfer& a, const Transfer& b) { return a.seq > b.seq; });
  // A transfer between two of the accounts asked for is in both lists: show it once.
  merged.erase(std::unique(merged.begin(), merged.end(),
                           [](const Transfer& a, const Transfer& b) { return a.seq == b.seq; }),
               merged.end());
  TransferPage page;
  if (merged.size() > limit) {
    merged.resize(limit);
    const std::int64_t oldest = merged.back().seq;
    for (std::size_t i = 0; i < lists.size(); ++i) {
      const auto next = std::find_if(lists[i].begin(), lists[i].end(),
                                     [&](const Transfer& t) { return t.seq < oldest; });
      starts[i] = next == lists[i].end() ? 0 : next->seq;
    }
    page.next_cursor = encode_cursor(starts);
  }
  page.transfers = std::move(merged);
  return page;
}

}  // namespace tanpu::ledger
