#include "cli/config.h"

#include <charconv>
#include <filesystem>
#include <variant>

#include <toml++/toml.h>
#include <CLI/CLI.hpp>

#include "http/client_address.h"

namespace tanpu::cli {
namespace {

// One row per setting, so its flag, variable, file key and Config field can never drift apart.
struct Binding {
  const char* flag;
  const char* env;
  const char* toml_key;
  const char* help;
  std::variant<std::string Config::*, std::int64_t Config::*> field;
};

constexpr Binding kDatabase{"--database", "TANPU_DATABASE_URL", "database_url",
                            "sqlite:PATH or postgresql://… (default sqlite:var/tanpu.db)",
                            &Config::database_url};
constexpr Binding kLogLevel{"--log-level", "TANPU_LOG_LEVEL", "log_level",
                            "debug|info|warn|error (default info)", &Config::log_level};
constexpr Binding kDataDir{
    "--data", "TANPU_DATA_DIR", "data_dir",
    "directory with regions.toml, factors/ and methodologies/ (default data)", &Config::data_dir};
constexpr Binding kListen{"--listen", "TANPU_LISTEN", "listen",
                          "HOST:PORT to serve on (default 127.0.0.1:8080)", &Config::listen};
constexpr Binding kKeyFile{"--secret-key-file", "TANPU_SECRET_KEY_FILE", "secret_key_file",
                           "file with the keys that encrypt personal data (created if missing)",
                           &Config::secret_key_file};
constexpr Binding kIo{"--io-threads", "TANPU_IO_THREADS", "io_threads", "network threads (2)",
                      &Config::io_threads};
constexpr Binding kWorkers{"--worker-threads", "TANPU_WORKER_THREADS", "worker_threads",
                           "request handler threads (32)", &Config::worker_threads};
constexpr Binding kReadConns{"--read-connections", "TANPU_READ_CONNECTIONS", "read_connections",
                             "database connections for reads (8)", &Config::read_connections};
constexpr Binding kSessionTtl{"--session-ttl-s", "TANPU_SESSION_TTL_S", "session_ttl_s",
                              "seconds a login session lasts (2592000)", &Config::session_ttl_s};
constexpr Binding kExpiry{"--expiry-interval-s", "TANPU_EXPIRY_INTERVAL_S", "expiry_interval_s",
                          "seconds between scans for timed-out pending transfers (5)",
                          &Config::expiry_interval_s};

constexpr Binding kTrustedProxies{
    "--trusted-proxies", "TANPU_TRUSTED_PROXIES", "trusted_proxies",
    "reverse proxies (comma-separated addresses or networks) whose X-Forwarded-For names the "
    "client (default none)",
    &Config::trusted_proxies};

constexpr Binding kPointsRate{
    "--points-mg-per-point", "TANPU_POINTS_MG_PER_POINT", "points_mg_per_point",
    "one point per this many mg CO2e credited, platform-wide (0: each methodology's formula)",
    &Config::points_mg_per_point};
constexpr Binding kPointsDayMax{"--points-day-max", "TANPU_POINTS_DAY_MAX", "points_day_max",
                                "points one member may earn per day (0: no cap)",
                                &Config::points_day_max};
constexpr Binding kPointsExpiry{"--points-expiry-years", "TANPU_POINTS_EXPIRY_YEARS",
                                "points_expiry_years",
                                "points earned in year Y expire at the end of year Y+N (0: never)",
                                &Config::points_expiry_years};
constexpr Binding kPointsZone{"--points-utc-offset-minutes", "TANPU_POINTS_UTC_OFFSET_MINUTES",
                              "points_utc_offset_minutes",
                              "the platform's local time for points days and years (480)",
                              &Config::points_utc_offset_minutes};
// A table in the file only: [points_mg_per_point_by_methodology] "code" = mg per point.
constexpr std::string_view kPointsByMethodologyKey = "points_mg_per_point_by_methodology";

constexpr const Binding* kAllBindings[] = {
    &kDatabase,     &kLogLevel,     &kDataDir,    &kListen, &kKeyFile,        &kIo,
    &kWorkers,      &kReadConns,    &kSessionTtl, &kExpiry, &kTrustedProxies, &kPointsRate,
    &kPointsDayMax, &kPointsExpiry, &kPointsZone};

void bind(CLI::App& app, const Binding& b, Config& config) {
  std::visit([&](auto field) { app.add_option(b.flag, config.*field, b.help)->envname(b.env); },
             b.field);
}

Result<void> apply_file_value(const toml::node& node, const Binding& b, Config& c) {
  const std::string key = b.toml_key;
  if (const auto* field = std::get_if<std::string Config::*>(&b.field)) {
    if (auto v = node.value<std::string>()) {
      c.** field = *v;
      return {};
    }
    return fail(ErrorKind::invalid, "config_wrong_type", key + " must be a string", key);
  }
  if (auto v = node.value<std::int64_t>()) {
    c.*std::get<std::int64_t Config::*>(b.field) = *v;
    return {};
  }
  return fail(ErrorKind::invalid, "config_wrong_type", key + " must be an integer", key);
}

// [points_mg_per_point_by_methodology]: methodology code = integer mg per point.
Result<void> apply_rates(const toml::node& node, Config& c) {
  const std::string key(kPointsByMethodologyKey);
  const auto* rates = node.as_table();
  if (rates == nullptr) {
    return fail(ErrorKind::invalid, "config_wrong_type",
                key + " must be a table of methodology code = mg per point", key);
  }
  for (const auto& [code, rate] : *rates) {
    const auto v = rate.value<std::int64_t>();
    if (!v || !rate.is_integer()) {
      return fail(ErrorKind::invalid, "config_wrong_type",
                  key + "." + std::string(code.str()) + " must be an integer", key);
    }
    c.points_mg_per_point_by_methodology[std::string(code.str())] = *v;
  }
  return {};
}

Result<void> load_file(const CLI::App& app, Config& config, const std::string& path) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return fail(ErrorKind::invalid, "config_parse_error",
                path + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
                    ": " + std::string(e.description()));
  }
  for (const auto& [key, node] : table) {
    if (key.str() == kPointsByMethodologyKey) {
      if (auto r = apply_rates(node, config); !r) return r;
      continue;
    }
    const Binding* found = nullptr;
    for (const Binding* b : kAllBindings) {
      if (key.str() == b->toml_key) found = b;
    }
    if (found == nullptr) {
      return fail(ErrorKind::invalid, "config_unknown_key",
                  path + ": unknown key '" + std::string(key.str()) + "'", std::string(key.str()));
    }
    // A flag or variable given for this setting wins over the file.
    const CLI::Option* opt = app.get_option_no_throw(found->flag);
    if (opt != nullptr && opt->count() > 0) continue;
    if (auto r = apply_file_value(node, *found, config); !r) return r;
  }
  return {};
}

Result<void> validate(const Config& c) {
  if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" &&
      c.log_level != "error") {
    return fail(ErrorKind::invalid, "invalid_log_level", "log_level must be debug|info|warn|error",
                "log_level");
  }
  if (auto r = parse_listen(c.listen); !r) return std::unexpected(r.error());
  if (auto r = http::parse_trusted_networks(c.trusted_proxies); !r) {
    return std::unexpected(r.error());
  }
  auto in_range = [](std::int64_t v, std::int64_t lo, std::int64_t hi) {
    return v >= lo && v <= hi;
  };
  if (!in_range(c.io_threads, 1, 64) || !in_range(c.worker_threads, 1, 1024) ||
      !in_range(c.read_connections, 1, 256) || !in_range(c.session_ttl_s, 60, 366LL * 24 * 3600) ||
      !in_range(c.expiry_interval_s, 1, 3600)) {
    return fail(ErrorKind::invalid, "config_out_of_range",
                "io_threads 1-64, worker_threads 1-1024, read_connections 1-256, session_ttl_s "
                "60-31622400, expiry_interval_s 1-3600");
  }
  return {};
}

}  // namespace

void add_common_options(CLI::App& app, Config& config, std::string& config_file) {
  app.add_option("--config", config_file,
                 "TOML configuration file (default ./tanpu.toml if present)")
      ->envname("TANPU_CONFIG");
  bind(app, kDatabase, config);
  bind(app, kLogLevel, config);
  bind(app, kDataDir, config);
}

void add_key_file_option(CLI::App& app, Config& config) {
  bind(app, kKeyFile, config);
}

void add_server_options(CLI::App& app, Config& config) {
  for (const Binding* b : {&kListen, &kKeyFile, &kIo, &kWorkers, &kReadConns, &kSessionTtl,
                           &kExpiry, &kTrustedProxies}) {
    bind(app, *b, config);
  }
  add_points_options(app, config);
}

void add_points_options(CLI::App& app, Config& config) {
  for (const Binding* b : {&kPointsRate, &kPointsDayMax, &kPointsExpiry, &kPointsZone}) {
    bind(app, *b, config);
  }
}

Result<void> finish_config(const CLI::App& app, Config& config, const std::string& config_file) {
  std::string path = config_file;
  if (path.empty() && std::filesystem::exists("tanpu.toml")) path = "tanpu.toml";
  if (!path.empty()) {
    if (!std::filesystem::exists(path)) {
      return fail(ErrorKind::invalid, "config_not_found", "no configuration file " + path);
    }
    if (auto r = load_file(app, config, path); !r) return r;
  }
  return validate(config);
}

Result<std::pair<std::string, std::uint16_t>> parse_listen(std::string_view listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return fail(ErrorKind::invalid, "invalid_listen", "listen must be HOST:PORT", "listen");
  }
  unsigned port = 0;
  const std::string_view p = listen.substr(colon + 1);
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (ec != std::errc() || end != p.data() + p.size() || port > 65535) {
    return fail(ErrorKind::invalid, "invalid_listen", "listen port must be 0-65535", "listen");
  }
  return std::pair{std::string(listen.substr(0, colon)), static_cast<std::uint16_t>(port)};
}

}  // namespace tanpu::cli
