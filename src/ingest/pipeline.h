// The intake pipeline: one batch of a data source's behaviour records, from the request body to
// ledger credits, in one write transaction (concurrent batches are group-committed by the store):
//   parse → validate → idempotency on (source, external_id) → consent → quantify (methodology) →
//   review scenarios → cross-source dedup → caps → ledger postings → records and rollups.
// One bad record never sinks the batch: every record gets its own outcome.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "ingest/consents.h"
#include "ingest/sources.h"
#include "ledger/ledger.h"
#include "members/members.h"
#include "methodology/evaluator.h"
#include "store/store.h"

namespace tanpu::ingest {

inline constexpr std::size_t kBatchRecordsMax = 10'000;
// "behaviour:" + source id + "/" + external id fits the ledger's 128-byte transfer reference.
inline constexpr std::size_t kExternalIdBytesMax = 96;

struct PipelineOptions {
  // Points one member may earn per local day, over all sources and scenarios (0 = no cap).
  std::int64_t points_per_member_day_max = 0;
  // Records older than this (by occurred_at) are refused: too_old.
  std::int64_t record_age_max_days = 31;
  // Records dated after now by more than this are refused: in_future.
  std::int64_t future_skew_s = 300;
  // Scenarios whose partner records wait for a reviewer (evidence-based behaviours).
  std::vector<std::string> review_scenarios{"clean_plate", "second_hand", "tree_planting"};
};

// What happened to one record. outcome: credited | duplicate | capped | pending_review | rejected.
struct RecordOutcome {
  std::string external_id;
  std::string outcome;
  std::string reason;  // rejected: the code (no_consent, input_out_of_bounds…); capped: which cap
  std::string field;   // rejected: the offending field, if any
  std::string message;            // rejected and capped: for people
  std::int64_t reduction_mg = 0;  // credited (capped: the part credited)
  std::int64_t points = 0;
  std::string methodology;  // code@version
  bool provisional = false;
  std::string duplicate_of;  // duplicate: "source_id/external_id" of the record credited
  bool replay = false;       // the same record was sent before: this is its original outcome
};

struct BatchSummary {
  std::int64_t credited = 0, duplicate = 0, capped = 0, pending_review = 0, rejected = 0;
  std::int64_t reduction_mg = 0, points = 0;
};

class Pipeline {
 public:
  Pipeline(store::Store& store, ledger::Ledger& ledger, members::Members& members,
           methodology::EvaluatorPool& methodologies, const Clock& clock,
           PipelineOptions options = {});

  // Ingests a batch of `source` (whose signature the caller verified). `body` is a JSON array of
  // records or NDJSON (one record per line). Errors for the whole batch only: body_required,
  // invalid_json (an array that does not parse), too_many_records (too_large); and operating
  // failures. Outcomes are in the order of the records.
  Result<std::vector<RecordOutcome>> ingest(const Source& source, std::string_view body);

  static BatchSummary summarise(const std::vector<RecordOutcome>& outcomes);

 private:
  struct Work;
  Result<void> run(store::Connection& c, Work& w);

  store::Store& store_;
  ledger::Ledger& ledger_;
  members::Members& members_;
  methodology::EvaluatorPool& methodologies_;
  const Clock& clock_;
  PipelineOptions options_;
};

}  // namespace tanpu::ingest
