#include "ingest/export.h"

#include <nlohmann/json.hpp>

namespace tanpu::ingest {

Result<std::int64_t> export_credited(store::Store& store, std::int64_t since_us,
                                     std::ostream& out) {
  using nlohmann::json;
  constexpr std::int64_t kPage = 5000;
  std::int64_t written = 0;
  std::string after_source, after_external;  // keyset pagination over the primary key
  auto lease = store.acquire();
  if (!lease) return fail(lease.error());
  for (;;) {
    auto rows = (*lease)->query(
        "SELECT source_id, external_id, scenario, provenance FROM ingest_records WHERE "
        "occurred_at_us >= ? AND outcome IN ('credited', 'capped') AND (source_id > ? OR "
        "(source_id = ? AND external_id > ?)) ORDER BY source_id, external_id LIMIT ?",
        {since_us, std::string_view(after_source), std::string_view(after_source),
         std::string_view(after_external), kPage});
    if (!rows) return fail(rows.error());
    for (std::size_t i = 0; i < rows->size(); ++i) {
      const json p = json::parse(rows->text(i, 3), nullptr, false);
      if (p.is_discarded() || !p.contains("methodology"))
        return fail(ErrorKind::internal, "provenance_unreadable",
                    "record " + std::string(rows->text(i, 0)) + "/" +
                        std::string(rows->text(i, 1)) + " has no readable provenance");
      const std::string key = p["methodology"].get<std::string>();
      const auto at = key.rfind('@');
      const json line{{"id", std::string(rows->text(i, 0)) + "/" + std::string(rows->text(i, 1))},
                      {"scenario", std::string(rows->text(i, 2))},
                      {"region", p["region"]},
                      {"date", p["date"]},
                      {"inputs", p["inputs"]},
                      {"credited",
                       {{"methodology", key.substr(0, at)},
                        {"version", key.substr(at + 1)},
                        {"reduction_mg", p["quantified_mg"]},
                        {"points", p["quantified_points"]}}}};
      out << line.dump() << '\n';
      ++written;
    }
    if (rows->size() < static_cast<std::size_t>(kPage)) break;
    after_source = std::string(rows->text(rows->size() - 1, 0));
    after_external = std::string(rows->text(rows->size() - 1, 1));
  }
  return written;
}

}  // namespace tanpu::ingest
