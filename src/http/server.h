// The HTTP/1.1 server: accepts connections, reads requests within limits, runs route handlers on a
// worker pool and writes the answers, one access-log line and metrics per request.
//
// Threading: io_threads run the sockets (each connection on its own strand, one request at a time,
// so pipelined requests are answered in order); handlers may block on the database and run on
// worker_threads, never on an IO thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/limits.h"
#include "core/result.h"
#include "http/client_address.h"

namespace tanpu::http {

class Router;
class Metrics;

struct ServerOptions {
  // Address to listen on: an IP address or a host name resolved once at start().
  std::string host = "127.0.0.1";
  // 0 picks a free port; port() tells which.
  std::uint16_t port = 8080;
  // Threads that run the sockets.
  std::size_t io_threads = 2;
  // Threads that run handlers; bounds how many requests reach the database at once.
  std::size_t worker_threads = 32;
  // Added to the nice value of the IO and worker threads (0-19, core/thread.h): the process's
  // other threads, such as the SQLite store's one writer, get a CPU before them when both want
  // one. Ignored where the system refuses it.
  int thread_nice = 0;
  // A larger body is refused with 413 body_too_large before it is read.
  std::size_t body_bytes_max = limits::http_body_bytes_max;
  // Request line and headers together; more is refused with 431 headers_too_large.
  std::size_t header_bytes_max = limits::http_header_bytes_max;
  // A request not fully received this long after the server began reading it gets 408 (or, if
  // not one byte of it came, the idle keep-alive connection is closed silently). Also bounds the
  // time to write a response.
  int request_seconds_max = limits::http_request_seconds_max;
  // Connections beyond this many are closed as soon as they are accepted.
  std::size_t connections_max = 10'000;
  // Reverse proxies whose X-Forwarded-For is believed (client_address.h); empty: none, the
  // connection's peer is the client.
  std::vector<TrustedNetwork> trusted_proxies;
};

class Server {
 public:
  // router and metrics must outlive the server; the router must not change once start() is called.
  Server(ServerOptions options, const Router& router, Metrics& metrics);
  // Stops (as stop()) and waits (as wait()).
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  Server(Server&&) = delete;
  Server& operator=(Server&&) = delete;

  // Binds, listens and starts the threads; returns once the server accepts connections.
  // Errors: invalid_host (the host does not resolve), listen_failed (e.g. the port is taken).
  Result<void> start();

  // The port listened on (useful with port 0); 0 before start().
  [[nodiscard]] std::uint16_t port() const;

  // Stops accepting, closes idle connections and lets requests being handled finish (their
  // responses carry Connection: close). Returns at once; thread-safe; not async-signal-safe.
  void stop();

  // Blocks until stop() has been called and every connection, IO thread and worker has ended.
  void wait();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tanpu::http
