#include "ledger/chain.h"

#include <algorithm>

#include "core/limits.h"

namespace tanpu::ledger {
namespace {

// Big-endian stores into a buffer sized in advance: the encoder runs for every transfer of every
// batch on the store's writer, where a push_back per byte cost more than the SHA-256 itself.
std::uint8_t* put_u64(std::uint8_t* at, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) *at++ = static_cast<std::uint8_t>(v >> (8 * i));
  return at;
}
std::uint8_t* put_i64(std::uint8_t* at, std::int64_t v) {
  return put_u64(at, static_cast<std::uint64_t>(v));
}
std::uint8_t* put_u32(std::uint8_t* at, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) *at++ = static_cast<std::uint8_t>(v >> (8 * i));
  return at;
}
std::uint8_t* put_id(std::uint8_t* at, const Id128& id) {
  return put_u64(put_u64(at, id.hi), id.lo);
}

// seq, id, debit, credit, amount, pending_id, timeout, code, flags, timestamp, two prev seqs and
// the reference's length.
constexpr std::size_t kFixedBytes = 8 + 16 + 8 + 8 + 8 + 16 + 8 + 4 + 4 + 8 + 8 + 8 + 4;

}  // namespace

void append_canonical(std::string& out, const Transfer& t) {
  const std::size_t start = out.size();
  out.resize(start + kFixedBytes + t.reference.size());
  auto* at = reinterpret_cast<std::uint8_t*>(out.data() + start);
  at = put_i64(at, t.seq);
  at = put_id(at, t.id);
  at = put_i64(at, t.debit_account_id);
  at = put_i64(at, t.credit_account_id);
  at = put_i64(at, t.amount);
  at = put_id(at, t.pending_id);
  at = put_i64(at, t.timeout_s);
  at = put_u32(at, t.code);
  at = put_u32(at, t.flags);
  at = put_i64(at, t.timestamp_us);
  at = put_i64(at, t.debit_prev_seq);
  at = put_i64(at, t.credit_prev_seq);
  at = put_u32(at, static_cast<std::uint32_t>(t.reference.size()));
  std::copy(t.reference.begin(), t.reference.end(), reinterpret_cast<char*>(at));
}

Sha256Digest link_hash(const Sha256Digest& prev, std::int64_t chain_pos, std::int64_t batch_id,
                       std::span<const Transfer> transfers) {
  Sha256 h;
  h.update(prev);
  constexpr std::size_t kFlushBytes = 64 * 1024;
  std::string buf = "tanpu-ledger-chain-v1";
  buf.reserve(kFlushBytes + kFixedBytes + limits::transfer_reference_bytes_max);
  const std::size_t header = buf.size();
  buf.resize(header + 24);
  auto* at = reinterpret_cast<std::uint8_t*>(buf.data() + header);
  put_u64(put_i64(put_i64(at, chain_pos), batch_id), transfers.size());
  for (const Transfer& t : transfers) {
    append_canonical(buf, t);
    if (buf.size() > kFlushBytes) {
      h.update(buf);
      buf.clear();
    }
  }
  h.update(buf);
  return h.finish();
}

}  // namespace tanpu::ledger
