#include "support/test_store.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string_view>
#include <system_error>

#include "core/assert.h"
#include "core/crypto.h"
#include "store/postgres_connection.h"

namespace tanpu {

void PrintTo(const Error& error, std::ostream* out) {
  *out << "Error{" << to_string(error.kind) << ", " << error.code << ", \"" << error.message
       << "\"";
  if (!error.field.empty()) *out << ", field " << error.field;
  *out << "}";
}

}  // namespace tanpu

namespace tanpu::test {
namespace {

const char* env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

std::string random_hex(std::size_t bytes) {
  std::array<std::uint8_t, 16> buffer{};
  TANPU_ASSERT(bytes <= buffer.size());
  random_bytes(std::span(buffer.data(), bytes));
  return to_hex(std::span<const std::uint8_t>(buffer.data(), bytes));
}

[[noreturn]] void setup_failed(const std::string& what, const Error& error) {
  throw std::runtime_error("TestStore: " + what + ": " + error.code + ": " + error.message);
}

std::filesystem::path fresh_temp_folder() {
  const char* base = env("TMPDIR");
  std::filesystem::path folder =
      std::filesystem::path(base != nullptr ? base : "/tmp") / ("tanpu-test-" + random_hex(8));
  std::error_code ec;
  if (!std::filesystem::create_directory(folder, ec) || ec) {
    throw std::runtime_error("TestStore: cannot create " + folder.string() + ": " + ec.message());
  }
  return folder;
}

// libpq reads `options` from the URL's query; '=' inside a value must be percent-encoded.
std::string with_search_path(const std::string& url, const std::string& schema) {
  const char separator = url.find('?') == std::string::npos ? '?' : '&';
  return url + separator + "options=-csearch_path%3D" + schema;
}

}  // namespace

std::vector<Engine> test_engines() {
  std::vector<Engine> engines{Engine::sqlite};
  if (env("TANPU_DATABASE_URL") != nullptr) {
    engines.push_back(Engine::postgres);
  } else if (const char* require = env("TANPU_REQUIRE_POSTGRES");
             require != nullptr && std::string_view(require) == "1") {
    std::fprintf(stderr,
                 "TANPU_REQUIRE_POSTGRES=1 but TANPU_DATABASE_URL is not set: run the tests "
                 "under scripts/with-postgres\n");
    std::exit(2);
  }
  return engines;
}

std::string engine_name(Engine engine) {
  return engine == Engine::sqlite ? "sqlite" : "postgres";
}

void PrintTo(Engine engine, std::ostream* out) {
  *out << engine_name(engine);
}

TestStore::TestStore(Engine engine, std::function<void(store::Options&)> configure)
    : engine_(engine) {
  if (configure) configure(options_);
  if (engine_ == Engine::sqlite) {
    sqlite_folder_ = fresh_temp_folder();
    options_.url = "sqlite:" + (sqlite_folder_ / "tanpu.db").string();
  } else {
    const char* url = env("TANPU_DATABASE_URL");
    if (url == nullptr) throw std::runtime_error("TestStore: TANPU_DATABASE_URL is not set");
    auto admin = store::PostgresConnection::open(url);
    if (!admin) setup_failed("cannot connect to TANPU_DATABASE_URL", admin.error());
    pg_admin_ = std::move(*admin);
    pg_schema_ = "t_" + random_hex(8);
    if (auto r = pg_admin_->exec_script("CREATE SCHEMA " + pg_schema_); !r) {
      setup_failed("cannot create schema " + pg_schema_, r.error());
    }
    options_.url = with_search_path(url, pg_schema_);
  }
  reopen();
}

TestStore::~TestStore() {
  close();
  if (pg_admin_) {
    (void)pg_admin_->exec_script("DROP SCHEMA IF EXISTS " + pg_schema_ + " CASCADE");
  }
  if (!sqlite_folder_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(sqlite_folder_, ec);
  }
}

store::Dialect TestStore::dialect() const {
  return engine_ == Engine::sqlite ? store::Dialect::sqlite : store::Dialect::postgres;
}

store::Store& TestStore::store() const {
  TANPU_ASSERT_MSG(store_ != nullptr, "TestStore is closed");
  return *store_;
}

void TestStore::reopen() {
  close();
  store_ = open_another();
}

void TestStore::close() {
  if (store_) store_->close();
  store_.reset();
}

std::unique_ptr<store::Store> TestStore::open_another() const {
  auto opened = store::Store::open(options_);
  if (!opened) setup_failed("cannot open " + options_.url, opened.error());
  return std::move(*opened);
}

}  // namespace tanpu::test
