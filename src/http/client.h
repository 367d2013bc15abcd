// A small synchronous HTTP/1.1 client over one keep-alive connection: for tests, `tanpu bench` and
// the simulator. Not thread-safe; use one Client per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace tanpu::http {

struct ClientOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  // Bounds each step of a request: connecting, writing it, reading the answer.
  int timeout_s = 30;
  // A larger response body fails the request with response_too_large.
  std::size_t body_bytes_max = std::size_t{64} * 1024 * 1024;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct ClientResponse {
  int status = 0;
  Headers headers;  // names lower-cased
  std::string body;

  // The first header with this (lower-case) name, or empty.
  [[nodiscard]] std::string_view header(std::string_view lower_name) const;
  // The body as JSON. Errors: invalid_json.
  [[nodiscard]] Result<nlohmann::json> json() const;
};

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client(Client&&) = delete;
  Client& operator=(Client&&) = delete;

  // Sends one request and reads its answer, connecting first if needed. A non-empty body without a
  // Content-Type header is sent as application/json. If a reused keep-alive connection turns out
  // to be closed before any of the answer arrived, the request is sent once more on a new one.
  // Errors: connect_failed, timeout, response_too_large, io_error.
  Result<ClientResponse> request(std::string_view method, std::string_view target,
                                 std::string_view body = {}, const Headers& headers = {});

  // Closes the connection; the next request opens a new one.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tanpu::http
