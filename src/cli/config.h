// Configuration for every command: defaults, then a TOML file, then TANPU_* environment variables,
// then command-line flags (each later source wins).
#pragma once

#include <cstdint>
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
};

// Adds --config, --database, --log-level and --data (every command) to app, bound to config.
void add_common_options(CLI::App& app, Config& config, std::string& config_file);
// Adds --secret-key-file (commands that read personal data outside serve).
void add_key_file_option(CLI::App& app, Config& config);
// Adds the server's options (--listen, --secret-key-file, threads…).
void add_server_options(CLI::App& app, Config& config);

// After CLI11 parsed flags and environment: fills every option that neither set from the TOML file
// (if one was named, or ./tanpu.toml exists), then validates. Errors name the key.
Result<void> finish_config(const CLI::App& app, Config& config, const std::string& config_file);

// "host:port" → parts. Errors: invalid_listen.
Result<std::pair<std::string, std::uint16_t>> parse_listen(std::string_view listen);

}  // namespace tanpu::cli
