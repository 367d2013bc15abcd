#include "ledger/chain.h"

namespace tanpu::ledger {
namespace {

void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void put_i64(std::string& out, std::int64_t v) {
  put_u64(out, static_cast<std::uint64_t>(v));
}
void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void put_id(std::string& out, const Id128& id) {
  put_u64(out, id.hi);
  put_u64(out, id.lo);
}

}  // namespace

void append_canonical(std::string& out, const Transfer& t) {
  put_i64(out, t.seq);
  put_id(out, t.id);
  put_i64(out, t.debit_account_id);
  put_i64(out, t.credit_account_id);
  put_i64(out, t.amount);
  put_id(out, t.pending_id);
  put_i64(out, t.timeout_s);
  put_u32(out, t.code);
  put_u32(out, t.flags);
  put_i64(out, t.timestamp_us);
  put_i64(out, t.debit_prev_seq);
  put_i64(out, t.credit_prev_seq);
  put_u32(out, static_cast<std::uint32_t>(t.reference.size()));
  out.append(t.reference);
}

Sha256Digest link_hash(const Sha256Digest& prev, std::int64_t chain_pos, std::int64_t batch_id,
                       std::span<const Transfer> transfers) {
  Sha256 h;
  h.update(prev);
  std::string buf = "tanpu-ledger-chain-v1";
  put_i64(buf, chain_pos);
  put_i64(buf, batch_id);
  put_u64(buf, transfers.size());
  for (const Transfer& t : transfers) {
    append_canonical(buf, t);
    if (buf.size() > 64 * 1024) {
      h.update(buf);
      buf.clear();
    }
  }
  h.update(buf);
  return h.finish();
}

}  // namespace tanpu::ledger
