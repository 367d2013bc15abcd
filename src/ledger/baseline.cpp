#include "ledger/baseline.h"

#include "ledger/repository.h"

#include <array>
#include <vector>

namespace tanpu::ledger::baseline {

Result<void> conventional_transfer(store::Connection& conn, const Transfer& t) {
  if (auto r = conn.begin(); !r) return r;
  const auto id = t.id.to_bytes();
  auto run = [&]() -> Result<void> {
    auto ins = conn.exec(
        "INSERT INTO ledger_transfers (seq, id, debit_account_id, credit_account_id, amount, "
        "pending_id, timeout_s, code, flags, reference, timestamp_us, debit_prev_seq, "
        "credit_prev_seq) "
        "VALUES (?, ?, ?, ?, ?, NULL, 0, ?, 0, ?, ?, 0, 0)",
        {t.seq, std::span<const std::uint8_t>(id), t.debit_account_id, t.credit_account_id,
         t.amount, static_cast<std::int64_t>(t.code), std::string_view(t.reference),
         t.timestamp_us});
    if (!ins) return std::unexpected(ins.error());
    auto d = conn.exec(
        "UPDATE ledger_balances SET debits_posted = debits_posted + ? WHERE account_id = ?",
        {t.amount, t.debit_account_id});
    if (!d) return std::unexpected(d.error());
    auto c = conn.exec(
        "UPDATE ledger_balances SET credits_posted = credits_posted + ? WHERE account_id = ?",
        {t.amount, t.credit_account_id});
    if (!c) return std::unexpected(c.error());
    return {};
  };
  if (auto r = run(); !r) {
    (void)conn.rollback();
    return r;
  }
  return conn.commit();
}

Result<void> insert_rows(store::Connection& conn, std::span<const Transfer> rows) {
  std::vector<std::array<std::uint8_t, 16>> id_bytes;
  std::vector<store::Param> values;
  Repository::transfer_params(rows, id_bytes, values);
  if (auto r = conn.begin(); !r) return r;
  if (auto r = conn.bulk_insert("ledger_transfers", Repository::kTransferInsertColumns, values);
      !r) {
    (void)conn.rollback();
    return r;
  }
  return conn.commit();
}

}  // namespace tanpu::ledger::baseline
