#include "ledger/verify.h"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "ledger/chain.h"
#include "ledger/repository.h"
#include "ledger/types.h"

namespace tanpu::ledger {
namespace {

constexpr std::int64_t kPage = 10'000;

// Sums of int64 balances cannot overflow in 128 bits; __extension__ keeps -Wpedantic quiet.
__extension__ using i128 = __int128;
__extension__ using u128 = unsigned __int128;

struct Balances {
  i128 debits_pending = 0, debits_posted = 0, credits_pending = 0, credits_posted = 0;
};

struct StoredAccount {
  Currency currency;
  std::uint32_t flags;
  std::int64_t last_seq;
  Balances stored;
  Balances recomputed;
};

struct BatchRow {
  std::int64_t id;
  std::int64_t chain_pos;
  std::string prev_hash;
  std::string hash;
  std::int64_t transfer_count;
};

struct OpenPending {
  std::int64_t debit, credit, amount;
  bool resolved;
};

std::string str(i128 v) {
  if (v == 0) return "0";
  const bool neg = v < 0;
  u128 m = neg ? static_cast<u128>(-(v + 1)) + 1 : static_cast<u128>(v);
  std::string s;
  while (m > 0) {
    s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(m % 10)));
    m /= 10;
  }
  return neg ? "-" + s : s;
}

class Verifier {
 public:
  Verifier(store::Connection& conn, std::size_t max) : conn_(conn), max_(max) {}

  Result<VerifyReport> run() {
    if (auto r = load_accounts(); !r) return std::unexpected(r.error());
    if (auto r = load_batches(); !r) return std::unexpected(r.error());
    if (auto r = check_links(); !r) return std::unexpected(r.error());
    if (auto r = replay_transfers(); !r) return std::unexpected(r.error());
    check_balances();
    check_invariants();
    if (auto r = check_pending_table(); !r) return std::unexpected(r.error());
    report_.accounts = static_cast<std::int64_t>(accounts_.size());
    report_.problems.insert(report_.problems.begin(), chain_problems_.begin(),
                            chain_problems_.end());
    if (report_.problems.size() > max_) report_.problems.resize(max_);
    return std::move(report_);
  }

 private:
  void problem(std::string p) { report_.problems.push_back(std::move(p)); }

  Result<void> load_accounts() {
    auto rows = conn_.query(
        "SELECT a.id, a.currency, a.flags, COALESCE(b.debits_pending, 0), "
        "COALESCE(b.debits_posted, 0), COALESCE(b.credits_pending, 0), "
        "COALESCE(b.credits_posted, 0), COALESCE(d.dp, 0), COALESCE(d.dpo, 0), COALESCE(d.cp, 0), "
        "COALESCE(d.cpo, 0), COALESCE(b.last_seq, 0), CASE WHEN b.account_id IS NULL THEN 1 ELSE 0 "
        "END FROM ledger_accounts a LEFT JOIN ledger_balances b ON "
        "b.account_id = a.id LEFT JOIN (SELECT account_id, "
        "CAST(SUM(debits_pending) AS BIGINT) AS dp, CAST(SUM(debits_posted) AS BIGINT) AS dpo, "
        "CAST(SUM(credits_pending) AS BIGINT) AS cp, CAST(SUM(credits_posted) AS BIGINT) AS cpo "
        "FROM ledger_hot_deltas GROUP BY account_id) d ON d.account_id = a.id ORDER BY a.id");
    if (!rows) return std::unexpected(rows.error());
    for (std::size_t r = 0; r < rows->size(); ++r) {
      if (rows->i64(r, 12) != 0) {
        problem("account " + std::to_string(rows->i64(r, 0)) + " has no balance row");
      }
      StoredAccount a{static_cast<Currency>(rows->i64(r, 1)),
                      static_cast<std::uint32_t>(rows->i64(r, 2)),
                      rows->i64(r, 11),
                      {},
                      {}};
      a.stored.debits_pending = i128{rows->i64(r, 3)} + rows->i64(r, 7);
      a.stored.debits_posted = i128{rows->i64(r, 4)} + rows->i64(r, 8);
      a.stored.credits_pending = i128{rows->i64(r, 5)} + rows->i64(r, 9);
      a.stored.credits_posted = i128{rows->i64(r, 6)} + rows->i64(r, 10);
      accounts_.emplace(rows->i64(r, 0), a);
    }
    return {};
  }

  Result<void> load_batches() {
    auto rows = conn_.query(
        "SELECT id, chain_pos, prev_hash, hash, transfer_count FROM ledger_batches ORDER BY id");
    if (!rows) return std::unexpected(rows.error());
    for (std::size_t r = 0; r < rows->size(); ++r) {
      if (rows->is_null(r, 1)) {
        problem("batch id " + std::to_string(rows->i64(r, 0)) + " is not linked into the chain");
        continue;
      }
      BatchRow b{rows->i64(r, 0), rows->i64(r, 1), std::string(rows->text(r, 2)),
                 std::string(rows->text(r, 3)), rows->i64(r, 4)};
      by_id_.emplace(b.id, b);
      max_batch_id_ = std::max(max_batch_id_, b.id);
      by_pos_.emplace(b.chain_pos, b.id);
    }
    report_.batches = static_cast<std::int64_t>(by_pos_.size());
    return {};
  }

  // Links follow each other: positions 1..n without gaps, each prev_hash the previous hash, and
  // the head names the last link.
  Result<void> check_links() {
    std::string prev(64, '0');
    std::int64_t expect = 1;
    for (const auto& [pos, id] : by_pos_) {
      const BatchRow& b = by_id_.at(id);
      if (pos != expect) {
        chain_link_problem(pos, "chain position " + std::to_string(expect) + " is missing");
        expect = pos;
      }
      if (b.prev_hash != prev) {
        chain_link_problem(pos, "chain position " + std::to_string(pos) + " (batch id " +
                                    std::to_string(id) +
                                    ") does not follow the previous link (prev_hash differs)");
      }
      prev = b.hash;
      ++expect;
    }
    auto head = conn_.query(
        "SELECT chain_pos, hash, last_batch_id FROM ledger_chain_head WHERE singleton = 1");
    if (!head) return std::unexpected(head.error());
    if (head->empty() || head->i64(0, 0) != expect - 1 || head->text(0, 1) != prev) {
      chain_link_problem(expect, "the chain head does not name the last link");
    } else if (head->i64(0, 2) < max_batch_id_) {
      // The next batch would take an id that is taken.
      chain_link_problem(expect, "the chain head's last batch id is behind the batches");
    }
    return {};
  }

  void chain_link_problem(std::int64_t pos, std::string text) {
    chain_by_pos_.emplace(pos, std::move(text));
  }

  Result<void> replay_transfers() {
    std::int64_t after = -1;
    std::int64_t current_batch = -1;
    std::vector<Transfer> batch;
    for (;;) {
      auto rows = conn_.query("SELECT " + std::string(Repository::kTransferColumns) +
                                  " FROM ledger_transfers WHERE seq > ? ORDER BY seq LIMIT ?",
                              {after, kPage});
      if (!rows) return std::unexpected(rows.error());
      for (std::size_t r = 0; r < rows->size(); ++r) {
        Transfer t = Repository::transfer_from_row(*rows, r);
        after = t.seq;
        ++report_.transfers;
        if (batch_of_seq(t.seq) != current_batch) {
          finish_batch(current_batch, batch);
          batch.clear();
          current_batch = batch_of_seq(t.seq);
        }
        apply_to_balances(t);
        batch.push_back(std::move(t));
      }
      if (rows->size() < static_cast<std::size_t>(kPage)) break;
    }
    finish_batch(current_batch, batch);
    for (const auto& [id, b] : by_id_) {
      if (!seen_batches_.contains(id) && b.transfer_count > 0) {
        chain_link_problem(b.chain_pos, "chain position " + std::to_string(b.chain_pos) +
                                            " (batch id " + std::to_string(id) +
                                            ") has lost its transfers");
      }
    }
    for (auto& [pos, text] : chain_by_pos_) chain_problems_.push_back(std::move(text));
    return {};
  }

  void finish_batch(std::int64_t batch_id, const std::vector<Transfer>& transfers) {
    if (batch_id < 0) return;
    seen_batches_.insert(batch_id);
    const auto it = by_id_.find(batch_id);
    if (it == by_id_.end()) {
      problem("transfers with seq in batch id " + std::to_string(batch_id) +
              " belong to no linked batch");
      return;
    }
    const BatchRow& b = it->second;
    auto prev = from_hex(b.prev_hash);
    Sha256Digest prev_digest{};
    if (prev && prev->size() == 32) std::copy(prev->begin(), prev->end(), prev_digest.begin());
    const std::string hash = to_hex(link_hash(prev_digest, b.chain_pos, b.id, transfers));
    if (hash != b.hash || static_cast<std::int64_t>(transfers.size()) != b.transfer_count) {
      chain_link_problem(b.chain_pos, "chain position " + std::to_string(b.chain_pos) +
                                          " (batch id " + std::to_string(b.id) +
                                          "): its transfers do not hash to the recorded hash "
                                          "(a transfer was changed, added or removed)");
    }
  }

  Balances* recomputed(std::int64_t account_id, const Transfer& t) {
    const auto it = accounts_.find(account_id);
    if (it == accounts_.end()) {
      problem("transfer " + t.id.to_hex() + " names account " + std::to_string(account_id) +
              " which does not exist");
      return nullptr;
    }
    return &it->second.recomputed;
  }

  // Each normal account's history is a list through *_prev_seq; it must name exactly the previous
  // transfer of that account (hot accounts keep none).
  void check_history_link(std::int64_t account_id, std::int64_t prev, const Transfer& t) {
    const StoredAccount& a = accounts_.at(account_id);
    std::int64_t expected = 0;
    if ((a.flags & account_flags::hot) == 0) {
      std::int64_t& last = last_seq_[account_id];
      expected = last;
      last = t.seq;
    }
    if (prev != expected) {
      problem("transfer " + t.id.to_hex() + " breaks the history of account " +
              std::to_string(account_id));
    }
  }

  void apply_to_balances(const Transfer& t) {
    Balances* d = recomputed(t.debit_account_id, t);
    Balances* c = recomputed(t.credit_account_id, t);
    if (d == nullptr || c == nullptr) return;
    check_history_link(t.debit_account_id, t.debit_prev_seq, t);
    check_history_link(t.credit_account_id, t.credit_prev_seq, t);
    if (accounts_.at(t.debit_account_id).currency != accounts_.at(t.credit_account_id).currency) {
      problem("transfer " + t.id.to_hex() + " moves between accounts of different currencies");
    }
    if (t.amount < 0) problem("transfer " + t.id.to_hex() + " has a negative amount");
    if ((t.flags & transfer_flags::pending) != 0) {
      d->debits_pending += t.amount;
      c->credits_pending += t.amount;
      pendings_[t.id] = {t.debit_account_id, t.credit_account_id, t.amount, false};
      return;
    }
    if ((t.flags & (transfer_flags::post_pending | transfer_flags::void_pending)) == 0) {
      d->debits_posted += t.amount;
      c->credits_posted += t.amount;
      return;
    }
    const auto it = pendings_.find(t.pending_id);
    if (it == pendings_.end() || it->second.resolved) {
      problem("transfer " + t.id.to_hex() + " resolves pending " + t.pending_id.to_hex() +
              " which is not open");
      return;
    }
    OpenPending& p = it->second;
    p.resolved = true;
    d->debits_pending -= p.amount;
    c->credits_pending -= p.amount;
    if ((t.flags & transfer_flags::post_pending) != 0) {
      if (t.amount > p.amount) problem("transfer " + t.id.to_hex() + " posts more than was held");
      d->debits_posted += t.amount;
      c->credits_posted += t.amount;
    }
  }

  void check_balances() {
    for (const auto& [id, a] : accounts_) {
      const Balances& s = a.stored;
      const Balances& r = a.recomputed;
      const std::pair<const char*, std::pair<i128, i128>> fields[] = {
          {"debits_pending", {s.debits_pending, r.debits_pending}},
          {"debits_posted", {s.debits_posted, r.debits_posted}},
          {"credits_pending", {s.credits_pending, r.credits_pending}},
          {"credits_posted", {s.credits_posted, r.credits_posted}}};
      for (const auto& [name, v] : fields) {
        if (v.first != v.second) {
          problem("account " + std::to_string(id) + ": stored " + name + " " + str(v.first) +
                  " but the transfers give " + str(v.second));
        }
      }
      const auto seen = last_seq_.find(id);
      if (a.last_seq != (seen == last_seq_.end() ? 0 : seen->second)) {
        problem("account " + std::to_string(id) + ": last_seq does not name its newest transfer");
      }
    }
  }

  void check_invariants() {
    std::map<Currency, Balances> sums;
    for (const auto& [id, a] : accounts_) {
      Balances& t = sums[a.currency];
      t.debits_pending += a.stored.debits_pending;
      t.debits_posted += a.stored.debits_posted;
      t.credits_pending += a.stored.credits_pending;
      t.credits_posted += a.stored.credits_posted;
      const Balances& s = a.stored;
      if ((a.flags & account_flags::debits_must_not_exceed_credits) != 0 &&
          s.debits_pending + s.debits_posted > s.credits_posted) {
        problem("account " + std::to_string(id) + " is negative: debits exceed credits");
      }
      if ((a.flags & account_flags::credit_only) != 0 &&
          (s.debits_posted != 0 || s.debits_pending != 0)) {
        problem("account " + std::to_string(id) + " is credit-only but was debited");
      }
    }
    for (const auto& [cur, t] : sums) {
      if (t.credits_posted - t.debits_posted != 0 || t.credits_pending - t.debits_pending != 0) {
        problem("balances in " + std::string(to_string(cur)) + " do not sum to zero: posted " +
                str(t.credits_posted - t.debits_posted) + ", pending " +
                str(t.credits_pending - t.debits_pending));
      }
    }
  }

  Result<void> check_pending_table() {
    auto rows = conn_.query("SELECT id, state FROM ledger_pending");
    if (!rows) return std::unexpected(rows.error());
    for (std::size_t r = 0; r < rows->size(); ++r) {
      const Id128 id = Id128::from_bytes(rows->blob(r, 0));
      const bool open = rows->i64(r, 1) == 0;
      const auto it = pendings_.find(id);
      if (it == pendings_.end() || it->second.resolved == open) {
        problem("pending transfer " + id.to_hex() +
                ": its recorded state disagrees with the transfers");
      }
    }
    if (rows->size() != pendings_.size()) {
      problem("the pending table lists " + std::to_string(rows->size()) +
              " pending transfers but the transfers hold " + std::to_string(pendings_.size()));
    }
    return {};
  }

  store::Connection& conn_;
  std::size_t max_;
  VerifyReport report_;
  std::unordered_map<std::int64_t, StoredAccount> accounts_;
  std::unordered_map<std::int64_t, BatchRow> by_id_;
  std::int64_t max_batch_id_ = 0;
  std::map<std::int64_t, std::int64_t> by_pos_;
  std::map<std::int64_t, std::string> chain_by_pos_;
  std::vector<std::string> chain_problems_;
  std::unordered_set<std::int64_t> seen_batches_;
  std::unordered_map<Id128, OpenPending, Id128Hash> pendings_;
  std::unordered_map<std::int64_t, std::int64_t> last_seq_;
};

}  // namespace

Result<VerifyReport> verify(store::Connection& conn, std::size_t problems_max) {
  return Verifier(conn, problems_max).run();
}

}  // namespace tanpu::ledger
