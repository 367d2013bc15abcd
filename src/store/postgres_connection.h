// A Connection over one PostgreSQL session (libpq). Used by one thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/connection.h"
#include "store/sql_text.h"

struct pg_conn;
struct pg_result;

namespace tanpu::store {

struct PostgresOptions {
  // plan_cache_mode = force_generic_plan: a prepared statement is planned once, not again for the
  // values of each run (the store's write connections; docs/storage.md, "Performance notes").
  bool generic_plans = false;
};

class PostgresConnection final : public Connection {
 public:
  // Connects with a libpq URL or conninfo string and makes commits durable
  // (synchronous_commit=on). Fails with kind unavailable, code "db_unavailable", if it cannot.
  // The options' settings hold for the session, and again after a reconnect.
  static Result<std::unique_ptr<PostgresConnection>> open(const std::string& url,
                                                          PostgresOptions options = {});
  ~PostgresConnection() override;
  PostgresConnection(const PostgresConnection&) = delete;
  PostgresConnection& operator=(const PostgresConnection&) = delete;

  Dialect dialect() const override { return Dialect::postgres; }
  Result<Rows> query(std::string_view sql, std::span<const Param> params) override;
  Result<std::int64_t> exec(std::string_view sql, std::span<const Param> params) override;
  Result<void> exec_script(std::string_view sql) override;
  Result<std::vector<StatementResult>> run_all(std::span<const Statement> statements) override;
  Result<void> run_deferred(std::vector<Statement> statements) override;
  Result<void> bulk_insert(std::string_view table, std::span<const std::string_view> columns,
                           std::span<const Param> values) override;
  bool in_transaction() const override;

  // How many prepared statements this session holds.
  std::size_t cached_statements() const { return statements_.size(); }
  // How many times this connection has waited for the server since it was opened.
  std::size_t round_trips() const { return round_trips_; }

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
  struct Prepared {
    std::string name;  // server-side statement name
    int nparams = 0;
  };
  struct ResultDeleter {
    void operator()(pg_result* r) const;
  };
  using ResultPtr = std::unique_ptr<pg_result, ResultDeleter>;

  PostgresConnection(pg_conn* conn, PostgresOptions options) : conn_(conn), options_(options) {}
  Result<void> configure();
  Result<void> ensure_connected();
  Result<const Prepared*> prepare(std::string_view sql, std::span<const Param> params);
  Result<ResultPtr> run(std::string_view sql, std::span<const Param> params);
  Result<void> check_params(std::span<const Param> params) const;
  void bind(std::span<const Param> params);
  Result<void> simple(std::string_view sql);
  // Runs the deferred commands and statements, then `statements`, then final_command if any, in
  // one round trip (libpq pipeline mode). Returns the results of `statements` and, last, of
  // final_command.
  Result<std::vector<ResultPtr>> pipeline(std::span<const Statement> statements,
                                          std::string_view final_command = {});
  // True if a deferred item is a statement (so they cannot go as a simple query's prefix).
  bool deferred_statements() const;
  bool last_deferred_is(std::string_view command) const;
  static Rows rows_of(const pg_result* r);
  static std::int64_t changed_of(const pg_result* r);
  // The deferred commands joined for a simple query, then cleared: "SAVEPOINT a; RELEASE …; ".
  // Only when no deferred item is a statement.
  std::string take_deferred();
  // Sends what is deferred on its own, if anything.
  Result<void> flush_deferred();
  Result<void> copy_rows(std::span<const std::string_view> columns, std::span<const Param> values);
  Result<void> flush_copy();
  Error error(const pg_result* result, std::string_view sql) const;

  pg_conn* conn_;
  PostgresOptions options_;
  // SAVEPOINT and RELEASE SAVEPOINT commands, and statements given to run_deferred, not sent yet.
  // They go to the server with the next round trip (in one pipeline, or one simple query), so they
  // cost none of their own; a savepoint released or rolled back to with nothing sent in between is
  // never sent at all.
  struct Deferred {
    std::string command;                 // a savepoint command, or empty for a statement
    std::optional<Statement> statement;  // the statement
  };
  std::vector<Deferred> deferred_;
  std::size_t round_trips_ = 0;
  std::unordered_map<std::string, Prepared, StringHash, std::equal_to<>> statements_;
  std::size_t statements_prepared_total_ = 0;  // names statements uniquely within the session
  // Reused between calls so that binding and COPY do not allocate on the hot path.
  std::string key_scratch_;
  std::string copy_buffer_;
  std::vector<const char*> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
  std::vector<std::array<char, 8>> int_buffers_;  // int64 parameters, big-endian
  std::string text_buffer_;                       // text parameters, each NUL-terminated
  std::vector<std::size_t> text_offsets_;
};

}  // namespace tanpu::store
