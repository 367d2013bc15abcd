// tanpu: the command line. Subcommands: serve, migrate, verify, admin, methodology, points,
// simulate, bench, version.
#include <cstdio>
#include <deque>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/config.h"
#include "cli/runtime.h"

#ifndef TANPU_VERSION
#define TANPU_VERSION "dev"
#endif

namespace {

using namespace tanpu::cli;

// Each subcommand binds its own Config: CLI11 reads an option's environment variable even for a
// subcommand that was not given, so shared storage would let one command's TANPU_* variable
// overwrite another command's flag.
struct Command {
  CLI::App* app = nullptr;
  Config config;
  std::string config_file;
};

Command& add_command(std::deque<Command>& all, CLI::App& parent, const std::string& name,
                     const std::string& description) {
  Command& c = all.emplace_back();
  c.app = parent.add_subcommand(name, description);
  add_common_options(*c.app, c.config, c.config_file);
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tanpu: an open carbon-inclusion (碳普惠) platform"};
  app.require_subcommand(1);
  std::deque<Command> commands;

  Command& serve = add_command(commands, app, "serve", "run the HTTP API server (migrates first)");
  add_server_options(*serve.app, serve.config);

  Command& migrate = add_command(commands, app, "migrate", "apply database migrations");

  bool verify_json = false;
  Command& verify =
      add_command(commands, app, "verify",
                  "recompute balances and the hash chain; exit 1 naming the first inconsistency");
  verify.app->add_flag("--json", verify_json, "print the report as JSON");

  auto* admin = app.add_subcommand("admin", "administrative actions");
  admin->require_subcommand(1);
  CreateOperatorArgs op;
  Command& create_op =
      add_command(commands, *admin, "create-operator", "create a platform operator account");
  add_key_file_option(*create_op.app, create_op.config);
  create_op.app->add_option("--login", op.login, "e-mail or phone")->required();
  create_op.app->add_option("--name", op.name, "display name")->required();
  create_op.app->add_option("--password", op.password, "password (prefer --password-stdin)");
  create_op.app->add_flag("--password-stdin", op.password_stdin, "read the password from stdin");

  auto* methodology =
      app.add_subcommand("methodology", "methodologies, factors and quantification");
  methodology->require_subcommand(1);
  MethodologyArgs ma;
  Command& m_list = add_command(commands, *methodology, "list", "list methodology versions");
  m_list.app->add_flag("--json", ma.json, "print JSON");
  m_list.app->add_option("--scenario", ma.scenario, "only this scenario key");
  m_list.app->add_option("--jurisdiction", ma.jurisdiction, "only this jurisdiction (region code)");
  Command& m_show = add_command(commands, *methodology, "show", "show a methodology's versions");
  m_show.app->add_option("code", ma.code, "methodology code")->required();
  m_show.app->add_option("version", ma.version, "only this version");
  Command& m_check = add_command(commands, *methodology, "check",
                                 "validate every file and run every worked example; exit 1 on any "
                                 "failure");
  m_check.app->add_flag("--json", ma.json, "print JSON");
  Command& m_quantify =
      add_command(commands, *methodology, "quantify", "quantify one behaviour (nothing credited)");
  CLI::App& mq = *m_quantify.app;
  mq.add_option("--code", ma.code, "methodology code (or --scenario)");
  mq.add_option("--version", ma.version, "pin a version (default: effective on --date)");
  mq.add_option("--scenario", ma.scenario, "scenario key: the applicable methodology is chosen");
  mq.add_option("--region", ma.region, "region code, e.g. CN-HB-WUH")->required();
  mq.add_option("--date", ma.date, "the behaviour's local date, YYYY-MM-DD")->required();
  mq.add_option("--input", ma.inputs, "name=value[unit], repeatable (distance_km=12.5)");
  mq.add_flag("--all-regions", ma.all_regions, "every methodology of the scenario, side by side");
  mq.add_flag("--json", ma.json, "print one JSON object");
  Command& m_recompute = add_command(commands, *methodology, "recompute",
                                     "what the current methodology set would change for credited "
                                     "records (a diff; changes nothing)");
  m_recompute.app->add_option("--since", ma.since, "records on or after YYYY-MM-DD")->required();
  m_recompute.app->add_option("--records", ma.records,
                              "NDJSON of credited records (default: the database's)");
  m_recompute.app->add_flag("--json", ma.json, "print JSON");
  m_list.app->callback([&ma] { ma.action = "list"; });
  m_show.app->callback([&ma] { ma.action = "show"; });
  m_check.app->callback([&ma] { ma.action = "check"; });
  m_quantify.app->callback([&ma] { ma.action = "quantify"; });
  m_recompute.app->callback([&ma] { ma.action = "recompute"; });

  auto* points = app.add_subcommand("points", "the points policy");
  points->require_subcommand(1);
  PointsExpireArgs pe;
  Command& points_expire = add_command(
      commands, *points, "expire",
      "expire what is left of the points earned before the policy's cutoff (oldest first)");
  add_key_file_option(*points_expire.app, points_expire.config);
  add_points_options(*points_expire.app, points_expire.config);
  points_expire.app->add_option("--at", pe.at, "as of this ISO-8601 time (default now)");
  points_expire.app->add_flag("--dry-run", pe.dry_run, "compute only; transfer nothing");
  points_expire.app->add_flag("--json", pe.json, "print JSON");

  SimulateArgs sa;
  Command& simulate = add_command(commands, app, "simulate",
                                  "drive a running server like partners and members would (demo)");
  simulate.app->add_option("--target", sa.target, "the server (http://127.0.0.1:8080)");
  simulate.app->add_option("--profile", sa.profile, "campus | metro | city (campus)")
      ->check(CLI::IsMember({"campus", "metro", "city"}));
  simulate.app->add_option("--operator", sa.operator_login, "operator login")->required();
  simulate.app->add_option("--password", sa.operator_password, "operator password");
  simulate.app->add_flag("--password-stdin", sa.password_stdin, "read the password from stdin");
  simulate.app->add_option("--members", sa.members, "members to create (50)")
      ->check(CLI::Range(1, 100'000));
  simulate.app->add_option("--days", sa.days, "past days of behaviour (3)")
      ->check(CLI::Range(1, 30));
  simulate.app
      ->add_option("--faults", sa.faults,
                   "share of records with a fault: cross-source duplicates, replays, "
                   "out-of-bounds values, bad signatures, revoked consent (0)")
      ->check(CLI::Range(0.0, 0.5));
  simulate.app->add_option("--seed", sa.seed, "random seed (0: random)");
  simulate.app->add_flag("--json", sa.json, "print only the JSON report");

  auto* bench = app.add_subcommand("bench", "benchmarks; the last stdout line is JSON");
  bench->require_subcommand(1);
  LedgerBenchArgs lb;
  Command& bench_ledger =
      add_command(commands, *bench, "ledger", "ledger throughput vs baseline and limit");
  CLI::App& bl = *bench_ledger.app;
  bl.add_option("--store", lb.store, "sqlite | postgres")
      ->check(CLI::IsMember({"sqlite", "postgres"}));
  bl.add_option("--transfers", lb.transfers, "transfers to apply")
      ->check(CLI::Range(std::int64_t{1000}, std::int64_t{100'000'000}));
  bl.add_option("--accounts", lb.accounts, "member accounts credited")
      ->check(CLI::Range(std::int64_t{10}, std::int64_t{10'000'000}));
  bl.add_option("--clients", lb.clients, "concurrent submitters")->check(CLI::Range(1, 256));
  bl.add_option("--chunk", lb.chunk, "transfers per submission")->check(CLI::Range(1, 8190));
  bl.add_option("--baseline-max", lb.baseline_max, "transfers for the baseline")
      ->check(CLI::Range(std::int64_t{100}, std::int64_t{10'000'000}));
  bl.add_flag("--json", lb.json, "print only the JSON result");

  QuantifyBenchArgs qb;
  Command& bench_quantify = add_command(commands, *bench, "quantify",
                                        "methodology selection and evaluation, records per second");
  bench_quantify.app->add_option("--records", qb.records, "records to quantify")
      ->check(CLI::Range(std::int64_t{1000}, std::int64_t{1'000'000'000}));
  bench_quantify.app->add_flag("--json", qb.json, "print only the JSON result");

  IngestBenchArgs ib;
  Command& bench_ingest = add_command(
      commands, *bench, "ingest", "signed behaviour batches over HTTP vs one request per record");
  CLI::App& bi = *bench_ingest.app;
  bi.add_option("--store", ib.store, "sqlite | postgres")
      ->check(CLI::IsMember({"sqlite", "postgres"}));
  bi.add_option("--records", ib.records, "records in batches of 1000")
      ->check(CLI::Range(std::int64_t{1000}, std::int64_t{100'000'000}));
  bi.add_option("--members", ib.members, "members the records spread over")
      ->check(CLI::Range(std::int64_t{10}, std::int64_t{1'000'000}));
  bi.add_option("--clients", ib.clients, "concurrent senders")->check(CLI::Range(1, 64));
  bi.add_option("--baseline-max", ib.baseline_max,
                "records for the baseline (and for grouped single-record requests)")
      ->check(CLI::Range(std::int64_t{100}, std::int64_t{1'000'000}));
  bi.add_option("--latency-requests", ib.latency_requests, "single-record pushes timed")
      ->check(CLI::Range(std::int64_t{100}, std::int64_t{1'000'000}));
  bi.add_flag("--json", ib.json, "print only the JSON result");

  FlashSaleBenchArgs fb;
  Command& bench_flash = add_command(commands, *bench, "flash-sale",
                                     "many buyers at once for few units: no oversell, throughput");
  CLI::App& bf = *bench_flash.app;
  bf.add_option("--store", fb.store, "sqlite | postgres")
      ->check(CLI::IsMember({"sqlite", "postgres"}));
  bf.add_option("--units", fb.units, "units on sale")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1'000'000}));
  bf.add_option("--buyers", fb.buyers, "buyers, each trying once")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1'000'000}));
  bf.add_option("--connections", fb.connections, "client connections")->check(CLI::Range(1, 1024));
  bf.add_option("--servers", fb.servers, "tanpu serve processes")->check(CLI::Range(1, 8));
  bf.add_option("--worker-threads", fb.worker_threads, "request handler threads of each server")
      ->check(CLI::Range(1, 256));
  bf.add_flag("--json", fb.json, "print only the JSON result");

  ImportBenchArgs imb;
  Command& bench_import = add_command(commands, *bench, "import",
                                      "one-click roster import: dry run, import, re-import");
  CLI::App& bim = *bench_import.app;
  bim.add_option("--store", imb.store, "sqlite | postgres")
      ->check(CLI::IsMember({"sqlite", "postgres"}));
  bim.add_option("--rows", imb.rows, "roster rows")
      ->check(CLI::Range(std::int64_t{100}, std::int64_t{100'000}));
  bim.add_option("--format", imb.format, "csv | xlsx")->check(CLI::IsMember({"csv", "xlsx"}));
  bim.add_flag("--json", imb.json, "print only the JSON result");

  DashboardBenchArgs db;
  Command& bench_dashboard = add_command(commands, *bench, "dashboard",
                                         "a university's dashboard from rollups vs raw scans");
  CLI::App& bd = *bench_dashboard.app;
  bd.add_option("--store", db.store, "sqlite | postgres")
      ->check(CLI::IsMember({"sqlite", "postgres"}));
  bd.add_option("--members", db.members, "members of the university")
      ->check(CLI::Range(std::int64_t{200}, std::int64_t{100'000}));
  bd.add_option("--records", db.records, "behaviour records of its members")
      ->check(CLI::Range(std::int64_t{1'000}, std::int64_t{100'000'000}));
  bd.add_option("--requests", db.requests, "dashboards timed")->check(CLI::Range(10, 100'000));
  bd.add_option("--naive-requests", db.naive_requests, "naive scans timed")
      ->check(CLI::Range(1, 100));
  bd.add_flag("--json", db.json, "print only the JSON result");

  auto* version = app.add_subcommand("version", "print the version");

  CLI11_PARSE(app, argc, argv);

  if (version->parsed()) {
    std::printf("tanpu %s\n", TANPU_VERSION);
    return 0;
  }
  Command* cmd = nullptr;
  for (Command& c : commands) {
    if (c.app->parsed()) cmd = &c;
  }
  if (cmd == nullptr) return 2;
  if (auto r = finish_config(*cmd->app, cmd->config, cmd->config_file); !r) {
    std::fprintf(stderr, "tanpu: configuration: %s\n", r.error().message.c_str());
    return 2;
  }
  apply_log_level(cmd->config);
  if (cmd == &serve) return run_serve(cmd->config);
  if (cmd == &migrate) return run_migrate(cmd->config);
  if (cmd == &verify) return run_verify(cmd->config, verify_json);
  if (cmd == &create_op) return run_create_operator(cmd->config, op);
  if (cmd == &points_expire) return run_points_expire(cmd->config, pe);
  if (cmd == &bench_ledger) return run_bench_ledger(cmd->config, lb);
  if (cmd == &bench_quantify) return run_bench_quantify(cmd->config, qb);
  if (cmd == &bench_ingest) return run_bench_ingest(cmd->config, ib);
  if (cmd == &bench_flash) return run_bench_flash_sale(cmd->config, fb);
  if (cmd == &bench_import) return run_bench_import(cmd->config, imb);
  if (cmd == &bench_dashboard) return run_bench_dashboard(cmd->config, db);
  if (cmd == &simulate) {
    if (sa.password_stdin && !std::getline(std::cin, sa.operator_password)) return 2;
    return run_simulate(cmd->config, sa);
  }
  for (Command* c : {&m_list, &m_show, &m_check, &m_quantify, &m_recompute})
    if (cmd == c) return run_methodology(cmd->config, ma);
  return 2;
}
