// `tanpu bench flash-sale`: many buyers at once for a few units, over HTTP against real
// `tanpu serve` processes (one, or several sharing one PostgreSQL). Every buyer holds a session
// and points and tries once; the run counts orders, then checks the database: orders equal to the
// units, no unit sold twice, no member over the per-member limit, no balance below zero, and the
// ledger's own verification.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>
#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "cli/bench_db.h"
#include "cli/commands.h"
#include "cli/runtime.h"
#include "cli/serve_process.h"
#include "core/limits.h"
#include "core/log.h"
#include "http/client.h"
#include "ledger/verify.h"
#include "market/market.h"

namespace tanpu::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr std::int64_t kPricePoints = 100;
constexpr std::int64_t kFundedPoints = 1'000;  // enough for both offers
constexpr std::int64_t kPoorEvery = 50;        // every 50th buyer holds less than the price

struct Buyer {
  std::string token;
};

struct Seeded {
  std::int64_t offer_id = 0;           // stock in buckets (the design)
  std::int64_t baseline_offer_id = 0;  // the same offer on one stock row (the baseline)
  std::vector<Buyer> buyers;
};

// The merchant, the offer (one per member) and the buyers with sessions and points.
Result<Seeded> seed(Runtime& rt, const members::Keys& keys, const FlashSaleBenchArgs& args) {
  members::Options cheap;  // logins are not measured
  cheap.password = members::PasswordParams{256, 1, 1, 16, 32};
  members::Members registrar(*rt.store, *rt.ledger, keys, rt.clock, cheap);
  auto merchant = rt.market->create_merchant({"Flash sale cafe",
                                              "campus",
                                              "Flash Sale Cafe Ltd",
                                              "Bank of Shenyang",
                                              "6222 0000 1234",
                                              {{"Main canteen", "1 Campus Road", std::nullopt}}});
  if (!merchant) return fail(merchant.error());
  const std::int64_t now = rt.clock.now_us();
  market::OfferInput offer;
  offer.merchant_id = merchant->id;
  offer.title = "Canteen lunch voucher";
  offer.category = "dining";
  offer.price_points = kPricePoints;
  offer.stock = args.units;
  offer.per_member_total_max = 1;
  offer.sale_starts_us = now - 60'000'000;
  offer.sale_ends_us = now + 3'600'000'000;
  offer.voucher_valid_days = 30;
  auto created = rt.market->create_offer(offer);
  if (!created) return fail(created.error());
  market::Options one_row;
  one_row.stock_buckets_max = 1;
  market::Market conventional(*rt.store, *rt.ledger, *rt.members, rt.clock, one_row);
  offer.title = "Canteen lunch voucher (one stock row)";
  auto baseline = conventional.create_offer(offer);
  if (!baseline) return fail(baseline.error());

  Seeded out{created->id, baseline->id, std::vector<Buyer>(static_cast<std::size_t>(args.buyers))};
  std::vector<std::int64_t> accounts(out.buyers.size());
  std::atomic<std::size_t> next{0};
  std::mutex error_mutex;
  std::optional<Error> error;
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (std::size_t i = next++; i < out.buyers.size(); i = next++) {
        const std::string email = "buyer" + std::to_string(i) + "@bench.invalid";
        auto m = registrar.register_member({std::nullopt, email, "bench-password", "Buyer"});
        auto s = m ? registrar.login(email, "bench-password") : Result<members::Session>{};
        if (!m || !s) {
          std::lock_guard lock(error_mutex);
          error = m ? s.error() : m.error();
          return;
        }
        out.buyers[i].token = s->token;
        accounts[i] = m->points_account_id;
      }
    });
  }
  for (auto& t : threads) t.join();
  if (error) return fail(*error);
  std::vector<ledger::Transfer> credits;
  for (std::size_t i = 0; i < accounts.size(); ++i) {
    ledger::Transfer t;
    t.id = new_time_ordered_id();
    t.debit_account_id = ledger::kPlatformPointsAccount;
    t.credit_account_id = accounts[i];
    t.amount = i % kPoorEvery == kPoorEvery - 1 ? kPricePoints / 2 : kFundedPoints;
    t.code = ledger::codes::bench;
    credits.push_back(std::move(t));
    if (credits.size() == limits::transfers_per_request_max || i + 1 == accounts.size()) {
      auto r = rt.ledger->submit(credits);
      if (!r) return fail(r.error());
      if (std::ranges::any_of(*r, [](auto s) { return s != ledger::TransferStatus::ok; })) {
        return fail(ErrorKind::internal, "seed_failed", "funding the buyers failed");
      }
      credits.clear();
    }
  }
  return out;
}

struct LoadResult {
  double seconds = 0;
  double last_order_s = 0;  // when the last successful order was answered
  std::int64_t ordered = 0, sold_out = 0, insufficient = 0, unexpected = 0;
  std::string first_unexpected;
  std::vector<double> latencies_ms;
};

// Every buyer tries once, from `connections` keep-alive connections spread over the servers.
// What the load's connections share.
struct Tally {
  const Seeded& seeded;
  std::string path;
  std::string key_prefix;  // "flash-<offer>-": one Idempotency-Key per buyer and offer
  SteadyClock::time_point t0;
  std::size_t next = 0;  // the next buyer (the IO thread alone touches the tally)
  LoadResult out;
};

// One keep-alive connection: sends the next buyer's attempt when the last one was answered, until
// every buyer has tried. Asynchronous (Boost.Beast), so 256 connections cost one client thread
// rather than 256, and the client does not take the servers' CPU away.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::io_context& io, Tally& tally) : stream_(io), tally_(tally) {}

  void start(const tcp::endpoint& server) {
    stream_.async_connect(server, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->fail(ec, "connect");
      self->send_next();
    });
  }

 private:
  void send_next() {
    if (tally_.next >= tally_.seeded.buyers.size()) return;
    buyer_ = tally_.next++;
    request_ = {bhttp::verb::post, tally_.path, 11};
    request_.set(bhttp::field::host, "127.0.0.1");
    request_.set(bhttp::field::authorization, "Bearer " + tally_.seeded.buyers[buyer_].token);
    request_.set("Idempotency-Key", tally_.key_prefix + std::to_string(buyer_));
    request_.prepare_payload();
    response_ = {};
    started_ = SteadyClock::now();
    bhttp::async_write(
        stream_, request_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec) return self->fail(ec, "write");
          bhttp::async_read(
              self->stream_, self->buffer_, self->response_,
              [self](beast::error_code read_ec, std::size_t) { self->on_answer(read_ec); });
        });
  }

  void on_answer(beast::error_code ec) {
    if (ec) return fail(ec, "read");
    const auto now = SteadyClock::now();
    LoadResult& out = tally_.out;
    out.latencies_ms[buyer_] = std::chrono::duration<double, std::milli>(now - started_).count();
    const auto status = static_cast<int>(response_.result_int());
    std::string code;
    if (status != 201) {
      const auto body = json::parse(response_.body(), nullptr, false);
      if (body.is_object() && body.contains("error")) code = body["error"].value("code", "");
    }
    if (status == 201) {
      ++out.ordered;
      out.last_order_s = std::chrono::duration<double>(now - tally_.t0).count();
    } else if (code == "sold_out") {
      ++out.sold_out;
    } else if (code == "insufficient_points") {
      ++out.insufficient;
    } else {
      ++out.unexpected;
      if (out.first_unexpected.empty()) {
        out.first_unexpected = std::to_string(status) + " " + response_.body();
      }
    }
    send_next();
  }

  void fail(const beast::error_code& ec, const char* during) {
    ++tally_.out.unexpected;
    if (tally_.out.first_unexpected.empty()) {
      tally_.out.first_unexpected = std::string(during) + ": " + ec.message();
    }
  }

  beast::tcp_stream stream_;
  Tally& tally_;
  std::size_t buyer_ = 0;
  beast::flat_buffer buffer_;
  bhttp::request<bhttp::empty_body> request_;
  bhttp::response<bhttp::string_body> response_;
  SteadyClock::time_point started_;
};

// Every buyer tries once, from `connections` keep-alive connections spread over the servers.
LoadResult load(const std::vector<std::uint16_t>& ports, const Seeded& seeded,
                std::int64_t offer_id, int connections) {
  asio::io_context io(1);
  Tally tally{seeded,
              "/v1/offers/" + std::to_string(offer_id) + "/orders",
              "flash-" + std::to_string(offer_id) + "-",
              SteadyClock::now(),
              0,
              {}};
  tally.out.latencies_ms.resize(seeded.buyers.size());
  for (int c = 0; c < connections; ++c) {
    const tcp::endpoint server(asio::ip::address_v4::loopback(),
                               ports[static_cast<std::size_t>(c) % ports.size()]);
    std::make_shared<Connection>(io, tally)->start(server);
  }
  io.run();
  tally.out.seconds = std::chrono::duration<double>(SteadyClock::now() - tally.t0).count();
  return std::move(tally.out);
}

struct Audit {
  std::int64_t orders = 0;      // held orders of the offer in the database
  std::int64_t remaining = 0;   // units left
  std::int64_t over_limit = 0;  // members with more than one order
  std::int64_t negative_balances = 0;
  bool ledger_ok = false;
  std::string ledger_problem;
};

Result<Audit> audit(const Config& config, std::int64_t offer_id) {
  store::Options o;
  o.url = config.database_url;
  o.read_connections = 1;
  auto store = store::Store::open(o);
  if (!store) return fail(store.error());
  auto lease = (*store)->acquire();
  if (!lease) return fail(lease.error());
  store::Connection& c = **lease;
  Audit a;
  auto n = c.query("SELECT COUNT(*) FROM market_orders WHERE offer_id = ? AND status = 'held'",
                   {offer_id});
  auto left = c.query("SELECT COALESCE(SUM(remaining), 0) FROM market_stock WHERE offer_id = ?",
                      {offer_id});
  auto over = c.query(
      "SELECT COUNT(*) FROM (SELECT member_id FROM market_orders WHERE offer_id = ? GROUP BY "
      "member_id HAVING COUNT(*) > 1) x",
      {offer_id});
  auto negative = c.query(
      "SELECT COUNT(*) FROM ledger_accounts a JOIN ledger_balances b ON b.account_id = a.id "
      "WHERE a.owner_kind = 'member' AND b.credits_posted - b.debits_posted - b.debits_pending < "
      "0");
  for (auto* r : {&n, &left, &over, &negative}) {
    if (!*r) return fail(r->error());
  }
  a.orders = n->i64(0, 0);
  a.remaining = left->i64(0, 0);
  a.over_limit = over->i64(0, 0);
  a.negative_balances = negative->i64(0, 0);
  if (auto b = c.begin(); !b) return fail(b.error());
  auto report = ledger::verify(c, 1);
  (void)c.rollback();
  if (!report) return fail(report.error());
  a.ledger_ok = report->ok();
  if (!report->ok()) a.ledger_problem = report->problems.front();
  return a;
}

// p50 and p99 in ms.
std::pair<double, double> percentiles(std::vector<double> ms) {
  if (ms.empty()) return {0, 0};
  std::ranges::sort(ms);
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)]};
}

int die(const Error& e) {
  std::fprintf(stderr, "tanpu bench flash-sale: %s\n", e.message.c_str());
  return 1;
}

}  // namespace

int run_bench_flash_sale(const Config& config, const FlashSaleBenchArgs& args) {
  if (args.store == "sqlite" && args.servers > 1) {
    return die(Error{ErrorKind::invalid,
                     "one_writer",
                     "SQLite has one writing process: --servers 2 needs --store postgres",
                     {}});
  }
  if (args.units > args.buyers) {
    return die(Error{ErrorKind::invalid,
                     "too_few_buyers",
                     "--buyers must be at least --units, or the sale cannot sell out",
                     {}});
  }
  if (!args.json) log::set_min_level(log::Level::warn);
  auto db = BenchDb::create(args.store, 8, "flash");
  if (!db) return die(db.error());
  Config cfg = (*db)->config();
  cfg.data_dir = config.data_dir;
  cfg.points_mg_per_point = config.points_mg_per_point;
  const auto seed_t0 = SteadyClock::now();
  std::optional<Seeded> seeded;
  {
    auto rt = open_runtime(cfg);
    if (!rt) return die(rt.error());
    auto keys = members::load_or_create_keys(cfg.secret_key_file);
    if (!keys) return die(keys.error());
    auto s = seed(**rt, *keys, args);
    if (!s) return die(s.error());
    seeded = std::move(*s);
  }
  const double seed_s = std::chrono::duration<double>(SteadyClock::now() - seed_t0).count();
  if (!args.json) {
    std::printf("seeded %lld buyers with sessions and points in %.1f s\n",
                static_cast<long long>(args.buyers), seed_s);
  }

  const std::filesystem::path log_file =
      std::filesystem::path(cfg.secret_key_file).parent_path() / "serve.log";
  std::vector<std::unique_ptr<ServeProcess>> servers;
  std::vector<std::uint16_t> ports;
  for (int s = 0; s < args.servers; ++s) {
    servers.push_back(std::make_unique<ServeProcess>(
        "/proc/self/exe",
        std::vector<std::string>{"--database", cfg.database_url, "--secret-key-file",
                                 cfg.secret_key_file, "--data", cfg.data_dir, "--log-level", "warn",
                                 "--read-connections", "24", "--worker-threads",
                                 std::to_string(args.worker_threads)},
        log_file.string()));
    if (!servers.back()->ready(60)) {
      return die(Error{ErrorKind::unavailable,
                       "serve_failed",
                       "tanpu serve did not start; see " + log_file.string(),
                       {}});
    }
    ports.push_back(servers.back()->port());
  }
  // The baseline first (one stock row), then the design (stock in buckets), on the same servers.
  LoadResult base = load(ports, *seeded, seeded->baseline_offer_id, args.connections);
  LoadResult result = load(ports, *seeded, seeded->offer_id, args.connections);
  for (auto& s : servers) s->stop();

  auto base_checked = audit(cfg, seeded->baseline_offer_id);
  if (!base_checked) return die(base_checked.error());
  auto checked = audit(cfg, seeded->offer_id);
  if (!checked) return die(checked.error());
  const auto [p50, p99] = percentiles(result.latencies_ms);
  const auto [base_p50, base_p99] = percentiles(base.latencies_ms);
  const double base_rate = static_cast<double>(args.buyers) / base.seconds;
  const std::int64_t oversold = std::max<std::int64_t>(0, checked->orders - args.units) +
                                (checked->orders + checked->remaining != args.units ? 1 : 0);
  const double rate = static_cast<double>(args.buyers) / result.seconds;
  const bool ok = checked->orders == args.units && oversold == 0 &&
                  checked->negative_balances == 0 && checked->over_limit == 0 &&
                  checked->ledger_ok && result.unexpected == 0 &&
                  result.ordered == checked->orders && base_checked->orders == args.units &&
                  base_checked->orders + base_checked->remaining == args.units &&
                  base_checked->over_limit == 0 && base.unexpected == 0;
  if (!args.json) {
    std::printf(
        "%lld buyers on %d server(s), %d connections: %.2f s, %.0f attempts/s, p50 %.1f ms, p99 "
        "%.1f ms\n",
        static_cast<long long>(args.buyers), args.servers, args.connections, result.seconds, rate,
        p50, p99);
    std::printf(
        "orders %lld of %lld units; sold out %lld; not enough points %lld; other %lld%s\n",
        static_cast<long long>(checked->orders), static_cast<long long>(args.units),
        static_cast<long long>(result.sold_out), static_cast<long long>(result.insufficient),
        static_cast<long long>(result.unexpected),
        result.first_unexpected.empty() ? "" : (" (" + result.first_unexpected + ")").c_str());
    if (!checked->ledger_ok) std::printf("ledger: %s\n", checked->ledger_problem.c_str());
    std::printf("baseline, one stock row: %.0f attempts/s, p99 %.1f ms, sold out after %.2f s\n",
                base_rate, base_p99, base.last_order_s);
  }
  json out{{"bench", "flash-sale"},
           {"store", args.store},
           {"servers", args.servers},
           {"units", args.units},
           {"buyers", args.buyers},
           {"connections", args.connections},
           {"worker_threads", args.worker_threads},
           {"orders", checked->orders},
           {"oversold", oversold},
           {"negative_balances", checked->negative_balances},
           {"over_limit", checked->over_limit},
           {"sold_out", result.sold_out},
           {"insufficient_points", result.insufficient},
           {"unexpected", result.unexpected},
           {"ledger_verified", checked->ledger_ok},
           {"seconds", result.seconds},
           {"sold_out_after_s", result.last_order_s},
           {"attempts_per_s", rate},
           {"p50_ms", p50},
           {"p99_ms", p99},
           {"baseline",
            {{"design", "one stock row"},
             {"orders", base_checked->orders},
             {"unexpected", base.unexpected},
             {"attempts_per_s", base_rate},
             {"sold_out_after_s", base.last_order_s},
             {"p50_ms", base_p50},
             {"p99_ms", base_p99}}}};
  std::printf("%s\n", out.dump().c_str());
  return ok ? 0 : 3;
}

}  // namespace tanpu::cli
