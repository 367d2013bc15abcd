// tanpu: the command line. Subcommands: serve, migrate, verify, admin, bench, version.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/config.h"
#include "cli/runtime.h"

#ifndef TANPU_VERSION
#define TANPU_VERSION "dev"
#endif

int main(int argc, char** argv) {
  using namespace tanpu::cli;
  CLI::App app{"tanpu: an open carbon-inclusion (碳普惠) platform"};
  app.require_subcommand(1);
  Config config;
  std::string config_file;

  auto* serve = app.add_subcommand("serve", "run the HTTP API server (migrates first)");
  add_common_options(*serve, config, config_file);
  add_server_options(*serve, config);

  auto* migrate = app.add_subcommand("migrate", "apply database migrations");
  add_common_options(*migrate, config, config_file);

  bool verify_json = false;
  auto* verify = app.add_subcommand(
      "verify", "recompute balances and the hash chain; exit 1 naming the first inconsistency");
  add_common_options(*verify, config, config_file);
  verify->add_flag("--json", verify_json, "print the report as JSON");

  auto* admin = app.add_subcommand("admin", "administrative actions");
  admin->require_subcommand(1);
  CreateOperatorArgs op;
  auto* create_op = admin->add_subcommand("create-operator", "create a platform operator account");
  add_common_options(*create_op, config, config_file);
  create_op->add_option("--secret-key-file", config.secret_key_file, "personal-data key file")
      ->envname("TANPU_SECRET_KEY_FILE");
  create_op->add_option("--login", op.login, "e-mail or phone")->required();
  create_op->add_option("--name", op.name, "display name")->required();
  create_op->add_option("--password", op.password, "password (prefer --password-stdin)");
  create_op->add_flag("--password-stdin", op.password_stdin, "read the password from stdin");

  auto* bench = app.add_subcommand("bench", "benchmarks; the last stdout line is JSON");
  bench->require_subcommand(1);
  LedgerBenchArgs lb;
  auto* bench_ledger = bench->add_subcommand("ledger", "ledger throughput vs baseline and limit");
  add_common_options(*bench_ledger, config, config_file);
  bench_ledger->add_option("--store", lb.store, "sqlite | postgres")
      ->check(CLI::IsMember({"sqlite", "postgres"}));
  bench_ledger->add_option("--transfers", lb.transfers, "transfers to apply")
      ->check(CLI::Range(std::int64_t{1000}, std::int64_t{100'000'000}));
  bench_ledger->add_option("--accounts", lb.accounts, "member accounts credited")
      ->check(CLI::Range(std::int64_t{10}, std::int64_t{10'000'000}));
  bench_ledger->add_option("--clients", lb.clients, "concurrent submitters")
      ->check(CLI::Range(1, 256));
  bench_ledger->add_option("--chunk", lb.chunk, "transfers per submission")
      ->check(CLI::Range(1, 8190));
  bench_ledger->add_option("--baseline-max", lb.baseline_max, "transfers for the baseline")
      ->check(CLI::Range(std::int64_t{100}, std::int64_t{10'000'000}));
  bench_ledger->add_flag("--json", lb.json, "print only the JSON result");

  auto* version = app.add_subcommand("version", "print the version");

  CLI11_PARSE(app, argc, argv);

  if (version->parsed()) {
    std::printf("tanpu %s\n", TANPU_VERSION);
    return 0;
  }
  CLI::App* cmd = app.get_subcommands().front();
  if (cmd == admin || cmd == bench) cmd = cmd->get_subcommands().front();
  if (auto r = finish_config(*cmd, config, config_file); !r) {
    std::fprintf(stderr, "tanpu: configuration: %s\n", r.error().message.c_str());
    return 2;
  }
  apply_log_level(config);
  if (cmd == serve) return run_serve(config);
  if (cmd == migrate) return run_migrate(config);
  if (cmd == verify) return run_verify(config, verify_json);
  if (cmd == create_op) return run_create_operator(config, op);
  if (cmd == bench_ledger) return run_bench_ledger(config, lb);
  return 2;
}
