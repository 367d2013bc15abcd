// The tables of the ledger, members and ingest modules on a test store: what every ingest test
// (and the ingest route tests) starts from.
#pragma once

#include <vector>

#include "ingest/sources.h"
#include "ledger/ledger.h"
#include "members/members.h"
#include "store/migrate.h"
#include "support/test_store.h"

namespace tanpu::test {

inline void migrate_ingest(store::Store& store) {
  std::vector<store::Migration> all(ledger::migrations().begin(), ledger::migrations().end());
  all.insert(all.end(), members::migrations().begin(), members::migrations().end());
  all.insert(all.end(), ingest::migrations().begin(), ingest::migrations().end());
  auto lease = store.acquire();
  ASSERT_OK(lease);
  ASSERT_OK(store::migrate(**lease, all));
}

}  // namespace tanpu::test
