// The repository's own methodology data (data/), loaded once per test process. Header-only, for
// test executables that link tanpu_methodology.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "methodology/catalog.h"
#include "methodology/evaluator.h"

namespace tanpu::testing {

inline std::shared_ptr<const methodology::Catalog> repository_catalog() {
  static const std::shared_ptr<const methodology::Catalog> catalog = [] {
    auto loaded = methodology::Catalog::load(TANPU_SOURCE_DIR "/data");
    if (!loaded) ADD_FAILURE() << "data/ does not load:\n" << loaded.error().message;
    return loaded ? *loaded : nullptr;
  }();
  return catalog;
}

}  // namespace tanpu::testing
