// Calling a route of a Router with a plain Request, as the server would, and holding the answer to
// the OpenAPI document: for route tests that need no socket.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/router.h"
#include "support/openapi_conform.h"

namespace tanpu::test {

using RouteHeaders = std::vector<std::pair<std::string, std::string>>;

// method + path (with an optional ?query, not percent-decoded) through router; a bearer token
// when token is not empty. A path no route matches fails the test and answers 500.
inline http::Response call_route(const http::Router& router, const std::string& token,
                                 std::string method, std::string path, std::string body = {},
                                 RouteHeaders headers = {}) {
  http::Request request;
  request.method = std::move(method);
  request.path = std::move(path);
  request.body = std::move(body);
  request.headers = std::move(headers);
  if (!token.empty()) request.headers.emplace_back("authorization", "Bearer " + token);
  const auto q = request.path.find('?');
  if (q != std::string::npos) {
    const std::string query = request.path.substr(q + 1);
    request.path.resize(q);
    for (std::size_t at = 0; at < query.size();) {
      auto amp = query.find('&', at);
      if (amp == std::string::npos) amp = query.size();
      const std::string pair = query.substr(at, amp - at);
      const auto eq = pair.find('=');
      request.query[pair.substr(0, eq)] = eq == std::string::npos ? "" : pair.substr(eq + 1);
      at = amp + 1;
    }
  }
  const http::Route* route = router.match(request, nullptr);
  EXPECT_NE(route, nullptr) << request.method << " " << request.path;
  if (route == nullptr) return http::Response{500, "application/json", "{}", {}};
  return route->handler(request);
}

// The error code of an answer, or empty.
inline std::string error_code(const http::Response& r) {
  const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_object() && j.contains("error") ? j["error"].value("code", "") : "";
}

// The answer is documented for its status, and its JSON body conforms to that schema.
inline void expect_documented(const nlohmann::json& doc, const http::Response& r,
                              const std::string& path, const std::string& method) {
  const nlohmann::json& op = doc["paths"][path][method];
  const std::string status = std::to_string(r.status);
  ASSERT_TRUE(op["responses"].contains(status)) << method << " " << path << " " << r.body;
  const nlohmann::json& content = op["responses"][status]["content"];
  if (r.content_type != "application/json") {
    EXPECT_TRUE(content.contains(r.content_type.substr(0, r.content_type.find(';'))))
        << method << " " << path << " answers " << r.content_type;
    return;
  }
  EXPECT_EQ(tanpu::testing::conform(doc, content["application/json"]["schema"],
                                    nlohmann::json::parse(r.body), "$"),
            "")
      << method << " " << path << ": " << r.body;
}

}  // namespace tanpu::test
