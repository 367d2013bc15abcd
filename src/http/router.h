// Routes: method + pattern ("/v1/transfers/{id}") → handler. Every route added here must be in
// docs/openapi.json; a test enforces it.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "http/message.h"

namespace tanpu::http {

using Handler = std::function<Response(Request&)>;

// A route's own limit on its request body in place of the server's
// (ServerOptions::body_bytes_max), e.g. for file uploads: the server refuses a larger body with
// 413 and `code`, from Content-Length before reading it.
struct BodyLimit {
  std::size_t bytes = 0;
  std::string code = "body_too_large";
};

struct Route {
  std::string method;
  std::string pattern;  // OpenAPI path syntax
  Handler handler;
  std::optional<BodyLimit> body_limit;  // none: the server's
};

class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler,
           std::optional<BodyLimit> body_limit = std::nullopt);

  // Finds the route for method+path and fills request.path_params. If the path exists with another
  // method, *method_not_allowed is set. nullptr if none.
  const Route* match(Request& request, bool* method_not_allowed) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  // A route's pattern split once, when it is added: each segment a literal or a parameter's name.
  struct Segment {
    std::string text;
    bool param = false;
  };
  std::vector<Route> routes_;
  std::vector<std::vector<Segment>> segments_;         // per route, as routes_
  std::vector<std::vector<std::size_t>> by_segments_;  // route indexes by their segment count
};

}  // namespace tanpu::http
