// The designs tanpu's ledger is measured against in `tanpu bench ledger` (same engine, same run):
//  * the conventional path: one transaction per transfer that inserts it and updates both balance
//    rows (what most systems do, and what serialises on the platform account's row);
//  * the engine's limit: bulk-inserting transfer rows with no logic at all.
#pragma once

#include <span>

#include "core/result.h"
#include "ledger/types.h"
#include "store/connection.h"

namespace tanpu::ledger::baseline {

// BEGIN; INSERT the transfer; UPDATE debit row; UPDATE credit row; COMMIT. Single-phase only.
// seq must be set by the caller (unique).
Result<void> conventional_transfer(store::Connection& conn, const Transfer& t);

// INSERTs rows into ledger_transfers as they are (seq set by the caller), in one transaction.
Result<void> insert_rows(store::Connection& conn, std::span<const Transfer> rows);

}  // namespace tanpu::ledger::baseline
