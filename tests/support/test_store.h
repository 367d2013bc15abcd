// Fresh, isolated databases for storage tests, on every engine the run has.
//
//   class AccountsTest : public tanpu::test::EngineTest {};
//   TEST_P(AccountsTest, Creates) {
//     tanpu::test::TestStore db(engine());
//     auto lease = db->acquire();
//     …
//   }
//   TANPU_INSTANTIATE_ENGINES(AccountsTest);   // → AccountsTest.Creates/sqlite, …/postgres
//
// SQLite always runs; PostgreSQL runs when TANPU_DATABASE_URL is set (scripts/with-postgres sets
// it). With TANPU_REQUIRE_POSTGRES=1 a run without that URL stops at once instead of silently
// testing SQLite only.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "core/result.h"
#include "store/store.h"

namespace tanpu {
// So that gtest prints an Error readably in a failure message.
void PrintTo(const Error& error, std::ostream* out);
}  // namespace tanpu

namespace tanpu::store {
class PostgresConnection;
}

namespace tanpu::test {

enum class Engine { sqlite, postgres };

// The engines this run tests: sqlite, plus postgres when TANPU_DATABASE_URL is set. Exits the
// process with a message if TANPU_REQUIRE_POSTGRES=1 and the URL is not set.
std::vector<Engine> test_engines();

// "sqlite" or "postgres".
std::string engine_name(Engine engine);
// So that gtest prints the engine by name.
void PrintTo(Engine engine, std::ostream* out);

// Names parameterised instances by engine: Suite.Test/sqlite, Suite.Test/postgres.
struct EngineName {
  std::string operator()(const ::testing::TestParamInfo<Engine>& info) const {
    return engine_name(info.param);
  }
};

// Base fixture for suites parameterised over the engines.
class EngineTest : public ::testing::TestWithParam<Engine> {
 protected:
  Engine engine() const { return GetParam(); }
};

// A store over a database that exists only for this object's lifetime: SQLite, a file in a fresh
// temporary folder; PostgreSQL, a fresh schema `t_<random hex>` in TANPU_DATABASE_URL's database
// (sessions see only it, through search_path). Everything is removed by the destructor. A setup
// failure throws std::runtime_error, which gtest reports as the test's failure.
class TestStore {
 public:
  // configure may change any Options field except url.
  explicit TestStore(Engine engine, std::function<void(store::Options&)> configure = {});
  ~TestStore();
  TestStore(const TestStore&) = delete;
  TestStore& operator=(const TestStore&) = delete;

  Engine engine() const { return engine_; }
  store::Dialect dialect() const;
  const store::Options& options() const { return options_; }

  // The open store (TANPU_ASSERTs that it is open).
  store::Store& store() const;
  store::Store* operator->() const { return &store(); }

  // Closes the store, then opens the same database again with the same options: what was
  // committed before must still be there (durability tests).
  void reopen();
  // Closes the store; the database itself stays until the destructor.
  void close();
  // Opens a second, independent store on the same database (e.g. a second process's view).
  std::unique_ptr<store::Store> open_another() const;

 private:
  Engine engine_;
  store::Options options_;
  std::unique_ptr<store::Store> store_;
  std::filesystem::path sqlite_folder_;
  std::string pg_schema_;
  std::unique_ptr<store::PostgresConnection> pg_admin_;
};

}  // namespace tanpu::test

// Instantiates a TEST_P suite once per engine of test_engines(), named by engine.
#define TANPU_INSTANTIATE_ENGINES(suite)                                                       \
  INSTANTIATE_TEST_SUITE_P(Engines, suite, ::testing::ValuesIn(::tanpu::test::test_engines()), \
                           ::tanpu::test::EngineName())

// Assert / expect that a Result holds a value, printing the error otherwise.
#define ASSERT_OK(expr)                                                                        \
  do {                                                                                         \
    const auto& tanpu_result_ = (expr);                                                        \
    ASSERT_TRUE(tanpu_result_.has_value()) << ::testing::PrintToString(tanpu_result_.error()); \
  } while (false)
#define EXPECT_OK(expr)                                                                        \
  do {                                                                                         \
    const auto& tanpu_result_ = (expr);                                                        \
    EXPECT_TRUE(tanpu_result_.has_value()) << ::testing::PrintToString(tanpu_result_.error()); \
  } while (false)
