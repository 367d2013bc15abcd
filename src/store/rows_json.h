// Result rows as JSON objects, for exports of one member's data (each module selects its own
// rows; this only names and formats the cells).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "store/connection.h"

namespace tanpu::store {

struct JsonColumn {
  enum class Kind { integer, text, time_us, blob_hex, flag };
  std::string_view name;  // the JSON key
  Kind kind = Kind::text;
};

// One object per row, the columns in SELECT order named by `columns` (as many as the query's).
// NULL cells are null; time_us cells become ISO-8601 strings; flag cells true/false (0 is false).
nlohmann::json rows_json(const Rows& rows, std::span<const JsonColumn> columns);

// Rows of one export section at most.
inline constexpr std::int64_t kExportRowsMax = 100'000;

// Runs `sql`, which must end in "LIMIT ?" (bound here to max_rows + 1), and sets out[key] to its
// rows as rows_json makes them; if there were more than max_rows, keeps that many and adds key to
// the array out["truncated"].
Result<void> export_section(Connection& c, nlohmann::json& out, std::string_view key,
                            std::string_view sql, std::vector<Param> params,
                            std::span<const JsonColumn> columns,
                            std::int64_t max_rows = kExportRowsMax);

// One section of a member's export: its key, its query (one parameter, the member id, then
// "LIMIT ?"), and its columns.
struct ExportSection {
  std::string_view key;
  std::string_view sql;
  std::span<const JsonColumn> columns;
};

// export_section for each of `sections` with the member id as the parameter.
Result<void> export_sections(Connection& c, std::int64_t member_id, nlohmann::json& out,
                             std::span<const ExportSection> sections);

}  // namespace tanpu::store
