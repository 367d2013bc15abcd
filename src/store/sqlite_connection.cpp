#include "store/sqlite_connection.h"

#include "store/sqlite_checkpointer.h"

#include <sqlite3.h>

#include <algorithm>
#include <bit>
#include <climits>
#include <filesystem>
#include <system_error>

#include "core/assert.h"
#include "store/sql_text.h"

namespace tanpu::store {
namespace {

// Limits on what one connection keeps prepared; past them the cache is emptied and refilled.
constexpr std::size_t kStatementsCachedMax = 512;
constexpr std::size_t kBulkPlansCachedMax = 64;
// Rows per multi-row INSERT: large enough to amortise the per-statement cost, small enough that
// the statement text and its VDBE program stay small. BulkPlan holds one slot per power of two.
constexpr std::size_t kBulkRowsPerStatementMax = 256;
// SQLite's default SQLITE_MAX_VARIABLE_NUMBER since 3.32.
constexpr std::size_t kVariablesMax = 32766;
// Error messages quote at most this much of the SQL that failed.
constexpr std::size_t kSqlQuotedBytesMax = 300;

// The caller's bytes outlive the statement execution, so SQLite need not copy them.
const sqlite3_destructor_type kStatic = nullptr;

// Leaves a cached statement ready for its next use, whatever path the caller returns by.
struct StatementReset {
  sqlite3_stmt* stmt;
  ~StatementReset() {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
  }
};

bool only_separators(const char* p) {
  for (; *p != '\0'; ++p) {
    if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r' && *p != ';') return false;
  }
  return true;
}

int bind_one(sqlite3_stmt* stmt, int index, const Param& p) {
  if (const auto* i = std::get_if<std::int64_t>(&p)) return sqlite3_bind_int64(stmt, index, *i);
  if (const auto* s = std::get_if<std::string_view>(&p)) {
    // A null data pointer would bind SQL NULL; an empty string_view is the empty string.
    const char* data = s->data() != nullptr ? s->data() : "";
    return sqlite3_bind_text64(stmt, index, data, s->size(), kStatic, SQLITE_UTF8);
  }
  if (const auto* b = std::get_if<std::span<const std::uint8_t>>(&p)) {
    // Same for blobs: an empty blob is bound as a zero-length blob, not NULL.
    if (b->empty()) return sqlite3_bind_zeroblob(stmt, index, 0);
    return sqlite3_bind_blob64(stmt, index, b->data(), b->size(), kStatic);
  }
  return sqlite3_bind_null(stmt, index);
}

void append_cell(Rows& rows, sqlite3_stmt* stmt, int col) {
  switch (sqlite3_column_type(stmt, col)) {
    case SQLITE_INTEGER:
      rows.push_i64(sqlite3_column_int64(stmt, col));
      return;
    case SQLITE_NULL:
      rows.push_null();
      return;
    case SQLITE_BLOB: {
      const void* data = sqlite3_column_blob(stmt, col);
      const auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt, col));
      rows.push_blob({static_cast<const std::uint8_t*>(data), data == nullptr ? 0 : size});
      return;
    }
    default: {  // TEXT, and REAL in its text form (tanpu stores no floating point)
      const unsigned char* text = sqlite3_column_text(stmt, col);
      const auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt, col));
      rows.push_text({reinterpret_cast<const char*>(text), text == nullptr ? 0 : size});
      return;
    }
  }
}

std::string quote_sql(std::string_view sql) {
  if (sql.size() <= kSqlQuotedBytesMax) return std::string(sql);
  return std::string(sql.substr(0, kSqlQuotedBytesMax)) + "…";
}

}  // namespace

std::size_t SqliteConnection::bulk_chunk_rows(std::size_t ncols) {
  TANPU_ASSERT(ncols > 0 && ncols <= kVariablesMax);
  return std::bit_floor(std::min(kBulkRowsPerStatementMax, kVariablesMax / ncols));
}

Result<std::unique_ptr<SqliteConnection>> SqliteConnection::open(const std::string& path,
                                                                 const SqliteOptions& options) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) {
    return fail(ErrorKind::unavailable, "db_unavailable",
                "cannot create the folder of " + path + ": " + ec.message());
  }
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return fail(ErrorKind::unavailable, "db_unavailable", "cannot open " + path + ": " + message);
  }
  std::unique_ptr<SqliteConnection> conn(new SqliteConnection(db, options));
  if (auto r = conn->configure(); !r) return std::unexpected(r.error());
  return conn;
}

Result<void> SqliteConnection::configure() {
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, options_.busy_timeout_ms);
  // Before WAL: a database in WAL mode keeps the page size it has. On an existing database
  // (tables written) this changes nothing.
  if (auto r = exec_script("PRAGMA page_size=" + std::to_string(kPageBytes) + ";"); !r) return r;
  auto mode = query("PRAGMA journal_mode=WAL");
  if (!mode) return std::unexpected(mode.error());
  if (mode->empty() || mode->text(0, 0) != "wal") {
    return fail(ErrorKind::internal, "db_error", "sqlite: cannot switch the journal to WAL");
  }
  const std::string pragmas =
      "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
      "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-" +
      std::to_string(options_.cache_kib) + ";";
  if (auto r = exec_script(pragmas); !r) return r;
  // An acknowledged commit must survive power loss: check the setting took, not just that it ran.
  auto sync = query("PRAGMA synchronous");
  if (!sync) return std::unexpected(sync.error());
  TANPU_ASSERT_MSG(sync->i64(0, 0) == 2, "sqlite: synchronous is not FULL");
  if (options_.checkpointer) options_.checkpointer->install(db_);
  return {};
}

SqliteConnection::~SqliteConnection() {
  if (options_.checkpointer) options_.checkpointer->uninstall(db_);
  clear_caches();
  sqlite3_close(db_);
}

void SqliteConnection::clear_caches() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  statements_.clear();
  for (auto& [key, plan] : bulk_plans_) {
    for (sqlite3_stmt* stmt : plan.by_log2_rows) sqlite3_finalize(stmt);
  }
  bulk_plans_.clear();
}

Error SqliteConnection::error(int rc, std::string_view sql) const {
  std::string message =
      std::string("sqlite: ") + sqlite3_errmsg(db_) + " (in: " + quote_sql(sql) + ")";
  if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
    return Error{ErrorKind::conflict, std::string(kUniqueViolation), std::move(message), {}};
  }
  const int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return Error{ErrorKind::unavailable, std::string(kRetryable), std::move(message), {}};
  }
  return Error{ErrorKind::internal, "db_error", std::move(message), {}};
}

Result<sqlite3_stmt*> SqliteConnection::prepare_uncached(std::string_view sql) {
  if (sql.size() >= INT_MAX) return fail(ErrorKind::too_large, "db_error", "sqlite: SQL too long");
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
  if (rc != SQLITE_OK) return std::unexpected(error(rc, sql));
  if (stmt == nullptr) {
    return fail(ErrorKind::internal, "db_error", "sqlite: no statement in: " + quote_sql(sql));
  }
  const std::string rest(tail, static_cast<std::size_t>(sql.data() + sql.size() - tail));
  if (!only_separators(rest.c_str())) {
    sqlite3_finalize(stmt);
    return fail(ErrorKind::internal, "db_error",
                "sqlite: more than one statement (use exec_script) in: " + quote_sql(sql));
  }
  return stmt;
}

Result<sqlite3_stmt*> SqliteConnection::prepare(std::string_view sql) {
  if (auto it = statements_.find(sql); it != statements_.end()) return it->second;
  if (statements_.size() >= kStatementsCachedMax) {
    for (auto& [text, stmt] : statements_) sqlite3_finalize(stmt);
    statements_.clear();
  }
  auto stmt = prepare_uncached(sql);
  if (!stmt) return stmt;
  statements_.emplace(std::string(sql), *stmt);
  return stmt;
}

Result<void> SqliteConnection::bind_all(sqlite3_stmt* stmt, std::span<const Param> params,
                                        std::string_view sql) {
  TANPU_ASSERT_MSG(static_cast<std::size_t>(sqlite3_bind_parameter_count(stmt)) == params.size(),
                   "number of parameters does not match the statement's placeholders");
  for (std::size_t i = 0; i < params.size(); ++i) {
    const int rc = bind_one(stmt, static_cast<int>(i + 1), params[i]);
    if (rc != SQLITE_OK) return std::unexpected(error(rc, sql));
  }
  return {};
}

Result<Rows> SqliteConnection::query(std::string_view sql, std::span<const Param> params) {
  auto stmt = prepare(sql);
  if (!stmt) return std::unexpected(stmt.error());
  StatementReset reset{*stmt};
  if (auto r = bind_all(*stmt, params, sql); !r) return std::unexpected(r.error());
  Rows rows;
  const int ncols = sqlite3_column_count(*stmt);
  rows.set_columns(static_cast<std::size_t>(ncols));
  for (;;) {
    const int rc = sqlite3_step(*stmt);
    if (rc == SQLITE_DONE) return rows;
    if (rc != SQLITE_ROW) return std::unexpected(error(rc, sql));
    for (int col = 0; col < ncols; ++col) append_cell(rows, *stmt, col);
  }
}

Result<std::vector<StatementResult>> SqliteConnection::run_all(
    std::span<const Statement> statements) {
  // In process, one after another is already as fast as it gets.
  std::vector<StatementResult> out;
  out.reserve(statements.size());
  for (const Statement& s : statements) {
    auto stmt = prepare(s.sql());
    if (!stmt) return std::unexpected(stmt.error());
    const bool writes = sqlite3_stmt_readonly(*stmt) == 0;
    auto rows = query(s.sql(), s.params());
    if (!rows) return std::unexpected(rows.error());
    out.push_back({std::move(*rows), writes ? sqlite3_changes64(db_) : 0});
  }
  return out;
}

Result<void> SqliteConnection::run_deferred(std::vector<Statement> statements) {
  auto results = run_all(statements);
  if (!results) return std::unexpected(results.error());
  return {};
}

Result<std::int64_t> SqliteConnection::exec(std::string_view sql, std::span<const Param> params) {
  auto stmt = prepare(sql);
  if (!stmt) return std::unexpected(stmt.error());
  StatementReset reset{*stmt};
  if (auto r = bind_all(*stmt, params, sql); !r) return std::unexpected(r.error());
  for (;;) {
    const int rc = sqlite3_step(*stmt);
    if (rc == SQLITE_DONE) return sqlite3_changes64(db_);
    if (rc != SQLITE_ROW) return std::unexpected(error(rc, sql));
  }
}

Result<void> SqliteConnection::exec_script(std::string_view sql) {
  const std::string text(sql);  // sqlite3_exec wants a NUL-terminated string
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  sqlite3_free(message);  // the same text is available from sqlite3_errmsg
  if (rc != SQLITE_OK) return std::unexpected(error(sqlite3_extended_errcode(db_), sql));
  return {};
}

SqliteConnection::BulkPlan& SqliteConnection::bulk_plan(std::string_view table,
                                                        std::span<const std::string_view> columns) {
  key_scratch_.clear();
  append_table_columns(key_scratch_, table, columns);
  if (auto it = bulk_plans_.find(key_scratch_); it != bulk_plans_.end()) return it->second;
  if (bulk_plans_.size() >= kBulkPlansCachedMax) {
    for (auto& [key, plan] : bulk_plans_) {
      for (sqlite3_stmt* stmt : plan.by_log2_rows) sqlite3_finalize(stmt);
    }
    bulk_plans_.clear();
  }
  BulkPlan& plan = bulk_plans_[key_scratch_];
  plan.ncols = columns.size();
  return plan;
}

Result<sqlite3_stmt*> SqliteConnection::bulk_statement(BulkPlan& plan, std::string_view table,
                                                       std::span<const std::string_view> columns,
                                                       std::size_t log2_rows) {
  TANPU_ASSERT(log2_rows < plan.by_log2_rows.size());
  if (plan.by_log2_rows[log2_rows] != nullptr) return plan.by_log2_rows[log2_rows];
  std::string sql = "INSERT INTO ";
  append_table_columns(sql, table, columns);
  sql += " VALUES ";
  std::string row = "(?";
  for (std::size_t c = 1; c < columns.size(); ++c) row += ",?";
  row += ')';
  const std::size_t nrows = std::size_t{1} << log2_rows;
  sql.reserve(sql.size() + nrows * (row.size() + 1));
  for (std::size_t r = 0; r < nrows; ++r) {
    if (r > 0) sql += ',';
    sql += row;
  }
  auto stmt = prepare_uncached(sql);
  if (stmt) plan.by_log2_rows[log2_rows] = *stmt;
  return stmt;
}

Result<void> SqliteConnection::bulk_insert_chunks(std::string_view table,
                                                  std::span<const std::string_view> columns,
                                                  std::span<const Param> values) {
  const std::size_t ncols = columns.size();
  const std::size_t rows = values.size() / ncols;
  const std::size_t chunk_rows = bulk_chunk_rows(ncols);
  BulkPlan& plan = bulk_plan(table, columns);
  TANPU_ASSERT(plan.ncols == ncols);
  // Full chunks first, then the remainder in descending powers of two: at most 9 statements per
  // (table, columns) are ever prepared, and a remainder costs at most 8 extra executions.
  for (std::size_t row = 0; row < rows;) {
    const std::size_t n = std::min(chunk_rows, std::bit_floor(rows - row));
    auto stmt = bulk_statement(plan, table, columns, static_cast<std::size_t>(std::countr_zero(n)));
    if (!stmt) return std::unexpected(stmt.error());
    StatementReset reset{*stmt};
    const std::span<const Param> part = values.subspan(row * ncols, n * ncols);
    for (std::size_t i = 0; i < part.size(); ++i) {
      const int rc = bind_one(*stmt, static_cast<int>(i + 1), part[i]);
      if (rc != SQLITE_OK) return std::unexpected(error(rc, "INSERT INTO " + std::string(table)));
    }
    const int rc = sqlite3_step(*stmt);
    if (rc != SQLITE_DONE) return std::unexpected(error(rc, "INSERT INTO " + std::string(table)));
    row += n;
  }
  return {};
}

Result<void> SqliteConnection::bulk_insert(std::string_view table,
                                           std::span<const std::string_view> columns,
                                           std::span<const Param> values) {
  TANPU_ASSERT(!columns.empty());
  TANPU_ASSERT_MSG(values.size() % columns.size() == 0, "values is not whole rows");
  if (values.empty()) return {};
  // The rows go in all or none, as with COPY: in a transaction of their own, or under a savepoint
  // when the caller already has one open.
  constexpr std::string_view kSavepoint = "tanpu_bulk_insert";
  const bool own_transaction = !in_transaction();
  auto opened = own_transaction ? begin() : savepoint(kSavepoint);
  if (!opened) return opened;
  auto inserted = bulk_insert_chunks(table, columns, values);
  if (!inserted) {
    if (own_transaction) {
      (void)rollback();
    } else if (rollback_to(kSavepoint)) {
      (void)release(kSavepoint);
    }
    return inserted;
  }
  return own_transaction ? commit() : release(kSavepoint);
}

Result<void> SqliteConnection::do_begin() {
  auto r = exec(options_.immediate_begin ? "BEGIN IMMEDIATE" : "BEGIN");
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<void> SqliteConnection::do_commit() {
  auto r = exec("COMMIT");
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<void> SqliteConnection::do_rollback() {
  auto r = exec("ROLLBACK");
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<void> SqliteConnection::do_savepoint(std::string_view name) {
  auto r = exec(savepoint_sql("SAVEPOINT ", name));
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<void> SqliteConnection::do_release(std::string_view name) {
  auto r = exec(savepoint_sql("RELEASE SAVEPOINT ", name));
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<void> SqliteConnection::do_rollback_to(std::string_view name) {
  auto r = exec(savepoint_sql("ROLLBACK TO SAVEPOINT ", name));
  if (!r) return std::unexpected(r.error());
  return {};
}

bool SqliteConnection::in_transaction() const {
  return sqlite3_get_autocommit(db_) == 0;
}

}  // namespace tanpu::store
