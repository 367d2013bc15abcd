// Ingestion's part of a member's own data: closing their account (members::ClosureHook) and
// exporting it (members::ExportHook).
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "store/connection.h"

namespace tanpu::ingest {

// Inside the closing transaction: refuses (conflict, review_pending) while a record of the member
// waits for review, so no reviewer credits a closed account; revokes every live consent, so
// partners' records for the member are refused (no_consent) from now on; and deletes the member's
// evidence files except those of approved claims (the proof behind credited reductions, kept under
// the pseudonymous member id).
Result<void> close_member(store::Connection& c, std::int64_t member_id, std::int64_t now_us);

// Adds the member's sections: "consents" (every grant, live and revoked), "behaviour_records"
// (every record credited to them or refused for them, with its outcome and review), and
// "evidence" (the files' descriptions; the files themselves are downloaded one by one).
Result<void> export_member(store::Connection& c, std::int64_t member_id, nlohmann::json& out);

}  // namespace tanpu::ingest
