// The intake pipeline: one batch of a data source's behaviour records, from the request body to
// ledger credits, in one write transaction (concurrent batches are group-committed by the store):
//   parse → validate → idempotency on (source, external_id) → consent → quantify (methodology) →
//   review scenarios → cross-source dedup → caps → ledger postings → records and rollups.
// One bad record never sinks the batch: every record gets its own outcome.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "core/time.h"
#include "ingest/consents.h"
#include "ingest/sources.h"
#include "ledger/ledger.h"
#include "members/members.h"
#include "methodology/evaluator.h"
#include "points/policy.h"
#include "store/store.h"

namespace tanpu::ingest {

inline constexpr std::size_t kBatchRecordsMax = 10'000;
// "behaviour:" + source id + "/" + external id fits the ledger's 128-byte transfer reference.
inline constexpr std::size_t kExternalIdBytesMax = 96;

// One credited behaviour as modules above ingestion keep it (the organisations' rollups).
struct CreditedBehaviour {
  std::int64_t member_id = 0;
  Day day = 0;  // the local day it occurred
  std::string_view scenario;
  std::int64_t reduction_mg = 0;
  std::int64_t points = 0;
};
// Runs inside the batch's write transaction, after the postings; its error fails the batch.
using CreditHook =
    std::function<Result<void>(store::Connection&, std::span<const CreditedBehaviour>)>;

struct PipelineOptions {
  // Points per credited reduction and the daily points cap per member (points.day_max), as the
  // operator configured them.
  points::Policy points;
  // Records older than this (by occurred_at) are refused: too_old.
  std::int64_t record_age_max_days = 31;
  // Records dated after now by more than this are refused: in_future.
  std::int64_t future_skew_s = 300;
  // Scenarios whose partner records wait for a reviewer (evidence-based behaviours).
  std::vector<std::string> review_scenarios{"clean_plate", "second_hand", "tree_planting"};
  // Told of every batch's credited records (none: nobody is told).
  CreditHook on_credited;
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

// The built-in source of members' own evidence claims (claims.h): its records are filed by members
// through Pipeline::file, never signed by a partner, and it has no row in ingest_sources.
inline constexpr std::string_view kClaimsSourceId = "claims";
inline constexpr std::size_t kReviewReasonBytesMax = 500;

// A reviewer's decision on a pending_review record (Pipeline::review).
struct ReviewDecision {
  std::string source_id;
  std::string external_id;
  bool approve = false;
  std::int64_t reviewer_id = 0;  // a member id: recorded on the record
  std::string reason;            // rejection: why, 1..kReviewReasonBytesMax bytes, shown to people
};

// Runs inside the write transaction of Pipeline::file once a new record is written; an error undoes
// the record.
using FiledHook = std::function<Result<void>(store::Connection&, const RecordOutcome&)>;

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
  // failures. Outcomes are in the order of the records. `before`, if given, runs first in the
  // batch's write transaction (the signed route records the request's nonce there, so a batch
  // costs one commit); its error fails the batch, and nothing is written.
  Result<std::vector<RecordOutcome>> ingest(const Source& source, std::string_view body,
                                            const store::WriteJob& before = {});

  static BatchSummary summarise(const std::vector<RecordOutcome>& outcomes);

  // Files one record of `source` for the known member `member_id` (a member's own claim: no
  // consent is looked up). `record` has a partner record's fields (external_id, user_ref, scenario,
  // occurred_at, region, inputs) and goes through the same validation, idempotency (a replay
  // answers the record as it stands now), quantification and review steps. Only review scenarios
  // are filed: another scenario is rejected (scenario_not_allowed). `on_new` runs in the same
  // transaction once a new record is written. Errors: operating failures and on_new's; refusals are
  // the outcome.
  Result<RecordOutcome> file(const Source& source, std::int64_t member_id,
                             const nlohmann::json& record, const FiledHook& on_new);

  // Decides a pending_review record. Approval credits it through the batch's own steps
  // (cross-source dedup, caps, points, ledger postings, usage, rollups): outcome credited, capped
  // or duplicate. Rejection makes it rejected (reason review_rejected, message the reviewer's
  // reason), crediting nothing. Both record the reviewer and the time; a partner replaying the
  // record gets the decided outcome. The same decision again answers the record as decided (replay
  // set). Errors: not_found; own_record (forbidden: the reviewer's own record); reason_required,
  // reason_too_long (invalid); not_pending (conflict: never waited for review); already_decided
  // (conflict: the other decision was taken); quantification_changed (conflict: the record no
  // longer quantifies under its methodology version).
  Result<RecordOutcome> review(const ReviewDecision& decision);

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
