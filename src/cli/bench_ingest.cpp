// `tanpu bench ingest`: behaviour records per second through the whole loop, over HTTP on
// loopback: a real server (the App of `tanpu serve`) on a fresh database, and a signed load client
// sending batches of 1,000. In the same run, on the same database: the conventional design (one
// HTTP request and one transaction, so one commit, per record), the same single-record requests
// with tanpu's group commit, and single-record pushes paced at 1,000 requests/s for latency.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include "cli/bench_db.h"
#include "cli/commands.h"
#include "cli/runtime.h"
#include "cli/serve_app.h"
#include "core/crypto.h"
#include "core/log.h"
#include "http/app.h"
#include "http/client.h"
#include "http/metrics.h"
#include "http/server.h"
#include "ingest/signature.h"

namespace tanpu::cli {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

struct Fixture {
  std::string source_id, key_id, secret;
  std::vector<std::string> refs;  // partner user refs, each bound to a member
};

// Members (cheap password hashing: logins are not measured) bound to one source by consent.
Result<Fixture> make_fixture(Runtime& rt, const members::Keys& keys, std::int64_t members_n) {
  members::Options cheap;
  cheap.password = members::PasswordParams{256, 1, 1, 16, 32};
  members::Members registrar(*rt.store, *rt.ledger, keys, rt.clock, cheap);
  const std::vector<std::string> scenarios{"metro", "bike"};
  auto source = rt.sources->create("Bench partner", scenarios);
  if (!source) return fail(source.error());
  Fixture f{source->source.id, source->key.key_id, source->key.secret, {}};
  for (std::int64_t i = 0; i < members_n; ++i) {
    auto m = registrar.register_member(
        {std::nullopt, "bench" + std::to_string(i) + "@bench.invalid", "bench-password", "Bench"});
    if (!m) return fail(m.error());
    const std::string ref = "bench-user-" + std::to_string(i);
    auto code = rt.consents->create_binding(f.source_id, ref);
    if (!code) return fail(code.error());
    auto grant = rt.consents->grant(m->id, code->code);
    if (!grant) return fail(grant.error());
    f.refs.push_back(ref);
  }
  return f;
}

std::string iso_local(std::int64_t epoch_s) {
  const auto t = static_cast<std::time_t>(epoch_s + 8 * 3600);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+08:00", &tm);
  return buf;
}

// Record `i`: metro in Wuhan or Shenyang, or a bike ride, spread over members and the last 25 days.
json record(const Fixture& f, std::int64_t i, const std::string& prefix, std::int64_t now_s) {
  const auto member = static_cast<std::size_t>(i) % f.refs.size();
  const std::int64_t at = now_s - 3600 - (i * 7919 % (25 * 86400));
  const bool bike = i % 4 == 3;
  return json{{"external_id", prefix + std::to_string(i)},
              {"user_ref", f.refs[member]},
              {"scenario", bike ? "bike" : "metro"},
              {"occurred_at", iso_local(at)},
              {"region", i % 2 == 0 ? "CN-HB-WUH" : "CN-LN-SHE"},
              {"inputs", {{"distance_km", 1.0 + static_cast<double>(i % 150) / 10.0}}}};
}

Result<http::ClientResponse> post_signed(http::Client& client, const Fixture& f,
                                         const std::string& body) {
  const std::string path = "/v1/sources/" + f.source_id + "/behaviours";
  const auto headers =
      ingest::signed_headers(f.key_id, f.secret, "POST", path, body,
                             std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
  return client.request("POST", path, body, headers);
}

// Sends records [0, n) with the given batch size from `clients` threads; returns seconds, and how
// many records were credited or capped (checked, so a broken run cannot look fast).
Result<std::pair<double, std::int64_t>> load(std::uint16_t port, const Fixture& f, std::int64_t n,
                                             std::int64_t batch, int clients,
                                             const std::string& prefix) {
  const std::int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  std::vector<std::string> bodies;
  for (std::int64_t at = 0; at < n; at += batch) {
    json b = json::array();
    for (std::int64_t i = at; i < std::min(n, at + batch); ++i)
      b.push_back(record(f, i, prefix, now_s));
    bodies.push_back(b.dump());
  }
  std::atomic<std::size_t> next{0};
  std::atomic<std::int64_t> accepted{0};
  std::mutex error_mutex;
  std::optional<Error> error;
  const auto t0 = SteadyClock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&] {
      http::Client client(http::ClientOptions{"127.0.0.1", port});
      for (std::size_t k = next++; k < bodies.size(); k = next++) {
        auto r = post_signed(client, f, bodies[k]);
        if (!r || r->status != 200) {
          std::lock_guard lock(error_mutex);
          error = r ? Error{ErrorKind::internal, "bench_refused", r->body, ""} : r.error();
          return;
        }
        auto answer = r->json();
        if (!answer) continue;
        const auto& s = (*answer)["summary"];
        accepted += s["credited"].get<std::int64_t>() + s["capped"].get<std::int64_t>();
      }
    });
  for (auto& t : threads) t.join();
  if (error) return fail(*error);
  return std::pair{std::chrono::duration<double>(SteadyClock::now() - t0).count(), accepted.load()};
}

// Single-record pushes paced at `rate` per second in total over 4 clients; latencies in ms.
Result<std::vector<double>> paced(std::uint16_t port, const Fixture& f, std::int64_t n, int rate) {
  const std::int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  constexpr int kClients = 4;
  std::vector<std::vector<double>> per(kClients);
  std::vector<std::thread> threads;
  const auto start = SteadyClock::now();
  for (int c = 0; c < kClients; ++c)
    threads.emplace_back([&, c] {
      http::Client client(http::ClientOptions{"127.0.0.1", port});
      for (std::int64_t i = c; i < n; i += kClients) {
        std::this_thread::sleep_until(start + std::chrono::microseconds(i * 1'000'000 / rate));
        const std::string body = json::array({record(f, i, "single-", now_s)}).dump();
        const auto t0 = SteadyClock::now();
        auto r = post_signed(client, f, body);
        const double ms =
            std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
        if (r && r->status == 200) per[static_cast<std::size_t>(c)].push_back(ms);
      }
    });
  for (auto& t : threads) t.join();
  std::vector<double> all;
  for (const auto& v : per) all.insert(all.end(), v.begin(), v.end());
  if (all.size() != static_cast<std::size_t>(n))
    return fail(ErrorKind::internal, "bench_refused", "single-record pushes were refused");
  std::sort(all.begin(), all.end());
  return all;
}

// CPU seconds (user + system) used so far by the whole process: server, load client and store.
double process_cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return s(u.ru_utime) + s(u.ru_stime);
}

// A server (the App of `tanpu serve`, 8 worker threads) on a runtime opened over the bench's
// database. group_jobs_max 1 gives every request's write a transaction of its own.
class Served {
 public:
  static Result<std::unique_ptr<Served>> start(const Config& config, std::size_t group_jobs_max) {
    auto rt = open_runtime(config, group_jobs_max);
    if (!rt) return fail(rt.error());
    auto s = std::unique_ptr<Served>(new Served(std::move(*rt)));
    http::add_all_routes(s->router_, *s->app_);
    http::ServerOptions options;
    options.port = 0;
    options.io_threads = 1;
    options.worker_threads = 8;
    options.thread_nice = server_thread_nice(*s->rt_);
    s->server_ = std::make_unique<http::Server>(options, s->router_, s->metrics_);
    if (auto r = s->server_->start(); !r) return fail(r.error());
    return s;
  }
  Runtime& runtime() { return *rt_; }
  std::uint16_t port() const { return server_->port(); }

 private:
  explicit Served(std::unique_ptr<Runtime> rt)
      : rt_(std::move(rt)), app_(std::make_unique<http::App>(serve_app(*rt_, metrics_))) {}
  // Destroyed in reverse: the server stops before what it serves goes.
  std::unique_ptr<Runtime> rt_;
  http::Metrics metrics_;
  std::unique_ptr<http::App> app_;
  http::Router router_;
  std::unique_ptr<http::Server> server_;
};

double percentile(const std::vector<double>& sorted, double p) {
  const auto at = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
  return sorted[at];
}

}  // namespace

int run_bench_ingest(const Config& base, const IngestBenchArgs& args) {
  const auto die = [](const Error& e) {
    std::fprintf(stderr, "tanpu bench ingest: %s\n", e.message.c_str());
    return 1;
  };
  // One access log line per request would be measured too: the bench logs warnings only.
  log::set_min_level(log::Level::warn);
  auto db = BenchDb::create(args.store, 8, "ingest");
  if (!db) return die(db.error());
  Config config = (*db)->config();
  config.data_dir = base.data_dir;
  auto served = Served::start(config, store::kGroupJobsMax);
  if (!served) return die(served.error());
  auto keys = members::load_or_create_keys(config.secret_key_file);  // open_runtime made it
  if (!keys) return die(keys.error());
  auto fixture = make_fixture((*served)->runtime(), *keys, args.members);
  if (!fixture) return die(fixture.error());
  const double cpu0 = process_cpu_s();
  auto batched = load((*served)->port(), *fixture, args.records, 1000, args.clients, "batch-");
  if (!batched) return die(batched.error());
  const double batched_cpu_s = process_cpu_s() - cpu0;
  const std::int64_t baseline_n = std::min<std::int64_t>(args.records, args.baseline_max);
  // The conventional design: the same server and pipeline, one record per request, and every
  // request's write in a transaction (and a commit) of its own.
  served->reset();
  served = Served::start(config, 1);
  if (!served) return die(served.error());
  auto single = load((*served)->port(), *fixture, baseline_n, 1, args.clients, "one-");
  if (!single) return die(single.error());
  // Back to tanpu's design: one record per request too, but concurrent requests share commits.
  served->reset();
  served = Served::start(config, store::kGroupJobsMax);
  if (!served) return die(served.error());
  auto grouped = load((*served)->port(), *fixture, baseline_n, 1, args.clients, "grouped-");
  if (!grouped) return die(grouped.error());
  auto latencies = paced((*served)->port(), *fixture, args.latency_requests, 1000);
  if (!latencies) return die(latencies.error());
  served->reset();
  const json out{{"bench", "ingest"},
                 {"store", args.store},
                 {"records", args.records},
                 {"seconds", batched->first},
                 {"records_per_s", static_cast<double>(args.records) / batched->first},
                 {"credited_or_capped", batched->second},
                 {"cpu_us_per_record", batched_cpu_s * 1e6 / static_cast<double>(args.records)},
                 {"baseline_per_s", static_cast<double>(baseline_n) / single->first},
                 {"baseline_records", baseline_n},
                 {"grouped_singles_per_s", static_cast<double>(baseline_n) / grouped->first},
                 {"single_p50_ms", percentile(*latencies, 0.50)},
                 {"single_p99_ms", percentile(*latencies, 0.99)},
                 {"members", args.members},
                 {"clients", args.clients}};
  if (!args.json)
    std::printf("ingested %lld records in batches of 1000 over HTTP in %.2f s\n",
                static_cast<long long>(args.records), batched->first);
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace tanpu::cli
