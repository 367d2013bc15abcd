#include "methodology/toml_reader.h"

#include <utility>

namespace tanpu::methodology {

void Problems::add(std::string_view file, std::int64_t line, std::string_view what) {
  items_.push_back(std::string(file) + ":" + std::to_string(line) + ": " + std::string(what));
}

std::string Problems::joined() const {
  std::string out;
  for (const auto& item : items_) {
    if (!out.empty()) out += '\n';
    out += item;
  }
  return out;
}

TableReader::TableReader(const toml::table& table, std::string file, std::string context,
                         Problems& problems)
    : table_(table), file_(std::move(file)), context_(std::move(context)), problems_(problems) {}

std::int64_t TableReader::line() const {
  return static_cast<std::int64_t>(table_.source().begin.line);
}

std::int64_t TableReader::line_of(std::string_view key) const {
  const toml::node* node = table_.get(key);
  return node ? static_cast<std::int64_t>(node->source().begin.line) : line();
}

void TableReader::problem(std::int64_t line, std::string_view what) {
  problems_.add(file_, line,
                context_.empty() ? std::string(what) : context_ + ": " + std::string(what));
}

const toml::node* TableReader::get(std::string_view key, bool required, std::string_view type) {
  seen_.emplace(key);
  const toml::node* node = table_.get(key);
  if (!node && required)
    problem(line(), "missing " + std::string(type) + " '" + std::string(key) + "'");
  return node;
}

std::optional<std::string> TableReader::text(std::string_view key, bool required) {
  const toml::node* node = get(key, required, "string");
  if (!node) return std::nullopt;
  if (auto v = node->value<std::string>(); v && node->is_string()) return v;
  problem(line_of(key), "'" + std::string(key) + "' must be a string");
  return std::nullopt;
}

std::optional<double> TableReader::number(std::string_view key, bool required) {
  const toml::node* node = get(key, required, "number");
  if (!node) return std::nullopt;
  if (node->is_floating_point() || node->is_integer()) return node->value<double>();
  problem(line_of(key), "'" + std::string(key) + "' must be a number");
  return std::nullopt;
}

std::optional<std::int64_t> TableReader::integer(std::string_view key, bool required) {
  const toml::node* node = get(key, required, "integer");
  if (!node) return std::nullopt;
  if (node->is_integer()) return node->value<std::int64_t>();
  problem(line_of(key), "'" + std::string(key) + "' must be an integer");
  return std::nullopt;
}

std::optional<bool> TableReader::boolean(std::string_view key, bool required) {
  const toml::node* node = get(key, required, "boolean");
  if (!node) return std::nullopt;
  if (node->is_boolean()) return node->value<bool>();
  problem(line_of(key), "'" + std::string(key) + "' must be true or false");
  return std::nullopt;
}

std::optional<Day> TableReader::date(std::string_view key, bool required) {
  const toml::node* node = get(key, required, "date");
  if (!node) return std::nullopt;
  if (const auto* d = node->as_date()) {
    const toml::date v = d->get();
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(v.year),
                  static_cast<unsigned>(v.month), static_cast<unsigned>(v.day));
    if (auto day = parse_date(buf)) return day;
  }
  problem(line_of(key), "'" + std::string(key) + "' must be a date like 2025-01-01");
  return std::nullopt;
}

const toml::array* TableReader::array(std::string_view key, bool required) {
  const toml::node* node = get(key, required, "array");
  if (!node) return nullptr;
  if (const auto* a = node->as_array()) return a;
  problem(line_of(key), "'" + std::string(key) + "' must be an array");
  return nullptr;
}

const toml::table* TableReader::table(std::string_view key, bool required) {
  const toml::node* node = get(key, required, "table");
  if (!node) return nullptr;
  if (const auto* t = node->as_table()) return t;
  problem(line_of(key), "'" + std::string(key) + "' must be a table");
  return nullptr;
}

void TableReader::allow(std::string_view key) {
  seen_.emplace(key);
}

void TableReader::finish() {
  for (const auto& [key, node] : table_) {
    if (seen_.contains(key.str())) continue;
    problem(static_cast<std::int64_t>(node.source().begin.line),
            "unknown key '" + std::string(key.str()) + "'");
  }
}

}  // namespace tanpu::methodology
