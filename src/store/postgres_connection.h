// A Connection over one PostgreSQL session (libpq). Used by one thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/connection.h"
#include "store/sql_text.h"

struct pg_conn;
struct pg_result;

namespace tanpu::store {

class PostgresConnection final : public Connection {
 public:
  // Connects with a libpq URL or conninfo string and makes commits durable
  // (synchronous_commit=on). Fails with kind unavailable, code "db_unavailable", if it cannot.
  static Result<std::unique_ptr<PostgresConnection>> open(const std::string& url);
  ~PostgresConnection() override;
  PostgresConnection(const PostgresConnection&) = delete;
  PostgresConnection& operator=(const PostgresConnection&) = delete;

  Dialect dialect() const override { return Dialect::postgres; }
  Result<Rows> query(std::string_view sql, std::span<const Param> params) override;
  Result<std::int64_t> exec(std::string_view sql, std::span<const Param> params) override;
  Result<void> exec_script(std::string_view sql) override;
  Result<void> bulk_insert(std::string_view table, std::span<const std::string_view> columns,
                           std::span<const Param> values) override;
  bool in_transaction() const override;

  // How many prepared statements this session holds.
  std::size_t cached_statements() const { return statements_.size(); }

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

  explicit PostgresConnection(pg_conn* conn) : conn_(conn) {}
  Result<void> configure();
  Result<void> ensure_connected();
  Result<const Prepared*> prepare(std::string_view sql, std::span<const Param> params);
  Result<ResultPtr> run(std::string_view sql, std::span<const Param> params);
  Result<void> check_params(std::span<const Param> params) const;
  void bind(std::span<const Param> params);
  Result<void> simple(std::string_view sql);
  Result<void> copy_rows(std::span<const std::string_view> columns, std::span<const Param> values);
  Result<void> flush_copy();
  Error error(const pg_result* result, std::string_view sql) const;

  pg_conn* conn_;
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
