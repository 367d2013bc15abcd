// Catalog::load: reads data/ into a Catalog and refuses the whole set on any problem.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "methodology/catalog_loader.h"
#include "methodology/formula.h"

namespace tanpu::methodology {

namespace fs = std::filesystem;

Result<std::shared_ptr<const Catalog>> Catalog::load(const std::filesystem::path& data_dir) {
  return CatalogLoader(data_dir).run();
}

Result<std::shared_ptr<const Catalog>> CatalogLoader::run() {
  if (!fs::is_directory(dir_))
    return fail(ErrorKind::invalid, "data_dir_missing",
                "methodology data directory " + dir_.string() + " does not exist");
  load_regions();
  if (problems_.empty()) {
    for (const auto& path : toml_files(dir_ / "factors")) load_factor_file(path);
    index_factors();
    for (const auto& path : toml_files(dir_ / "methodologies")) load_methodology(path);
    load_recognition();
  }
  if (problems_.empty()) {
    for (const auto& m : c_.methodologies_) check_methodology(m);
    check_overlaps();
  }
  if (!problems_.empty())
    return fail(ErrorKind::invalid, "methodology_data_invalid", problems_.joined());
  index_methodologies();
  return std::make_shared<const Catalog>(std::move(c_));
}

std::vector<fs::path> CatalogLoader::toml_files(const fs::path& dir) const {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::recursive_directory_iterator(dir, ec))
    if (entry.is_regular_file() && entry.path().extension() == ".toml") out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string CatalogLoader::rel(const fs::path& path) const {
  return (dir_.filename() / path.lexically_relative(dir_)).generic_string();
}

std::optional<toml::table> CatalogLoader::parse(const fs::path& path) {
  try {
    return toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    problems_.add(rel(path), static_cast<std::int64_t>(e.source().begin.line),
                  std::string(e.description()));
  }
  return std::nullopt;
}

std::optional<RegionId> CatalogLoader::region_at(TableReader& r, std::string_view key) {
  const auto code = r.text(key);
  if (!code) return std::nullopt;
  const auto id = c_.find_region(*code);
  if (!id) r.problem(r.line_of(key), "unknown region '" + *code + "' (see data/regions.toml)");
  return id;
}

// ---- regions ----

void CatalogLoader::load_regions() {
  const fs::path path = dir_ / "regions.toml";
  const std::string file = rel(path);
  if (!fs::exists(path)) {
    problems_.add(file, 0, "missing: the region tree is required");
    return;
  }
  auto doc = parse(path);
  if (!doc) return;
  TableReader top(*doc, file, "", problems_);
  const toml::array* rows = top.array("region");
  top.finish();
  if (!rows) return;
  std::vector<std::pair<std::string, std::int64_t>> parents;
  for (const auto& node : *rows) {
    const auto* t = node.as_table();
    if (!t) continue;
    TableReader r(*t, file, "region", problems_);
    Region region;
    region.code = r.text("code").value_or("");
    region.name_zh = r.text("name_zh").value_or("");
    region.name_en = r.text("name_en").value_or("");
    const auto level = r.text("level").value_or("");
    static constexpr std::array<std::pair<std::string_view, Level>, 4> levels{
        {{"national", Level::national},
         {"grid_region", Level::grid_region},
         {"province", Level::province},
         {"city", Level::city}}};
    const auto it =
        std::find_if(levels.begin(), levels.end(), [&](const auto& p) { return p.first == level; });
    if (it == levels.end())
      r.problem(r.line_of("level"), "level must be national, grid_region, province or city");
    else
      region.level = it->second;
    const auto parent = r.text("parent", region.level != Level::national).value_or("");
    if (const auto offset = r.text("utc_offset", false)) {
      const auto& o = *offset;
      if (o.size() != 6 || (o[0] != '+' && o[0] != '-') || o[3] != ':')
        r.problem(r.line_of("utc_offset"), "utc_offset must look like +08:00");
      else
        region.utc_offset_minutes =
            (o[0] == '-' ? -1 : 1) *
            ((o[1] - '0') * 600 + (o[2] - '0') * 60 + (o[4] - '0') * 10 + (o[5] - '0'));
    } else if (region.level == Level::national) {
      r.problem(r.line(), "a national region needs utc_offset");
    }
    r.finish();
    if (c_.region_index_.contains(region.code))
      r.problem(r.line(), "duplicate region " + region.code);
    c_.region_index_[region.code] = static_cast<RegionId>(c_.regions_.size());
    parents.emplace_back(parent, r.line());
    c_.regions_.push_back(std::move(region));
  }
  link_regions(parents, file);
}

void CatalogLoader::link_regions(const std::vector<std::pair<std::string, std::int64_t>>& parents,
                                 const std::string& file) {
  for (std::size_t i = 0; i < c_.regions_.size(); ++i) {
    auto& region = c_.regions_[i];
    if (parents[i].first.empty()) continue;
    const auto parent = c_.find_region(parents[i].first);
    if (!parent) {
      problems_.add(file, parents[i].second,
                    "region " + region.code + ": unknown parent '" + parents[i].first + "'");
      continue;
    }
    region.parent = *parent;
    if (c_.region(*parent).level >= region.level)
      problems_.add(file, parents[i].second,
                    "region " + region.code + ": parent " + parents[i].first +
                        " must be a wider level (city → province → grid_region → national)");
  }
  if (!problems_.empty()) return;
  for (std::size_t i = 0; i < c_.regions_.size(); ++i) {
    auto& region = c_.regions_[i];
    RegionId at = static_cast<RegionId>(i);
    while (at != kNoRegion) {  // levels strictly widen upwards, so this ends
      region.chain.push_back(at);
      at = c_.region(at).parent;
    }
    region.utc_offset_minutes = c_.region(region.chain.back()).utc_offset_minutes;
  }
}

// ---- factors ----

void CatalogLoader::load_factor_file(const fs::path& path) {
  auto doc = parse(path);
  if (!doc) return;
  const std::string file = rel(path);
  TableReader top(*doc, file, "", problems_);
  const auto version = top.text("data_version", false).value_or("");
  top.allow("note");
  const toml::array* rows = top.array("factor");
  top.finish();
  if (!rows) return;
  for (const auto& node : *rows)
    if (const auto* t = node.as_table()) read_factor(*t, file, version);
}

void CatalogLoader::read_factor(const toml::table& t, const std::string& file,
                                std::string_view version) {
  Factor f;
  TableReader r(t, file, "factor", problems_);
  f.id = r.text("id").value_or("");
  f.kind = r.text("kind").value_or("");
  f.value = r.number("value").value_or(0);
  const auto unit = r.text("unit").value_or("");
  if (auto parsed = parse_ratio_unit(unit))
    f.unit = *parsed;
  else
    r.problem(r.line_of("unit"), "unknown unit '" + unit + "' (known: " + known_units() + ")");
  if (auto region = region_at(r, "region")) f.region = *region;
  f.year = static_cast<std::int32_t>(r.integer("year").value_or(0));
  f.valid_from = r.date("valid_from").value_or(0);
  f.valid_to = r.date("valid_to", false);
  f.data_version = r.text("data_version", version.empty()).value_or(std::string(version));
  f.source = r.text("source").value_or("");
  f.label = r.text("label").value_or("");
  f.provisional = r.boolean("provisional", false).value_or(false);
  f.note = r.text("note", false).value_or("");
  r.finish();
  f.origin = Origin{file, r.line()};
  const std::string what = "factor " + f.id + ": ";
  if (f.id.empty() ||
      f.id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") != std::string::npos)
    r.problem(r.line_of("id"), what + "id must be non-empty lowercase [a-z0-9._-]");
  if (!std::isfinite(f.value) || f.value < 0)
    r.problem(r.line_of("value"), what + "value must be a finite number ≥ 0");
  if (f.label != "P" && f.label != "S" && f.label != "U")
    r.problem(r.line_of("label"), what + "label must be P, S or U");
  if (f.label == "U" && !f.provisional)
    r.problem(r.line_of("label"), what + "an unverified (U) figure must be provisional = true");
  if (f.valid_to && *f.valid_to < f.valid_from)
    r.problem(r.line_of("valid_to"), what + "valid_to is before valid_from");
  if (f.source.empty()) r.problem(r.line_of("source"), what + "source must name where it is from");
  if (c_.factor_index_.contains(f.id)) r.problem(r.line_of("id"), what + "duplicate id");
  c_.factor_index_[f.id] = c_.factors_.size();
  c_.factors_.push_back(std::move(f));
}

void CatalogLoader::index_factors() {
  for (const auto& f : c_.factors_) {
    auto [it, inserted] =
        c_.kind_ids_.emplace(f.kind, static_cast<std::int32_t>(c_.kind_ids_.size()));
    const std::uint64_t key =
        (static_cast<std::uint64_t>(static_cast<std::uint32_t>(it->second)) << 32) |
        static_cast<std::uint32_t>(f.region);
    c_.factor_lookup_[key].push_back(&f);
  }
  for (auto& [key, list] : c_.factor_lookup_)
    std::sort(list.begin(), list.end(), [](const Factor* a, const Factor* b) {
      if (a->valid_from != b->valid_from) return a->valid_from > b->valid_from;
      if (a->year != b->year) return a->year > b->year;
      if (a->data_version != b->data_version) return a->data_version > b->data_version;
      return a->id < b->id;
    });
}

// ---- recognition ----

void CatalogLoader::load_recognition() {
  const fs::path path = dir_ / "recognition.toml";
  if (!fs::exists(path)) return;
  auto doc = parse(path);
  if (!doc) return;
  const std::string file = rel(path);
  TableReader top(*doc, file, "", problems_);
  const toml::array* rows = top.array("accept");
  top.finish();
  if (!rows) return;
  for (const auto& node : *rows) {
    const auto* t = node.as_table();
    if (!t) continue;
    TableReader r(*t, file, "accept", problems_);
    Recognition rec;
    if (auto region = region_at(r, "jurisdiction")) rec.jurisdiction = *region;
    rec.basis = r.text("basis").value_or("");
    if (const toml::array* codes = r.array("codes"))
      for (const auto& code : *codes)
        if (auto v = code.value<std::string>()) rec.codes.push_back(*v);
    r.allow("note");
    r.finish();
    for (const auto& code : rec.codes)
      if (c_.versions(code).empty())
        r.problem(r.line_of("codes"), "unknown methodology code '" + code + "'");
    c_.recognition_.push_back(std::move(rec));
  }
}

// ---- indexes and cross-file checks ----

void CatalogLoader::index_methodologies() {
  for (std::size_t i = 0; i < c_.methodologies_.size(); ++i) {
    auto& m = c_.methodologies_[i];
    m.index = static_cast<std::uint32_t>(i);
    for (auto& ref : m.factors) {
      ref.kind_id = c_.kind_id(ref.kind);
      if (ref.pinned_id.empty()) continue;
      ref.pinned = c_.factor_by_id(ref.pinned_id);
      ref.pinned_scale = conversion(ref.pinned->unit, ref.unit).value_or(1.0);  // checked above
    }
    c_.add_scenario(m);
  }
}

void CatalogLoader::check_overlaps() {
  std::map<std::pair<RegionId, std::string>, std::vector<const Methodology*>> groups;
  std::set<std::string> keys;
  for (const auto& m : c_.methodologies_) {
    if (!keys.insert(m.key()).second)
      problems_.add(m.origin.file, m.origin.line, "duplicate methodology " + m.key());
    groups[{m.jurisdiction, m.scenario}].push_back(&m);
  }
  for (auto& [key, list] : groups) {
    std::sort(list.begin(), list.end(), [](const Methodology* a, const Methodology* b) {
      return a->effective_from < b->effective_from;
    });
    for (std::size_t i = 1; i < list.size(); ++i) {
      const Methodology& a = *list[i - 1];
      const Methodology& b = *list[i];
      if (!a.effective_to || *a.effective_to >= b.effective_from)
        problems_.add(b.origin.file, b.origin.line,
                      b.key() + " overlaps " + a.key() + " (" + a.origin.file +
                          ") in jurisdiction " + c_.region(key.first).code + ", scenario " +
                          key.second + ": effective ranges must not overlap");
    }
  }
}

}  // namespace tanpu::methodology
