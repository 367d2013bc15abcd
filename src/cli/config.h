// Configuration for every command: defaults, then a TOML file, then TANPU_* environment variables,
// then command-line flags (each later source wins).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/result.h"

// Only config.cpp and main.cpp parse CLI11 (a heavy header); the others see the name.
namespace CLI {
class App;
}

namespace tanpu::cli {

struct Config {
  std::string database_url = "sqlite:var/tanpu.db";  // TANPU_DATABASE_URL, --database
  std::string listen = "127.0.0.1:8080";             // TANPU_LISTEN, --listen
  std::string secret_key_file = "var/secret.key";    // TANPU_SECRET_KEY_FILE, --secret-key-file
  std::string log_level = "info";                    // TANPU_LOG_LEVEL, --log-level
  std::string data_dir = "data";                     // TANPU_DATA_DIR, --data: methodologies…
  std::int64_t io_threads = 2;                       // TANPU_IO_THREADS, --io-threads
  std::int64_t worker_threads = 32;                  // TANPU_WORKER_THREADS, --worker-threads
  std::int64_t read_connections = 8;                 // TANPU_READ_CONNECTIONS
  std::int64_t session_ttl_s = 30LL * 24 * 3600;     // TANPU_SESSION_TTL_S
  std::int64_t expiry_interval_s = 5;                // TANPU_EXPIRY_INTERVAL_S: pending expiry scan
  // TANPU_TRUSTED_PROXIES: reverse proxies whose X-Forwarded-For names the client (CIDRs, commas).
  std::string trusted_proxies;
  // The points policy (points/policy.h, docs/points.md).
  std::int64_t points_mg_per_point = 0;          // TANPU_POINTS_MG_PER_POINT (0: formulas decide)
  std::int64_t points_day_max = 0;               // TANPU_POINTS_DAY_MAX (0: no cap)
  std::int64_t points_expiry_years = 0;          // TANPU_POINTS_EXPIRY_YEARS (0: never)
  std::int64_t points_utc_offset_minutes = 480;  // TANPU_POINTS_UTC_OFFSET_MINUTES
  // File only: [points_mg_per_point_by_methodology] code = mg per point.
  std::map<std::string, std::int64_t> points_mg_per_point_by_methodology;
};

// Adds --config, --database, --log-level and --data (every command) to app, bound to config.
void add_common_options(CLI::App& app, Config& config, std::string& config_file);
// Adds --secret-key-file (commands that read personal data outside serve).
void add_key_file_option(CLI::App& app, Config& config);
// Adds the server's options (--listen, --secret-key-file, threads…, and the points policy).
void add_server_options(CLI::App& app, Config& config);
// Adds the points policy's options (--points-…): serve, and `tanpu points`.
void add_points_options(CLI::App& app, Config& config);

// After CLI11 parsed flags and environment: fills every option that neither set from the TOML file
// (if one was named, or ./tanpu.toml exists), then validates. Errors name the key.
Result<void> finish_config(const CLI::App& app, Config& config, const std::string& config_file);

// "host:port" → parts. Errors: invalid_listen.
Result<std::pair<std::string, std::uint16_t>> parse_listen(std::string_view listen);

}  // namespace tanpu::cli
