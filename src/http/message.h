// Requests and responses as handlers see them: plain data, independent of the server library.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace tanpu::http {

struct Request {
  std::string method;                              // "GET", "POST"…
  std::string path;                                // "/v1/me/transfers", without the query
  std::map<std::string, std::string> query;        // decoded query parameters
  std::map<std::string, std::string> path_params;  // from {name} segments of the route
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string request_id;  // from X-Request-Id if sane, else generated
  std::string remote_addr;

  // The first header with this (lower-case) name, or empty.
  std::string_view header(std::string_view lower_name) const;
  // The query parameter, or empty.
  std::string_view query_param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// 200 (or status) with a JSON body.
Response json_response(const nlohmann::json& body, int status = 200);

// 204 with no body.
Response no_content();

// A time as the API shows it (ISO-8601, UTC), or null.
nlohmann::json optional_time(const std::optional<std::int64_t>& time_us);

// The one error shape of architecture.md §10: {"error":{"code","message","field"}}.
Response error_response(const Error& error);

// The HTTP status for an error (invalid → 400, or 422 for codes that are semantic refusals; …).
int status_for(const Error& error);

// Decodes %XX escapes (and '+' as a space when plus_as_space, for query strings). nullopt when an
// escape is malformed ('%' not followed by two hex digits).
std::optional<std::string> percent_decode(std::string_view text, bool plus_as_space);

}  // namespace tanpu::http
