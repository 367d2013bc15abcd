// Applying one batch of transfers to a snapshot of the state it touches, in memory, with no I/O.
// The repository loads the snapshot, calls apply_batch, and writes the outcome back. Keeping the
// rules here (pure) makes them testable exhaustively and fast: no allocation per rule check.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "ledger/types.h"

namespace tanpu::ledger {

enum class PendingState : std::uint8_t { pending = 0, posted = 1, voided = 2, expired = 3 };

// A stored pending transfer and what has become of it.
struct PendingRecord {
  Transfer transfer;  // the pending transfer as stored
  PendingState state = PendingState::pending;
  std::int64_t expires_at_us = 0;  // 0 = never
};

// Balances of an account as loaded (for hot accounts: zeros; only deltas are produced).
struct AccountState {
  Account account;
  bool touched = false;
};

// What apply_batch needs to know before it starts.
struct Snapshot {
  std::unordered_map<std::int64_t, AccountState> accounts;  // every account referenced
  std::unordered_map<Id128, Transfer, Id128Hash>
      existing;  // stored transfers with ids in the batch
  std::unordered_map<Id128, PendingRecord, Id128Hash> pendings;  // stored pendings referenced
};

// What apply_batch decided.
struct Outcome {
  std::vector<TransferStatus> statuses;     // one per input transfer
  std::vector<Transfer> applied;            // accepted transfers, in order, fully resolved
  std::vector<PendingRecord> new_pendings;  // pending transfers created by this batch
  std::vector<PendingRecord> resolved;      // stored or new pendings posted/voided/expired here
};

struct ApplyContext {
  std::int64_t now_us = 0;          // the batch's time; transfers get now_us (+ position)
  bool allow_expired_flag = false;  // only the ledger's own expiry may set flags::expired
};

// Applies transfers to snapshot in order. Accounts in the snapshot are updated in place (hot
// accounts too: the caller turns their changes into deltas). Linked chains apply all or nothing.
// The input is not changed; applied transfers are returned resolved in Outcome::applied.
Outcome apply_batch(Snapshot& snapshot, std::span<const Transfer> transfers,
                    const ApplyContext& ctx);

// True if a retried transfer (incoming) has the same content as the stored one.
bool same_content(const Transfer& stored, const Transfer& incoming);

}  // namespace tanpu::ledger
