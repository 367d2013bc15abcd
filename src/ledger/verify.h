// `tanpu verify`: recomputes every balance from the transfers and every link of the hash chain, and
// checks the ledger's invariants. Reads only; names the first inconsistency it finds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "store/connection.h"

namespace tanpu::ledger {

struct VerifyReport {
  std::int64_t batches = 0;
  std::int64_t transfers = 0;
  std::int64_t accounts = 0;
  // Problems in the order a reader should see them: chain first (in chain order), then balances
  // (by account id), then invariants. Empty when the ledger is consistent.
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};

// Runs all checks on conn (use a connection with a consistent snapshot: the caller opens a
// transaction). At most problems_max problems are listed. Errors only for database failures.
Result<VerifyReport> verify(store::Connection& conn, std::size_t problems_max = 50);

}  // namespace tanpu::ledger
