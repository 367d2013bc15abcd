// `tanpu bench import` and `tanpu bench dashboard`: the organisations' one-click import of a
// roster and a university's dashboard over its members' behaviour, each on a fresh database.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/bench_db.h"
#include "cli/commands.h"
#include "cli/runtime.h"
#include "core/log.h"
#include "orgs/orgs.h"
#include "tabular/tabular.h"

namespace tanpu::cli {
namespace {

using Steady = std::chrono::steady_clock;

double seconds_since(Steady::time_point t0) {
  return std::chrono::duration<double>(Steady::now() - t0).count();
}

constexpr int kColleges = 20;
constexpr int kClassesPerCollege = 10;

std::string college_name(int c) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "College %02d", c);
  return buf;
}
std::string class_name(int c, int k) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "Class %02d-%02d", c, k);
  return buf;
}
// A distinct mainland mobile per person.
std::string phone_of(std::int64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "139%08lld", static_cast<long long>(i));
  return buf;
}

// A university of kColleges colleges of kClassesPerCollege classes, created by the operator.
Result<std::int64_t> make_university(orgs::Orgs& o, const orgs::Actor& op) {
  orgs::OrgInput u;
  u.type = orgs::OrgType::university;
  u.name = "Bench University";
  u.region = "CN-LN-SHE";
  auto uni = o.create_org(op, u);
  if (!uni) return std::unexpected(uni.error());
  for (int c = 0; c < kColleges; ++c) {
    orgs::OrgInput ci{uni->id, orgs::OrgType::college, college_name(c), std::nullopt, 3, ""};
    auto college = o.create_org(op, ci);
    if (!college) return std::unexpected(college.error());
    for (int k = 0; k < kClassesPerCollege; ++k) {
      orgs::OrgInput ki{college->id, orgs::OrgType::class_, class_name(c, k), std::nullopt, 3, ""};
      if (auto cls = o.create_org(op, ki); !cls) return std::unexpected(cls.error());
    }
  }
  return uni->id;
}

// The roster: rows spread evenly over the classes.
std::vector<std::uint8_t> roster(std::int64_t rows, bool xlsx) {
  const std::vector<std::string> header{"name", "member_number", "phone", "org_path"};
  std::vector<std::vector<std::string>> body;
  body.reserve(static_cast<std::size_t>(rows));
  for (std::int64_t i = 0; i < rows; ++i) {
    const int cls = static_cast<int>(i % (kColleges * kClassesPerCollege));
    const int c = cls / kClassesPerCollege, k = cls % kClassesPerCollege;
    body.push_back({"学生" + std::to_string(i), "S" + std::to_string(2026000000 + i), phone_of(i),
                    college_name(c) + "/" + class_name(c, k)});
  }
  if (xlsx) {
    auto bytes = tabular::write_xlsx("roster", header, body, {});
    return bytes ? *bytes : std::vector<std::uint8_t>{};
  }
  const std::string csv = tabular::write_csv(header, body);
  return {csv.begin(), csv.end()};
}

Result<members::MemberView> make_operator(Runtime& rt) {
  members::RegisterInput in;
  in.email = "bench-operator@example.com";
  in.password = "bench-operator-password";
  in.display_name = "Bench operator";
  return rt.members->register_member(in, members::Role::operator_);
}

void print(const nlohmann::json& out, bool json_only, const char* human) {
  if (!json_only) std::printf("%s\n", human);
  std::printf("%s\n", out.dump().c_str());
}

}  // namespace

int run_bench_import(const Config& /*config*/, const ImportBenchArgs& args) {
  log::set_min_level(log::Level::warn);
  auto db = BenchDb::create(args.store, 4, "import");
  if (!db) {
    std::fprintf(stderr, "bench import: %s\n", db.error().message.c_str());
    return 1;
  }
  auto rt = open_runtime((*db)->config());
  if (!rt) {
    std::fprintf(stderr, "bench import: %s\n", rt.error().message.c_str());
    return 1;
  }
  Runtime& r = **rt;
  auto op = make_operator(r);
  if (!op) return std::fprintf(stderr, "bench import: %s\n", op.error().message.c_str()), 1;
  const orgs::Actor actor{op->id, true};
  auto uni = make_university(*r.orgs, actor);
  if (!uni) return std::fprintf(stderr, "bench import: %s\n", uni.error().message.c_str()), 1;
  const auto file = roster(args.rows, args.format == "xlsx");
  if (file.empty()) return std::fprintf(stderr, "bench import: no file\n"), 1;
  // The dry run (what an admin looks at first), the import, and the same file again.
  const auto t_dry = Steady::now();
  auto dry = r.orgs->import_people(actor, *uni, file, true);
  const double dry_s = seconds_since(t_dry);
  const auto t0 = Steady::now();
  auto real = r.orgs->import_people(actor, *uni, file, false);
  const double seconds = seconds_since(t0);
  const auto t_again = Steady::now();
  auto again = r.orgs->import_people(actor, *uni, file, false);
  const double again_s = seconds_since(t_again);
  for (const auto* rep : {&dry, &real, &again})
    if (!*rep) return std::fprintf(stderr, "bench import: %s\n", rep->error().message.c_str()), 1;
  const auto n = static_cast<std::size_t>(args.rows);
  const bool consistent = dry->created == n && real->created == n && again->unchanged == n;
  nlohmann::json out{{"bench", "import"},
                     {"store", args.store},
                     {"format", args.format},
                     {"rows", args.rows},
                     {"bytes", file.size()},
                     {"seconds", seconds},
                     {"rows_per_s", static_cast<double>(args.rows) / seconds},
                     {"dry_run_seconds", dry_s},
                     {"reimport_seconds", again_s},
                     {"created", real->created},
                     {"unchanged_on_reimport", again->unchanged},
                     {"consistent", consistent}};
  print(out, args.json,
        "import: one university, 20 colleges x 10 classes; dry run, import, re-import");
  return consistent ? 0 : 3;
}

namespace {

constexpr std::array<std::pair<std::string_view, std::int64_t>, 8> kScenarios{{
    // scenario, typical reduction in mg per record (campus mixes: walking and cycling lead)
    {"metro", 350'000},
    {"bus", 250'000},
    {"bike_sharing", 120'000},
    {"walking", 60'000},
    {"clean_plate", 40'000},
    {"second_hand", 900'000},
    {"recycling", 200'000},
    {"ev_charging", 1'500'000},
}};

struct Population {
  std::vector<std::int64_t> member_ids;  // index i: the person with phone_of(i)
};

// Registers n members (cheap password hashing: the bench measures dashboards, not argon2) in
// parallel, imports them as the university's roster and activates each with its code.
Result<Population> populate(Runtime& r, const Config& config, const orgs::Actor& op,
                            std::int64_t uni, std::int64_t n) {
  auto keys = members::load_or_create_keys(config.secret_key_file);
  if (!keys) return std::unexpected(keys.error());
  members::Options mo;
  mo.password = members::PasswordParams{256, 1, 1, 16, 32};
  members::Members cheap(*r.store, *r.ledger, *keys, r.clock, mo);
  Population p;
  p.member_ids.resize(static_cast<std::size_t>(n));
  std::atomic<std::int64_t> next{0};
  std::optional<Error> failure;
  std::mutex mu;
  const auto parallel = [&](const std::function<Result<void>(std::int64_t)>& job) {
    next = 0;
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
      threads.emplace_back([&] {
        for (std::int64_t i = next++; i < n; i = next++) {
          if (auto done = job(i); !done) {
            std::lock_guard lock(mu);
            failure = done.error();
            return;
          }
        }
      });
    for (auto& t : threads) t.join();
  };
  parallel([&](std::int64_t i) -> Result<void> {
    members::RegisterInput in;
    in.phone = phone_of(i);
    in.password = "bench-member-password";
    in.display_name = "member " + std::to_string(i);
    auto m = cheap.register_member(in);
    if (!m) return std::unexpected(m.error());
    p.member_ids[static_cast<std::size_t>(i)] = m->id;
    return {};
  });
  if (failure) return std::unexpected(*failure);
  auto report = r.orgs->import_people(op, uni, roster(n, false), false);
  if (!report) return std::unexpected(report.error());
  if (report->created != static_cast<std::size_t>(n))
    return fail(ErrorKind::internal, "bench_import", "the roster did not import whole");
  parallel([&](std::int64_t i) -> Result<void> {
    const auto& code = report->results[static_cast<std::size_t>(i)].activation_code;
    auto a = r.orgs->activate(p.member_ids[static_cast<std::size_t>(i)], code.value_or(""));
    if (!a) return std::unexpected(a.error());
    return {};
  });
  if (failure) return std::unexpected(*failure);
  return p;
}

struct Written {
  std::int64_t records = 0;
  std::int64_t reduction_mg = 0;
};

// Raw behaviour records in the ingestion table, as the pipeline leaves them, with the
// organisations' rollups written by their own code in the same transaction, in chunks.
Result<Written> write_behaviour(Runtime& r, const Population& p, std::int64_t records, Day today) {
  static constexpr std::array<std::string_view, 15> kColumns{
      "source_id",      "external_id",  "content_hash", "member_id",    "scenario",
      "occurred_at_us", "outcome",      "reason",       "reduction_mg", "points",
      "methodology",    "duplicate_of", "provisional",  "provenance",   "received_at_us"};
  std::mt19937_64 rng(38'000);
  std::uniform_int_distribution<std::size_t> member(0, p.member_ids.size() - 1);
  std::uniform_int_distribution<std::size_t> scenario(0, kScenarios.size() - 1);
  std::uniform_int_distribution<int> day_back(0, 364);
  std::uniform_int_distribution<std::int64_t> jitter(50, 150);  // percent of the typical value
  Written w;
  constexpr std::int64_t kChunk = 20'000;
  for (std::int64_t start = 0; start < records; start += kChunk) {
    const std::int64_t n = std::min(kChunk, records - start);
    std::vector<std::string> ids(static_cast<std::size_t>(n));
    std::vector<orgs::Credit> credits(static_cast<std::size_t>(n));
    std::vector<std::int64_t> occurred(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      auto& k = credits[static_cast<std::size_t>(i)];
      const auto& [name, typical] = kScenarios[scenario(rng)];
      k.member_id = p.member_ids[member(rng)];
      k.day = today - day_back(rng);
      k.scenario = name;
      k.reduction_mg = typical * jitter(rng) / 100;
      k.points = k.reduction_mg / 1000;
      ids[static_cast<std::size_t>(i)] = std::to_string(start + i);
      // Noon, Beijing time, of the record's day.
      occurred[static_cast<std::size_t>(i)] =
          (std::int64_t{k.day} * 86'400 + 4 * 3'600) * 1'000'000;
      w.records += 1;
      w.reduction_mg += k.reduction_mg;
    }
    std::vector<store::Param> values;
    values.reserve(static_cast<std::size_t>(n) * kColumns.size());
    for (std::size_t i = 0; i < credits.size(); ++i) {
      const auto& k = credits[i];
      values.insert(
          values.end(),
          {std::string_view("bench"), std::string_view(ids[i]), std::string_view(""), k.member_id,
           std::string_view(k.scenario), occurred[i], std::string_view("credited"),
           std::string_view(""), k.reduction_mg, k.points, std::string_view("bench@1"),
           std::string_view(""), std::int64_t{0}, std::string_view("{}"), occurred[i]});
    }
    auto done = r.store->write([&](store::Connection& c) -> Result<void> {
      if (auto b = c.bulk_insert("ingest_records", kColumns, values); !b) return b;
      return r.orgs->record_credits(c, credits);
    });
    if (!done) return std::unexpected(done.error());
  }
  return w;
}

// The naive dashboard: scenario totals, the 30-day trend and the top members straight from the
// raw records of the university's members (three scans of the records with a join).
// Answers the scenario totals (records, reduction) so the run can check the rollups against them.
Result<std::map<std::string, std::pair<std::int64_t, std::int64_t>>> naive_dashboard(
    store::Connection& c, const std::string& lo, const std::string& hi, std::int64_t since_us) {
  const std::string from =
      " FROM ingest_records r JOIN orgs_memberships m ON m.member_id = r.member_id WHERE "
      "m.path >= ? AND m.path < ? AND r.outcome = 'credited'";
  const std::array<store::Param, 2> range{std::string_view(lo), std::string_view(hi)};
  auto a = c.query("SELECT r.scenario, COUNT(*), SUM(r.reduction_mg), SUM(r.points)" + from +
                       " GROUP BY r.scenario",
                   range);
  if (!a) return std::unexpected(a.error());
  const std::array<store::Param, 3> trend{std::string_view(lo), std::string_view(hi), since_us};
  auto b = c.query("SELECT r.occurred_at_us / 86400000000, COUNT(*), SUM(r.reduction_mg)" + from +
                       " AND r.occurred_at_us >= ? GROUP BY r.occurred_at_us / 86400000000",
                   trend);
  if (!b) return std::unexpected(b.error());
  auto t = c.query("SELECT r.member_id, SUM(r.reduction_mg) AS s" + from +
                       " GROUP BY r.member_id ORDER BY s DESC LIMIT 10",
                   range);
  if (!t) return std::unexpected(t.error());
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> out;
  for (std::size_t i = 0; i < a->size(); ++i)
    out[std::string(a->text(i, 0))] = {a->i64(i, 1), a->i64(i, 2)};
  return out;
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int run_bench_dashboard(const Config& /*config*/, const DashboardBenchArgs& args) {
  log::set_min_level(log::Level::warn);
  const auto failed = [](const Error& e) {
    std::fprintf(stderr, "bench dashboard: %s\n", e.message.c_str());
    return 1;
  };
  auto db = BenchDb::create(args.store, 8, "dashboard");
  if (!db) return failed(db.error());
  auto rt = open_runtime((*db)->config());
  if (!rt) return failed(rt.error());
  Runtime& r = **rt;
  const auto t_setup = Steady::now();
  auto op = make_operator(r);
  if (!op) return failed(op.error());
  const orgs::Actor actor{op->id, true};
  auto uni = make_university(*r.orgs, actor);
  if (!uni) return failed(uni.error());
  auto people = populate(r, (*db)->config(), actor, *uni, args.members);
  if (!people) return failed(people.error());
  const Day today = local_day(r.clock.now_us(), 480);
  auto written = write_behaviour(r, *people, args.records, today);
  if (!written) return failed(written.error());
  const double setup_s = seconds_since(t_setup);
  std::vector<double> ms;
  std::optional<orgs::Dashboard> last;
  for (int i = 0; i < 5 + args.requests; ++i) {
    const auto t0 = Steady::now();
    auto d = r.orgs->dashboard(actor, *uni);
    const double took = seconds_since(t0) * 1000;
    if (!d) return failed(d.error());
    if (i >= 5) ms.push_back(took);  // the first five warm the caches
    last = std::move(*d);
  }
  auto org = r.orgs->get_org(actor, *uni);
  if (!org) return failed(org.error());
  std::string hi = org->path;
  hi.back() = '0';
  std::vector<double> naive_ms;
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> naive;
  {
    auto lease = r.store->acquire();
    if (!lease) return failed(lease.error());
    const std::int64_t since = (std::int64_t{today} - 29) * 86'400'000'000;
    for (int i = 0; i < args.naive_requests; ++i) {
      const auto t0 = Steady::now();
      auto n = naive_dashboard(**lease, org->path, hi, since);
      if (!n) return failed(n.error());
      naive_ms.push_back(seconds_since(t0) * 1000);
      naive = std::move(*n);
    }
  }
  // The rollups must tell what the raw records tell.
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> rolled;
  for (const auto& sc : last->scenarios) rolled[sc.scenario] = {sc.records, sc.reduction_mg};
  const bool consistent = rolled == naive && last->records == written->records &&
                          last->reduction_mg == written->reduction_mg &&
                          last->members == args.members && last->activated == args.members;
  nlohmann::json out{{"bench", "dashboard"},
                     {"store", args.store},
                     {"members", args.members},
                     {"records", args.records},
                     {"p50_ms", percentile(ms, 0.5)},
                     {"p99_ms", percentile(ms, 0.99)},
                     {"naive_p50_ms", percentile(naive_ms, 0.5)},
                     {"requests", args.requests},
                     {"setup_seconds", setup_s},
                     {"consistent", consistent}};
  print(out, args.json, "dashboard: a university's dashboard from rollups vs scanning raw records");
  return consistent ? 0 : 3;
}

}  // namespace tanpu::cli
