// Loading: a good set loads; every kind of broken file refuses the whole set with file:line.
#include <gtest/gtest.h>

#include "data_fixture.h"
#include "methodology/catalog.h"

namespace tanpu::methodology {
namespace {

using testing::DataDir;
using testing::factor;
using testing::metro;

// Loads, expects a refusal, and returns its message.
std::string refusal(const DataDir& data) {
  auto loaded = data.load();
  EXPECT_FALSE(loaded.has_value());
  if (loaded) return {};
  EXPECT_EQ(loaded.error().code, "methodology_data_invalid");
  return loaded.error().message;
}

TEST(CatalogLoad, AGoodSetLoadsWithItsRegionChain) {
  DataDir data;
  data.write("methodologies/metro.toml", metro("1", "2025-01-01", ""));
  auto loaded = data.load();
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
  const Catalog& c = **loaded;
  ASSERT_EQ(c.methodologies().size(), 1u);
  const auto wuhan = c.find_region("CN-HB-WUH");
  ASSERT_TRUE(wuhan.has_value());
  std::vector<std::string> chain;
  for (RegionId id : c.region(*wuhan).chain) chain.push_back(c.region(id).code);
  EXPECT_EQ(chain, (std::vector<std::string>{"CN-HB-WUH", "CN-HB", "CN-GRID-CENTRAL", "CN"}));
  EXPECT_EQ(c.region(*wuhan).utc_offset_minutes, 480);
  EXPECT_TRUE(c.covers(*c.find_region("CN-HB"), *wuhan));
  EXPECT_FALSE(c.covers(*wuhan, *c.find_region("CN-HB")));
}

TEST(CatalogLoad, TomlSyntaxErrorNamesFileAndLine) {
  DataDir data;
  data.write("methodologies/metro.toml", "code = \"x\"\nversion = = 1\n");
  EXPECT_NE(refusal(data).find("methodologies/metro.toml:2:"), std::string::npos);
}

TEST(CatalogLoad, UnknownKeyIsRefused) {
  DataDir data;
  data.write("methodologies/metro.toml", metro("1", "2025-01-01", "", "colour = \"red\"\n"));
  const std::string message = refusal(data);
  EXPECT_NE(message.find("unknown key 'colour'"), std::string::npos) << message;
  EXPECT_NE(message.find("metro.toml:"), std::string::npos) << message;
}

TEST(CatalogLoad, UnknownUnitRegionScenarioAndStatusAreEachNamed) {
  DataDir data;
  std::string text = metro("1", "2025-01-01", "");
  text.replace(text.find("unit = \"km\""), 11, "unit = \"furlong\"");
  text.replace(text.find("CN-HB-WUH"), 9, "CN-XX-ATL");
  text.replace(text.find("scenario = \"metro\""), 18, "scenario = \"teleport\"");
  text.replace(text.find("status = \"released\""), 19, "status = \"final\"");
  data.write("methodologies/metro.toml", text);
  const std::string message = refusal(data);
  for (const char* what :
       {"unknown unit 'furlong'", "unknown region 'CN-XX-ATL'", "unknown scenario key 'teleport'",
        "status must be trial, released or superseded"})
    EXPECT_NE(message.find(what), std::string::npos) << what << "\n" << message;
}

TEST(CatalogLoad, OverlappingVersionsInOneJurisdictionAndScenarioAreRefused) {
  DataDir data;
  data.write("methodologies/a.toml", metro("1", "2024-01-01", "effective_to = 2025-03-31\n"));
  data.write("methodologies/b.toml", metro("2", "2025-03-01", ""));
  const std::string message = refusal(data);
  EXPECT_NE(message.find("t-metro@2 overlaps t-metro@1"), std::string::npos) << message;
}

TEST(CatalogLoad, AdjacentVersionsLoad) {
  DataDir data;
  data.write("methodologies/a.toml", metro("1", "2024-01-01", "effective_to = 2025-02-28\n"));
  data.write("methodologies/b.toml", metro("2", "2025-03-01", ""));
  ASSERT_TRUE(data.load().has_value());
}

TEST(CatalogLoad, DuplicateCodeAndVersionIsRefused) {
  DataDir data;
  data.write("methodologies/a.toml", metro("1", "2024-01-01", "effective_to = 2024-12-31\n"));
  std::string other = metro("1", "2025-01-01", "");
  other.replace(other.find("jurisdiction = \"CN-HB-WUH\""), 26, "jurisdiction = \"CN-HB\"");
  data.write("methodologies/b.toml", other);
  EXPECT_NE(refusal(data).find("duplicate methodology t-metro@1"), std::string::npos);
}

TEST(CatalogLoad, FactorReferencesMustExistAndConvert) {
  DataDir data;
  std::string missing = metro("1", "2025-01-01", "");
  missing.replace(missing.find("id = \"wuh-metro\""), 16, "id = \"nope\"");
  data.write("methodologies/m.toml", missing);
  EXPECT_NE(refusal(data).find("no factor has id 'nope'"), std::string::npos);

  DataDir data2;
  std::string wrong_unit = metro("1", "2025-01-01", "");
  wrong_unit.replace(wrong_unit.find("unit = \"g/km\""), 13, "unit = \"g/kWh\"");
  data2.write("methodologies/m.toml", wrong_unit);
  EXPECT_NE(refusal(data2).find("does not convert to g/kWh"), std::string::npos);
}

TEST(CatalogLoad, FormulaErrorsAreFoundAtLoad) {
  DataDir data;
  std::string text = metro("1", "2025-01-01", "");
  text.replace(text.find("distance_km * ef"), 16, "distance_km * speed");
  data.write("methodologies/m.toml", text);
  const std::string message = refusal(data);
  EXPECT_NE(message.find("formula.baseline_g"), std::string::npos) << message;
  EXPECT_NE(message.find("m.toml:"), std::string::npos) << message;
}

TEST(CatalogLoad, UnverifiedFactorMustBeProvisional) {
  DataDir data;
  std::string row = factor("u1", "k", "1", "g/km", "CN", "2020-01-01");
  row.replace(row.find("label = \"S\""), 11, "label = \"U\"");
  data.write("factors/u.toml", row);
  const std::string message = refusal(data);
  EXPECT_NE(message.find("factors/u.toml:11: factor: factor u1: an unverified"), std::string::npos)
      << message;
  EXPECT_NE(message.find("must be provisional = true"), std::string::npos) << message;
}

TEST(CatalogLoad, DuplicateFactorIdIsRefused) {
  DataDir data;
  data.write("factors/dup.toml", factor("wuh-metro", "k", "1", "g/km", "CN", "2020-01-01"));
  EXPECT_NE(refusal(data).find("duplicate id"), std::string::npos);
}

TEST(CatalogLoad, PinnedFactorMustCoverTheEffectiveRange) {
  DataDir data;
  data.write("factors/base.toml",
             factor("wuh-metro", "metro.reduction", "78.4", "g/km", "CN-HB-WUH", "2025-06-01"));
  data.write("methodologies/m.toml", metro("1", "2025-01-01", ""));
  EXPECT_NE(refusal(data).find("not valid on every day"), std::string::npos);
}

TEST(CatalogLoad, ProvisionalNeedsANote) {
  DataDir data;
  data.write("methodologies/m.toml", metro("1", "2025-01-01", "", "provisional = true\n"));
  EXPECT_NE(refusal(data).find("provisional_note"), std::string::npos);
}

TEST(CatalogLoad, MoreInputsThanTheEvaluatorHoldsAreRefused) {
  DataDir data;
  std::string extra;
  for (int i = 0; i < 16; ++i)  // 16 more than distance_km: 17 in all
    extra += "\n[[inputs]]\nname = \"x" + std::to_string(i) +
             "\"\nunit = \"1\"\ntype = \"number\"\nmin = 0\nmax = 1\ndefault = 0\n"
             "description = \"padding\"\n";
  data.write("methodologies/m.toml", metro("1", "2025-01-01", "", "", extra));
  EXPECT_NE(refusal(data).find("at most 16 inputs"), std::string::npos);
}

TEST(CatalogLoad, MissingRegionsFileOrDirectoryIsRefused) {
  EXPECT_FALSE(Catalog::load("/nonexistent/tanpu-data").has_value());
  DataDir data;
  std::filesystem::remove(data.path() / "regions.toml");
  EXPECT_NE(refusal(data).find("regions.toml"), std::string::npos);
}

TEST(CatalogLoad, RegionParentsMustWiden) {
  DataDir data;
  std::string regions = testing::kRegions;
  regions +=
      "\n[[region]]\ncode = \"CN-HB-WUH-X\"\nlevel = \"province\"\nparent = \"CN-HB-WUH\"\n"
      "name_zh = \"x\"\nname_en = \"x\"\n";
  data.write("regions.toml", regions);
  EXPECT_NE(refusal(data).find("must be a wider level"), std::string::npos);
}

}  // namespace
}  // namespace tanpu::methodology
