// Reads one TOML table with a closed schema, collecting every problem as "file:line: what" so a
// broken data file is refused with all its errors at once.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.h"

namespace tanpu::methodology {

// Problems found while loading; the load fails when any is present.
class Problems {
 public:
  void add(std::string_view file, std::int64_t line, std::string_view what);
  bool empty() const { return items_.empty(); }
  std::size_t size() const { return items_.size(); }
  const std::vector<std::string>& items() const { return items_; }
  std::string joined() const;

 private:
  std::vector<std::string> items_;
};

class TableReader {
 public:
  TableReader(const toml::table& table, std::string file, std::string context, Problems& problems);

  // Each getter marks the key as known; a missing required key or a wrong type is a problem.
  std::optional<std::string> text(std::string_view key, bool required = true);
  std::optional<double> number(std::string_view key, bool required = true);
  std::optional<std::int64_t> integer(std::string_view key, bool required = true);
  std::optional<bool> boolean(std::string_view key, bool required = true);
  std::optional<Day> date(std::string_view key, bool required = true);
  const toml::array* array(std::string_view key, bool required = true);
  const toml::table* table(std::string_view key, bool required = true);
  // Marks keys that are allowed but ignored (free-text notes).
  void allow(std::string_view key);
  // Reports every key that no getter asked for.
  void finish();

  std::int64_t line() const;
  std::int64_t line_of(std::string_view key) const;
  const std::string& file() const { return file_; }
  const std::string& context() const { return context_; }
  void problem(std::int64_t line, std::string_view what);

 private:
  const toml::node* get(std::string_view key, bool required, std::string_view type);

  const toml::table& table_;
  std::string file_;
  std::string context_;
  Problems& problems_;
  std::set<std::string, std::less<>> seen_;
};

}  // namespace tanpu::methodology
