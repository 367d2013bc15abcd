// Evidence claims and the review queue. A member uploads evidence (a photo or a document) and files
// a claim of an evidence-based behaviour (clean plate, second-hand trade, tree planting); the claim
// is a record of the built-in source kClaimsSourceId, validated and quantified like a partner
// record, and waits as pending_review. The review queue is one queue: those claims and the partner
// records of review scenarios. A reviewer approves (credited through Pipeline::review) or rejects
// with a reason. docs/ingestion.md, "Evidence claims and review", is the guide.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "core/time.h"
#include "ingest/pipeline.h"
#include "members/members.h"
#include "store/store.h"

namespace tanpu::ingest {

inline constexpr std::size_t kEvidenceBytesMax = 5 * 1024 * 1024;
// Uploads a member holds that no claim uses yet: bounds what a member can store without a claim.
inline constexpr std::int64_t kEvidenceUnattachedMax = 20;
inline constexpr std::size_t kClaimEvidenceMax = 8;
// Claims of one member waiting for review: bounds what one member can put in the queue.
inline constexpr std::int64_t kClaimsPendingMax = 50;
inline constexpr std::size_t kClaimIdBytesMax = 64;

// The media types accepted as evidence.
inline constexpr std::string_view kEvidenceMediaTypes[] = {"image/jpeg", "image/png", "image/webp",
                                                           "application/pdf"};

struct Evidence {
  std::string id;  // "evd_" + 16 hex
  std::int64_t member_id = 0;
  std::string media_type;
  std::int64_t size_bytes = 0;
  std::string sha256;  // hex of the content
  std::int64_t uploaded_at_us = 0;
  std::string source_id, external_id;  // the record it evidences; empty while unattached
};

struct EvidenceUpload {
  Evidence evidence;
  bool created = false;  // false: the member uploaded these very bytes before (same id)
};

struct EvidenceFile {
  std::string media_type;
  std::string content;
};

// A record of the review queue or a member's claim, with its review state.
struct ReviewItem {
  std::string source_id, source_name, external_id;
  std::string claim_id;  // claims only: the member's claim id
  std::int64_t member_id = 0;
  std::string scenario, region;
  std::int64_t occurred_at_us = 0, received_at_us = 0;
  std::string status;  // pending | approved | rejected
  RecordOutcome outcome;
  std::int64_t quantified_mg = 0, quantified_points = 0;  // as quantified when received
  nlohmann::json inputs = nlohmann::json::object();       // in the methodology's units
  std::optional<std::int64_t> reviewer_id, decided_at_us;
  std::vector<Evidence> evidence;
};

struct ReviewPage {
  std::vector<ReviewItem> items;
  std::string next_cursor;  // empty: no more
};

// The media type that `bytes` start like (magic numbers), among kEvidenceMediaTypes; nullopt if
// none.
std::optional<std::string_view> sniff_media_type(std::string_view bytes);

class Claims {
 public:
  // `pipeline` files and decides records; `review_scenarios` are the scenarios members may claim
  // (PipelineOptions::review_scenarios). References must outlive this object.
  Claims(store::Store& store, Pipeline& pipeline, const Clock& clock,
         std::vector<std::string> review_scenarios);

  // Keeps an evidence file of the member. `declared_type` is the request's Content-Type (parameters
  // ignored). The same bytes again answer the first upload. Errors: evidence_required (invalid,
  // empty), evidence_too_large (too_large), evidence_type (invalid: a type not accepted, or bytes
  // that are not of the declared type), evidence_quota (rate_limited: kEvidenceUnattachedMax
  // uploads wait for a claim already).
  Result<EvidenceUpload> upload_evidence(std::int64_t member_id, std::string_view declared_type,
                                         std::string_view bytes);

  // Files a claim: `body` is {scenario, occurred_at, region, inputs, evidence: [ids], claim_id?};
  // `idempotency_key` (the Idempotency-Key header) stands in for claim_id. The same claim id with
  // the same content answers the claim as it stands. Errors: those of a rejected partner record
  // (missing_field, invalid_time, scenario_not_allowed, in_future, too_old, input_out_of_bounds…,
  // conflict), and claim_id_required, invalid_claim_id, claim_id_mismatch, evidence_required,
  // too_many_items, duplicate_evidence, unknown_evidence (evidence that is not the member's),
  // evidence_in_use (conflict: evidence of another claim), too_many_pending_claims
  // (rate_limited). Nothing is kept when refused.
  Result<ReviewItem> submit(std::int64_t member_id, const nlohmann::json& body,
                            std::string_view idempotency_key);

  // The member's claims, newest first. Errors: invalid_cursor.
  Result<ReviewPage> list_member(std::int64_t member_id, std::string_view cursor,
                                 std::size_t limit);

  // The review queue by status (pending | approved | rejected), oldest first. Errors:
  // invalid_status, invalid_cursor.
  Result<ReviewPage> list_queue(std::string_view status, std::string_view cursor,
                                std::size_t limit);

  // An evidence file attached to a record (what a reviewer looks at). Errors: not_found.
  Result<EvidenceFile> evidence_file(std::string_view evidence_id);

  // A reviewer's decision (Pipeline::review), answered with the record as decided.
  Result<ReviewItem> decide(const ReviewDecision& decision);

  // One record of the queue. Errors: not_found.
  Result<ReviewItem> get(std::string_view source_id, std::string_view external_id);

 private:
  Result<ReviewPage> list(std::string_view where, std::vector<store::Param> params, bool newest,
                          std::string_view cursor, std::size_t limit);

  store::Store& store_;
  Pipeline& pipeline_;
  const Clock& clock_;
  Source claims_source_;
};

}  // namespace tanpu::ingest
