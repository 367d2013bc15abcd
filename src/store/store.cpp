#include "store/store.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "core/assert.h"
#include "core/log.h"
#include "core/thread.h"
#include "store/postgres_connection.h"
#include "store/sqlite_checkpointer.h"
#include "store/sqlite_connection.h"

namespace tanpu::store {
namespace {

// A job that keeps failing with kRetryable is run at most this many times, with a pause that
// doubles from kRetryPauseFirst between runs.
constexpr int kJobAttemptsMax = 5;
constexpr std::chrono::milliseconds kRetryPauseFirst{1};
// Callers of write() wait for room once this many jobs are queued (back-pressure).
constexpr std::size_t kQueuedJobsMax = 65'536;
constexpr std::string_view kJobSavepoint = "tanpu_job";
// How long a SQLite statement waits for another connection's lock (a borrower's own write
// transaction, another process) before failing with kRetryable.
constexpr int kSqliteBusyTimeoutMs = 5000;

using Connect = std::function<Result<std::unique_ptr<Connection>>()>;

// How to reach one database: connections for the read pool and for the writers.
struct Engine {
  Dialect dialect;
  Connect reader;
  Connect writer;
  std::size_t writers;
};

// The store whose writer this thread is, so that a write() from inside a job is caught.
thread_local const Store* tl_writer_of = nullptr;

// One caller's job, waiting in the queue. Lives on the caller's stack until done.
struct Pending {
  WriteJob* job;
  std::span<const std::int64_t> keys;  // write_keyed's; empty for write()
  Result<void> result;
  bool done = false;
  std::condition_variable cv;
};

// What running one job inside the group transaction came to.
enum class Step { ok, failed, retry_alone, broken };

class PooledStore final : public Store {
 public:
  PooledStore(const Options& options, Engine engine)
      : options_(options), engine_(std::move(engine)) {}
  ~PooledStore() override;
  Result<void> start();
  Dialect dialect() const override { return engine_.dialect; }
  Result<Lease> acquire() override;
  Result<void> write(WriteJob job) override;
  Result<void> write_keyed(WriteJob job, std::span<const std::int64_t> keys) override;
  void close() override;
  void give_back(std::unique_ptr<Connection> conn) override;

 private:
  // What a writer thread runs; `me` indexes writer_state_.
  void writer_loop(Connection& conn, std::size_t me);
  std::size_t take_group(std::size_t me, std::vector<Pending*>& group);
  void finish_group(std::size_t me, std::span<Pending*> group);
  // With write_mu_ held: whether a writer other than `me` runs a group holding one of keys.
  [[nodiscard]] bool held_elsewhere(std::size_t me, std::span<const std::int64_t> keys) const;
  void run_group(Connection& conn, std::span<Pending*> group);
  void run_rest_alone(Connection& conn, std::span<Pending*> jobs, int attempts_done);
  void run_alone(Connection& conn, Pending& p, int attempts_done);
  static Step run_in_savepoint(Connection& conn, Pending& p);
  static Result<void> run_in_transaction(Connection& conn, Pending& p);

  const Options options_;
  const Engine engine_;

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t readers_open_ = 0;
  std::size_t leases_out_ = 0;
  bool pool_closed_ = false;

  std::mutex write_mu_;
  std::condition_variable writers_cv_;  // a job was queued, or the store is stopping
  std::condition_variable room_cv_;     // the queue has room again
  std::deque<Pending*> queue_;
  bool stopping_ = false;
  // Per writer thread, under write_mu_: whether it runs a group, and the keys of that group's jobs.
  struct WriterState {
    bool running = false;
    std::unordered_set<std::int64_t> keys;
  };
  std::vector<WriterState> writer_state_;

  std::mutex close_mu_;
  std::vector<std::unique_ptr<Connection>> writer_conns_;
  std::vector<std::thread> writers_;
};

PooledStore::~PooledStore() {
  close();
  std::lock_guard lock(pool_mu_);
  TANPU_ASSERT_MSG(leases_out_ == 0, "a Lease outlived its Store");
}

Result<void> PooledStore::start() {
  for (std::size_t i = 0; i < engine_.writers; ++i) {
    auto conn = engine_.writer();
    if (!conn) return std::unexpected(conn.error());
    writer_conns_.push_back(std::move(*conn));
  }
  writer_state_.resize(writer_conns_.size());
  for (std::size_t i = 0; i < writer_conns_.size(); ++i)
    writers_.emplace_back([this, c = writer_conns_[i].get(), i] { writer_loop(*c, i); });
  return {};
}

void PooledStore::close() {
  std::lock_guard closing(close_mu_);
  {
    std::lock_guard lock(write_mu_);
    stopping_ = true;
  }
  writers_cv_.notify_all();
  room_cv_.notify_all();
  for (std::thread& t : writers_) t.join();  // each writer drains the queue before it stops
  writers_.clear();
  writer_conns_.clear();
  std::vector<std::unique_ptr<Connection>> idle;
  {
    std::lock_guard lock(pool_mu_);
    pool_closed_ = true;
    idle.swap(idle_);
  }
  pool_cv_.notify_all();
}

Result<Lease> PooledStore::acquire() {
  std::unique_lock lock(pool_mu_);
  const bool ready = pool_cv_.wait_for(lock, options_.acquire_timeout, [&] {
    return pool_closed_ || !idle_.empty() || readers_open_ < options_.read_connections;
  });
  if (pool_closed_) return fail(ErrorKind::unavailable, "store_closed", "the store is closed");
  if (!ready) {
    return fail(ErrorKind::unavailable, "pool_exhausted",
                "no database connection became free within " +
                    std::to_string(options_.acquire_timeout.count()) + " ms");
  }
  ++leases_out_;
  if (!idle_.empty()) {
    std::unique_ptr<Connection> conn = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(conn));
  }
  ++readers_open_;  // reserve the slot, then connect without holding the lock
  lock.unlock();
  auto conn = engine_.reader();
  if (conn) return Lease(this, std::move(*conn));
  lock.lock();
  --readers_open_;
  --leases_out_;
  pool_cv_.notify_one();
  return std::unexpected(conn.error());
}

void PooledStore::give_back(std::unique_ptr<Connection> conn) {
  // A borrower that left a transaction open must not hand it to the next one.
  if (conn->in_transaction() && !conn->rollback()) conn.reset();
  std::unique_lock lock(pool_mu_);
  TANPU_ASSERT(leases_out_ > 0);
  --leases_out_;
  if (conn && !pool_closed_) {
    idle_.push_back(std::move(conn));
  } else {
    --readers_open_;
  }
  lock.unlock();
  pool_cv_.notify_one();
}

Result<void> PooledStore::write(WriteJob job) {
  return write_keyed(std::move(job), {});
}

Result<void> PooledStore::write_keyed(WriteJob job, std::span<const std::int64_t> keys) {
  TANPU_ASSERT_MSG(tl_writer_of != this,
                   "Store::write called from inside a write job: it would wait for itself");
  TANPU_ASSERT(job != nullptr);
  Pending p{.job = &job, .keys = keys, .result = {}, .done = false, .cv = {}};
  std::unique_lock lock(write_mu_);
  room_cv_.wait(lock, [&] { return stopping_ || queue_.size() < kQueuedJobsMax; });
  if (stopping_) return fail(ErrorKind::unavailable, "store_closed", "the store is closed");
  queue_.push_back(&p);
  writers_cv_.notify_one();
  p.cv.wait(lock, [&] { return p.done; });
  return std::move(p.result);
}

bool PooledStore::held_elsewhere(std::size_t me, std::span<const std::int64_t> keys) const {
  if (keys.empty()) return false;
  for (std::size_t w = 0; w < writer_state_.size(); ++w) {
    const WriterState& other = writer_state_[w];
    if (w == me || !other.running || other.keys.empty()) continue;
    if (std::ranges::any_of(keys, [&](std::int64_t k) { return other.keys.contains(k); }))
      return true;
  }
  return false;
}

// Takes the first queued job that no other writer's group holds a key of, then, in queue order,
// up to group_jobs_max - 1 more that none holds: every one while the other writers are busy; while
// one is idle, only those without keys or that meet a key of this group (they would wait for it),
// leaving the rest to the idle writer. With one writer (SQLite) that is the first
// group_jobs_max jobs, as keys never matter.
std::size_t PooledStore::take_group(std::size_t me, std::vector<Pending*>& group) {
  group.clear();
  std::unique_lock lock(write_mu_);
  std::size_t first = 0;
  writers_cv_.wait(lock, [&] {
    for (first = 0; first < queue_.size(); ++first)
      if (!held_elsewhere(me, queue_[first]->keys)) return true;
    return stopping_ && queue_.empty();
  });
  if (queue_.empty()) return 0;
  WriterState& mine = writer_state_[me];
  mine.running = true;
  mine.keys.clear();
  const bool other_idle = std::ranges::any_of(
      writer_state_, [&](const WriterState& w) { return &w != &mine && !w.running; });
  // Only the queue's head up to the last job taken is looked at and rearranged, so a long queue
  // costs a group no more than the jobs it passes over (with one writer: none).
  std::vector<Pending*> passed;
  std::size_t end = first;
  for (std::size_t i = first; i < queue_.size() && group.size() < options_.group_jobs_max; ++i) {
    Pending* p = queue_[i];
    const bool take =
        i == first ||
        (!held_elsewhere(me, p->keys) &&
         (p->keys.empty() || !other_idle ||
          std::ranges::any_of(p->keys, [&](std::int64_t k) { return mine.keys.contains(k); })));
    if (take) {
      group.push_back(p);
      mine.keys.insert(p->keys.begin(), p->keys.end());
      end = i + 1;
    } else {
      passed.push_back(p);
    }
  }
  passed.resize(end - first - group.size());  // those after the last job taken stay where they are
  queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(first),
               queue_.begin() + static_cast<std::ptrdiff_t>(end));
  queue_.insert(queue_.begin() + static_cast<std::ptrdiff_t>(first), passed.begin(), passed.end());
  const bool left = !queue_.empty();
  lock.unlock();
  room_cv_.notify_all();
  if (left) writers_cv_.notify_all();  // an idle writer may take what this one left
  return group.size();
}

void PooledStore::finish_group(std::size_t me, std::span<Pending*> group) {
  std::lock_guard lock(write_mu_);
  // Notified under the lock: once done is seen, the caller's stack frame (and p->cv) is gone.
  for (Pending* p : group) {
    p->done = true;
    p->cv.notify_one();
  }
  writer_state_[me].running = false;
  writer_state_[me].keys.clear();
  // Jobs that waited for this group's keys may run now, on any writer.
  if (writer_state_.size() > 1 && !queue_.empty()) writers_cv_.notify_all();
}

void PooledStore::writer_loop(Connection& conn, std::size_t me) {
  name_this_thread("tanpu-writer");
  tl_writer_of = this;
  std::vector<Pending*> group;
  group.reserve(options_.group_jobs_max);
  while (take_group(me, group) > 0) {
    run_group(conn, group);
    finish_group(me, group);
  }
  tl_writer_of = nullptr;
}

Step PooledStore::run_in_savepoint(Connection& conn, Pending& p) {
  if (!conn.savepoint(kJobSavepoint)) return Step::broken;
  Result<void> r = (*p.job)(conn);
  if (r) {
    if (!conn.release(kJobSavepoint)) return Step::broken;
    p.result = {};
    return Step::ok;
  }
  if (!conn.rollback_to(kJobSavepoint) || !conn.release(kJobSavepoint)) return Step::broken;
  if (r.error().code == kRetryable) return Step::retry_alone;
  p.result = std::move(r);
  return Step::failed;
}

// Runs the group in one transaction, each job under its own savepoint. Jobs that must run again
// (kRetryable, or the transaction itself failed) run alone afterwards, so one bad job never
// fails the others.
void PooledStore::run_group(Connection& conn, std::span<Pending*> group) {
  // A job alone needs no savepoint to keep its failure from the others: its own transaction does
  // the same with two statements (on PostgreSQL, two round trips) fewer.
  if (group.size() == 1) return run_alone(conn, *group[0], 0);
  if (!conn.begin()) return run_rest_alone(conn, group, 0);
  std::vector<Pending*> committed;
  std::vector<Pending*> again;
  for (std::size_t i = 0; i < group.size(); ++i) {
    const Step step = run_in_savepoint(conn, *group[i]);
    if (step == Step::ok) committed.push_back(group[i]);
    if (step == Step::retry_alone) again.push_back(group[i]);
    if (step != Step::broken) continue;
    // Nothing of this transaction was committed, so re-running its jobs cannot apply one twice.
    if (conn.in_transaction()) (void)conn.rollback();
    log::warn("store_group_broken", {{"jobs", group.size()}});
    run_rest_alone(conn, committed, 0);
    run_rest_alone(conn, again, 1);
    return run_rest_alone(conn, group.subspan(i), 0);
  }
  if (auto c = conn.commit(); !c) {
    if (conn.in_transaction()) (void)conn.rollback();
    // A tail refusing one job's entry (a hold the ledger refuses) is an answer, not a fault.
    const bool refused = c.error().kind == ErrorKind::conflict;
    log::write(refused ? log::Level::debug : log::Level::warn, "store_group_commit_failed",
               {{"jobs", group.size()}, {"error", c.error().message}});
    if (c.error().code == "db_unavailable") {
      // The connection died during COMMIT: the outcome is unknown, so nothing may run again.
      for (Pending* p : committed) p->result = c;
    } else {
      run_rest_alone(conn, committed, 0);
    }
  }
  run_rest_alone(conn, again, 1);
}

void PooledStore::run_rest_alone(Connection& conn, std::span<Pending*> jobs, int attempts_done) {
  for (Pending* p : jobs) run_alone(conn, *p, attempts_done);
}

Result<void> PooledStore::run_in_transaction(Connection& conn, Pending& p) {
  auto b = conn.begin();
  // A session the server dropped since the last job is found out by BEGIN; nothing ran yet, so
  // BEGIN once more, on the connection that re-established itself.
  if (!b && b.error().code == "db_unavailable") b = conn.begin();
  if (!b) return b;
  Result<void> r = (*p.job)(conn);
  if (!r) {
    if (conn.in_transaction()) (void)conn.rollback();
    return r;
  }
  if (auto c = conn.commit(); !c) {
    if (conn.in_transaction()) (void)conn.rollback();
    return c;
  }
  return {};
}

void PooledStore::run_alone(Connection& conn, Pending& p, int attempts_done) {
  for (int attempt = attempts_done;; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(kRetryPauseFirst * (1 << (attempt - 1)));
    p.result = run_in_transaction(conn, p);
    if (p.result || p.result.error().code != kRetryable || attempt + 1 >= kJobAttemptsMax) return;
  }
}

Result<Engine> sqlite_engine(const Options& options, std::string path) {
  if (path.empty()) return fail(ErrorKind::invalid, "bad_database_url", "the SQLite path is empty");
  const SqliteOptions reader{options.sqlite_cache_kib, kSqliteBusyTimeoutMs, false, nullptr};
  const SqliteOptions writer{options.sqlite_cache_kib, kSqliteBusyTimeoutMs, true,
                             std::make_shared<SqliteCheckpointer>(path)};
  auto connect = [path](SqliteOptions o) -> Connect {
    return [path, o]() -> Result<std::unique_ptr<Connection>> {
      auto c = SqliteConnection::open(path, o);
      if (!c) return std::unexpected(c.error());
      return std::unique_ptr<Connection>(std::move(*c));
    };
  };
  // SQLite has a single writer; more writer threads would only queue on its lock.
  return Engine{Dialect::sqlite, connect(reader), connect(writer), 1};
}

Engine postgres_engine(const Options& options) {
  auto connect = [url = options.url](PostgresOptions o) -> Connect {
    return [url, o]() -> Result<std::unique_ptr<Connection>> {
      auto c = PostgresConnection::open(url, o);
      if (!c) return std::unexpected(c.error());
      return std::unique_ptr<Connection>(std::move(*c));
    };
  };
  // The write path's statements look rows up and change them by key, or join arrays of keys: their
  // plan does not depend on the values bound, and PostgreSQL's default would plan some of them
  // again at every run (docs/storage.md, "Performance notes").
  return Engine{Dialect::postgres, connect({}), connect({.generic_plans = true}),
                options.write_connections};
}

Result<Engine> engine_for(const Options& options) {
  const std::string_view url = options.url;
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) {
    return postgres_engine(options);
  }
  if (url.starts_with("sqlite://")) return sqlite_engine(options, std::string(url.substr(9)));
  if (url.starts_with("sqlite:")) return sqlite_engine(options, std::string(url.substr(7)));
  if (const std::size_t scheme_end = url.find("://"); scheme_end != std::string_view::npos) {
    // Only the scheme is echoed: the rest of a URL may hold a password.
    return fail(ErrorKind::invalid, "bad_database_url",
                "unsupported database URL scheme \"" + std::string(url.substr(0, scheme_end)) +
                    "\" (want sqlite:PATH or postgresql://…)");
  }
  return sqlite_engine(options, options.url);
}

}  // namespace

Result<std::unique_ptr<Store>> Store::open(const Options& options) {
  if (options.read_connections == 0 || options.write_connections == 0 ||
      options.group_jobs_max == 0) {
    return fail(ErrorKind::invalid, "bad_store_options",
                "read_connections, write_connections and group_jobs_max must be at least 1");
  }
  auto engine = engine_for(options);
  if (!engine) return std::unexpected(engine.error());
  auto store = std::make_unique<PooledStore>(options, std::move(*engine));
  if (auto r = store->start(); !r) return std::unexpected(r.error());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace tanpu::store
