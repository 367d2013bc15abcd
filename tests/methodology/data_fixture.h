// A throwaway data/ directory for methodology tests: a small region tree, and files the test
// writes (factors, methodologies) to load good and broken sets.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "methodology/catalog.h"

namespace tanpu::methodology::testing {

inline constexpr const char* kRegions = R"(
[[region]]
code = "CN"
level = "national"
name_zh = "中国"
name_en = "China"
utc_offset = "+08:00"

[[region]]
code = "CN-GRID-CENTRAL"
level = "grid_region"
parent = "CN"
name_zh = "华中电网"
name_en = "Central China grid"

[[region]]
code = "CN-HB"
level = "province"
parent = "CN-GRID-CENTRAL"
name_zh = "湖北"
name_en = "Hubei"

[[region]]
code = "CN-HB-WUH"
level = "city"
parent = "CN-HB"
name_zh = "武汉"
name_en = "Wuhan"

[[region]]
code = "CN-HB-XFN"
level = "city"
parent = "CN-HB"
name_zh = "襄阳"
name_en = "Xiangyang"

[[region]]
code = "CN-GRID-NORTHEAST"
level = "grid_region"
parent = "CN"
name_zh = "东北电网"
name_en = "Northeast grid"

[[region]]
code = "CN-LN"
level = "province"
parent = "CN-GRID-NORTHEAST"
name_zh = "辽宁"
name_en = "Liaoning"
)";

// A factor table row.
inline std::string factor(const std::string& id, const std::string& kind, const std::string& value,
                          const std::string& unit, const std::string& region,
                          const std::string& valid_from, const std::string& extra = "") {
  return "[[factor]]\nid = \"" + id + "\"\nkind = \"" + kind + "\"\nvalue = " + value +
         "\nunit = \"" + unit + "\"\nregion = \"" + region +
         "\"\nyear = 2024\nvalid_from = " + valid_from +
         "\ndata_version = \"1\"\nsource = \"test\"\nlabel = \"S\"\n" + extra + "\n";
}

// A valid methodology: metro per km at a pinned Wuhan factor, with `patch` appended (TOML keys at
// the top level must come before `[tables]`, so `top` is inserted first).
inline std::string metro(const std::string& version, const std::string& from,
                         const std::string& to_line, const std::string& top = "",
                         const std::string& tail = "") {
  return "code = \"t-metro\"\nversion = \"" + version +
         "\"\ntitle_zh = \"地铁\"\ntitle_en = \"Metro\"\njurisdiction = \"CN-HB-WUH\"\n"
         "authority = \"test\"\neffective_from = " +
         from + "\n" + to_line +
         "type = \"scenario\"\nsector = \"transport\"\nscenario = \"metro\"\n"
         "status = \"released\"\ncalculator = \"activity_factor\"\ndedup_window_s = 1800\n" +
         top +
         R"(
[[sources]]
document = "test"
year = 2025
label = "P"

[[inputs]]
name = "distance_km"
unit = "km"
type = "number"
min = 0.1
max = 100
description = "trip"

[factors.ef]
id = "wuh-metro"
unit = "g/km"

[formula]
baseline_g = "distance_km * ef"
project_g = "0"

[caps]
per_record_mg = 5000000

[points]
formula = "reduction_g"

[[examples]]
name = "12.5 km"
origin = "derived"
region = "CN-HB-WUH"
date = 2025-06-01
inputs = { distance_km = 12.5 }
reduction_mg = 980000
points = 980
)" + tail;
}

class DataDir {
 public:
  DataDir() {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / ("tanpu-data-" + std::to_string(rd()));
    std::filesystem::create_directories(dir_ / "factors");
    std::filesystem::create_directories(dir_ / "methodologies");
    write("regions.toml", kRegions);
    write("factors/base.toml",
          factor("wuh-metro", "metro.reduction", "78.4", "g/km", "CN-HB-WUH", "2020-01-01"));
  }
  ~DataDir() { std::filesystem::remove_all(dir_); }
  DataDir(const DataDir&) = delete;
  DataDir& operator=(const DataDir&) = delete;

  void write(const std::string& relative, const std::string& text) {
    std::filesystem::create_directories((dir_ / relative).parent_path());
    std::ofstream(dir_ / relative) << text;
  }
  const std::filesystem::path& path() const { return dir_; }
  Result<std::shared_ptr<const Catalog>> load() const { return Catalog::load(dir_); }

 private:
  std::filesystem::path dir_;
};

}  // namespace tanpu::methodology::testing
