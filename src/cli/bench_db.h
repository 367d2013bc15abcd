// A fresh, empty database for one benchmark measurement, removed afterwards: SQLite in a temporary
// folder, or a fresh schema in TANPU_DATABASE_URL's PostgreSQL database (scripts/with-postgres).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/config.h"
#include "core/result.h"

namespace tanpu::cli {

class BenchDb {
 public:
  // store: "sqlite" or "postgres"; clients sizes the read pool. The config's secret key file is in
  // the temporary folder too.
  static Result<std::unique_ptr<BenchDb>> create(const std::string& store, std::int64_t clients,
                                                 const std::string& tag);
  ~BenchDb();
  BenchDb(const BenchDb&) = delete;
  BenchDb& operator=(const BenchDb&) = delete;
  const Config& config() const { return config_; }

 private:
  BenchDb() = default;
  Result<void> admin_exec(const std::string& sql);
  std::filesystem::path dir_;
  std::string admin_url_;
  std::string schema_;
  Config config_;
};

}  // namespace tanpu::cli
