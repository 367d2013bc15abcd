#include "http/server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/assert.h"
#include "core/id.h"
#include "core/log.h"
#include "core/thread.h"
#include "http/message.h"
#include "http/metrics.h"
#include "http/router.h"

namespace tanpu::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using SteadyTime = std::chrono::steady_clock::time_point;

std::string_view to_std(beast::string_view text) {
  return {text.data(), text.size()};
}

// A client that closes or resets its connection is routine, not an error worth a log line.
bool is_disconnect(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor ||
         ec == asio::error::not_connected;
}

bool sane_request_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::ranges::all_of(id, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// A header a handler set is copied only if it cannot split the response (CR, LF, NUL) and its
// name is a token.
bool safe_header(const std::pair<std::string, std::string>& header) {
  const auto& [name, value] = header;
  const bool name_ok = !name.empty() && std::ranges::all_of(name, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
  });
  return name_ok && value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
}

// Decodes "a=1&b=x+y" (percent-escapes, '+' as space). Duplicate names are refused so that no two
// readers of one request disagree about which value counts.
Result<std::map<std::string, std::string>> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    auto name = percent_decode(pair.substr(0, eq), true);
    auto value = percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
    if (!name || !value) {
      return fail(ErrorKind::invalid, "invalid_query", "the query string has a malformed %-escape");
    }
    if (!out.emplace(std::move(*name), std::move(*value)).second) {
      return fail(ErrorKind::invalid, "duplicate_query_parameter",
                  "a query parameter appears twice", std::string(pair.substr(0, eq)));
    }
  }
  return out;
}

// Keeps the method label of the request metrics to a known set, whatever clients send.
std::string_view method_label(std::string_view method) {
  static constexpr std::string_view known[] = {"GET",    "HEAD",    "POST", "PUT",
                                               "DELETE", "OPTIONS", "PATCH"};
  for (const auto m : known) {
    if (m == method) return m;
  }
  return "other";
}

// What is known about one request and its answer, for the access log and the metrics.
struct Exchange {
  Request request;
  std::string route;  // the matched pattern; empty when none matched
  int status = 0;
  unsigned version = 11;
  bool keep_alive = true;
  std::size_t bytes_in = 0;
  SteadyTime started;
};

// Runs the handler; an exception becomes a logged 500, never a crash.
Response call_handler(const Route& route, Request& request) {
  try {
    return route.handler(request);
  } catch (const std::exception& e) {
    log::error("http_handler_threw",
               {{"request_id", request.request_id}, {"route", route.pattern}, {"what", e.what()}});
  } catch (...) {
    log::error("http_handler_threw", {{"request_id", request.request_id},
                                      {"route", route.pattern},
                                      {"what", "an exception not derived from std::exception"}});
  }
  return error_response({ErrorKind::internal,
                         "internal",
                         "internal error; the request id identifies it in the server log",
                         {}});
}

class Session;

// Everything the connections share: options, routes, metrics, the worker pool and the IO context.
class Core {
 public:
  Core(ServerOptions options, const Router& router, Metrics& metrics);

  Result<void> start();
  void stop();
  void wait();
  std::uint16_t port() const { return port_.load(); }

  // Runs on a worker: routes the request and calls its handler; never throws.
  Response handle(Exchange& exchange);
  void record(const Exchange& exchange, std::size_t bytes_out);
  void opened(Session* session, const std::shared_ptr<Session>& shared);
  void closed(Session* session);

  const ServerOptions& options() const { return options_; }
  // The largest body any route accepts: what the parser allows until the route is known.
  std::size_t body_bytes_ceiling() const { return body_bytes_ceiling_; }
  // The body limit of the request `method` `target` will be routed to.
  BodyLimit body_limit(std::string_view method, std::string_view target) const;
  asio::io_context& workers() { return workers_; }
  asio::io_context& io() { return io_; }

 private:
  Response method_not_allowed(const Request& request) const;
  Result<tcp::endpoint> resolve();
  void accept();
  void on_accept(const beast::error_code& ec, tcp::socket socket);
  void run_thread(asio::io_context& context, const char* name) const;

  const ServerOptions options_;
  const Router& router_;
  Metrics& metrics_;
  Gauge& connections_open_;
  std::vector<std::string> methods_;  // every method some route has, for Allow
  std::size_t body_bytes_ceiling_ = 0;
  bool route_body_limits_ = false;  // some route has its own body limit
  std::atomic<std::uint16_t> port_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> connections_{0};
  std::mutex sessions_mutex_;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
  std::mutex wait_mutex_;
  // Handlers run here, on worker_threads threads of our own (each lowers its priority first); the
  // guard keeps them running until wait().
  asio::io_context workers_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> workers_guard_;
  std::vector<std::thread> worker_threads_;
  // Declared after everything a Session touches when it is destroyed: destroying the context
  // destroys the handlers that still hold sessions.
  asio::io_context io_;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;
  std::vector<std::thread> io_threads_;
};

// One connection. Every member runs on the connection's strand except what the worker touches
// while busy_ is true (exchange_), which the strand leaves alone until the worker posts back.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Core& core, tcp::socket socket);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  Session(Session&&) = delete;
  Session& operator=(Session&&) = delete;

  void start();
  // From Core::stop(): finish the request in hand (if any), then close.
  void stop();

 private:
  void read_request();
  void on_header(const beast::error_code& ec, std::size_t bytes);
  void read_body();
  void on_body(const beast::error_code& ec, std::size_t bytes);
  void on_read_error(const beast::error_code& ec);
  // What to answer a request that could not be read; nullopt to close without answering.
  std::optional<Error> read_failure(const beast::error_code& ec) const;
  void dispatch();
  void answer_error(const Error& error, bool close = true);
  void send(Response response, bool close);
  void on_write(const beast::error_code& ec, std::size_t bytes);
  void arm_deadline();
  void disarm_deadline();
  void linger();
  void drain(std::size_t drained);
  void close();
  void fill_request(bhttp::request<bhttp::string_body>& message);
  static Error body_too_large(const BodyLimit& limit) {
    return Error{ErrorKind::too_large,
                 limit.code,
                 "the request body is larger than " + std::to_string(limit.bytes) + " bytes",
                 {}};
  }

  Core& core_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> response_;
  Exchange exchange_;
  std::string remote_;
  std::uint64_t deadline_generation_ = 0;
  BodyLimit body_limit_;  // of the request being read
  bool timed_out_ = false;
  bool busy_ = false;  // a handler runs or a response is being written
  bool stopping_ = false;
  bool closed_ = false;
};

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// After an answer that ends a connection, unread request bytes are drained this long (and at most
// this much) so that closing does not reset the connection before the client reads the answer.
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr std::size_t kLingerBytesMax = 1 << 20;

std::string remote_of(const tcp::socket& socket) {
  beast::error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  if (ec) return "unknown";
  const auto address = endpoint.address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(endpoint.port());
}

Session::Session(Core& core, tcp::socket socket)
    : core_(core),
      socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      remote_(remote_of(socket_)) {}

Session::~Session() {
  core_.closed(this);
}

void Session::start() {
  asio::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->read_request(); });
}

void Session::stop() {
  asio::dispatch(socket_.get_executor(), [self = shared_from_this()] {
    self->stopping_ = true;
    if (!self->busy_) self->close();
  });
}

void Session::arm_deadline() {
  const std::uint64_t generation = ++deadline_generation_;
  timer_.expires_after(std::chrono::seconds(core_.options().request_seconds_max));
  timer_.async_wait([self = shared_from_this(), generation](const beast::error_code& ec) {
    if (ec || generation != self->deadline_generation_) return;
    self->timed_out_ = true;
    beast::error_code ignored;
    self->socket_.cancel(ignored);
  });
}

void Session::disarm_deadline() {
  ++deadline_generation_;
  timer_.cancel();
}

void Session::read_request() {
  if (closed_) return;
  parser_.emplace();
  parser_->body_limit(core_.body_bytes_ceiling());
  body_limit_ = BodyLimit{core_.options().body_bytes_max, "body_too_large"};
  parser_->header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(core_.options().header_bytes_max, UINT32_MAX)));
  exchange_ = Exchange{};
  exchange_.started = std::chrono::steady_clock::now();
  timed_out_ = false;
  arm_deadline();
  bhttp::async_read_header(
      socket_, buffer_, *parser_,
      [self = shared_from_this()](const beast::error_code& ec, std::size_t bytes) {
        self->on_header(ec, bytes);
      });
}

void Session::on_header(const beast::error_code& ec, std::size_t bytes) {
  exchange_.bytes_in += bytes;
  if (ec) {
    on_read_error(ec);
    return;
  }
  // The request's clock starts with its first complete header, not with an idle keep-alive wait.
  exchange_.started = std::chrono::steady_clock::now();
  const auto& header = parser_->get();
  // The parser allowed the largest body of any route; now that the route is known, its own limit.
  body_limit_ = core_.body_limit(to_std(header.method_string()), to_std(header.target()));
  if (const auto length = parser_->content_length(); length && *length > body_limit_.bytes) {
    disarm_deadline();
    answer_error(body_too_large(body_limit_));
    return;
  }
  parser_->body_limit(body_limit_.bytes);
  if (beast::iequals(header[bhttp::field::expect], "100-continue") && !parser_->is_done()) {
    asio::async_write(socket_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = shared_from_this()](const beast::error_code& write_ec, std::size_t) {
                        if (write_ec) {
                          self->close();
                        } else {
                          self->read_body();
                        }
                      });
    return;
  }
  read_body();
}

void Session::read_body() {
  bhttp::async_read(socket_, buffer_, *parser_,
                    [self = shared_from_this()](const beast::error_code& ec, std::size_t bytes) {
                      self->on_body(ec, bytes);
                    });
}

void Session::on_body(const beast::error_code& ec, std::size_t bytes) {
  exchange_.bytes_in += bytes;
  if (ec) {
    on_read_error(ec);
    return;
  }
  disarm_deadline();
  dispatch();
}

void Session::on_read_error(const beast::error_code& ec) {
  disarm_deadline();
  if (closed_) return;
  if (auto error = read_failure(ec)) {
    answer_error(*error);
  } else {
    close();
  }
}

std::optional<Error> Session::read_failure(const beast::error_code& ec) const {
  const ServerOptions& options = core_.options();
  if (timed_out_) {
    // Silence on an idle keep-alive connection is not an error; half a request is.
    const bool partial = exchange_.bytes_in > 0 || buffer_.size() > 0 || parser_->got_some();
    if (!partial) return std::nullopt;
    return Error{
        ErrorKind::timeout,
        "request_timeout",
        "the request was not received within " + std::to_string(options.request_seconds_max) + " s",
        {}};
  }
  if (ec == bhttp::error::body_limit) {
    if (parser_->is_header_done()) return body_too_large(body_limit_);
    // Content-Length over every route's limit, found while the header was read: the request line
    // names the route whose limit (and code) answer.
    const auto& header = parser_->get();
    return body_too_large(
        core_.body_limit(to_std(header.method_string()), to_std(header.target())));
  }
  if (ec == bhttp::error::header_limit) {
    return Error{ErrorKind::too_large,
                 "headers_too_large",
                 "the request line and headers are larger than " +
                     std::to_string(options.header_bytes_max) + " bytes",
                 {}};
  }
  if (is_disconnect(ec) || ec == bhttp::error::partial_message) return std::nullopt;
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) {
    return Error{ErrorKind::invalid,
                 "bad_request",
                 "the request is not valid HTTP/1.1: " + ec.message(),
                 {}};
  }
  log::warn("http_read_failed", {{"remote", remote_}, {"error", ec.message()}});
  return std::nullopt;
}

void Session::fill_request(bhttp::request<bhttp::string_body>& message) {
  Request& request = exchange_.request;
  request.method = std::string(message.method_string());
  const std::string_view target = to_std(message.target());
  const std::size_t question = target.find('?');
  request.path = std::string(target.substr(0, question));
  request.headers.reserve(static_cast<std::size_t>(std::distance(message.begin(), message.end())));
  for (const auto& field : message) {
    std::string name(field.name_string());
    std::ranges::transform(name, name.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    request.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  request.body = std::move(message.body());
  const auto& proxies = core_.options().trusted_proxies;
  std::string forwarded;  // every X-Forwarded-For line, in order: one list
  if (!proxies.empty()) {
    for (const auto& [name, value] : request.headers) {
      if (name != "x-forwarded-for") continue;
      if (!forwarded.empty()) forwarded += ',';
      forwarded += value;
    }
  }
  request.remote_addr = client_address(remote_, forwarded, proxies);
  exchange_.version = message.version();
  exchange_.keep_alive = message.keep_alive();
}

void Session::dispatch() {
  busy_ = true;
  auto message = parser_->release();
  const std::string_view target = to_std(message.target());
  const std::size_t question = target.find('?');
  auto query = parse_query(question == std::string_view::npos ? std::string_view{}
                                                              : target.substr(question + 1));
  const bool target_ok = !target.empty() && target.front() == '/';
  fill_request(message);
  const std::string_view given_id = exchange_.request.header("x-request-id");
  exchange_.request.request_id =
      sane_request_id(given_id) ? std::string(given_id) : new_time_ordered_id().to_hex();
  if (!target_ok) {
    answer_error({ErrorKind::invalid,
                  "invalid_target",
                  "the request target must be a path starting with '/'",
                  {}},
                 false);
    return;
  }
  if (!query) {
    answer_error(query.error(), false);
    return;
  }
  exchange_.request.query = std::move(*query);
  // The work guard keeps the IO threads running until the handler's answer has been posted back,
  // so stopping the server never drops an answer that is being computed.
  asio::post(core_.workers(),
             [self = shared_from_this(), guard = asio::make_work_guard(core_.io())]() mutable {
               Response response = self->core_.handle(self->exchange_);
               asio::post(self->socket_.get_executor(), [self, response = std::move(response),
                                                         guard = std::move(guard)]() mutable {
                 self->send(std::move(response), false);
               });
             });
}

// Answers a request that never reached a handler. After a request that was too large, too slow or
// malformed (close) the connection ends, since what follows in the stream cannot be trusted to
// start a request.
void Session::answer_error(const Error& error, bool close) {
  busy_ = true;
  if (exchange_.request.request_id.empty()) {
    if (parser_ && parser_->is_header_done()) {
      const auto& header = parser_->get();
      exchange_.request.method = std::string(header.method_string());
      const std::string_view target = to_std(header.target());
      exchange_.request.path = std::string(target.substr(0, target.find('?')));
      const std::string_view given_id = to_std(header["X-Request-Id"]);
      if (sane_request_id(given_id)) exchange_.request.request_id = std::string(given_id);
    }
    if (exchange_.request.request_id.empty()) {
      exchange_.request.request_id = new_time_ordered_id().to_hex();
    }
  }
  send(error_response(error), close);
}

void Session::send(Response response, bool close) {
  exchange_.status = response.status;
  response_ = {};
  response_.version(exchange_.version);
  response_.result(static_cast<unsigned>(response.status));
  response_.set(bhttp::field::server, "tanpu");
  response_.set(bhttp::field::content_type, response.content_type);
  response_.set("X-Request-Id", exchange_.request.request_id);
  if (exchange_.request.path.starts_with("/v1/")) {
    response_.set(bhttp::field::cache_control, "no-store");
  }
  for (const auto& header : response.headers) {
    if (safe_header(header)) {
      response_.set(header.first, header.second);
    } else {
      log::error("http_header_refused", {{"request_id", exchange_.request.request_id},
                                         {"route", exchange_.route},
                                         {"header", header.first}});
    }
  }
  response_.body() = std::move(response.body);
  response_.keep_alive(exchange_.keep_alive && !close && !stopping_);
  response_.prepare_payload();
  arm_deadline();
  bhttp::async_write(socket_, response_,
                     [self = shared_from_this()](const beast::error_code& ec, std::size_t bytes) {
                       self->on_write(ec, bytes);
                     });
}

void Session::on_write(const beast::error_code& ec, std::size_t bytes) {
  disarm_deadline();
  core_.record(exchange_, bytes);
  busy_ = false;
  if (ec) {
    if (!is_disconnect(ec)) {
      log::warn("http_write_failed", {{"remote", remote_}, {"error", ec.message()}});
    }
    close();
  } else if (!response_.keep_alive() || stopping_) {
    linger();
  } else {
    read_request();
  }
}

void Session::linger() {
  if (closed_) return;
  beast::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  timer_.expires_after(kLingerTime);
  ++deadline_generation_;
  timer_.async_wait([self = shared_from_this()](const beast::error_code& ec) {
    if (!ec) self->close();
  });
  drain(0);
}

// Reads and discards until the client closes, the linger time is up or enough was discarded.
void Session::drain(std::size_t drained) {
  buffer_.consume(buffer_.size());
  socket_.async_read_some(buffer_.prepare(4096), [self = shared_from_this(), drained](
                                                     const beast::error_code& ec, std::size_t n) {
    if (ec || drained + n > kLingerBytesMax) {
      self->close();
    } else {
      self->drain(drained + n);
    }
  });
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  disarm_deadline();
  beast::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

Core::Core(ServerOptions options, const Router& router, Metrics& metrics)
    : options_(std::move(options)),
      router_(router),
      metrics_(metrics),
      connections_open_(metrics.gauge("tanpu_http_connections_open", "Open HTTP connections.")),
      workers_(static_cast<int>(std::max<std::size_t>(options_.worker_threads, 1))),
      workers_guard_(asio::make_work_guard(workers_)),
      acceptor_(asio::make_strand(io_)),
      accept_retry_(acceptor_.get_executor()) {
  TANPU_ASSERT(options_.io_threads >= 1 && options_.worker_threads >= 1);
  TANPU_ASSERT(options_.request_seconds_max >= 1);
  TANPU_ASSERT(options_.thread_nice >= 0);
  TANPU_ASSERT(options_.thread_nice <= 19);
  body_bytes_ceiling_ = options_.body_bytes_max;
}

BodyLimit Core::body_limit(std::string_view method, std::string_view target) const {
  BodyLimit limit{options_.body_bytes_max, "body_too_large"};
  if (!route_body_limits_) return limit;
  Request probe;
  probe.method = std::string(method);
  probe.path = std::string(target.substr(0, target.find('?')));
  const Route* route = router_.match(probe, nullptr);
  if (route != nullptr && route->body_limit) limit = *route->body_limit;
  return limit;
}

Result<tcp::endpoint> Core::resolve() {
  beast::error_code ec;
  tcp::resolver resolver(io_);
  const auto results =
      resolver.resolve(options_.host, std::to_string(options_.port), tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return fail(ErrorKind::invalid, "invalid_host",
                "cannot resolve host '" + options_.host + "': " + ec.message());
  }
  return results.begin()->endpoint();
}

Result<void> Core::start() {
  TANPU_ASSERT_MSG(io_threads_.empty(), "start() is called once");
  auto endpoint = resolve();
  if (!endpoint) return fail(std::move(endpoint.error()));
  beast::error_code ec;
  acceptor_.open(endpoint->protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(*endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return fail(ErrorKind::unavailable, "listen_failed",
                "cannot listen on " + options_.host + ":" + std::to_string(options_.port) + ": " +
                    ec.message());
  }
  port_.store(acceptor_.local_endpoint().port());
  for (const Route& route : router_.routes()) {
    if (std::ranges::find(methods_, route.method) == methods_.end()) {
      methods_.push_back(route.method);
    }
    if (!route.body_limit) continue;
    route_body_limits_ = true;
    body_bytes_ceiling_ = std::max(body_bytes_ceiling_, route.body_limit->bytes);
  }
  accept();
  for (std::size_t i = 0; i < options_.worker_threads; ++i)
    worker_threads_.emplace_back([this] { run_thread(workers_, "tanpu-worker"); });
  for (std::size_t i = 0; i < options_.io_threads; ++i)
    io_threads_.emplace_back([this] { run_thread(io_, "tanpu-io"); });
  log::info("http_listening", {{"host", options_.host}, {"port", port_.load()}});
  return {};
}

// One of the server's threads: runs `context` until it has no more work. Handlers do not throw
// (call_handler answers 500); this keeps a thread alive if something ever does (bad_alloc)
// instead of letting the exception end the process.
void Core::run_thread(asio::io_context& context, const char* name) const {
  name_this_thread(name);
  (void)lower_this_thread(options_.thread_nice);
  while (true) {
    try {
      context.run();
      return;
    } catch (const std::exception& e) {
      log::error("http_thread_exception", {{"thread", name}, {"what", e.what()}});
    }
  }
}

void Core::accept() {
  acceptor_.async_accept(asio::make_strand(io_),
                         [this](const beast::error_code& ec, tcp::socket socket) {
                           on_accept(ec, std::move(socket));
                         });
}

void Core::on_accept(const beast::error_code& ec, tcp::socket socket) {
  if (!acceptor_.is_open() || stopping_.load()) return;
  if (ec) {
    // Out of descriptors and the like: retry a little later instead of spinning.
    log::warn("http_accept_failed", {{"error", ec.message()}});
    accept_retry_.expires_after(std::chrono::milliseconds(50));
    accept_retry_.async_wait([this](const beast::error_code& wait_ec) {
      if (!wait_ec) accept();
    });
    return;
  }
  if (connections_.load() >= options_.connections_max) {
    log::warn("http_connection_refused",
              {{"reason", "connections_max"}, {"connections_max", options_.connections_max}});
    beast::error_code ignored;
    socket.close(ignored);
  } else {
    auto session = std::make_shared<Session>(*this, std::move(socket));
    opened(session.get(), session);
    session->start();
    // A session registered after stop() looked at the map must stop itself.
    if (stopping_.load()) session->stop();
  }
  accept();
}

void Core::opened(Session* session, const std::shared_ptr<Session>& shared) {
  connections_.fetch_add(1);
  connections_open_.inc();
  const std::lock_guard lock(sessions_mutex_);
  sessions_.emplace(session, shared);
}

void Core::closed(Session* session) {
  connections_.fetch_sub(1);
  connections_open_.dec();
  const std::lock_guard lock(sessions_mutex_);
  sessions_.erase(session);
}

void Core::stop() {
  if (stopping_.exchange(true)) return;
  asio::post(acceptor_.get_executor(), [this] {
    beast::error_code ignored;
    acceptor_.close(ignored);
    accept_retry_.cancel();
  });
  // Collected first and stopped outside the lock: dropping the last reference to a session
  // destroys it, and its destructor takes the lock.
  std::vector<std::shared_ptr<Session>> open;
  {
    const std::lock_guard lock(sessions_mutex_);
    for (auto& [raw, weak] : sessions_) {
      if (auto session = weak.lock()) open.push_back(std::move(session));
    }
  }
  for (const auto& session : open) session->stop();
}

void Core::wait() {
  const std::lock_guard lock(wait_mutex_);
  for (auto& thread : io_threads_) {
    if (thread.joinable()) thread.join();
  }
  // Every answer is posted back by now (the IO threads wait for them): nothing more will come.
  workers_guard_.reset();
  for (auto& thread : worker_threads_) {
    if (thread.joinable()) thread.join();
  }
}

Response Core::method_not_allowed(const Request& request) const {
  std::string allow;
  Request probe;
  probe.path = request.path;
  for (const std::string& method : methods_) {
    probe.method = method;
    if (router_.match(probe, nullptr) == nullptr) continue;
    if (!allow.empty()) allow += ", ";
    allow += method;
  }
  Response response = error_response({ErrorKind::invalid,
                                      "method_not_allowed",
                                      request.method + " is not allowed on " + request.path,
                                      {}});
  response.headers.emplace_back("Allow", std::move(allow));
  return response;
}

Response Core::handle(Exchange& exchange) {
  Request& request = exchange.request;
  bool wrong_method = false;
  const Route* route = router_.match(request, &wrong_method);
  if (route == nullptr) {
    if (wrong_method) return method_not_allowed(request);
    return error_response({ErrorKind::not_found, "not_found", "no route for " + request.path, {}});
  }
  exchange.route = route->pattern;
  return call_handler(*route, request);
}

void Core::record(const Exchange& exchange, std::size_t bytes_out) {
  const auto elapsed = std::chrono::steady_clock::now() - exchange.started;
  const auto duration_us = std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
  const Request& request = exchange.request;
  const std::string& route = exchange.route.empty() ? std::string("unmatched") : exchange.route;
  log::info("http_request", {{"method", request.method},
                             {"route", exchange.route},
                             {"path", request.path},
                             {"status", exchange.status},
                             {"duration_us", duration_us},
                             {"bytes_in", exchange.bytes_in},
                             {"bytes_out", bytes_out},
                             {"request_id", request.request_id},
                             {"remote", request.remote_addr}});
  metrics_
      .counter("tanpu_http_requests_total", "HTTP requests answered.",
               {{"method", std::string(method_label(request.method))},
                {"route", route},
                {"status", std::to_string(exchange.status)}})
      .inc();
  metrics_
      .histogram("tanpu_http_request_duration_seconds",
                 "Time from a request's complete header to its answer written, in seconds.",
                 Metrics::latency_buckets_s(), {{"route", route}})
      .observe(static_cast<double>(duration_us) / 1e6);
}

}  // namespace

struct Server::Impl : Core {
  using Core::Core;
};

Server::Server(ServerOptions options, const Router& router, Metrics& metrics)
    : impl_(std::make_unique<Impl>(std::move(options), router, metrics)) {}

Server::~Server() {
  stop();
  wait();
}

Result<void> Server::start() {
  return impl_->start();
}
std::uint16_t Server::port() const {
  return impl_->port();
}
void Server::stop() {
  impl_->stop();
}
void Server::wait() {
  impl_->wait();
}

}  // namespace tanpu::http
