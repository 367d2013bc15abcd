#include "store/sqlite_checkpointer.h"

#include <sqlite3.h>

#include <algorithm>

#include "core/log.h"
#include "core/thread.h"

namespace tanpu::store {

SqliteCheckpointer::SqliteCheckpointer(std::string path)
    : path_(std::move(path)), thread_([this] { loop(); }) {}

SqliteCheckpointer::~SqliteCheckpointer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void SqliteCheckpointer::install(sqlite3* writer) {
  std::int64_t page_bytes = 4096;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(writer, "PRAGMA page_size", -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW)
    page_bytes = std::max<std::int64_t>(512, sqlite3_column_int64(stmt, 0));
  sqlite3_finalize(stmt);
  wake_pages_ = static_cast<int>(kWakeBytes / page_bytes);
  wal_pages_max_ = static_cast<int>(kWalBytesMax / page_bytes);
  sqlite3_wal_autocheckpoint(writer, 0);
  sqlite3_wal_hook(writer, &SqliteCheckpointer::on_commit, this);
}

void SqliteCheckpointer::uninstall(sqlite3* writer) {
  sqlite3_wal_hook(writer, nullptr, nullptr);
}

int SqliteCheckpointer::on_commit(void* self, sqlite3* db, const char* schema, int wal_pages) {
  auto* c = static_cast<SqliteCheckpointer*>(self);
  if (wal_pages >= c->wal_pages_max_.load(std::memory_order_relaxed)) {
    // Copy what the background thread has not, so the next transaction starts the WAL over: this
    // bounds the WAL file (and recovery time). Mostly the thread has copied all but the last few
    // commits, so this is short.
    sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    return SQLITE_OK;
  }
  if (wal_pages >= c->wake_pages_.load(std::memory_order_relaxed)) {
    {
      std::lock_guard lock(c->mu_);
      c->wanted_ = true;
    }
    c->cv_.notify_one();
  }
  return SQLITE_OK;
}

void SqliteCheckpointer::loop() {
  name_this_thread("tanpu-checkpt");
  (void)lower_this_thread(kNice);
  sqlite3* db = nullptr;
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || wanted_; });
    if (stop_) break;
    wanted_ = false;
    lock.unlock();
    if (db == nullptr &&
        sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
            SQLITE_OK) {
      log::warn("sqlite_checkpointer_open_failed", {{"path", path_}});
      sqlite3_close(db);
      db = nullptr;
    }
    if (db != nullptr) {
      sqlite3_busy_timeout(db, 1000);
      // A connection that has never read the database has not opened its WAL: a checkpoint on it
      // answers SQLITE_OK and copies nothing (the log's size comes back as -1). One read opens it.
      int rc = sqlite3_exec(db, "SELECT 1 FROM sqlite_schema LIMIT 1", nullptr, nullptr, nullptr);
      if (rc == SQLITE_OK) {
        rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      }
      if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        log::warn("sqlite_checkpoint_failed", {{"error", sqlite3_errmsg(db)}});
      }
    }
    lock.lock();
  }
  sqlite3_close(db);
}

}  // namespace tanpu::store
