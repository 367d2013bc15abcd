// One database connection, engine-neutral. Modules write SQL with `?` placeholders; the PostgreSQL
// engine rewrites them to $1..$n. Statements are prepared once per connection and cached by text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/result.h"

namespace tanpu::store {

enum class Dialect { sqlite, postgres };

using Bytes = std::vector<std::uint8_t>;

// A bound parameter. Borrowed: the referenced text or bytes must outlive the call.
using Param =
    std::variant<std::nullptr_t, std::int64_t, std::string_view, std::span<const std::uint8_t>>;

// A fully read result set. Cells are addressed by (row, column); columns in SELECT order.
class Rows {
 public:
  std::size_t size() const { return columns_ == 0 ? 0 : cells_.size() / columns_; }
  bool empty() const { return size() == 0; }
  std::size_t columns() const { return columns_; }
  bool is_null(std::size_t row, std::size_t col) const;
  // The cell as int64 (TANPU_ASSERTs that it is an integer and not null).
  std::int64_t i64(std::size_t row, std::size_t col) const;
  std::string_view text(std::size_t row, std::size_t col) const;
  std::span<const std::uint8_t> blob(std::size_t row, std::size_t col) const;

  // Builders, for the engines.
  void set_columns(std::size_t n) { columns_ = n; }
  void push_null();
  void push_i64(std::int64_t v);
  void push_text(std::string_view v);
  void push_blob(std::span<const std::uint8_t> v);

 private:
  enum class Type : std::uint8_t { null, i64, text, blob };
  struct Cell {
    Type type;
    std::int64_t value;  // integer value, or offset into buffer_
    std::size_t size;    // text/blob length
  };
  const Cell& at(std::size_t row, std::size_t col) const;
  std::size_t columns_ = 0;
  std::vector<Cell> cells_;
  std::string buffer_;
};

// A statement built to run later with others (Connection::run_all): its SQL, its parameters, and
// the text and bytes it was given to keep, which those parameters may borrow.
class Statement {
 public:
  explicit Statement(std::string sql) : sql_(std::move(sql)) {}
  // Moved, never copied: a copy's parameters would borrow the original's text.
  Statement(Statement&&) noexcept = default;
  Statement& operator=(Statement&&) noexcept = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  // A parameter borrowing the caller's text or bytes, which must outlive the run.
  Statement& bind(Param p) {
    params_.push_back(p);
    return *this;
  }
  // A text parameter the statement keeps a copy of.
  Statement& bind_owned(std::string text) {
    params_.emplace_back(
        std::string_view(*owned_.emplace_back(std::make_unique<std::string>(std::move(text)))));
    return *this;
  }
  // A bytes parameter the statement keeps a copy of.
  Statement& bind_owned(std::span<const std::uint8_t> bytes) {
    const auto& kept = *owned_bytes_.emplace_back(
        std::make_unique<std::vector<std::uint8_t>>(bytes.begin(), bytes.end()));
    params_.emplace_back(std::span<const std::uint8_t>(kept));
    return *this;
  }
  const std::string& sql() const { return sql_; }
  std::span<const Param> params() const { return params_; }

 private:
  std::string sql_;
  std::vector<Param> params_;
  // Each text and bytes keeps its place as this moves.
  std::vector<std::unique_ptr<std::string>> owned_;
  std::vector<std::unique_ptr<std::vector<std::uint8_t>>> owned_bytes_;
};

// What one statement of run_all came to: its rows (a query's or RETURNING's) and how many rows it
// changed (0 for a query).
struct StatementResult {
  Rows rows;
  std::int64_t changed = 0;
};

class Connection;

// Work that the jobs of one transaction leave for its end, done once for all of them just before
// COMMIT: the ledger's holds of a group of orders, say, written as one ledger batch (one chain
// link, the chain head held from then to COMMIT only). Jobs add entries; a savepoint rolled back
// drops the entries added since it was taken, so a job undone leaves nothing behind.
class TransactionTail {
 public:
  virtual ~TransactionTail() = default;
  // Does the work, inside the transaction. An error rolls the transaction back instead of COMMIT.
  virtual Result<void> finish(Connection& conn) = 0;
  virtual std::size_t size() const = 0;
  virtual void truncate(std::size_t entries) = 0;
  // Tails finish in ascending rank, those of one rank in the order they were added. A tail that
  // locks rows after another tail's locks ranks above it, so that every transaction takes those
  // locks in one order (none waits for the other's while holding what it needs).
  virtual int rank() const { return 0; }
};

class Connection {
 public:
  virtual ~Connection() = default;
  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  virtual Dialect dialect() const = 0;

  // Runs one statement and returns all its rows.
  virtual Result<Rows> query(std::string_view sql, std::span<const Param> params) = 0;
  Result<Rows> query(std::string_view sql, std::initializer_list<Param> params = {}) {
    return query(sql, std::span<const Param>(params.begin(), params.size()));
  }

  // Runs one statement and returns the number of rows it changed.
  virtual Result<std::int64_t> exec(std::string_view sql, std::span<const Param> params) = 0;
  Result<std::int64_t> exec(std::string_view sql, std::initializer_list<Param> params = {}) {
    return exec(sql, std::span<const Param>(params.begin(), params.size()));
  }

  // Runs several ;-separated statements without parameters (migrations, DDL).
  virtual Result<void> exec_script(std::string_view sql) = 0;

  // Runs statements in order, as query() would one after another, and returns what each came to.
  // On PostgreSQL they go in one round trip (pipeline mode): for statements that do not need each
  // other's answers, such as the writes of a ledger batch. Stops at the first that fails and
  // returns its error; the statements after it do not run. Each statement still starts its own
  // snapshot, after the one before it has finished (so a read after a lock sees what the lock
  // waited for).
  virtual Result<std::vector<StatementResult>> run_all(std::span<const Statement> statements) = 0;

  // Statements whose answers the caller does not wait for, such as the writes of a ledger batch
  // just before COMMIT. SQLite runs them at once. PostgreSQL sends them with this connection's next
  // round trip (the next statement, or COMMIT), so they cost none of their own; one that fails
  // fails the call that carried them, as a failing statement of its own would (and, carried by
  // COMMIT, the transaction). Nobody sees what they came to: a statement that must change certain
  // rows has to fail by itself when it does not.
  virtual Result<void> run_deferred(std::vector<Statement> statements) = 0;

  // Appends rows to a table as fast as the engine allows (COPY on PostgreSQL, a cached multi-row
  // prepared INSERT on SQLite). values is row-major: columns.size() params per row.
  virtual Result<void> bulk_insert(std::string_view table,
                                   std::span<const std::string_view> columns,
                                   std::span<const Param> values) = 0;

  // Transactions. Savepoints nest inside a transaction. commit() first finishes the transaction's
  // tails in the order they were added; if one fails, commit() rolls the transaction back and
  // returns that error.
  Result<void> begin();
  Result<void> commit();
  Result<void> rollback();
  Result<void> savepoint(std::string_view name);
  Result<void> release(std::string_view name);
  Result<void> rollback_to(std::string_view name);
  virtual bool in_transaction() const = 0;

  // The open transaction's tail added under key, or nullptr.
  TransactionTail* tail(const void* key) const;
  // Adds a tail under key (one per key) to the open transaction.
  TransactionTail& add_tail(const void* key, std::unique_ptr<TransactionTail> tail);

 protected:
  virtual Result<void> do_begin() = 0;
  virtual Result<void> do_commit() = 0;
  virtual Result<void> do_rollback() = 0;
  virtual Result<void> do_savepoint(std::string_view name) = 0;
  virtual Result<void> do_release(std::string_view name) = 0;
  virtual Result<void> do_rollback_to(std::string_view name) = 0;

 private:
  struct Tail {
    const void* key;
    std::unique_ptr<TransactionTail> work;
  };
  // A savepoint's view of the tails: how many there were, and each one's size.
  struct Mark {
    std::string name;
    std::vector<std::size_t> sizes;
  };
  void clear_tails();
  std::vector<Tail> tails_;
  std::vector<Mark> marks_;  // the open savepoints, innermost last
};

// A nullable integer parameter: NULL when absent.
inline Param nullable(const std::optional<std::int64_t>& v) {
  return v ? Param{*v} : Param{nullptr};
}
// A nullable text parameter: NULL when absent. Borrows the text, like Param.
inline Param nullable(const std::optional<std::string>& v) {
  return v ? Param{std::string_view(*v)} : Param{nullptr};
}

// Inserts rows (row-major `values`, `width` params per row) into `table` (`columns`, a
// comma-separated list) and, for rows whose `key` exists, runs `update` (the SET clause, which may
// read `excluded.`). Not one statement per row: on PostgreSQL one statement with a column per
// array (`INSERT … SELECT * FROM unnest(…)`; VALUES chunks when a column holds only NULLs), on
// SQLite multi-row VALUES chunks. Table and column text come from the caller's code, never input.
Result<void> upsert_rows(Connection& c, std::string_view table, std::string_view columns,
                         std::size_t width, std::string_view key, std::string_view update,
                         std::span<const Param> values);
// The statements upsert_rows runs, to be run with others (Connection::run_all). They borrow the
// text and bytes of `values` (the PostgreSQL arrays they keep), like Param.
std::vector<Statement> upsert_statements(Dialect dialect, std::string_view table,
                                         std::string_view columns, std::size_t width,
                                         std::string_view key, std::string_view update,
                                         std::span<const Param> values);

// Engine error codes that callers may act on. Engines map their native errors to these codes in
// Error::code; everything else is "db_error".
inline constexpr std::string_view kUniqueViolation = "unique_violation";
inline constexpr std::string_view kRetryable =
    "retryable";  // deadlock / serialization failure / busy

}  // namespace tanpu::store
