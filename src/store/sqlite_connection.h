// A Connection over one SQLite database file (libsqlite3). Used by one thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "store/connection.h"
#include "store/sql_text.h"

struct sqlite3;
struct sqlite3_stmt;

namespace tanpu::store {

class SqliteCheckpointer;

struct SqliteOptions {
  // Page cache of this connection, in KiB.
  std::size_t cache_kib = 256 * 1024;
  // How long a statement waits for another connection's lock before failing with kRetryable.
  int busy_timeout_ms = 5000;
  // begin() takes the write lock at once (BEGIN IMMEDIATE). Set for the writer connection, so a
  // write transaction never fails half-way on a lock upgrade; readers keep deferred BEGIN.
  bool immediate_begin = false;
  // Set on the writer: checkpoints run on this thread instead of inside the writer's commits.
  std::shared_ptr<SqliteCheckpointer> checkpointer;
};

class SqliteConnection final : public Connection {
 public:
  // Opens (creating if needed) the database file at path, and its folder, with WAL,
  // synchronous=FULL, foreign keys on and the cache and busy timeout of options. A new database
  // gets pages of kPageBytes; an existing one keeps its own.
  static Result<std::unique_ptr<SqliteConnection>> open(const std::string& path,
                                                        const SqliteOptions& options);

  // The page size of new databases. SQLite's default is 4 KiB. A batch of intake writes a row in
  // several indexes keyed by member, and so changes a page of each per member: a commit writes
  // every changed page to the WAL, a frame each, and the checkpoint copies it again. With 8 KiB
  // pages those indexes have half as many pages, a batch writes about half as many frames, and
  // `tanpu bench ingest` credits about 8 % more records per second. Small transactions write twice
  // the bytes per page they change: single-record commits are about 13 % slower (docs/storage.md,
  // "Page size").
  static constexpr int kPageBytes = 8192;
  ~SqliteConnection() override;
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  Dialect dialect() const override { return Dialect::sqlite; }
  Result<Rows> query(std::string_view sql, std::span<const Param> params) override;
  Result<std::int64_t> exec(std::string_view sql, std::span<const Param> params) override;
  Result<void> exec_script(std::string_view sql) override;
  Result<std::vector<StatementResult>> run_all(std::span<const Statement> statements) override;
  Result<void> run_deferred(std::vector<Statement> statements) override;
  Result<void> bulk_insert(std::string_view table, std::span<const std::string_view> columns,
                           std::span<const Param> values) override;
  bool in_transaction() const override;

  // How many prepared statements this connection holds (single statements, not bulk plans).
  std::size_t cached_statements() const { return statements_.size(); }

  // The largest power of two of rows one bulk INSERT binds, for ncols columns.
  static std::size_t bulk_chunk_rows(std::size_t ncols);

  using Connection::exec;
  using Connection::query;

 protected:
  Result<void> do_begin() override;
  Result<void> do_commit() override;
  Result<void> do_rollback() override;
  Result<void> do_savepoint(std::string_view name) override;
  Result<void> do_release(std::string_view name) override;
  Result<void> do_rollback_to(std::string_view name) override;

 private:
  // Prepared multi-row INSERTs for one (table, columns): slot k inserts 2^k rows.
  struct BulkPlan {
    std::size_t ncols = 0;
    std::array<sqlite3_stmt*, 9> by_log2_rows{};
  };

  explicit SqliteConnection(sqlite3* db, const SqliteOptions& options)
      : db_(db), options_(options) {}
  Result<void> configure();
  Result<sqlite3_stmt*> prepare(std::string_view sql);
  Result<sqlite3_stmt*> prepare_uncached(std::string_view sql);
  Result<void> bind_all(sqlite3_stmt* stmt, std::span<const Param> params, std::string_view sql);
  Result<sqlite3_stmt*> bulk_statement(BulkPlan& plan, std::string_view table,
                                       std::span<const std::string_view> columns,
                                       std::size_t log2_rows);
  BulkPlan& bulk_plan(std::string_view table, std::span<const std::string_view> columns);
  Result<void> bulk_insert_chunks(std::string_view table, std::span<const std::string_view> columns,
                                  std::span<const Param> values);
  Error error(int rc, std::string_view sql) const;
  void clear_caches();

  sqlite3* db_;
  SqliteOptions options_;
  std::unordered_map<std::string, sqlite3_stmt*, StringHash, std::equal_to<>> statements_;
  std::unordered_map<std::string, BulkPlan, StringHash, std::equal_to<>> bulk_plans_;
  std::string key_scratch_;  // reused to build cache keys without allocating on the hot path
};

}  // namespace tanpu::store
