// The tables of the ledger, members, points and ingest modules on a test store: what every ingest
// test (and the ingest route tests) starts from.
#pragma once

#include <memory>
#include <vector>

#include "ingest/consents.h"
#include "ingest/sources.h"
#include "ledger/ledger.h"
#include "members/members.h"
#include "members/members_fixture.h"
#include "methodology/evaluator.h"
#include "points/points.h"
#include "store/migrate.h"
#include "support/test_catalog.h"
#include "support/test_store.h"

namespace tanpu::test {

inline void migrate_ingest(store::Store& store) {
  std::vector<store::Migration> all(ledger::migrations().begin(), ledger::migrations().end());
  all.insert(all.end(), members::migrations().begin(), members::migrations().end());
  all.insert(all.end(), points::migrations().begin(), points::migrations().end());
  all.insert(all.end(), ingest::migrations().begin(), ingest::migrations().end());
  auto lease = store.acquire();
  ASSERT_OK(lease);
  ASSERT_OK(store::migrate(**lease, all));
}

// Members over a store with the ingest tables, the repository's methodologies, sources and
// consents: what the pipeline and claims tests start from.
class IngestFixture : public MembersFixture {
 protected:
  void SetUp() override {
    MembersFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    migrate_ingest(db_->store());
    if (HasFatalFailure()) return;
    ASSERT_NE(testing::repository_catalog(), nullptr);
    pool_ = std::make_unique<methodology::EvaluatorPool>(testing::repository_catalog());
    sources_ = std::make_unique<ingest::Sources>(db_->store(), keys_, clock_);
    consents_ = std::make_unique<ingest::Consents>(db_->store(), clock_);
  }
  void TearDown() override {
    consents_.reset();
    sources_.reset();
    pool_.reset();
    MembersFixture::TearDown();
  }

  // The posted balance of a ledger account (-1 and a failure if it cannot be read).
  std::int64_t balance(std::int64_t account_id) {
    auto a = ledger_->lookup_account(account_id);
    EXPECT_TRUE(a.has_value());
    return a ? a->balance() : -1;
  }

  // The first column of the first row of sql (a query from the test itself), 0 if none or NULL.
  std::int64_t scalar(const std::string& sql) {
    auto lease = db_->store().acquire();
    auto rows = (*lease)->query(sql);
    EXPECT_TRUE(rows.has_value());
    return rows && !rows->empty() && !rows->is_null(0, 0) ? rows->i64(0, 0) : 0;
  }

  std::unique_ptr<methodology::EvaluatorPool> pool_;
  std::unique_ptr<ingest::Sources> sources_;
  std::unique_ptr<ingest::Consents> consents_;
};

}  // namespace tanpu::test
