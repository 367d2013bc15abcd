// store::rows_json and store::export_section on both engines: names, kinds, NULLs, the bound.
#include "store/rows_json.h"

#include <gtest/gtest.h>

#include <array>

#include "support/test_store.h"

namespace tanpu::test {
namespace {

using nlohmann::json;
using K = store::JsonColumn::Kind;

class RowsJsonTest : public EngineTest {
 protected:
  void SetUp() override {
    db_ = std::make_unique<TestStore>(engine());
    auto lease = db_->store().acquire();
    ASSERT_OK(lease);
    ASSERT_OK((*lease)->exec_script(
        "CREATE TABLE t (owner BIGINT NOT NULL, n BIGINT, label TEXT, at_us BIGINT, bytes " +
        std::string(engine() == Engine::postgres ? "BYTEA" : "BLOB") + ", on_off BIGINT)"));
    for (std::int64_t i = 1; i <= 5; ++i) {
      const std::array<std::uint8_t, 2> b{0xAB, static_cast<std::uint8_t>(i)};
      ASSERT_OK((*lease)->exec(
          "INSERT INTO t (owner, n, label, at_us, bytes, on_off) VALUES (?, ?, ?, ?, ?, ?)",
          {i == 5 ? std::int64_t{2} : std::int64_t{1}, i, std::string_view("row"),
           i == 3 ? store::Param(nullptr) : store::Param(i * 1'000'000),
           std::span<const std::uint8_t>(b), i % 2}));
    }
  }

  static constexpr std::array<store::JsonColumn, 5> kColumns{{{"n", K::integer},
                                                              {"label", K::text},
                                                              {"at", K::time_us},
                                                              {"bytes", K::blob_hex},
                                                              {"on", K::flag}}};
  static constexpr std::string_view kSql =
      "SELECT n, label, at_us, bytes, on_off FROM t WHERE owner = ? ORDER BY n LIMIT ?";

  std::unique_ptr<TestStore> db_;
};

TEST_P(RowsJsonTest, NamesAndFormatsEveryCell) {
  auto lease = db_->store().acquire();
  ASSERT_OK(lease);
  json out = {{"truncated", json::array()}};
  ASSERT_OK(store::export_section(**lease, out, "things", kSql, {std::int64_t{1}}, kColumns));
  ASSERT_EQ(out["things"].size(), 4U);
  EXPECT_EQ(out["things"][0], (json{{"n", 1},
                                    {"label", "row"},
                                    {"at", "1970-01-01T00:00:01.000000Z"},
                                    {"bytes", "ab01"},
                                    {"on", true}}));
  EXPECT_EQ(out["things"][2]["at"], nullptr);  // NULL stays null
  EXPECT_EQ(out["things"][1]["on"], false);
  EXPECT_EQ(out["truncated"], json::array());
}

TEST_P(RowsJsonTest, ASectionOverItsBoundIsCutAndNamed) {
  auto lease = db_->store().acquire();
  ASSERT_OK(lease);
  json out = {{"truncated", json::array()}};
  ASSERT_OK(store::export_section(**lease, out, "things", kSql, {std::int64_t{1}}, kColumns, 3));
  ASSERT_EQ(out["things"].size(), 3U);
  EXPECT_EQ(out["things"][2]["n"], 3);
  EXPECT_EQ(out["truncated"], json::array({"things"}));
  // Exactly at the bound is not truncated.
  ASSERT_OK(store::export_section(**lease, out, "exact", kSql, {std::int64_t{1}}, kColumns, 4));
  EXPECT_EQ(out["exact"].size(), 4U);
  EXPECT_EQ(out["truncated"], json::array({"things"}));
  // An empty section is an empty array.
  ASSERT_OK(store::export_section(**lease, out, "none", kSql, {std::int64_t{9}}, kColumns));
  EXPECT_EQ(out["none"], json::array());
}

TANPU_INSTANTIATE_ENGINES(RowsJsonTest);

}  // namespace
}  // namespace tanpu::test
