// A transaction tail for the store tests: keys deferred by jobs, written to table t_tail as one
// multi-row INSERT at COMMIT. A negative key makes the COMMIT fail with "negative_key".
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "store/connection.h"

namespace tanpu::store::test_tail {

inline constexpr std::string_view kTable = "CREATE TABLE t_tail (k BIGINT PRIMARY KEY)";

struct RowsTail final : TransactionTail {
  explicit RowsTail(std::atomic<int>* f) : finishes(f) {}
  Result<void> finish(Connection& c) override {
    ++*finishes;
    std::string sql = "INSERT INTO t_tail (k) VALUES ";
    std::vector<Param> params;
    for (const std::int64_t k : keys) {
      if (k < 0) return fail(ErrorKind::conflict, "negative_key", "a negative key was deferred");
      sql += params.empty() ? "(?)" : ", (?)";
      params.emplace_back(k);
    }
    if (params.empty()) return {};
    auto r = c.exec(sql, params);
    if (!r) return std::unexpected(r.error());
    return {};
  }
  std::size_t size() const override { return keys.size(); }
  void truncate(std::size_t entries) override { keys.resize(entries); }

  std::atomic<int>* finishes;
  std::vector<std::int64_t> keys;
};

// The key the tail is added under.
inline const int kTag = 0;

// Defers key in c's open transaction; finishes counts the tails finished.
inline void defer_key(Connection& c, std::int64_t key, std::atomic<int>& finishes) {
  auto* tail = static_cast<RowsTail*>(c.tail(&kTag));
  if (tail == nullptr) {
    tail = static_cast<RowsTail*>(&c.add_tail(&kTag, std::make_unique<RowsTail>(&finishes)));
  }
  tail->keys.push_back(key);
}

}  // namespace tanpu::store::test_tail
