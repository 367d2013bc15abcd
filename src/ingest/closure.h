// Ingestion's part of closing a member's account (members::ClosureHook).
#pragma once

#include <cstdint>

#include "core/result.h"
#include "store/connection.h"

namespace tanpu::ingest {

// Inside the closing transaction: refuses (conflict, review_pending) while a record of the member
// waits for review, so no reviewer credits a closed account; revokes every live consent, so
// partners' records for the member are refused (no_consent) from now on; and deletes the member's
// evidence files except those of approved claims (the proof behind credited reductions, kept under
// the pseudonymous member id).
Result<void> close_member(store::Connection& c, std::int64_t member_id, std::int64_t now_us);

}  // namespace tanpu::ingest
