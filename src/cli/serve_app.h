// The HTTP App of `tanpu serve` over a runtime: every module and the operator's intake policy.
// The in-process benches serve the same App, so they measure what `tanpu serve` runs.
#pragma once

#include "cli/runtime.h"
#include "http/app.h"
#include "http/metrics.h"

namespace tanpu::cli {

// rt and metrics must outlive the App.
http::App serve_app(Runtime& rt, http::Metrics& metrics);

// The nice value the server's threads add to the process's (http::ServerOptions::thread_nice).
// On SQLite every write waits for the store's one writer thread, so request handling gives way to
// it: 10. On PostgreSQL the writers are the database's own processes: 0.
int server_thread_nice(const Runtime& rt);

}  // namespace tanpu::cli
