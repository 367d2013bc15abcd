// A test on each engine that works through one connection borrowed from a fresh store for the
// whole test: conn(), and db_ for the store itself (more connections, another process's store).
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <utility>

#include "store/store.h"
#include "support/test_store.h"

namespace tanpu::test {

class OneConnectionTest : public EngineTest {
 protected:
  // Subclasses that add to SetUp call this first and return if HasFatalFailure().
  void SetUp() override {
    db_.emplace(engine());
    auto lease = db_->store().acquire();
    ASSERT_TRUE(lease.has_value()) << lease.error().message;
    lease_.emplace(std::move(*lease));
  }
  store::Connection& conn() { return **lease_; }

  std::optional<TestStore> db_;
  std::optional<store::Lease> lease_;  // declared last: returned before the store closes
};

}  // namespace tanpu::test
