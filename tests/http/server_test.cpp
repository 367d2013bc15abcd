// The server end to end, on an ephemeral port with a router of test handlers.
#include "http/server.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "core/log.h"
#include "core/thread.h"
#include "http/client.h"
#include "http/metrics.h"
#include "http/router.h"

namespace tanpu::http {
namespace {

namespace asio = boost::asio;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr std::size_t kBodyBytesMax = 1024;
constexpr std::size_t kHeaderBytesMax = 2048;

// A plain TCP connection for what a well-behaved client would not send.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port) : socket_(io_) {
    socket_.connect({asio::ip::make_address("127.0.0.1"), port});
  }

  void send(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes)); }

  // Reads until the server closes the connection (or `limit` passes): everything it sent.
  std::string read_until_close(std::chrono::milliseconds limit = 10s) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (read_some(out, deadline)) {
    }
    return out;
  }

  // Reads until `text` has arrived (or the connection ends, or `limit` passes).
  std::string read_until(std::string_view text, std::chrono::milliseconds limit = 10s) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (out.find(text) == std::string::npos && read_some(out, deadline)) {
    }
    return out;
  }

 private:
  bool read_some(std::string& out, std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd fd{socket_.native_handle(), POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[4096];
    boost::system::error_code ec;
    const std::size_t n = socket_.read_some(asio::buffer(buf), ec);
    if (ec) return false;
    out.append(buf, n);
    return true;
  }

  asio::io_context io_;
  asio::ip::tcp::socket socket_;
};

int status_of(std::string_view raw) {
  if (raw.size() < 12 || !raw.starts_with("HTTP/1.")) return 0;
  return std::stoi(std::string(raw.substr(9, 3)));
}

std::string body_of(std::string_view raw) {
  const std::size_t end = raw.find("\r\n\r\n");
  return end == std::string_view::npos ? std::string() : std::string(raw.substr(end + 4));
}

bool is_generated_id(std::string_view id) {
  return id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.add("GET", "/echo/{name}", [](Request& r) {
      return json_response({{"name", r.path_params.at("name")},
                            {"query", r.query},
                            {"request_id", r.request_id},
                            {"remote", r.remote_addr},
                            {"accept", r.header("accept")}});
    });
    router_.add("POST", "/echo", [this](Request& r) {
      posts_.fetch_add(1);
      return json_response({{"bytes", r.body.size()}, {"body", r.body}}, 201);
    });
    router_.add("PUT", "/echo", [](Request&) { return json_response(json::object()); });
    router_.add("GET", "/v1/thing", [](Request&) { return json_response({{"ok", true}}); });
    router_.add("GET", "/nice", [](Request&) {
      return json_response({{"nice", this_thread_nice()}});
    });
    router_.add("GET", "/throw", [](Request&) -> Response { throw std::runtime_error("boom"); });
    router_.add("GET", "/throw-int", [](Request&) -> Response { throw 42; });
    router_.add("GET", "/headers", [](Request&) {
      Response r = json_response(json::object());
      r.headers = {{"X-Custom", "yes"}, {"X-Split", "a\r\nInjected: 1"}};
      return r;
    });
    router_.add("GET", "/slow", [](Request&) {
      std::this_thread::sleep_for(300ms);
      return json_response({{"slow", true}});
    });
    start(ServerOptions{});
  }

  void start(ServerOptions options) {
    options.port = 0;
    options.io_threads = 2;
    options.worker_threads = 4;
    options.body_bytes_max = kBodyBytesMax;
    options.header_bytes_max = kHeaderBytesMax;
    options.request_seconds_max = 1;
    server_ = std::make_unique<Server>(options, router_, metrics_);
    ASSERT_TRUE(server_->start().has_value());
    ASSERT_NE(server_->port(), 0);
  }

  Client client() { return Client(ClientOptions{"127.0.0.1", server_->port(), 10, 1 << 20}); }

  ClientResponse get(std::string_view target, const Headers& headers = {}) {
    Client c = client();
    auto r = c.request("GET", target, {}, headers);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    return r ? *r : ClientResponse{};
  }

  std::uint64_t requests(const std::string& method, const std::string& route, int status) {
    return metrics_
        .counter("tanpu_http_requests_total", "HTTP requests answered.",
                 {{"method", method}, {"route", route}, {"status", std::to_string(status)}})
        .value();
  }

  // The server counts a request after writing its answer, so a client may see the answer first.
  void wait_for_requests(const std::string& method, const std::string& route, int status,
                         std::uint64_t count) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (requests(method, route, status) < count && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    EXPECT_EQ(requests(method, route, status), count);
  }

  Metrics metrics_;
  Router router_;
  std::atomic<int> posts_{0};
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, AnswersARoute) {
  const auto r = get("/echo/li%20lei?a=1&b=x+y%21&empty", {{"Accept", "application/json"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("server"), "tanpu");
  EXPECT_EQ(r.header("cache-control"), "");  // only /v1 routes
  const json body = r.json().value();
  EXPECT_EQ(body["name"], "li lei");
  EXPECT_EQ(body["query"], (json{{"a", "1"}, {"b", "x y!"}, {"empty", ""}}));
  EXPECT_EQ(body["accept"], "application/json");
  EXPECT_TRUE(std::string(body["remote"]).starts_with("127.0.0.1:"));
}

TEST_F(ServerTest, V1RoutesAreNotCached) {
  const auto r = get("/v1/thing");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("cache-control"), "no-store");
}

TEST_F(ServerTest, TheClientIsThePeerUnlessAProxyIsTrusted) {
  const Headers forwarded{{"X-Forwarded-For", "198.51.100.1, 203.0.113.9"}};
  // Not trusted: X-Forwarded-For is ignored (anyone could send it).
  const std::string peer = get("/echo/x", forwarded).json().value()["remote"];
  EXPECT_TRUE(peer.starts_with("127.0.0.1:")) << peer;
  // Trusted (the proxy is the loopback): the right-most forwarded address.
  server_.reset();
  ServerOptions trusting;
  trusting.trusted_proxies = *parse_trusted_networks("127.0.0.0/8");
  start(trusting);
  EXPECT_EQ(get("/echo/x", forwarded).json().value()["remote"], "203.0.113.9:0");
  // A proxy that adds its own line after the client's: the lines are one list, read from the right.
  const Headers two_lines{{"X-Forwarded-For", "198.51.100.1"}, {"X-Forwarded-For", "203.0.113.9"}};
  EXPECT_EQ(get("/echo/x", two_lines).json().value()["remote"], "203.0.113.9:0");
  EXPECT_TRUE(get("/echo/x").json().value()["remote"].get<std::string>().starts_with("127.0.0.1:"));
}

TEST_F(ServerTest, HandlersRunAtTheThreadNiceAndTheProcessKeepsItsOwn) {
  const int mine = this_thread_nice();
  EXPECT_EQ(get("/nice").json().value()["nice"], mine);  // thread_nice 0: as the process
  server_.reset();
  ServerOptions lowered;
  lowered.thread_nice = 5;
  start(lowered);
  // Every worker, whichever takes the request.
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(get("/nice").json().value()["nice"], std::min(mine + 5, 19));
  EXPECT_EQ(this_thread_nice(), mine);
}

TEST_F(ServerTest, PostsABody) {
  Client c = client();
  const auto r = c.request("POST", "/echo", R"({"a":1})");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->json().value()["body"], R"({"a":1})");
}

TEST_F(ServerTest, UnknownPathIs404InTheErrorShape) {
  const auto r = get("/nowhere");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.json().value()["error"]["code"], "not_found");
  EXPECT_TRUE(r.json().value()["error"].contains("message"));
}

TEST_F(ServerTest, WrongMethodIs405WithAllow) {
  Client c = client();
  const auto r = c.request("DELETE", "/echo");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->header("allow"), "POST, PUT");
  EXPECT_EQ(r->json().value()["error"]["code"], "method_not_allowed");
  const auto get_only = c.request("POST", "/echo/x");
  EXPECT_EQ(get_only->header("allow"), "GET");
}

TEST_F(ServerTest, MalformedQueriesAre400) {
  auto r = get("/echo/x?a=%zz");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json().value()["error"]["code"], "invalid_query");
  r = get("/echo/x?a=1&a=2");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json().value()["error"]["code"], "duplicate_query_parameter");
  EXPECT_EQ(r.json().value()["error"]["field"], "a");
}

TEST_F(ServerTest, BodyOverTheLimitIs413AndTheHandlerNeverRuns) {
  Client c = client();
  const auto r = c.request("POST", "/echo", std::string(kBodyBytesMax + 1, 'x'));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->json().value()["error"]["code"], "body_too_large");
  EXPECT_EQ(posts_.load(), 0);
  // At the limit it is fine, and the client reconnects after the server closed.
  const auto ok = c.request("POST", "/echo", std::string(kBodyBytesMax, 'x'));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 201);
  EXPECT_EQ(posts_.load(), 1);
}

TEST_F(ServerTest, DeclaredLengthOverTheLimitIsRefusedBeforeTheBodyArrives) {
  RawConnection raw(server_->port());
  raw.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n");
  const std::string answer = raw.read_until_close(5s);
  EXPECT_EQ(status_of(answer), 413) << answer;
  EXPECT_EQ(posts_.load(), 0);
}

TEST_F(ServerTest, ChunkedBodyOverTheLimitIs413) {
  RawConnection raw(server_->port());
  std::string request = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) request += "200\r\n" + std::string(0x200, 'y') + "\r\n";
  request += "0\r\n\r\n";
  raw.send(request);
  const std::string answer = raw.read_until_close(5s);
  EXPECT_EQ(status_of(answer), 413) << answer;
  EXPECT_EQ(posts_.load(), 0);
}

TEST_F(ServerTest, HeadersOverTheLimitAre431) {
  const auto r = get("/echo/x", {{"X-Big", std::string(kHeaderBytesMax, 'h')}});
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(r.json().value()["error"]["code"], "headers_too_large");
  EXPECT_EQ(get("/echo/x").status, 200);
}

TEST_F(ServerTest, HalfARequestIs408AndTheConnectionCloses) {
  RawConnection raw(server_->port());
  raw.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345");
  const auto begun = std::chrono::steady_clock::now();
  const std::string answer = raw.read_until_close(10s);
  EXPECT_EQ(status_of(answer), 408) << answer;
  EXPECT_EQ(json::parse(body_of(answer))["error"]["code"], "request_timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - begun, 5s);
  EXPECT_EQ(posts_.load(), 0);
}

TEST_F(ServerTest, HalfAHeaderIs408) {
  RawConnection raw(server_->port());
  raw.send("GET /echo/x HTTP/1.1\r\nHost: x\r\n");
  const std::string answer = raw.read_until_close(10s);
  EXPECT_EQ(status_of(answer), 408) << answer;
}

TEST_F(ServerTest, AnIdleConnectionIsClosedSilently) {
  RawConnection raw(server_->port());
  EXPECT_EQ(raw.read_until_close(10s), "");
}

TEST_F(ServerTest, GarbageIs400) {
  RawConnection raw(server_->port());
  raw.send("NOT HTTP AT ALL\r\n\r\n");
  const std::string answer = raw.read_until_close(5s);
  EXPECT_EQ(status_of(answer), 400) << answer;
  EXPECT_EQ(json::parse(body_of(answer))["error"]["code"], "bad_request");
}

TEST_F(ServerTest, EchoesASaneRequestIdAndGeneratesOtherwise) {
  auto r = get("/echo/x", {{"X-Request-Id", "abc-123_x.Y"}});
  EXPECT_EQ(r.header("x-request-id"), "abc-123_x.Y");
  EXPECT_EQ(r.json().value()["request_id"], "abc-123_x.Y");

  for (const std::string& bad :
       std::vector<std::string>{"has space", "semi;colon", std::string(65, 'a'), ""}) {
    r = get("/echo/x", {{"X-Request-Id", bad}});
    EXPECT_TRUE(is_generated_id(r.header("x-request-id"))) << r.header("x-request-id");
  }
  const auto a = get("/echo/x");
  const auto b = get("/echo/x");
  EXPECT_TRUE(is_generated_id(a.header("x-request-id")));
  EXPECT_NE(a.header("x-request-id"), b.header("x-request-id"));
  EXPECT_EQ(a.json().value()["request_id"], a.header("x-request-id"));
  // Errors carry it too, also those answered before any handler.
  EXPECT_EQ(get("/nowhere", {{"X-Request-Id", "r1"}}).header("x-request-id"), "r1");
  EXPECT_TRUE(is_generated_id(
      get("/echo/x", {{"X-Big", std::string(kHeaderBytesMax, 'h')}}).header("x-request-id")));
}

TEST_F(ServerTest, AThrowingHandlerIs500AndTheServerKeepsServing) {
  Client c = client();
  for (const char* target : {"/throw", "/throw-int"}) {
    const auto r = c.request("GET", target);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 500);
    EXPECT_EQ(r->json().value()["error"]["code"], "internal");
    // The message does not leak the exception's text.
    EXPECT_EQ(r->body.find("boom"), std::string::npos);
  }
  const auto after = c.request("GET", "/echo/still-here");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->status, 200);
}

TEST_F(ServerTest, RefusesResponseHeadersThatWouldSplitTheResponse) {
  const auto r = get("/headers");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-custom"), "yes");
  EXPECT_EQ(r.header("x-split"), "");
  EXPECT_EQ(r.header("injected"), "");
}

TEST_F(ServerTest, AnswersPipelinedRequestsInOrder) {
  RawConnection raw(server_->port());
  raw.send(
      "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /echo/second HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /echo/third HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string answer = raw.read_until_close(10s);
  const auto slow = answer.find("\"slow\"");
  const auto second = answer.find("\"second\"");
  const auto third = answer.find("\"third\"");
  ASSERT_NE(slow, std::string::npos) << answer;
  ASSERT_NE(second, std::string::npos) << answer;
  ASSERT_NE(third, std::string::npos) << answer;
  EXPECT_LT(slow, second);
  EXPECT_LT(second, third);
}

TEST_F(ServerTest, SendsContinueWhenAsked) {
  RawConnection raw(server_->port());
  raw.send(
      "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"
      "Connection: close\r\n\r\n");
  EXPECT_EQ(raw.read_until("\r\n\r\n"), "HTTP/1.1 100 Continue\r\n\r\n");
  raw.send("{}");
  const std::string answer = raw.read_until_close(5s);
  EXPECT_EQ(status_of(answer), 201) << answer;
}

TEST_F(ServerTest, Http10ClosesAfterTheAnswer) {
  RawConnection raw(server_->port());
  raw.send("GET /echo/old HTTP/1.0\r\n\r\n");
  const std::string answer = raw.read_until_close(5s);
  EXPECT_TRUE(answer.starts_with("HTTP/1.0 200")) << answer;
}

TEST_F(ServerTest, ManyConcurrentKeepAliveClients) {
  log::set_min_level(log::Level::warn);  // 3200 access-log lines would bury the test output
  constexpr int kThreads = 16;
  constexpr int kRequests = 200;
  std::atomic<int> correct{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Client c = client();
      for (int i = 0; i < kRequests; ++i) {
        const std::string name = std::to_string(t) + "-" + std::to_string(i);
        const auto r = c.request("GET", "/echo/" + name + "?i=" + std::to_string(i));
        if (r && r->status == 200 && r->json().value()["name"] == name &&
            r->json().value()["query"]["i"] == std::to_string(i)) {
          correct.fetch_add(1);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  log::set_min_level(log::Level::info);
  EXPECT_EQ(correct.load(), kThreads * kRequests);
  wait_for_requests("GET", "/echo/{name}", 200, kThreads * kRequests);
}

TEST_F(ServerTest, MetricsCountRequests) {
  get("/echo/a");
  get("/echo/b");
  get("/nowhere");
  wait_for_requests("GET", "/echo/{name}", 200, 2);
  wait_for_requests("GET", "unmatched", 404, 1);
  const std::string text = metrics_.render();
  EXPECT_NE(text.find("# TYPE tanpu_http_requests_total counter\n"), std::string::npos);
  EXPECT_NE(
      text.find(
          "tanpu_http_requests_total{method=\"GET\",route=\"/echo/{name}\",status=\"200\"} 2\n"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("tanpu_http_request_duration_seconds_count{route=\"/echo/{name}\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE tanpu_http_connections_open gauge\n"), std::string::npos);
}

TEST_F(ServerTest, WritesOneAccessLogLinePerRequest) {
  ::testing::internal::CaptureStderr();
  get("/echo/logged", {{"X-Request-Id", "log-me"}});
  wait_for_requests("GET", "/echo/{name}", 200, 1);
  const std::string captured = ::testing::internal::GetCapturedStderr();
  std::optional<json> line;
  std::size_t start = 0;
  while (start < captured.size()) {
    const std::size_t end = captured.find('\n', start);
    auto parsed = json::parse(captured.substr(start, end - start), nullptr, false);
    if (!parsed.is_discarded() && parsed.value("event", "") == "http_request") line = parsed;
    start = end == std::string::npos ? captured.size() : end + 1;
  }
  ASSERT_TRUE(line.has_value()) << captured;
  EXPECT_EQ((*line)["method"], "GET");
  EXPECT_EQ((*line)["route"], "/echo/{name}");
  EXPECT_EQ((*line)["path"], "/echo/logged");
  EXPECT_EQ((*line)["status"], 200);
  EXPECT_EQ((*line)["request_id"], "log-me");
  EXPECT_GT((*line)["bytes_in"].get<int>(), 0);
  EXPECT_GT((*line)["bytes_out"].get<int>(), 0);
  EXPECT_GE((*line)["duration_us"].get<int>(), 0);
  EXPECT_TRUE((*line)["remote"].get<std::string>().starts_with("127.0.0.1:"));
}

TEST_F(ServerTest, StopFinishesTheRequestInHand) {
  std::optional<Result<ClientResponse>> answer;
  std::thread waiting([&] {
    Client c = client();
    answer = c.request("GET", "/slow");
  });
  std::this_thread::sleep_for(100ms);  // the request is in the handler now
  server_->stop();
  server_->wait();
  waiting.join();
  ASSERT_TRUE(answer.has_value() && answer->has_value());
  EXPECT_EQ((*answer)->status, 200);
  EXPECT_EQ((*answer)->header("connection"), "close");
  Client late = client();
  EXPECT_FALSE(late.request("GET", "/echo/x").has_value());  // nobody listens any more
}

TEST(ServerLimits, ConnectionsOverTheMaximumAreClosed) {
  Metrics metrics;
  Router router;
  router.add("GET", "/x", [](Request&) { return json_response(json::object()); });
  ServerOptions options;
  options.port = 0;
  options.connections_max = 1;
  Server server(options, router, metrics);
  ASSERT_TRUE(server.start().has_value());
  RawConnection first(server.port());
  first.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_of(first.read_until("{}")), 200);
  RawConnection second(server.port());
  second.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(second.read_until_close(5s), "");
}

TEST(ServerStart, ReportsAPortInUse) {
  Metrics metrics;
  Router router;
  ServerOptions options;
  options.port = 0;
  Server first(options, router, metrics);
  ASSERT_TRUE(first.start().has_value());
  options.port = first.port();
  Server second(options, router, metrics);
  const auto r = second.start();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "listen_failed");
}

}  // namespace
}  // namespace tanpu::http
