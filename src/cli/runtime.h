// The modules wired together over one store: what `serve`, `admin` and `verify` run on.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "cli/config.h"
#include "core/time.h"
#include "ingest/consents.h"
#include "ingest/pipeline.h"
#include "ingest/sources.h"
#include "ledger/ledger.h"
#include "market/donations.h"
#include "market/lottery.h"
#include "market/market.h"
#include "members/members.h"
#include "methodology/catalog.h"
#include "methodology/evaluator.h"
#include "orgs/orgs.h"
#include "points/points.h"
#include "store/migrate.h"
#include "store/store.h"

namespace tanpu::cli {

// Every module's migrations, in dependency order (a module's tables after those it references).
std::vector<store::Migration> all_migrations();

// Opens the store named by the config and applies the migrations. Returns how many were applied.
// group_jobs_max: at most this many write jobs share one commit. 1 gives every job a transaction
// of its own, the conventional design that `tanpu bench ingest` measures as its baseline.
Result<std::unique_ptr<store::Store>> open_store(const Config& config, int* applied = nullptr,
                                                 std::size_t group_jobs_max = store::kGroupJobsMax);

struct Runtime {
  SystemClock clock;
  std::shared_ptr<const methodology::Catalog> catalog;
  std::unique_ptr<methodology::EvaluatorPool> evaluators;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<ledger::Ledger> ledger;
  std::unique_ptr<members::Members> members;
  std::unique_ptr<ingest::Sources> sources;
  std::unique_ptr<ingest::Consents> consents;
  std::unique_ptr<points::Points> points;
  std::unique_ptr<market::Market> market;
  std::unique_ptr<market::Lotteries> lotteries;
  std::unique_ptr<market::Donations> donations;
  std::unique_ptr<orgs::Orgs> orgs;
  ingest::PipelineOptions intake;  // the points policy included
};

// The points policy of the config, checked against the catalog's methodology codes.
Result<points::Policy> points_policy(const Config& config, const methodology::Catalog& catalog);

// The methodology catalog from config.data_dir; refuses a broken set with every file:line.
Result<std::shared_ptr<const methodology::Catalog>> load_catalog(const Config& config);

// The catalog (first: a broken data set stops the start before anything opens), then the store
// (migrated), ledger and members (with the key file, created if missing).
Result<std::unique_ptr<Runtime>> open_runtime(const Config& config,
                                              std::size_t group_jobs_max = store::kGroupJobsMax);

// Sets the log level from the config.
void apply_log_level(const Config& config);

}  // namespace tanpu::cli
