// `tanpu methodology list|show|check|quantify|recompute`: the catalog from the command line.
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/runtime.h"
#include "ingest/export.h"
#include "methodology/check.h"
#include "methodology/quantify.h"
#include "methodology/recompute.h"

namespace tanpu::cli {
namespace {

namespace m = methodology;
using nlohmann::json;

void print_json(const json& j) {
  std::printf("%s\n", j.dump(2).c_str());
}

Result<std::shared_ptr<const m::Catalog>> catalog_or_report(const Config& config) {
  auto catalog = load_catalog(config);
  if (!catalog)
    std::fprintf(stderr, "tanpu: methodology data in %s refused:\n%s\n", config.data_dir.c_str(),
                 catalog.error().message.c_str());
  return catalog;
}

int list(const m::Catalog& catalog, const MethodologyArgs& args) {
  json out = json::array();
  for (const auto& item : catalog.methodologies()) {
    if (!args.scenario.empty() && item.scenario != args.scenario) continue;
    if (!args.jurisdiction.empty() && catalog.region(item.jurisdiction).code != args.jurisdiction)
      continue;
    out.push_back(m::summary_json(catalog, item));
  }
  if (args.json) {
    print_json(out);
    return 0;
  }
  std::printf("%-28s %-9s %-20s %-10s %-10s %-10s %s\n", "CODE", "VERSION", "SCENARIO", "REGION",
              "FROM", "TO", "STATUS");
  for (const auto& row : out)
    std::printf(
        "%-28s %-9s %-20s %-10s %-10s %-10s %s%s\n", row["code"].get<std::string>().c_str(),
        row["version"].get<std::string>().c_str(), row["scenario"].get<std::string>().c_str(),
        row["jurisdiction"].get<std::string>().c_str(),
        row["effective_from"].get<std::string>().c_str(),
        row["effective_to"].is_null() ? "-" : row["effective_to"].get<std::string>().c_str(),
        row["status"].get<std::string>().c_str(),
        row["provisional"].get<bool>() ? " (provisional)" : "");
  return 0;
}

int show(const m::Catalog& catalog, const MethodologyArgs& args) {
  json out = json::array();
  for (const m::Methodology* item : catalog.versions(args.code))
    if (args.version.empty() || item->version == args.version)
      out.push_back(m::detail_json(catalog, *item));
  if (out.empty()) {
    std::fprintf(stderr, "tanpu: no methodology %s%s%s\n", args.code.c_str(),
                 args.version.empty() ? "" : "@", args.version.c_str());
    return 1;
  }
  print_json(out.size() == 1 ? out[0] : out);
  return 0;
}

int check(const Config& config, const MethodologyArgs& args) {
  auto catalog = catalog_or_report(config);
  if (!catalog) return 1;
  m::Evaluator evaluator(*catalog);
  const m::ExampleReport report = m::check_examples(evaluator);
  json out{{"methodologies", (*catalog)->methodologies().size()},
           {"factors", (*catalog)->factors().size()},
           {"regions", (*catalog)->regions().size()},
           {"examples", report.examples},
           {"examples_from_source", report.from_source},
           {"failures", report.failures},
           {"ok", report.failures.empty()}};
  if (args.json) {
    std::printf("%s\n", out.dump().c_str());
  } else {
    for (const auto& failure : report.failures) std::printf("%s\n", failure.c_str());
    std::printf(
        "%zu methodology versions, %zu factors, %zu regions; %zu worked examples (%zu "
        "from their source): %s\n",
        (*catalog)->methodologies().size(), (*catalog)->factors().size(),
        (*catalog)->regions().size(), report.examples, report.from_source,
        report.failures.empty() ? "all pass" : "FAILURES above");
  }
  return report.failures.empty() ? 0 : 1;
}

// "distance_km=12.5", "distance_km=12500m", "has_pv=true".
Result<m::InputValue> parse_input(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    return fail(ErrorKind::invalid, "invalid_input", "--input takes name=value[unit]: " + text);
  m::InputValue in;
  in.name = text.substr(0, eq);
  const std::string value = text.substr(eq + 1);
  if (value == "true" || value == "false") {
    in.value = value == "true" ? 1 : 0;
    return in;
  }
  const char* begin = value.data();
  const char* end = begin + value.size();
  auto [ptr, ec] = std::from_chars(begin, end, in.value);
  if (ec != std::errc() || ptr == begin)
    return fail(ErrorKind::invalid, "invalid_input", in.name + ": '" + value + "' is not a number",
                "inputs." + in.name);
  in.unit = std::string(ptr, end);
  return in;
}

int quantify(const Config& config, const MethodologyArgs& args) {
  auto catalog = catalog_or_report(config);
  if (!catalog) return 2;
  m::Query q;
  q.code = args.code;
  q.version = args.version;
  q.scenario = args.scenario;
  q.region = args.region;
  q.date = parse_date(args.date);
  if (!q.date) {
    std::fprintf(stderr, "tanpu: --date must be YYYY-MM-DD\n");
    return 1;
  }
  for (const auto& text : args.inputs) {
    auto in = parse_input(text);
    if (!in) {
      std::fprintf(stderr, "tanpu: %s\n", in.error().message.c_str());
      return 1;
    }
    q.inputs.push_back(std::move(*in));
  }
  m::Evaluator evaluator(*catalog);
  json out;
  if (args.all_regions) {
    auto view = m::quantify_all_regions(evaluator, q);
    if (!view) {
      std::fprintf(stderr, "tanpu: %s: %s\n", view.error().field.c_str(),
                   view.error().message.c_str());
      return 1;
    }
    out = m::to_json(**catalog, *view);
  } else {
    auto result = m::quantify(evaluator, q);
    if (!result) {
      std::fprintf(stderr, "tanpu: %s%s%s (%s)\n", result.error().field.c_str(),
                   result.error().field.empty() ? "" : ": ", result.error().message.c_str(),
                   result.error().code.c_str());
      return 1;
    }
    out = m::to_json(**catalog, *result);
  }
  if (args.json) {
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  print_json(out);
  return 0;
}

int recompute(const Config& config, const MethodologyArgs& args) {
  auto catalog = catalog_or_report(config);
  if (!catalog) return 2;
  const auto since = parse_date(args.since);
  if (!since) {
    std::fprintf(stderr, "tanpu: --since must be YYYY-MM-DD\n");
    return 1;
  }
  // The credited records: a file, or the ones the ingestion pipeline stored in the database.
  std::ifstream file;
  std::stringstream stored;
  std::istream* records = &file;
  if (!args.records.empty()) {
    file.open(args.records);
    if (!file) {
      std::fprintf(stderr, "tanpu: cannot read %s\n", args.records.c_str());
      return 1;
    }
  } else {
    auto store = open_store(config);
    if (!store) {
      std::fprintf(stderr, "tanpu: %s\n", store.error().message.c_str());
      return 2;
    }
    // occurred_at ≥ since (UTC midnight − 14 h) keeps every local date ≥ since; recompute()
    // filters by the exact local date.
    const std::int64_t since_us = (std::int64_t{*since} * 86400 - 14 * 3600) * 1'000'000;
    auto n = ingest::export_credited(**store, since_us, stored);
    if (!n) {
      std::fprintf(stderr, "tanpu: %s\n", n.error().message.c_str());
      return 1;
    }
    records = &stored;
  }
  m::Evaluator evaluator(*catalog);
  auto report = m::recompute(evaluator, *records, *since);
  if (!report) {
    std::fprintf(stderr, "tanpu: %s: %s\n", args.records.c_str(), report.error().message.c_str());
    return 1;
  }
  const json out = m::to_json(*report);
  if (args.json) {
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  for (const auto& c : out["changes"])
    std::printf("%s %s  %s %lld mg %lld pt  ->  %s\n", c["id"].get<std::string>().c_str(),
                c["date"].get<std::string>().c_str(),
                c["credited"]["methodology"].get<std::string>().c_str(),
                static_cast<long long>(c["credited"]["reduction_mg"].get<std::int64_t>()),
                static_cast<long long>(c["credited"]["points"].get<std::int64_t>()),
                c["now"].dump().c_str());
  std::printf(
      "%zu records, %zu since %s: %zu unchanged, %zu would change (Δ %lld mg, Δ %lld "
      "points). Nothing was changed.\n",
      report->records, report->considered, args.since.c_str(), report->unchanged,
      report->changes.size(), static_cast<long long>(report->delta_reduction_mg),
      static_cast<long long>(report->delta_points));
  return 0;
}

}  // namespace

int run_methodology(const Config& config, const MethodologyArgs& args) {
  if (args.action == "check") return check(config, args);
  if (args.action == "quantify") return quantify(config, args);
  if (args.action == "recompute") return recompute(config, args);
  auto catalog = catalog_or_report(config);
  if (!catalog) return 2;
  if (args.action == "list") return list(**catalog, args);
  if (args.action == "show") return show(**catalog, args);
  return 2;
}

}  // namespace tanpu::cli
