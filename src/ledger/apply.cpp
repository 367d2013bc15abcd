#include "ledger/apply.h"

#include "core/assert.h"
#include "core/limits.h"
#include "core/units.h"

namespace tanpu::ledger {
namespace {

using S = TransferStatus;

bool is_second_phase(std::uint32_t flags) {
  return (flags & (transfer_flags::post_pending | transfer_flags::void_pending)) != 0;
}

S check_static(const Transfer& t, const ApplyContext& ctx) {
  if (t.id.is_zero()) return S::invalid_id;
  std::uint32_t allowed = transfer_flags::client_settable;
  if (ctx.allow_expired_flag) allowed |= transfer_flags::expired;
  if ((t.flags & ~allowed) != 0) return S::invalid_flags;
  const bool pending = (t.flags & transfer_flags::pending) != 0;
  const bool post = (t.flags & transfer_flags::post_pending) != 0;
  const bool void_ = (t.flags & transfer_flags::void_pending) != 0;
  if ((pending && (post || void_)) || (post && void_)) return S::invalid_flags;
  if ((t.flags & transfer_flags::expired) != 0 && !void_) return S::invalid_flags;
  if (t.code == 0) return S::invalid_code;
  if (t.reference.size() > limits::transfer_reference_bytes_max) return S::reference_too_long;
  if (t.timeout_s < 0 || t.timeout_s > limits::pending_timeout_s_max)
    return S::timeout_out_of_range;
  if (t.timeout_s != 0 && !pending) return S::timeout_without_pending;
  if (post || void_) {
    if (t.pending_id.is_zero()) return S::pending_id_required;
    if (t.amount < 0) return S::amount_must_be_positive;
    return S::ok;
  }
  if (!t.pending_id.is_zero()) return S::pending_id_must_be_zero;
  if (t.amount <= 0) return S::amount_must_be_positive;
  if (t.debit_account_id == t.credit_account_id) return S::accounts_must_differ;
  return S::ok;
}

// Applies transfers one chain at a time, journaling what a chain changed so a failed chain can be
// undone without copying the snapshot.
class Applier {
 public:
  Applier(Snapshot& snapshot, const ApplyContext& ctx) : s_(snapshot), ctx_(ctx) {}

  Outcome run(std::span<const Transfer> transfers) {
    out_.statuses.assign(transfers.size(), S::ok);
    out_.applied.reserve(transfers.size());
    batch_ids_.reserve(transfers.size());
    std::size_t start = 0;
    while (start < transfers.size()) {
      std::size_t end = start;
      while (end < transfers.size() && (transfers[end].flags & transfer_flags::linked) != 0) ++end;
      if (end == transfers.size()) {
        // The request ends inside a chain: the whole open chain fails.
        for (std::size_t i = start; i < end; ++i) out_.statuses[i] = S::linked_chain_open;
        break;
      }
      run_chain(transfers.subspan(start, end - start + 1), start);
      start = end + 1;
    }
    return std::move(out_);
  }

 private:
  void run_chain(std::span<const Transfer> chain, std::size_t offset) {
    const bool linked = chain.size() > 1;
    journal_on_ = linked;
    const Mark mark = this->mark();
    std::size_t failed_at = chain.size();
    std::size_t exists_count = 0;
    for (std::size_t i = 0; i < chain.size(); ++i) {
      const S status = apply_one(chain[i]);
      out_.statuses[offset + i] = status;
      if (status == S::exists) ++exists_count;
      if (status != S::ok && failed_at == chain.size()) failed_at = i;
      if (status != S::ok && status != S::exists) break;
      if (status == S::exists && linked && exists_count != i + 1) break;
    }
    journal_on_ = false;
    if (!linked || failed_at == chain.size()) {
      account_journal_.clear();
      return;
    }
    // A retried chain that was applied before answers exists for each of its transfers.
    if (exists_count == chain.size()) return;
    rollback(mark);
    for (std::size_t i = 0; i < chain.size(); ++i) {
      if (i != failed_at) out_.statuses[offset + i] = S::linked_event_failed;
    }
  }

  S apply_one(const Transfer& input) {
    if (const S st = check_static(input, ctx_); st != S::ok) return st;
    Transfer t = input;
    if (const auto it = batch_ids_.find(t.id); it != batch_ids_.end()) {
      return same_content(out_.applied[it->second], t) ? S::exists : S::conflict;
    }
    if (const auto it = s_.existing.find(t.id); it != s_.existing.end()) {
      return same_content(it->second, t) ? S::exists : S::conflict;
    }
    t.timestamp_us = ctx_.now_us;
    const S st = is_second_phase(t.flags) ? apply_second_phase(t) : apply_plain(t);
    if (st == S::ok) {
      batch_ids_.emplace(t.id, out_.applied.size());
      out_.applied.push_back(std::move(t));
    }
    return st;
  }

  S apply_plain(Transfer& t) {
    AccountState* dr = find(t.debit_account_id);
    if (dr == nullptr) return S::debit_account_not_found;
    AccountState* cr = find(t.credit_account_id);
    if (cr == nullptr) return S::credit_account_not_found;
    if (dr->account.currency != cr->account.currency) return S::currency_mismatch;
    if ((dr->account.flags & account_flags::credit_only) != 0) return S::debit_account_credit_only;
    const bool pending = (t.flags & transfer_flags::pending) != 0;
    Account& d = dr->account;
    Account& c = cr->account;
    std::int64_t& d_field = pending ? d.debits_pending : d.debits_posted;
    std::int64_t& c_field = pending ? c.credits_pending : c.credits_posted;
    const auto d_new = checked_add(d_field, t.amount);
    const auto c_new = checked_add(c_field, t.amount);
    if (!d_new || !c_new) return S::overflow;
    if ((d.flags & account_flags::debits_must_not_exceed_credits) != 0) {
      const auto debits = checked_add(d.debits_pending, d.debits_posted);
      const auto total = debits ? checked_add(*debits, t.amount) : std::nullopt;
      if (!total) return S::overflow;
      if (*total > d.credits_posted) return S::exceeds_credits;
    }
    touch(*dr);
    touch(*cr);
    d_field = *d_new;
    c_field = *c_new;
    if (pending) {
      const std::int64_t expires = t.timeout_s == 0 ? 0 : ctx_.now_us + t.timeout_s * 1'000'000;
      new_pending_index_.emplace(t.id, out_.new_pendings.size());
      out_.new_pendings.push_back(PendingRecord{t, PendingState::pending, expires});
    }
    return S::ok;
  }

  // The current record of a pending transfer (stored or created earlier in this batch), or null.
  PendingRecord* current_pending(const Id128& id, bool* is_not_pending) {
    if (const auto it = resolved_index_.find(id); it != resolved_index_.end()) {
      return &out_.resolved[it->second];
    }
    if (const auto it = new_pending_index_.find(id); it != new_pending_index_.end()) {
      return &out_.new_pendings[it->second];
    }
    if (const auto it = s_.pendings.find(id); it != s_.pendings.end()) return &it->second;
    *is_not_pending = s_.existing.contains(id) || batch_ids_.contains(id);
    return nullptr;
  }

  S apply_second_phase(Transfer& t) {
    bool not_pending = false;
    PendingRecord* rec = current_pending(t.pending_id, &not_pending);
    if (rec == nullptr) return not_pending ? S::pending_not_pending : S::pending_not_found;
    if (rec->state == PendingState::posted) return S::pending_already_posted;
    if (rec->state == PendingState::voided) return S::pending_already_voided;
    if (rec->state == PendingState::expired) return S::pending_expired;
    const bool expiring = (t.flags & transfer_flags::expired) != 0;
    if (!expiring && rec->expires_at_us != 0 && ctx_.now_us >= rec->expires_at_us) {
      return S::pending_expired;
    }
    const Transfer& p = rec->transfer;
    if ((t.debit_account_id != 0 && t.debit_account_id != p.debit_account_id) ||
        (t.credit_account_id != 0 && t.credit_account_id != p.credit_account_id)) {
      return S::pending_accounts_mismatch;
    }
    const bool post = (t.flags & transfer_flags::post_pending) != 0;
    std::int64_t amount = t.amount == 0 ? p.amount : t.amount;
    if (post && amount > p.amount) return S::post_amount_exceeds_pending;
    if (!post && amount != p.amount) return S::amount_must_match_pending;
    AccountState* dr = find(p.debit_account_id);
    AccountState* cr = find(p.credit_account_id);
    TANPU_ASSERT_MSG(dr != nullptr && cr != nullptr, "pending transfer's accounts not loaded");
    touch(*dr);
    touch(*cr);
    Account& d = dr->account;
    Account& c = cr->account;
    d.debits_pending -= p.amount;
    c.credits_pending -= p.amount;
    TANPU_ASSERT(d.debits_pending >= 0 || (d.flags & account_flags::hot) != 0);
    if (post) {
      // Cannot overflow: the pending amount was reserved in these same fields' siblings.
      d.debits_posted += amount;
      c.credits_posted += amount;
    }
    t.debit_account_id = p.debit_account_id;
    t.credit_account_id = p.credit_account_id;
    t.amount = amount;
    resolve(*rec, post ? PendingState::posted
                       : (expiring ? PendingState::expired : PendingState::voided));
    return S::ok;
  }

  // Only a pending record still in state pending gets here, so it was not resolved in this batch.
  void resolve(const PendingRecord& rec, PendingState state) {
    const Id128 id = rec.transfer.id;
    TANPU_ASSERT(!resolved_index_.contains(id));
    PendingRecord copy = rec;
    copy.state = state;
    resolved_index_.emplace(id, out_.resolved.size());
    out_.resolved.push_back(std::move(copy));
  }

  AccountState* find(std::int64_t id) {
    const auto it = s_.accounts.find(id);
    return it == s_.accounts.end() ? nullptr : &it->second;
  }

  void touch(AccountState& a) {
    if (journal_on_) account_journal_.push_back({a.account.id, a.account, a.touched});
    a.touched = true;
  }

  struct Mark {
    std::size_t applied, new_pendings, resolved;
  };
  Mark mark() const {
    return {out_.applied.size(), out_.new_pendings.size(), out_.resolved.size()};
  }

  void rollback(const Mark& m) {
    // Accounts: restore the before-images in reverse order.
    for (auto it = account_journal_.rbegin(); it != account_journal_.rend(); ++it) {
      AccountState& a = s_.accounts.at(it->id);
      a.account = it->before;
      a.touched = it->was_touched;
    }
    account_journal_.clear();
    for (std::size_t i = m.applied; i < out_.applied.size(); ++i) {
      batch_ids_.erase(out_.applied[i].id);
    }
    out_.applied.resize(m.applied);
    for (std::size_t i = m.new_pendings; i < out_.new_pendings.size(); ++i) {
      new_pending_index_.erase(out_.new_pendings[i].transfer.id);
    }
    out_.new_pendings.resize(m.new_pendings);
    for (std::size_t i = m.resolved; i < out_.resolved.size(); ++i) {
      resolved_index_.erase(out_.resolved[i].transfer.id);
    }
    out_.resolved.resize(m.resolved);
  }

  struct AccountUndo {
    std::int64_t id;
    Account before;
    bool was_touched;
  };

  Snapshot& s_;
  ApplyContext ctx_;
  Outcome out_;
  bool journal_on_ = false;
  std::vector<AccountUndo> account_journal_;
  std::unordered_map<Id128, std::size_t, Id128Hash> batch_ids_;
  std::unordered_map<Id128, std::size_t, Id128Hash> new_pending_index_;
  std::unordered_map<Id128, std::size_t, Id128Hash> resolved_index_;
};

}  // namespace

bool same_content(const Transfer& stored, const Transfer& incoming) {
  const bool second_phase = is_second_phase(incoming.flags);
  // A post/void may leave accounts (0) and amount (0 = all) to the pending transfer; the stored
  // form has them resolved, so compare only what the client stated.
  const bool accounts_ok =
      (second_phase && incoming.debit_account_id == 0 && incoming.credit_account_id == 0) ||
      (stored.debit_account_id == incoming.debit_account_id &&
       stored.credit_account_id == incoming.credit_account_id);
  const bool amount_ok = (second_phase && incoming.amount == 0) || stored.amount == incoming.amount;
  return accounts_ok && amount_ok && stored.pending_id == incoming.pending_id &&
         stored.timeout_s == incoming.timeout_s && stored.code == incoming.code &&
         stored.flags == incoming.flags && stored.reference == incoming.reference;
}

Outcome apply_batch(Snapshot& snapshot, std::span<const Transfer> transfers,
                    const ApplyContext& ctx) {
  return Applier(snapshot, ctx).run(transfers);
}

}  // namespace tanpu::ledger
