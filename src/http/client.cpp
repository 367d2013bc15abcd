#include "http/client.h"

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>

namespace tanpu::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

constexpr std::uint32_t kResponseHeaderBytesMax = 64 * 1024;

Error io_error(const beast::error_code& ec, std::string_view during) {
  if (ec == beast::error::timeout) {
    return {ErrorKind::timeout, "timeout", "timed out while " + std::string(during), {}};
  }
  if (ec == bhttp::error::body_limit) {
    return {ErrorKind::too_large, "response_too_large", "the response body is too large", {}};
  }
  return {ErrorKind::unavailable, "io_error", std::string(during) + ": " + ec.message(), {}};
}

// The connection was closed by the server before it answered anything: safe to send again.
bool closed_before_answer(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}

bhttp::request<bhttp::string_body> make_request(std::string_view method, std::string_view target,
                                                std::string_view body, const Headers& headers,
                                                const std::string& host) {
  bhttp::request<bhttp::string_body> req;
  const auto verb = bhttp::string_to_verb({method.data(), method.size()});
  if (verb == bhttp::verb::unknown) {
    req.method_string({method.data(), method.size()});
  } else {
    req.method(verb);
  }
  req.target({target.data(), target.size()});
  req.version(11);
  req.set(bhttp::field::host, host);
  req.set(bhttp::field::user_agent, "tanpu-client");
  // A header replaces the client's default of that name; a name given twice is sent twice.
  for (auto it = headers.begin(); it != headers.end(); ++it) {
    const bool again = std::any_of(headers.begin(), it, [&](const auto& earlier) {
      return boost::beast::iequals(earlier.first, it->first);
    });
    if (again) {
      req.insert(it->first, it->second);
    } else {
      req.set(it->first, it->second);
    }
  }
  if (!body.empty() && req.find(bhttp::field::content_type) == req.end()) {
    req.set(bhttp::field::content_type, "application/json");
  }
  req.body() = std::string(body);
  req.prepare_payload();
  return req;
}

}  // namespace

struct Client::Impl {
  explicit Impl(ClientOptions o) : options(std::move(o)), stream(io) {}

  // Runs the io_context until the operation started by start(ec) has completed.
  template <class Start>
  beast::error_code run(Start start) {
    beast::error_code result;
    stream.expires_after(std::chrono::seconds(options.timeout_s));
    start(result);
    io.restart();
    io.run();
    return result;
  }

  Result<void> connect();
  Result<ClientResponse> attempt(std::string_view method, std::string_view target,
                                 std::string_view body, const Headers& headers, bool* may_retry);
  void close();

  ClientOptions options;
  asio::io_context io;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  bool connected = false;
};

Result<void> Client::Impl::connect() {
  beast::error_code ec;
  tcp::resolver resolver(io);
  const auto endpoints = resolver.resolve(options.host, std::to_string(options.port), ec);
  if (!ec) {
    ec = run([&](beast::error_code& out) {
      stream.async_connect(endpoints,
                           [&out](const beast::error_code& e, const tcp::endpoint&) { out = e; });
    });
  }
  if (ec) {
    return fail(ErrorKind::unavailable, "connect_failed",
                "cannot connect to " + options.host + ":" + std::to_string(options.port) + ": " +
                    ec.message());
  }
  beast::error_code ignored;
  stream.socket().set_option(tcp::no_delay(true), ignored);
  connected = true;
  buffer.clear();
  return {};
}

void Client::Impl::close() {
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream.close();
  connected = false;
}

Result<ClientResponse> Client::Impl::attempt(std::string_view method, std::string_view target,
                                             std::string_view body, const Headers& headers,
                                             bool* may_retry) {
  *may_retry = false;
  const bool reused = connected;
  if (!connected) {
    if (auto r = connect(); !r) return fail(std::move(r.error()));
  }
  auto req = make_request(method, target, body, headers,
                          options.host + ":" + std::to_string(options.port));
  auto ec = run([&](beast::error_code& out) {
    bhttp::async_write(stream, req, [&out](const beast::error_code& e, std::size_t) { out = e; });
  });
  if (ec) {
    close();
    *may_retry = reused;
    return fail(io_error(ec, "sending the request"));
  }
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(options.body_bytes_max);
  parser.header_limit(kResponseHeaderBytesMax);
  if (method == "HEAD") parser.skip(true);
  ec = run([&](beast::error_code& out) {
    bhttp::async_read(stream, buffer, parser,
                      [&out](const beast::error_code& e, std::size_t) { out = e; });
  });
  if (ec) {
    *may_retry = reused && !parser.got_some() && closed_before_answer(ec);
    close();
    return fail(io_error(ec, "reading the response"));
  }
  auto res = parser.release();
  ClientResponse out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& field : res) {
    std::string name(field.name_string());
    std::ranges::transform(name, name.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    out.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  out.body = std::move(res.body());
  if (!res.keep_alive()) close();
  return out;
}

std::string_view ClientResponse::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return {};
}

Result<nlohmann::json> ClientResponse::json() const {
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_discarded()) {
    return fail(ErrorKind::invalid, "invalid_json", "the response body is not valid JSON");
  }
  return parsed;
}

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Client::~Client() {
  impl_->close();
}

Result<ClientResponse> Client::request(std::string_view method, std::string_view target,
                                       std::string_view body, const Headers& headers) {
  bool may_retry = false;
  auto response = impl_->attempt(method, target, body, headers, &may_retry);
  if (!response && may_retry) response = impl_->attempt(method, target, body, headers, &may_retry);
  return response;
}

void Client::close() {
  impl_->close();
}

}  // namespace tanpu::http
