#include "ingest/closure.h"

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

}  // namespace tanpu::ingest
