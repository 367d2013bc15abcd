// Moves SQLite's WAL checkpoints off the writer's commit path. The writer connection turns off
// auto-checkpointing and, through a WAL hook, wakes this thread, which checkpoints (PASSIVE: never
// blocks the writer or readers) on a connection of its own — on the other core. If the WAL still
// grows past wal_pages_max (the checkpointer cannot keep up), the writer checkpoints itself.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

struct sqlite3;

namespace tanpu::store {

class SqliteCheckpointer {
 public:
  static constexpr int kWakePages = 4096;       // 16 MiB of WAL at 4 KiB pages
  static constexpr int kWalPagesMax = 262'144;  // 1 GiB: the writer checkpoints itself past this

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
  std::mutex mu_;
  std::condition_variable cv_;
  bool wanted_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace tanpu::store
