#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <thread>

#include "cli/commands.h"
#include "cli/runtime.h"
#include "cli/serve_app.h"
#include "core/assert.h"
#include "core/log.h"
#include "http/app.h"
#include "http/metrics.h"
#include "http/server.h"

namespace tanpu::cli {
namespace {

constexpr std::int64_t kCompactEveryS = 60;
constexpr std::int64_t kPointsExpiryEveryS = 3600;

// Background duties of a server: expiring orders whose vouchers ran out and timed-out pending
// transfers, folding hot-account deltas, purging old nonces, ended sessions and spent login
// counters, and expiring points once per cutoff year. Every server may run them; all are safe under
// concurrency (derived ids, DELETE…RETURNING, ON CONFLICT, conditional status updates).
class Scheduler {
 public:
  Scheduler(Runtime& rt, std::int64_t expiry_interval_s)
      : rt_(rt), interval_s_(expiry_interval_s), thread_([this] { loop(); }) {}
  ~Scheduler() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void expire_points() {
    auto r = rt_.points->expire_if_due(rt_.clock.now_us());
    if (!r) {
      log::warn("points_expiry_failed", {{"error", r.error().message}});
    } else if (r->points > 0) {
      log::info(
          "points_expired",
          {{"cutoff_year", r->cutoff_year}, {"accounts", r->accounts}, {"points", r->points}});
    }
  }

  void loop() {
    std::int64_t since_compact_s = 0;
    std::int64_t since_points_s = 0;
    expire_points();
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::seconds(interval_s_), [&] { return stop_; })) {
      lock.unlock();
      if (auto n = rt_.market->expire_orders(rt_.clock.now_us()); !n) {
        log::warn("order_expiry_failed", {{"error", n.error().message}});
      } else if (*n > 0) {
        log::info("orders_expired", {{"count", *n}});
      }
      if (auto n = rt_.ledger->expire_pending(rt_.clock.now_us()); !n) {
        log::warn("expire_pending_failed", {{"error", n.error().message}});
      } else if (*n > 0) {
        log::info("pending_expired", {{"count", *n}});
      }
      since_compact_s += interval_s_;
      since_points_s += interval_s_;
      if (since_points_s >= kPointsExpiryEveryS) {
        since_points_s = 0;
        expire_points();
      }
      if (since_compact_s >= kCompactEveryS) {
        since_compact_s = 0;
        if (auto n = rt_.ledger->compact_hot_accounts(); !n) {
          log::warn("compact_hot_accounts_failed", {{"error", n.error().message}});
        }
        if (auto n = rt_.sources->purge_nonces(); !n) {
          log::warn("purge_nonces_failed", {{"error", n.error().message}});
        }
        if (auto n = rt_.members->purge(); !n) {
          log::warn("purge_sessions_failed", {{"error", n.error().message}});
        } else if (n->sessions > 0 || n->throttles > 0) {
          log::info("sessions_purged",
                    {{"sessions", n->sessions}, {"login_counters", n->throttles}});
        }
      }
      lock.lock();
    }
  }

  Runtime& rt_;
  std::int64_t interval_s_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

int run_serve(const Config& config) {
  // Signals are taken by sigwait below; every thread started after this inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto rt = open_runtime(config);
  if (!rt) {
    log::error("startup_failed", {{"error", rt.error().message}, {"code", rt.error().code}});
    std::fprintf(stderr, "tanpu serve: not started: %s\n", rt.error().message.c_str());
    return 1;
  }
  auto listen = parse_listen(config.listen);
  http::Metrics metrics;
  http::App app = serve_app(**rt, metrics);
  http::Router router;
  http::add_all_routes(router, app);
  http::ServerOptions options;
  options.host = listen->first;
  options.port = listen->second;
  options.io_threads = static_cast<std::size_t>(config.io_threads);
  options.worker_threads = static_cast<std::size_t>(config.worker_threads);
  options.thread_nice = server_thread_nice(**rt);
  auto proxies = http::parse_trusted_networks(config.trusted_proxies);
  TANPU_ASSERT(proxies.has_value());  // finish_config validated it
  options.trusted_proxies = std::move(*proxies);
  http::Server server(options, router, metrics);
  if (auto r = server.start(); !r) {
    log::error("listen_failed", {{"error", r.error().message}, {"listen", config.listen}});
    return 1;
  }
  Scheduler scheduler(**rt, config.expiry_interval_s);
  log::info(
      "serving",
      {{"listen", listen->first + ":" + std::to_string(server.port())},
       {"database", (*rt)->store->dialect() == store::Dialect::sqlite ? "sqlite" : "postgres"}});
  int sig = 0;
  sigwait(&signals, &sig);
  log::info("stopping", {{"signal", sig}});
  server.stop();
  server.wait();
  return 0;
}

}  // namespace tanpu::cli
