// The WAL checkpointer of the SQLite writer: the background thread really copies the WAL into the
// database file, and a steady stream of commits leaves the WAL bounded instead of growing.
#include "store/sqlite_checkpointer.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite_connection.h"
#include "support/test_store.h"

namespace tanpu::store {
namespace {

constexpr std::size_t kRowBytes = std::size_t{256} * 1024;

class SqliteCheckpointerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    folder_ = std::filesystem::temp_directory_path() /
              ("tanpu-checkpointer-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(folder_);
    path_ = (folder_ / "t.db").string();
    checkpointer_ = std::make_shared<SqliteCheckpointer>(path_);
    auto writer = SqliteConnection::open(path_, {.cache_kib = std::size_t{64} * 1024,
                                                 .busy_timeout_ms = 5000,
                                                 .immediate_begin = true,
                                                 .checkpointer = checkpointer_});
    ASSERT_OK(writer);
    writer_ = std::move(*writer);
    ASSERT_OK(writer_->exec_script("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)"));
    std::mt19937_64 random(42);
    for (auto& b : blob_) b = static_cast<std::uint8_t>(random());
  }

  void TearDown() override {
    writer_.reset();
    checkpointer_.reset();
    std::error_code ec;
    std::filesystem::remove_all(folder_, ec);
  }

  // Commits `rows` rows of kRowBytes bytes each, `per_commit` to a transaction.
  void write(int rows, int per_commit) {
    for (int done = 0; done < rows;) {
      ASSERT_OK(writer_->begin());
      for (int i = 0; i < per_commit && done < rows; ++i, ++done) {
        ASSERT_OK(writer_->exec(
            "INSERT INTO t (k, v) VALUES (?, ?)",
            {static_cast<std::int64_t>(next_key_++), std::span<const std::uint8_t>(blob_)}));
      }
      ASSERT_OK(writer_->commit());
    }
  }

  [[nodiscard]] std::uintmax_t file_bytes(const std::string& suffix) const {
    std::error_code ec;
    const auto n = std::filesystem::file_size(path_ + suffix, ec);
    return ec ? 0 : n;
  }

  std::filesystem::path folder_;
  std::string path_;
  std::shared_ptr<SqliteCheckpointer> checkpointer_;
  std::unique_ptr<SqliteConnection> writer_;
  std::vector<std::uint8_t> blob_ = std::vector<std::uint8_t>(kRowBytes);
  std::int64_t next_key_ = 1;
};

TEST_F(SqliteCheckpointerTest, CopiesTheWalIntoTheDatabaseFileInTheBackground) {
  // One commit of more than kWakeBytes wakes the thread; the writer stays under kWalBytesMax, so
  // only the thread can have copied anything.
  const int rows = static_cast<int>(SqliteCheckpointer::kWakeBytes / kRowBytes) + 8;
  write(rows, rows);
  const std::uintmax_t data_bytes = static_cast<std::uintmax_t>(rows) * kRowBytes;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (file_bytes("") < data_bytes && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(file_bytes(""), data_bytes) << "the database file was not written from the WAL";
}

TEST_F(SqliteCheckpointerTest, SteadyCommitsKeepTheWalBounded) {
  // Three times kWalBytesMax, in commits of 1 MiB back to back: without the writer finishing the
  // copy, the WAL would hold all of it.
  const auto max_bytes = static_cast<std::uintmax_t>(SqliteCheckpointer::kWalBytesMax);
  const int rows = static_cast<int>(3 * max_bytes / kRowBytes);
  write(rows, 4);
  // Past the bound by a few commits at most: while the thread is copying, the writer's own
  // checkpoint finds the checkpoint lock taken and tries again after its next commit.
  EXPECT_LE(file_bytes("-wal"), 2 * max_bytes);
  // At least the frames before the first start-over were copied.
  EXPECT_GE(file_bytes(""), max_bytes);
  auto count = writer_->query("SELECT count(*) FROM t");
  ASSERT_OK(count);
  EXPECT_EQ(count->i64(0, 0), rows);
}

// The page size is chosen when a database is created: a new one has SqliteConnection::kPageBytes,
// one created before keeps its own (and the checkpointer's bounds stay in bytes).
TEST_F(SqliteCheckpointerTest, NewDatabasesGetTheirPageSizeAndOldOnesKeepTheirs) {
  auto page_size = [](SqliteConnection& c) {
    auto rows = c.query("PRAGMA page_size");
    EXPECT_TRUE(rows.has_value());
    return rows ? rows->i64(0, 0) : 0;
  };
  EXPECT_EQ(page_size(*writer_), SqliteConnection::kPageBytes);
  const std::string old_path = (folder_ / "old.db").string();
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(old_path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "PRAGMA page_size=4096; CREATE TABLE t (k INTEGER PRIMARY KEY);",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  auto old = SqliteConnection::open(old_path, {});
  ASSERT_OK(old);
  EXPECT_EQ(page_size(**old), 4096);
  ASSERT_OK((*old)->exec("INSERT INTO t (k) VALUES (1)"));
}

}  // namespace
}  // namespace tanpu::store
