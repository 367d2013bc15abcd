// The hash chain's encoding is a published format (docs/ledger.md): `tanpu verify` recomputes it
// from stored rows, so it may never change by accident. These known answers pin it.
#include "ledger/chain.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tanpu::ledger {
namespace {

Transfer sample(std::int64_t seq, std::string reference) {
  Transfer t;
  t.seq = seq;
  t.id = Id128{0x0102030405060708ULL, 0x090a0b0c0d0e0f10ULL};
  t.debit_account_id = 1;
  t.credit_account_id = 0x1122334455667788LL;
  t.amount = 1'000'000;
  t.pending_id = Id128{0, 0xffULL};
  t.timeout_s = 86'400;
  t.code = 7;
  t.flags = transfer_flags::pending;
  t.reference = std::move(reference);
  t.timestamp_us = 1'700'000'000'000'000;
  t.debit_prev_seq = 0;
  t.credit_prev_seq = make_seq(3, 9);
  return t;
}

TEST(Chain, CanonicalEncodingIsFixedBigEndian) {
  std::string out;
  append_canonical(out, sample(make_seq(5, 1), "order:42"));
  const std::string expected_hex =
      "0000000000500001"                  // seq
      "0102030405060708090a0b0c0d0e0f10"  // id
      "0000000000000001"                  // debit_account_id
      "1122334455667788"                  // credit_account_id
      "00000000000f4240"                  // amount
      "000000000000000000000000000000ff"  // pending_id
      "0000000000015180"                  // timeout_s
      "00000007"                          // code
      "00000002"                          // flags (pending)
      "00060a24181e4000"                  // timestamp_us
      "0000000000000000"                  // debit_prev_seq
      "0000000000300009"                  // credit_prev_seq
      "00000008"                          // reference length
      "6f726465723a3432";                 // "order:42"
  EXPECT_EQ(to_hex(std::span(reinterpret_cast<const std::uint8_t*>(out.data()), out.size())),
            expected_hex);
}

// Computed with the encoding above; a change here breaks every stored chain.
TEST(Chain, LinkHashKnownAnswer) {
  std::vector<Transfer> batch = {sample(make_seq(5, 0), "order:42"), sample(make_seq(5, 1), "")};
  Sha256Digest prev{};
  prev[0] = 0xab;
  EXPECT_EQ(to_hex(link_hash(prev, 4, 5, batch)),
            "40d464a541eff7b06e01ce6cd40fce1c468d9412e5472016ad38afc7dab531c2");
}

// The encoder flushes to the hash every 64 KiB: a batch far larger than that, with long
// references, must hash as the concatenation of its encodings does.
TEST(Chain, LinkHashOfLargeBatchEqualsHashOfConcatenation) {
  std::vector<Transfer> batch;
  for (int i = 0; i < 3000; ++i) {
    batch.push_back(sample(make_seq(9, static_cast<std::size_t>(i)),
                           std::string(static_cast<std::size_t>(i % 97), 'r')));
  }
  Sha256Digest prev{};
  std::string all = "tanpu-ledger-chain-v1";
  for (std::int64_t v : {std::int64_t{8}, std::int64_t{9}, std::int64_t{3000}}) {
    for (int b = 7; b >= 0; --b)
      all.push_back(static_cast<char>(static_cast<std::uint64_t>(v) >> (8 * b)));
  }
  for (const Transfer& t : batch) append_canonical(all, t);
  Sha256 h;
  h.update(prev);
  h.update(all);
  EXPECT_EQ(link_hash(prev, 8, 9, batch), h.finish());
}

}  // namespace
}  // namespace tanpu::ledger
