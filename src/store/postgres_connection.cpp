#include "store/postgres_connection.h"

#include <libpq-fe.h>

#include <charconv>
#include <climits>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>

#include "core/assert.h"
#include "store/key_rows.h"

namespace tanpu::store {
namespace {

constexpr std::size_t kStatementsCachedMax = 512;
// COPY data is handed to libpq in pieces of about this size.
constexpr std::size_t kCopyChunkBytes = 1 << 20;
constexpr std::size_t kSqlQuotedBytesMax = 300;

// Type OIDs from pg_type.h (stable across PostgreSQL versions).
constexpr Oid kOidBool = 16;
constexpr Oid kOidBytea = 17;
constexpr Oid kOidInt8 = 20;
constexpr Oid kOidInt2 = 21;
constexpr Oid kOidInt4 = 23;
constexpr Oid kOidNumeric = 1700;
constexpr Oid kOidUnknown = 0;  // the server infers the type from the statement

constexpr char kHexDigits[] = "0123456789abcdef";

std::string quote_sql(std::string_view sql) {
  if (sql.size() <= kSqlQuotedBytesMax) return std::string(sql);
  return std::string(sql.substr(0, kSqlQuotedBytesMax)) + "…";
}

std::string trimmed(const char* message) {
  std::string s = message != nullptr ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

char param_signature(const Param& p) {
  switch (p.index()) {
    case 1:
      return 'i';
    case 2:
      return 't';
    case 3:
      return 'b';
    default:
      return 'n';
  }
}

Oid param_type(char signature) {
  if (signature == 'i') return kOidInt8;
  if (signature == 'b') return kOidBytea;
  return kOidUnknown;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// bytea in the server's hex output form "\x0a1b…".
void push_bytea(Rows& rows, std::string_view text, Bytes& scratch) {
  TANPU_ASSERT_MSG(text.starts_with("\\x") && text.size() % 2 == 0, "bytea is not in hex form");
  scratch.resize((text.size() - 2) / 2);
  for (std::size_t i = 0; i < scratch.size(); ++i) {
    const int hi = hex_value(text[2 + 2 * i]);
    const int lo = hex_value(text[3 + 2 * i]);
    TANPU_ASSERT(hi >= 0 && lo >= 0);
    scratch[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  rows.push_blob(scratch);
}

bool parse_i64(std::string_view text, std::int64_t& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// SUM() and friends over BIGINT return NUMERIC on PostgreSQL but an integer on SQLite: a whole
// NUMERIC that fits is returned as an integer so that module SQL reads the same on both engines.
void push_cell(Rows& rows, Oid type, std::string_view text, Bytes& scratch) {
  std::int64_t v = 0;
  switch (type) {
    case kOidInt8:
    case kOidInt2:
    case kOidInt4:
      TANPU_ASSERT_MSG(parse_i64(text, v), "server sent a malformed integer");
      rows.push_i64(v);
      return;
    case kOidBool:
      rows.push_i64(text == "t" ? 1 : 0);
      return;
    case kOidBytea:
      push_bytea(rows, text, scratch);
      return;
    case kOidNumeric:
      if (parse_i64(text, v)) {
        rows.push_i64(v);
        return;
      }
      rows.push_text(text);
      return;
    default:
      rows.push_text(text);
      return;
  }
}

void append_copy_text(std::string& out, std::string_view s) {
  std::size_t run = 0;  // start of the pending run of characters that need no escape
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const char* escape = c == '\\'   ? "\\\\"
                         : c == '\t' ? "\\t"
                         : c == '\n' ? "\\n"
                         : c == '\r' ? "\\r"
                                     : nullptr;
    if (escape == nullptr) continue;
    out.append(s.substr(run, i - run));
    out.append(escape);
    run = i + 1;
  }
  out.append(s.substr(run));
}

// COPY text format: a backslash must itself be escaped, so bytea's "\x…" is written "\\x…".
void append_copy_bytes(std::string& out, std::span<const std::uint8_t> b) {
  out.append("\\\\x");
  const std::size_t at = out.size();
  out.resize(at + 2 * b.size());
  for (std::size_t i = 0; i < b.size(); ++i) {
    out[at + 2 * i] = kHexDigits[b[i] >> 4];
    out[at + 2 * i + 1] = kHexDigits[b[i] & 0x0f];
  }
}

// Returns false if the cell cannot be represented (text with a NUL byte).
bool append_copy_cell(std::string& out, const Param& p) {
  if (const auto* i = std::get_if<std::int64_t>(&p)) {
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, *i);
    out.append(digits, end);
    return true;
  }
  if (const auto* s = std::get_if<std::string_view>(&p)) {
    if (s->find('\0') != std::string_view::npos) return false;
    append_copy_text(out, *s);
    return true;
  }
  if (const auto* b = std::get_if<std::span<const std::uint8_t>>(&p)) {
    append_copy_bytes(out, *b);
    return true;
  }
  out.append("\\N");
  return true;
}

}  // namespace

void PostgresConnection::ResultDeleter::operator()(pg_result* r) const {
  PQclear(r);
}

Result<std::unique_ptr<PostgresConnection>> PostgresConnection::open(const std::string& url,
                                                                     PostgresOptions options) {
  pg_conn* conn = PQconnectdb(url.c_str());
  if (conn == nullptr)
    return fail(ErrorKind::unavailable, "db_unavailable", "postgres: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = "postgres: cannot connect: " + trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    return fail(ErrorKind::unavailable, "db_unavailable", std::move(message));
  }
  std::unique_ptr<PostgresConnection> pg(new PostgresConnection(conn, options));
  if (auto r = pg->configure(); !r) return std::unexpected(r.error());
  return pg;
}

PostgresConnection::~PostgresConnection() {
  PQfinish(conn_);
}

Result<void> PostgresConnection::configure() {
  // NOTICEs ("relation already exists, skipping") are expected and not worth a line on stderr.
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
  // The placeholder rewrite and COPY escaping assume standard strings; the bytea decoder assumes
  // hex output.
  if (auto r = exec_script("SET synchronous_commit = on; SET standard_conforming_strings = on; "
                           "SET bytea_output = 'hex'; SET client_encoding = 'UTF8'");
      !r) {
    return r;
  }
  if (options_.generic_plans)
    if (auto r = exec_script("SET plan_cache_mode = force_generic_plan"); !r) return r;
  auto sync = query("SHOW synchronous_commit");
  if (!sync) return std::unexpected(sync.error());
  TANPU_ASSERT_MSG(sync->text(0, 0) == "on", "postgres: synchronous_commit is not on");
  return {};
}

Result<void> PostgresConnection::ensure_connected() {
  if (PQstatus(conn_) == CONNECTION_OK) return {};
  // The session is gone, and with it every prepared statement and any open transaction.
  PQreset(conn_);
  statements_.clear();
  deferred_.clear();
  if (PQstatus(conn_) != CONNECTION_OK) {
    return fail(ErrorKind::unavailable, "db_unavailable",
                "postgres: connection lost: " + trimmed(PQerrorMessage(conn_)));
  }
  return configure();
}

Error PostgresConnection::error(const pg_result* result, std::string_view sql) const {
  const char* detail = result != nullptr ? PQresultErrorMessage(result) : PQerrorMessage(conn_);
  std::string message = "postgres: " + trimmed(detail) + " (in: " + quote_sql(sql) + ")";
  if (PQstatus(conn_) != CONNECTION_OK) {
    return Error{ErrorKind::unavailable, "db_unavailable", std::move(message), {}};
  }
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const std::string_view sqlstate = state != nullptr ? state : "";
  if (sqlstate == "23505") {
    return Error{ErrorKind::conflict, std::string(kUniqueViolation), std::move(message), {}};
  }
  // Serialization failure, deadlock, and a lock not granted within lock_timeout: running the
  // transaction again can succeed.
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03") {
    return Error{ErrorKind::unavailable, std::string(kRetryable), std::move(message), {}};
  }
  return Error{ErrorKind::internal, "db_error", std::move(message), {}};
}

Result<const PostgresConnection::Prepared*> PostgresConnection::prepare(
    std::string_view sql, std::span<const Param> params) {
  // The parameter types are part of the key: a statement prepared with $1 as BIGINT cannot take
  // the same parameter as text.
  key_scratch_.assign(sql);
  key_scratch_.push_back('\0');
  for (const Param& p : params) key_scratch_.push_back(param_signature(p));
  if (auto it = statements_.find(key_scratch_); it != statements_.end()) return &it->second;
  if (statements_.size() >= kStatementsCachedMax && PQtransactionStatus(conn_) != PQTRANS_INERROR) {
    if (auto r = simple("DEALLOCATE ALL"); !r) return std::unexpected(r.error());
    statements_.clear();
  }
  int nparams = 0;
  const std::string rewritten = rewrite_placeholders(sql, &nparams);
  TANPU_ASSERT_MSG(static_cast<std::size_t>(nparams) == params.size(),
                   "number of parameters does not match the statement's placeholders");
  std::vector<Oid> types(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) types[i] = param_type(param_signature(params[i]));
  Prepared prepared{"tanpu_" + std::to_string(++statements_prepared_total_), nparams};
  ++round_trips_;
  ResultPtr res(PQprepare(conn_, prepared.name.c_str(), rewritten.c_str(), nparams, types.data()));
  if (PQresultStatus(res.get()) != PGRES_COMMAND_OK) return std::unexpected(error(res.get(), sql));
  auto [it, inserted] = statements_.emplace(key_scratch_, std::move(prepared));
  TANPU_ASSERT(inserted);
  return &it->second;
}

void PostgresConnection::bind(std::span<const Param> params) {
  const std::size_t n = params.size();
  values_.assign(n, nullptr);
  lengths_.assign(n, 0);
  formats_.assign(n, 0);
  text_offsets_.assign(n, 0);
  if (int_buffers_.size() < n) int_buffers_.resize(n);
  text_buffer_.clear();
  for (std::size_t i = 0; i < n; ++i) {
    if (const auto* v = std::get_if<std::int64_t>(&params[i])) {
      auto u = static_cast<std::uint64_t>(*v);
      for (std::size_t b = 8; b-- > 0; u >>= 8) int_buffers_[i][b] = static_cast<char>(u & 0xff);
      values_[i] = int_buffers_[i].data();
      lengths_[i] = 8;
      formats_[i] = 1;
    } else if (const auto* b = std::get_if<std::span<const std::uint8_t>>(&params[i])) {
      values_[i] = b->empty() ? "" : reinterpret_cast<const char*>(b->data());
      lengths_[i] = static_cast<int>(b->size());
      formats_[i] = 1;
    } else if (const auto* s = std::get_if<std::string_view>(&params[i])) {
      // libpq reads text parameters up to a NUL, so they are copied with one; the pointers are
      // set once the buffer has stopped growing.
      text_offsets_[i] = text_buffer_.size();
      text_buffer_.append(*s);
      text_buffer_.push_back('\0');
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (std::holds_alternative<std::string_view>(params[i])) {
      values_[i] = text_buffer_.data() + text_offsets_[i];
    }
  }
}

Result<void> PostgresConnection::check_params(std::span<const Param> params) const {
  for (const Param& p : params) {
    if (const auto* s = std::get_if<std::string_view>(&p)) {
      if (s->find('\0') != std::string_view::npos) {
        return fail(ErrorKind::invalid, "db_error", "postgres: text cannot contain a NUL byte");
      }
      if (s->size() >= INT_MAX)
        return fail(ErrorKind::too_large, "db_error", "postgres: text too long");
    } else if (const auto* b = std::get_if<std::span<const std::uint8_t>>(&p)) {
      if (b->size() >= INT_MAX)
        return fail(ErrorKind::too_large, "db_error", "postgres: blob too long");
    }
  }
  return {};
}

Result<PostgresConnection::ResultPtr> PostgresConnection::run(std::string_view sql,
                                                              std::span<const Param> params) {
  if (auto r = ensure_connected(); !r) return std::unexpected(r.error());
  if (auto r = check_params(params); !r) return std::unexpected(r.error());
  auto prepared = prepare(sql, params);
  if (!prepared) return std::unexpected(prepared.error());
  if (!deferred_.empty()) {
    // The deferred savepoint commands go with it, in one round trip.
    Statement one{std::string(sql)};
    for (const Param& p : params) one.bind(p);
    auto results = pipeline(std::span(&one, 1));
    if (!results) return std::unexpected(results.error());
    return std::move(results->front());
  }
  bind(params);
  ++round_trips_;
  ResultPtr res(PQexecPrepared(conn_, (*prepared)->name.c_str(), (*prepared)->nparams,
                               values_.data(), lengths_.data(), formats_.data(), 0));
  const ExecStatusType status = PQresultStatus(res.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return std::unexpected(error(res.get(), sql));
  }
  return res;
}

Rows PostgresConnection::rows_of(const pg_result* r) {
  const int nrows = PQntuples(r);
  const int ncols = PQnfields(r);
  Rows rows;
  rows.set_columns(static_cast<std::size_t>(ncols));
  Bytes scratch;
  for (int row = 0; row < nrows; ++row) {
    for (int col = 0; col < ncols; ++col) {
      if (PQgetisnull(r, row, col) != 0) {
        rows.push_null();
        continue;
      }
      const std::string_view text(PQgetvalue(r, row, col),
                                  static_cast<std::size_t>(PQgetlength(r, row, col)));
      push_cell(rows, PQftype(r, col), text, scratch);
    }
  }
  return rows;
}

std::int64_t PostgresConnection::changed_of(const pg_result* r) {
  // A query's command tag counts the rows it returned, not rows it changed.
  if (std::string_view(PQcmdStatus(const_cast<pg_result*>(r))).starts_with("SELECT")) return 0;
  const std::string_view tuples = PQcmdTuples(const_cast<pg_result*>(r));
  std::int64_t changed = 0;
  if (!tuples.empty()) TANPU_ASSERT(parse_i64(tuples, changed));
  return changed;
}

Result<Rows> PostgresConnection::query(std::string_view sql, std::span<const Param> params) {
  auto res = run(sql, params);
  if (!res) return std::unexpected(res.error());
  return rows_of(res->get());
}

Result<std::int64_t> PostgresConnection::exec(std::string_view sql, std::span<const Param> params) {
  auto res = run(sql, params);
  if (!res) return std::unexpected(res.error());
  return changed_of(res->get());
}

bool PostgresConnection::deferred_statements() const {
  return std::any_of(deferred_.begin(), deferred_.end(),
                     [](const Deferred& d) { return d.statement.has_value(); });
}

std::string PostgresConnection::take_deferred() {
  TANPU_ASSERT(!deferred_statements());
  std::string text;
  for (const Deferred& d : deferred_) {
    text += d.command;
    text += "; ";
  }
  deferred_.clear();
  return text;
}

Result<std::vector<PostgresConnection::ResultPtr>> PostgresConnection::pipeline(
    std::span<const Statement> statements, std::string_view final_command) {
  if (auto r = ensure_connected(); !r) return std::unexpected(r.error());
  const std::vector<Deferred> deferred = std::exchange(deferred_, {});
  // What goes, in order: the deferred items, the statements, the final command.
  struct Item {
    std::string_view command;
    const Statement* statement = nullptr;
  };
  std::vector<Item> items;
  for (const Deferred& d : deferred) {
    items.push_back(d.statement ? Item{{}, &*d.statement} : Item{d.command, nullptr});
  }
  for (const Statement& st : statements) items.push_back(Item{{}, &st});
  if (!final_command.empty()) items.push_back(Item{final_command, nullptr});
  // Prepared first (a new statement is a round trip of its own, once per session). Room is made
  // beforehand, so that no statement of this pipeline is deallocated by the next one's prepare.
  std::size_t fresh = 0;
  for (const Item& item : items) {
    if (item.statement == nullptr) continue;
    if (auto r = check_params(item.statement->params()); !r) return std::unexpected(r.error());
    key_scratch_.assign(item.statement->sql());
    key_scratch_.push_back('\0');
    for (const Param& p : item.statement->params()) key_scratch_.push_back(param_signature(p));
    if (!statements_.contains(key_scratch_)) ++fresh;
  }
  if (statements_.size() + fresh > kStatementsCachedMax) {
    ++round_trips_;
    ResultPtr res(PQexec(conn_, "DEALLOCATE ALL"));
    if (PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
      return std::unexpected(error(res.get(), "DEALLOCATE ALL"));
    }
    statements_.clear();
  }
  std::vector<Prepared> prepared(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].statement == nullptr) continue;
    auto p = prepare(items[i].statement->sql(), items[i].statement->params());
    if (!p) return std::unexpected(p.error());
    prepared[i] = **p;
  }
  if (PQenterPipelineMode(conn_) != 1) return std::unexpected(error(nullptr, "pipeline"));
  bool sent = true;
  for (std::size_t i = 0; sent && i < items.size(); ++i) {
    if (items[i].statement == nullptr) {
      const std::string command(items[i].command);
      sent =
          PQsendQueryParams(conn_, command.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
      continue;
    }
    bind(items[i].statement->params());  // libpq copies the values into its output buffer now
    sent = PQsendQueryPrepared(conn_, prepared[i].name.c_str(), prepared[i].nparams, values_.data(),
                               lengths_.data(), formats_.data(), 0) == 1;
  }
  sent = sent && PQpipelineSync(conn_) == 1;
  ++round_trips_;
  // Every result up to the sync is read, so the connection is left idle. The first failure is
  // the answer: an item that fails aborts the rest of the pipeline.
  std::optional<Error> failed;
  if (!sent) failed = error(nullptr, "pipeline");
  std::vector<ResultPtr> results;
  results.reserve(items.size());
  for (std::size_t i = 0; sent && i < items.size(); ++i) {
    const std::string_view what = items[i].statement != nullptr
                                      ? std::string_view(items[i].statement->sql())
                                      : items[i].command;
    ResultPtr res(PQgetResult(conn_));
    if (res == nullptr) {  // the connection is gone
      failed = failed.value_or(error(nullptr, what));
      sent = false;
      break;
    }
    const ExecStatusType status = PQresultStatus(res.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK &&
        status != PGRES_PIPELINE_ABORTED && !failed) {
      failed = error(res.get(), what);
    }
    while (ResultPtr end_of_query{PQgetResult(conn_)}) {
    }
    results.push_back(std::move(res));
  }
  if (sent) {
    ResultPtr sync(PQgetResult(conn_));
    if (PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC && !failed) {
      failed = error(sync.get(), "pipeline");
    }
  }
  if (PQexitPipelineMode(conn_) != 1) {
    // Results are left unread (the connection broke mid-pipeline): start a new session rather than
    // keep one in pipeline mode, where no ordinary command can run.
    PQreset(conn_);
    statements_.clear();
    if (!failed) failed = error(nullptr, "pipeline");
    failed->kind = ErrorKind::unavailable;
    failed->code = "db_unavailable";
  }
  if (failed) return std::unexpected(*failed);
  results.erase(results.begin(), results.begin() + static_cast<std::ptrdiff_t>(deferred.size()));
  return results;
}

Result<void> PostgresConnection::run_deferred(std::vector<Statement> statements) {
  for (Statement& st : statements) deferred_.push_back(Deferred{{}, std::move(st)});
  return {};
}

Result<std::vector<StatementResult>> PostgresConnection::run_all(
    std::span<const Statement> statements) {
  std::vector<StatementResult> out;
  if (statements.empty()) return out;
  auto results = pipeline(statements);
  if (!results) return std::unexpected(results.error());
  out.reserve(results->size());
  for (ResultPtr& res : *results) out.push_back({rows_of(res.get()), changed_of(res.get())});
  return out;
}

Result<void> PostgresConnection::flush_deferred() {
  if (deferred_.empty()) return {};
  if (deferred_statements()) {
    auto r = pipeline({});
    if (!r) return std::unexpected(r.error());
    return {};
  }
  const std::string text = take_deferred();
  ++round_trips_;
  ResultPtr res(PQexec(conn_, text.c_str()));
  if (PQresultStatus(res.get()) != PGRES_COMMAND_OK) return std::unexpected(error(res.get(), text));
  return {};
}

Result<void> PostgresConnection::exec_script(std::string_view sql) {
  if (auto r = ensure_connected(); !r) return r;
  // Several statements go as a simple query, which deferred statements cannot share.
  if (deferred_statements()) {
    if (auto r = flush_deferred(); !r) return r;
  }
  const std::string text = take_deferred() + std::string(sql);
  // PQexec returns the last statement's result, or the first failure (it stops there).
  ++round_trips_;
  ResultPtr res(PQexec(conn_, text.c_str()));
  const ExecStatusType status = PQresultStatus(res.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY) {
    return std::unexpected(error(res.get(), sql));
  }
  return {};
}

Result<void> PostgresConnection::simple(std::string_view sql) {
  if (auto r = ensure_connected(); !r) return r;
  if (deferred_statements()) {
    auto r = pipeline({}, sql);
    if (!r) return std::unexpected(r.error());
    return {};
  }
  // A simple query may hold several commands; PQexec returns the last result or the first failure.
  ++round_trips_;
  ResultPtr res(PQexec(conn_, (take_deferred() + std::string(sql)).c_str()));
  if (PQresultStatus(res.get()) != PGRES_COMMAND_OK) return std::unexpected(error(res.get(), sql));
  return {};
}

Result<void> PostgresConnection::flush_copy() {
  if (copy_buffer_.empty()) return {};
  if (PQputCopyData(conn_, copy_buffer_.data(), static_cast<int>(copy_buffer_.size())) != 1) {
    return std::unexpected(error(nullptr, key_scratch_));
  }
  copy_buffer_.clear();
  return {};
}

Result<void> PostgresConnection::copy_rows(std::span<const std::string_view> columns,
                                           std::span<const Param> values) {
  const std::size_t ncols = columns.size();
  copy_buffer_.clear();
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!append_copy_cell(copy_buffer_, values[i])) {
      return fail(ErrorKind::invalid, "db_error", "postgres: text cannot contain a NUL byte");
    }
    copy_buffer_.push_back((i + 1) % ncols == 0 ? '\n' : '\t');
    if (copy_buffer_.size() >= kCopyChunkBytes) {
      if (auto r = flush_copy(); !r) return r;
    }
  }
  return flush_copy();
}

Result<void> PostgresConnection::bulk_insert(std::string_view table,
                                             std::span<const std::string_view> columns,
                                             std::span<const Param> values) {
  TANPU_ASSERT(!columns.empty());
  TANPU_ASSERT_MSG(values.size() % columns.size() == 0, "values is not whole rows");
  if (values.empty()) return {};
  if (auto r = ensure_connected(); !r) return r;
  if (values.size() / columns.size() <= kArrayInsertRowsMax) {
    // A few rows: one INSERT from arrays, one round trip (with any deferred savepoint commands)
    // where COPY takes two; and one statement is all or none by itself.
    if (auto insert = pg_insert_from_arrays(table, columns, values)) {
      auto r = run_all(std::span(&*insert, 1));
      if (!r) return std::unexpected(r.error());
      return {};
    }
  }
  // COPY cannot share a pipeline: deferred savepoint commands go first, on their own.
  if (auto r = flush_deferred(); !r) return r;
  key_scratch_.assign("COPY ");
  append_table_columns(key_scratch_, table, columns);
  key_scratch_.append(" FROM STDIN");
  round_trips_ += 2;  // the command, then the data and its end
  ResultPtr start(PQexec(conn_, key_scratch_.c_str()));
  if (PQresultStatus(start.get()) != PGRES_COPY_IN)
    return std::unexpected(error(start.get(), key_scratch_));
  auto sent = copy_rows(columns, values);
  // Ending with an error message makes the server abandon the COPY, so no partial rows remain.
  const char* abandon = sent ? nullptr : "tanpu: bulk_insert abandoned";
  if (PQputCopyEnd(conn_, abandon) != 1 && sent)
    sent = std::unexpected(error(nullptr, key_scratch_));
  // Every result must be read before the connection takes the next command.
  Result<void> outcome = sent;
  while (ResultPtr res{PQgetResult(conn_)}) {
    if (PQresultStatus(res.get()) != PGRES_COMMAND_OK && outcome) {
      outcome = std::unexpected(error(res.get(), key_scratch_));
    }
  }
  return outcome;
}

Result<void> PostgresConnection::do_begin() {
  // Nothing of a finished transaction may run in the next one.
  deferred_.clear();
  return simple("BEGIN");
}

Result<void> PostgresConnection::do_commit() {
  if (auto r = ensure_connected(); !r) return r;
  ResultPtr res;
  if (deferred_statements()) {
    // The deferred statements and COMMIT in one round trip.
    auto results = pipeline({}, "COMMIT");
    if (!results) return std::unexpected(results.error());
    res = std::move(results->back());
  } else {
    ++round_trips_;
    res.reset(PQexec(conn_, (take_deferred() + "COMMIT").c_str()));
  }
  if (PQresultStatus(res.get()) != PGRES_COMMAND_OK)
    return std::unexpected(error(res.get(), "COMMIT"));
  // COMMIT of a transaction that had already failed "succeeds" by rolling back.
  if (std::strcmp(PQcmdStatus(res.get()), "ROLLBACK") == 0) {
    return fail(ErrorKind::internal, "db_error",
                "postgres: the transaction had failed and was rolled back instead of committed");
  }
  return {};
}

Result<void> PostgresConnection::do_rollback() {
  // Undone with everything else.
  deferred_.clear();
  return simple("ROLLBACK");
}

Result<void> PostgresConnection::do_savepoint(std::string_view name) {
  deferred_.push_back(Deferred{savepoint_sql("SAVEPOINT ", name), std::nullopt});
  return {};
}

bool PostgresConnection::last_deferred_is(std::string_view command) const {
  return !deferred_.empty() && !deferred_.back().statement && deferred_.back().command == command;
}

Result<void> PostgresConnection::do_release(std::string_view name) {
  // Nothing was sent or deferred since this savepoint: releasing it is not making it.
  if (last_deferred_is(savepoint_sql("SAVEPOINT ", name))) {
    deferred_.pop_back();
    return {};
  }
  deferred_.push_back(Deferred{savepoint_sql("RELEASE SAVEPOINT ", name), std::nullopt});
  return {};
}

Result<void> PostgresConnection::do_rollback_to(std::string_view name) {
  // Nothing was sent or deferred since this savepoint, so there is nothing to undo; it stays
  // (deferred) open.
  if (last_deferred_is(savepoint_sql("SAVEPOINT ", name))) return {};
  return simple(savepoint_sql("ROLLBACK TO SAVEPOINT ", name));
}

bool PostgresConnection::in_transaction() const {
  const PGTransactionStatusType status = PQtransactionStatus(conn_);
  return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE;
}

}  // namespace tanpu::store
