// /healthz, /metrics and /v1/openapi.json, served by a real server over a real SQLite store.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "http/app.h"
#include "http/client.h"
#include "http/metrics.h"
#include "http/server.h"
#include "support/test_store.h"

namespace tanpu::http {
namespace {

using nlohmann::json;

// A store whose database is down: every acquire fails.
class DownStore final : public store::Store {
 public:
  store::Dialect dialect() const override { return store::Dialect::sqlite; }
  Result<store::Lease> acquire() override {
    return fail(ErrorKind::unavailable, "db_down", "connection refused");
  }
  Result<void> write(store::WriteJob) override {
    return fail(ErrorKind::unavailable, "db_down", "connection refused");
  }
  void close() override {}
  void give_back(std::unique_ptr<store::Connection>) override {}
};

class SystemRoutesTest : public ::testing::Test {
 protected:
  void serve(store::Store& store) {
    add_system_routes(router_, store, metrics_);
    ServerOptions options;
    options.port = 0;
    server_ = std::make_unique<Server>(options, router_, metrics_);
    ASSERT_TRUE(server_->start().has_value());
    client_ = std::make_unique<Client>(ClientOptions{"127.0.0.1", server_->port(), 10, 1 << 22});
  }

  ClientResponse get(std::string_view target) {
    auto r = client_->request("GET", target);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    return r ? *r : ClientResponse{};
  }

  Metrics metrics_;
  Router router_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(SystemRoutesTest, HealthzRunsAQueryOnTheStore) {
  test::TestStore db(test::Engine::sqlite);
  serve(db.store());
  const auto r = get("/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.json().value(), (json{{"status", "ok"}}));
  EXPECT_EQ(r.header("cache-control"), "");
  server_.reset();
}

TEST_F(SystemRoutesTest, HealthzIs503WhenTheDatabaseIsDown) {
  DownStore down;
  serve(down);
  const auto r = get("/healthz");
  EXPECT_EQ(r.status, 503);
  const json body = r.json().value();
  EXPECT_EQ(body["error"]["code"], "database_unavailable");
  EXPECT_NE(body["error"]["message"].get<std::string>().find("db_down"), std::string::npos);
}

TEST_F(SystemRoutesTest, MetricsAreInTheTextFormat) {
  DownStore down;
  serve(down);
  get("/healthz");
  // The server counts a request after its answer is written; wait until it has.
  auto& counted = metrics_.counter("tanpu_http_requests_total", "HTTP requests answered.",
                                   {{"method", "GET"}, {"route", "/healthz"}, {"status", "503"}});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (counted.value() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const auto r = get("/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r.body.find("# TYPE tanpu_http_requests_total counter\n"), std::string::npos);
  EXPECT_NE(r.body.find(
                "tanpu_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"503\"} 1\n"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("tanpu_http_connections_open 1\n"), std::string::npos) << r.body;
}

TEST_F(SystemRoutesTest, ServesTheEmbeddedOpenApiDocument) {
  DownStore down;
  serve(down);
  const auto r = get("/v1/openapi.json");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("cache-control"), "no-store");
  EXPECT_EQ(r.body, openapi_document());
  const json doc = r.json().value();
  EXPECT_EQ(doc["openapi"], "3.0.3");
  EXPECT_TRUE(doc["paths"].contains("/v1/openapi.json"));
}

TEST_F(SystemRoutesTest, TheSystemRoutesAreDocumented) {
  DownStore down;
  add_system_routes(router_, down, metrics_);
  const json doc = json::parse(openapi_document());
  for (const Route& route : router_.routes()) {
    std::string method = route.method;
    std::transform(method.begin(), method.end(), method.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    EXPECT_TRUE(doc["paths"].contains(route.pattern) &&
                doc["paths"][route.pattern].contains(method))
        << route.method << " " << route.pattern;
  }
}

}  // namespace
}  // namespace tanpu::http
