// `tanpu points expire`: what the server's scheduler does once a year, on demand (an operator
// catching up, or checking with --dry-run what the next run would take).
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/runtime.h"

namespace tanpu::cli {

int run_points_expire(const Config& config, const PointsExpireArgs& args) {
  auto rt = open_runtime(config);
  if (!rt) {
    std::fprintf(stderr, "tanpu points expire: %s\n", rt.error().message.c_str());
    return 1;
  }
  std::int64_t at_us = (*rt)->clock.now_us();
  if (!args.at.empty()) {
    const auto parsed = parse_iso8601(args.at);
    if (!parsed) {
      std::fprintf(stderr,
                   "tanpu points expire: --at must be an ISO-8601 time with a zone, e.g. "
                   "2027-01-01T00:00:00+08:00\n");
      return 2;
    }
    at_us = *parsed;
  }
  auto report = (*rt)->points->expire(at_us, args.dry_run);
  if (!report) {
    std::fprintf(stderr, "tanpu points expire: %s\n", report.error().message.c_str());
    return 1;
  }
  const nlohmann::json out{{"enabled", report->enabled},   {"cutoff_year", report->cutoff_year},
                           {"accounts", report->accounts}, {"points", report->points},
                           {"dry_run", report->dry_run},   {"at", format_iso8601(at_us)}};
  if (args.json) {
    std::printf("%s\n", out.dump().c_str());
  } else if (!report->enabled) {
    std::printf("points never expire under this policy (points_expiry_years = 0)\n");
  } else {
    std::printf("%s %lld points of %lld accounts, earned in %d or before\n",
                report->dry_run ? "would expire" : "expired",
                static_cast<long long>(report->points), static_cast<long long>(report->accounts),
                report->cutoff_year);
  }
  return 0;
}

}  // namespace tanpu::cli
