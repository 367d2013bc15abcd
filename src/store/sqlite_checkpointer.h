// Moves SQLite's WAL checkpoints off the writer's commit path. The writer connection turns off
// auto-checkpointing and, through a WAL hook, wakes this thread once the WAL holds kWakeBytes of
// pages; the thread copies them into the database file (PASSIVE: never blocks the writer or
// readers) on a connection of its own, on the other core.
//
// Copying is not enough to keep the WAL small: SQLite starts the WAL over only when a write
// transaction begins with every frame already copied, and under a steady stream of commits this
// thread is always a few frames behind. So once the WAL passes kWalBytesMax, the writer
// checkpoints itself right after its commit: it copies only what this thread has not yet copied,
// and its next transaction starts the WAL from the beginning. The WAL file stays at about
// kWalBytesMax plus a few transactions, and is overwritten in place instead of growing.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

struct sqlite3;

namespace tanpu::store {

class SqliteCheckpointer {
 public:
  static constexpr std::int64_t kWakeBytes = 16 << 20;    // 16 MiB of WAL wakes the thread
  static constexpr std::int64_t kWalBytesMax = 64 << 20;  // past 64 MiB the writer copies
  // This thread's nice value above the writer's (core/thread.h). The writer is the serial stage of
  // every write, and the copy can wait: when both want a CPU, the writer gets it. A copy that
  // falls behind is bounded by kWalBytesMax.
  static constexpr int kNice = 10;

  // Starts the thread; it opens its own connection to path lazily.
  explicit SqliteCheckpointer(std::string path);
  ~SqliteCheckpointer();
  SqliteCheckpointer(const SqliteCheckpointer&) = delete;
  SqliteCheckpointer& operator=(const SqliteCheckpointer&) = delete;

  // Installs the hook on the writer connection (which must outlive nothing: uninstall() first).
  void install(sqlite3* writer);
  void uninstall(sqlite3* writer);

 private:
  static int on_commit(void* self, sqlite3* db, const char* schema, int wal_pages);
  void loop();

  std::string path_;
  // The bounds in WAL frames, at the writer's page size (install).
  std::atomic<int> wake_pages_{0};
  std::atomic<int> wal_pages_max_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool wanted_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace tanpu::store
