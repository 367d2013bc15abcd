// Credited behaviour records, for `tanpu methodology recompute`: what a methodology set would
// change for what was credited (methodology/recompute.h reads this format).
#pragma once

#include <cstdint>
#include <ostream>

#include "core/result.h"
#include "store/store.h"

namespace tanpu::ingest {

// Writes one NDJSON line per credited or capped record that occurred at or after `since_us`:
// {"id": "source/external_id", "scenario", "region", "date", "inputs", "credited": {"methodology",
// "version", "reduction_mg", "points"}} — the reduction and points as quantified then, before
// caps. Reads in pages; returns how many lines were written.
Result<std::int64_t> export_credited(store::Store& store, std::int64_t since_us, std::ostream& out);

}  // namespace tanpu::ingest
