// The routes of a test served over a real socket on 127.0.0.1 (an ephemeral port), with a client:
// what the end-to-end fixtures of the route tests start and stop.
#pragma once

#include <memory>

#include <gtest/gtest.h>

#include "http/client.h"
#include "http/metrics.h"
#include "http/router.h"
#include "http/server.h"
#include "support/test_store.h"

namespace tanpu::test {

struct Loopback {
  std::unique_ptr<http::Server> server;
  std::unique_ptr<http::Client> client;

  void start(const http::Router& router, http::Metrics& metrics) {
    http::ServerOptions o;
    o.port = 0;
    o.worker_threads = 2;
    server = std::make_unique<http::Server>(o, router, metrics);
    ASSERT_OK(server->start());
    client = std::make_unique<http::Client>(http::ClientOptions{"127.0.0.1", server->port()});
  }
  void stop() {
    client.reset();
    if (server) server->stop();
    server.reset();
  }
};

}  // namespace tanpu::test
