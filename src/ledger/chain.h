// The tamper-evident hash chain over committed batches:
//   hash = SHA-256(prev_hash ‖ header ‖ canonical bytes of the batch's transfers in seq order).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/crypto.h"
#include "ledger/types.h"

namespace tanpu::ledger {

inline constexpr int kSeqPositionBits = 20;  // seq = batch_id << 20 | position

inline std::int64_t make_seq(std::int64_t batch_id, std::size_t position) {
  return (batch_id << kSeqPositionBits) | static_cast<std::int64_t>(position);
}
inline std::int64_t batch_of_seq(std::int64_t seq) {
  return seq >> kSeqPositionBits;
}

// Appends the fixed, big-endian encoding of t (every stored field, in a documented order).
void append_canonical(std::string& out, const Transfer& t);

// The hash of one chain link.
Sha256Digest link_hash(const Sha256Digest& prev, std::int64_t chain_pos, std::int64_t batch_id,
                       std::span<const Transfer> transfers);

}  // namespace tanpu::ledger
