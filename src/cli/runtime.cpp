#include "cli/runtime.h"

#include <filesystem>

#include "core/log.h"
#include "ingest/member_data.h"

namespace tanpu::cli {

std::vector<store::Migration> all_migrations() {
  std::vector<store::Migration> all;
  for (auto part : {ledger::migrations(), members::migrations(), points::migrations(),
                    ingest::migrations(), market::migrations(), market::lottery_migrations(),
                    market::donation_migrations(), orgs::migrations()}) {
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

Result<std::unique_ptr<store::Store>> open_store(const Config& config, int* applied,
                                                 std::size_t group_jobs_max) {
  store::Options options;
  options.url = config.database_url;
  options.read_connections = static_cast<std::size_t>(config.read_connections);
  options.group_jobs_max = group_jobs_max;
  auto store = store::Store::open(options);
  if (!store) return std::unexpected(store.error());
  auto lease = (*store)->acquire();
  if (!lease) return std::unexpected(lease.error());
  const auto migrations = all_migrations();
  auto n = store::migrate(**lease, migrations);
  if (!n) return std::unexpected(n.error());
  if (applied != nullptr) *applied = *n;
  return std::move(*store);
}

Result<std::shared_ptr<const methodology::Catalog>> load_catalog(const Config& config) {
  namespace fs = std::filesystem;
  // The default "data" is relative to where tanpu runs; run from elsewhere (a test's build
  // directory, an absolute path to build/tanpu), the checkout's data/ beside build/ is used.
  if (config.data_dir == Config{}.data_dir && !fs::is_directory(config.data_dir)) {
    std::error_code ec;
    const fs::path beside =
        fs::read_symlink("/proc/self/exe", ec).parent_path().parent_path() / "data";
    if (!ec && fs::is_directory(beside)) return methodology::Catalog::load(beside);
  }
  return methodology::Catalog::load(config.data_dir);
}

Result<points::Policy> points_policy(const Config& config, const methodology::Catalog& catalog) {
  points::Policy policy;
  policy.mg_per_point = config.points_mg_per_point;
  policy.day_max = config.points_day_max;
  policy.expiry_years = config.points_expiry_years;
  if (config.points_utc_offset_minutes < -720 || config.points_utc_offset_minutes > 840) {
    return fail(ErrorKind::invalid, "points_policy_invalid",
                "points_utc_offset_minutes: -720 to 840", "points_utc_offset_minutes");
  }
  policy.utc_offset_minutes = static_cast<std::int32_t>(config.points_utc_offset_minutes);
  for (const auto& [code, rate] : config.points_mg_per_point_by_methodology) {
    policy.mg_per_point_by_methodology.emplace(code, rate);
  }
  auto ok = points::validate(
      policy, [&](std::string_view code) { return !catalog.versions(code).empty(); });
  if (!ok) return std::unexpected(ok.error());
  return policy;
}

Result<std::unique_ptr<Runtime>> open_runtime(const Config& config, std::size_t group_jobs_max) {
  auto rt = std::make_unique<Runtime>();
  auto catalog = load_catalog(config);
  if (!catalog) return std::unexpected(catalog.error());
  rt->catalog = std::move(*catalog);
  auto policy = points_policy(config, *rt->catalog);
  if (!policy) return std::unexpected(policy.error());
  rt->intake.points = std::move(*policy);
  rt->evaluators = std::make_unique<methodology::EvaluatorPool>(rt->catalog);
  auto store = open_store(config, nullptr, group_jobs_max);
  if (!store) return std::unexpected(store.error());
  rt->store = std::move(*store);
  auto keys = members::load_or_create_keys(config.secret_key_file);
  if (!keys) return std::unexpected(keys.error());
  rt->ledger = std::make_unique<ledger::Ledger>(*rt->store, rt->clock);
  members::Options mo;
  mo.session_ttl_s = config.session_ttl_s;
  rt->members = std::make_unique<members::Members>(*rt->store, *rt->ledger, *keys, rt->clock, mo);
  rt->sources = std::make_unique<ingest::Sources>(*rt->store, *keys, rt->clock);
  rt->consents = std::make_unique<ingest::Consents>(*rt->store, rt->clock);
  rt->points =
      std::make_unique<points::Points>(*rt->store, *rt->ledger, rt->clock, rt->intake.points);
  orgs::Options orgs_options;
  orgs_options.utc_offset_minutes = rt->intake.points.utc_offset_minutes;
  rt->orgs = std::make_unique<orgs::Orgs>(*rt->store, *rt->ledger, *rt->members, *keys, rt->clock,
                                          orgs_options);
  // Every credited behaviour feeds the organisations' rollups in its own transaction.
  rt->intake.on_credited = [orgs = rt->orgs.get()](
                               store::Connection& c,
                               std::span<const ingest::CreditedBehaviour> credited) {
    std::vector<orgs::Credit> credits;
    credits.reserve(credited.size());
    for (const auto& b : credited)
      credits.push_back({b.member_id, b.day, std::string(b.scenario), b.reduction_mg, b.points});
    return orgs->record_credits(c, credits);
  };
  market::Options market_options;
  market_options.utc_offset_minutes = rt->intake.points.utc_offset_minutes;
  // Offers limited to an organisation or a region ask the organisations.
  market_options.eligibility = [orgs = rt->orgs.get()](std::int64_t member_id,
                                                       std::optional<std::int64_t> org_id,
                                                       const std::optional<std::string>& region) {
    return orgs->eligible(member_id, org_id, region);
  };
  rt->market = std::make_unique<market::Market>(*rt->store, *rt->ledger, *rt->members, rt->clock,
                                                market_options);
  rt->lotteries = std::make_unique<market::Lotteries>(
      *rt->store, *rt->ledger, *rt->members, rt->clock,
      market::LotteryOptions{rt->intake.points.utc_offset_minutes});
  rt->donations =
      std::make_unique<market::Donations>(*rt->store, *rt->ledger, *rt->members, rt->clock);
  // Closing an account: ingestion refuses while a review is pending and revokes the consents; the
  // market cancels held orders (their points come back before the balance is forfeited).
  rt->members->add_closure_hook(&ingest::close_member);
  rt->members->add_closure_hook([market = rt->market.get()](store::Connection& c,
                                                            std::int64_t member_id,
                                                            std::int64_t now_us) -> Result<void> {
    auto n = market->cancel_held_orders(c, member_id, now_us);
    if (!n) return fail(n.error());
    return {};
  });
  // A member's data export: each module adds its sections.
  rt->members->add_export_hook(&ingest::export_member);
  rt->members->add_export_hook(&market::export_member);
  rt->members->add_export_hook(&orgs::export_member);
  return rt;
}

void apply_log_level(const Config& config) {
  using L = log::Level;
  const std::string& l = config.log_level;
  log::set_min_level(l == "debug"   ? L::debug
                     : l == "warn"  ? L::warn
                     : l == "error" ? L::error
                                    : L::info);
}

}  // namespace tanpu::cli
