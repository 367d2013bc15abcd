// The store: a pool of connections to one database (SQLite file or PostgreSQL), a group-committing
// write path, and the migration runner.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "store/connection.h"

namespace tanpu::store {

// At most this many write jobs share one commit, unless Options say otherwise.
inline constexpr std::size_t kGroupJobsMax = 512;

struct Options {
  // "sqlite:var/tanpu.db" (or a plain path), or a libpq URL "postgresql://…" / "postgres://…".
  std::string url = "sqlite:var/tanpu.db";
  // Connections for reads (and, on PostgreSQL, for the write path as well).
  std::size_t read_connections = 8;
  // Writers that take jobs from the write queue. SQLite always uses exactly 1 (one writer).
  std::size_t write_connections = 2;
  // At most this many jobs are committed together in one group.
  std::size_t group_jobs_max = kGroupJobsMax;
  // SQLite page cache per connection, in KiB.
  std::size_t sqlite_cache_kib = 256 * 1024;
  // How long a reader waits for a free connection before failing with `unavailable`.
  std::chrono::milliseconds acquire_timeout{5000};
};

class Store;

// A connection borrowed from the pool; returned on destruction.
class Lease {
 public:
  Lease(Store* store, std::unique_ptr<Connection> conn) : store_(store), conn_(std::move(conn)) {}
  Lease(Lease&&) noexcept = default;
  // Gives back the connection this lease held, then takes other's.
  Lease& operator=(Lease&& other) noexcept;
  ~Lease();
  Connection& operator*() const { return *conn_; }
  Connection* operator->() const { return conn_.get(); }

 private:
  Store* store_;
  std::unique_ptr<Connection> conn_;
};

// A unit of write work. It runs inside an open transaction (under a savepoint of its own) on the
// writer connection, and must not begin/commit itself. Returning an error rolls back only this job.
using WriteJob = std::function<Result<void>(Connection&)>;

class Store {
 public:
  virtual ~Store() = default;

  // Opens the database named by options.url. SQLite: creates the file (and its folder), WAL,
  // synchronous=FULL so an acknowledged commit survives power loss.
  static Result<std::unique_ptr<Store>> open(const Options& options);

  virtual Dialect dialect() const = 0;

  // Borrows a connection for reads or for a transaction of the caller's own.
  virtual Result<Lease> acquire() = 0;

  // Runs job in a write transaction together with other concurrent jobs (group commit) and returns
  // once the group's commit is durable. The job's own error is returned and its changes are undone;
  // if the group's commit fails, each of its jobs is run again alone, so one bad job never fails
  // the others (a connection lost during COMMIT fails them with "db_unavailable": the outcome is
  // unknown). Jobs that fail with code kRetryable are retried (bounded) from the start, so a job
  // must only depend on what it reads inside the transaction, and may run more than once.
  virtual Result<void> write(WriteJob job) = 0;

  // As write(job), for a job that locks rows by key (say, member ids): `keys`, in any order, name
  // them. Where several writers run groups side by side (PostgreSQL), a writer does not start
  // a job whose keys meet those of the group another writer is running (it would only wait for
  // that group's locks), and while another writer is idle it leaves it the jobs that meet nothing
  // of its own group. The keys only schedule: the job must still take its locks. A store with one
  // writer, and this default, ignore them. keys must outlive the call.
  virtual Result<void> write_keyed(WriteJob job, std::span<const std::int64_t> keys) {
    (void)keys;
    return write(std::move(job));
  }

  // Convenience: a job that produces a value.
  template <class T>
  Result<T> write_value(std::function<Result<T>(Connection&)> job) {
    std::optional<T> out;
    auto r = write([&](Connection& c) -> Result<void> {
      auto v = job(c);
      if (!v) return std::unexpected(v.error());
      out = std::move(*v);
      return {};
    });
    if (!r) return std::unexpected(r.error());
    return std::move(*out);
  }

  // Stops the writers after the queued jobs are done. Called by the destructor too.
  virtual void close() = 0;

  // Called by Lease.
  virtual void give_back(std::unique_ptr<Connection> conn) = 0;
};

inline Lease::~Lease() {
  if (conn_ && store_ != nullptr) store_->give_back(std::move(conn_));
}

inline Lease& Lease::operator=(Lease&& other) noexcept {
  if (this == &other) return *this;
  if (conn_ && store_ != nullptr) store_->give_back(std::move(conn_));
  store_ = other.store_;
  conn_ = std::move(other.conn_);
  return *this;
}

}  // namespace tanpu::store
