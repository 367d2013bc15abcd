#include "store/rows_json.h"

#include "core/assert.h"
#include "core/crypto.h"
#include "core/time.h"

namespace tanpu::store {

nlohmann::json rows_json(const Rows& rows, std::span<const JsonColumn> columns) {
  TANPU_ASSERT_MSG(rows.empty() || rows.columns() == columns.size(),
                   "rows_json: names and columns differ in number");
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t r = 0; r < rows.size(); ++r) {
    nlohmann::json object = nlohmann::json::object();
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const JsonColumn& col = columns[c];
      nlohmann::json& cell = object[std::string(col.name)];
      if (rows.is_null(r, c)) continue;  // stays null
      switch (col.kind) {
        case JsonColumn::Kind::integer:
          cell = rows.i64(r, c);
          break;
        case JsonColumn::Kind::text:
          cell = std::string(rows.text(r, c));
          break;
        case JsonColumn::Kind::time_us:
          cell = format_iso8601(rows.i64(r, c));
          break;
        case JsonColumn::Kind::blob_hex:
          cell = to_hex(rows.blob(r, c));
          break;
        case JsonColumn::Kind::flag:
          cell = rows.i64(r, c) != 0;
          break;
      }
    }
    out.push_back(std::move(object));
  }
  return out;
}

Result<void> export_section(Connection& c, nlohmann::json& out, std::string_view key,
                            std::string_view sql, std::vector<Param> params,
                            std::span<const JsonColumn> columns, std::int64_t max_rows) {
  params.emplace_back(max_rows + 1);
  auto rows = c.query(sql, params);
  if (!rows) return std::unexpected(rows.error());
  nlohmann::json section = rows_json(*rows, columns);
  if (static_cast<std::int64_t>(section.size()) > max_rows) {
    section.erase(section.end() - 1);
    out["truncated"].push_back(std::string(key));
  }
  out[std::string(key)] = std::move(section);
  return {};
}

Result<void> export_sections(Connection& c, std::int64_t member_id, nlohmann::json& out,
                             std::span<const ExportSection> sections) {
  for (const ExportSection& s : sections) {
    if (auto r = export_section(c, out, s.key, s.sql, {member_id}, s.columns); !r) return r;
  }
  return {};
}

}  // namespace tanpu::store
