#include "ingest/member_data.h"

#include <array>

#include "store/rows_json.h"

namespace tanpu::ingest {

Result<void> close_member(store::Connection& c, std::int64_t member_id, std::int64_t now_us) {
  auto pending = c.query(
      "SELECT COUNT(*) FROM ingest_records WHERE member_id = ? AND outcome = 'pending_review'",
      {member_id});
  if (!pending) return fail(pending.error());
  if (const std::int64_t n = pending->i64(0, 0); n > 0) {
    return fail(ErrorKind::conflict, "review_pending",
                std::to_string(n) +
                    " of your claims or records wait for review; the account can be closed once "
                    "they are decided");
  }
  auto bumped = c.exec(
      "UPDATE ingest_sources SET consents_version = consents_version + 1 WHERE id IN (SELECT "
      "source_id FROM ingest_consents WHERE member_id = ? AND revoked_at_us IS NULL)",
      {member_id});
  if (!bumped) return fail(bumped.error());
  auto revoked = c.exec(
      "UPDATE ingest_consents SET revoked_at_us = ? WHERE member_id = ? AND revoked_at_us IS NULL",
      {now_us, member_id});
  if (!revoked) return fail(revoked.error());
  auto deleted = c.exec(
      "DELETE FROM ingest_evidence WHERE member_id = ? AND NOT EXISTS (SELECT 1 FROM "
      "ingest_records r WHERE r.source_id = ingest_evidence.source_id AND r.external_id = "
      "ingest_evidence.external_id AND r.review_decision = 'approved')",
      {member_id});
  if (!deleted) return fail(deleted.error());
  return {};
}

namespace {

using K = store::JsonColumn::Kind;

constexpr std::array<store::JsonColumn, 5> kConsents{{{"source_id", K::text},
                                                      {"partner_user_ref", K::text},
                                                      {"scenarios", K::text},
                                                      {"granted_at", K::time_us},
                                                      {"revoked_at", K::time_us}}};
constexpr std::array<store::JsonColumn, 14> kRecords{{{"source_id", K::text},
                                                      {"external_id", K::text},
                                                      {"scenario", K::text},
                                                      {"occurred_at", K::time_us},
                                                      {"received_at", K::time_us},
                                                      {"outcome", K::text},
                                                      {"reason", K::text},
                                                      {"reduction_mg", K::integer},
                                                      {"points", K::integer},
                                                      {"methodology", K::text},
                                                      {"duplicate_of", K::text},
                                                      {"review_decision", K::text},
                                                      {"review_reason", K::text},
                                                      {"decided_at", K::time_us}}};
constexpr std::array<store::JsonColumn, 7> kEvidence{{{"id", K::text},
                                                      {"media_type", K::text},
                                                      {"size_bytes", K::integer},
                                                      {"sha256", K::text},
                                                      {"uploaded_at", K::time_us},
                                                      {"source_id", K::text},
                                                      {"external_id", K::text}}};

constexpr std::array<store::ExportSection, 3> kSections{{
    {"consents",
     "SELECT source_id, partner_user_ref, scenarios, granted_at_us, revoked_at_us FROM "
     "ingest_consents WHERE member_id = ? ORDER BY granted_at_us DESC LIMIT ?",
     kConsents},
    {"behaviour_records",
     "SELECT source_id, external_id, scenario, occurred_at_us, received_at_us, outcome, reason, "
     "reduction_mg, points, methodology, duplicate_of, review_decision, review_reason, "
     "decided_at_us FROM ingest_records WHERE member_id = ? ORDER BY occurred_at_us DESC LIMIT ?",
     kRecords},
    {"evidence",
     "SELECT id, media_type, size_bytes, sha256, uploaded_at_us, source_id, external_id FROM "
     "ingest_evidence WHERE member_id = ? ORDER BY uploaded_at_us DESC LIMIT ?",
     kEvidence},
}};

}  // namespace

Result<void> export_member(store::Connection& c, std::int64_t member_id, nlohmann::json& out) {
  return store::export_sections(c, member_id, out, kSections);
}

}  // namespace tanpu::ingest
