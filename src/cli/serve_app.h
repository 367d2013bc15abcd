// The HTTP App of `tanpu serve` over a runtime: every module and the operator's intake policy.
// The in-process benches serve the same App, so they measure what `tanpu serve` runs.
#pragma once

#include "cli/runtime.h"
#include "http/app.h"
#include "http/metrics.h"

namespace tanpu::cli {

// rt and metrics must outlive the App.
http::App serve_app(Runtime& rt, http::Metrics& metrics);

}  // namespace tanpu::cli
