// The loader behind Catalog::load (private to src/methodology). Split over catalog_loader.cpp
// (regions, factors, recognition, cross-file checks) and methodology_loader.cpp (one methodology
// file and its own checks).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "methodology/catalog.h"
#include "methodology/toml_reader.h"

namespace tanpu::methodology {

class CatalogLoader {
 public:
  explicit CatalogLoader(std::filesystem::path dir) : dir_(std::move(dir)) {}
  Result<std::shared_ptr<const Catalog>> run();

 private:
  std::optional<toml::table> parse(const std::filesystem::path& path);
  std::string rel(const std::filesystem::path& path) const;
  void load_regions();
  void link_regions(const std::vector<std::pair<std::string, std::int64_t>>& parents,
                    const std::string& file);
  void load_factor_file(const std::filesystem::path& path);
  void read_factor(const toml::table& t, const std::string& file, std::string_view version);
  void index_factors();
  void load_methodology(const std::filesystem::path& path);
  void read_inputs(TableReader& r, Methodology& m);
  void read_factor_refs(TableReader& r, Methodology& m);
  void read_rules_caps_points(TableReader& r, Methodology& m);
  void read_examples(TableReader& r, Methodology& m);
  void read_sources(TableReader& r, Methodology& m);
  void load_recognition();
  std::optional<RegionId> region_at(TableReader& r, std::string_view key);
  void check_methodology(const Methodology& m);
  void check_formulas(const Methodology& m);
  void check_overlaps();
  void index_methodologies();
  std::vector<std::filesystem::path> toml_files(const std::filesystem::path& dir) const;

  std::filesystem::path dir_;
  Problems problems_;
  Catalog c_;
};

}  // namespace tanpu::methodology
