#include "http/router.h"

#include <cstdint>
#include <string_view>

#include "core/assert.h"

namespace tanpu::http {
namespace {

// A pattern's literal positions as bits, the first segment most significant, so that comparing two
// scores as integers prefers the pattern whose first differing segment is the literal one.
using Score = std::uint64_t;
constexpr std::size_t kSegmentsMax = 64;

bool is_param(std::string_view segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

// Calls visit(segment) for each '/'-separated segment after the leading '/'; stops early when
// visit returns false. Returns whether every visit returned true.
template <class Visit>
bool for_each_segment(std::string_view path, Visit visit) {
  std::string_view rest = path.substr(1);
  while (true) {
    const std::size_t slash = rest.find('/');
    if (!visit(rest.substr(0, slash))) return false;
    if (slash == std::string_view::npos) return true;
    rest.remove_prefix(slash + 1);
  }
}

// The request path split into percent-decoded segments; nullopt if it cannot match any route.
std::optional<std::vector<std::string>> decode_segments(std::string_view path) {
  if (path.empty() || path.front() != '/') return std::nullopt;
  std::vector<std::string> segments;
  const bool ok = for_each_segment(path, [&](std::string_view raw) {
    if (segments.size() == kSegmentsMax) return false;
    auto decoded = percent_decode(raw, false);
    if (!decoded) return false;
    segments.push_back(std::move(*decoded));
    return true;
  });
  if (!ok) return std::nullopt;
  return segments;
}

std::optional<Score> score_match(std::string_view pattern, const std::vector<std::string>& path) {
  std::size_t i = 0;
  Score score = 0;
  const bool ok = for_each_segment(pattern, [&](std::string_view segment) {
    if (i == path.size()) return false;
    if (is_param(segment)) {
      if (path[i].empty()) return false;
    } else {
      if (segment != path[i]) return false;
      score |= Score{1} << (kSegmentsMax - 1 - i);
    }
    ++i;
    return true;
  });
  if (!ok || i != path.size()) return std::nullopt;
  return score;
}

void fill_params(std::string_view pattern, const std::vector<std::string>& path,
                 std::map<std::string, std::string>& params) {
  std::size_t i = 0;
  for_each_segment(pattern, [&](std::string_view segment) {
    if (is_param(segment)) params[std::string(segment.substr(1, segment.size() - 2))] = path[i];
    ++i;
    return true;
  });
}

bool valid_param_name(std::string_view name) {
  if (name.empty()) return false;
  for (const char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

// The pattern with parameter names erased: two routes with one method and one shape would be
// ambiguous, whatever their parameters are called.
std::string shape_of(std::string_view pattern) {
  std::string shape;
  std::size_t count = 0;
  for_each_segment(pattern, [&](std::string_view segment) {
    ++count;
    if (is_param(segment)) {
      TANPU_ASSERT_MSG(valid_param_name(segment.substr(1, segment.size() - 2)),
                       "route parameters are {name} with name in [A-Za-z0-9_]");
      shape += "/{}";
    } else {
      TANPU_ASSERT_MSG(segment.find_first_of("{}") == std::string_view::npos,
                       "a route parameter must be a whole segment");
      shape += '/';
      shape += segment;
    }
    return true;
  });
  TANPU_ASSERT(count <= kSegmentsMax);
  return shape;
}

}  // namespace

void Router::add(std::string method, std::string pattern, Handler handler,
                 std::optional<BodyLimit> body_limit) {
  TANPU_ASSERT(!body_limit || body_limit->bytes > 0);
  TANPU_ASSERT(!method.empty());
  TANPU_ASSERT(handler != nullptr);
  TANPU_ASSERT_MSG(!pattern.empty() && pattern.front() == '/', "route patterns start with '/'");
  const std::string shape = shape_of(pattern);
  for (const Route& route : routes_) {
    TANPU_ASSERT_MSG(route.method != method || shape_of(route.pattern) != shape,
                     "two routes with the same method and shape");
  }
  routes_.push_back(
      Route{std::move(method), std::move(pattern), std::move(handler), std::move(body_limit)});
}

const Route* Router::match(Request& request, bool* method_not_allowed) const {
  if (method_not_allowed != nullptr) *method_not_allowed = false;
  const auto segments = decode_segments(request.path);
  if (!segments) return nullptr;
  const Route* best = nullptr;
  Score best_score = 0;
  bool path_known = false;
  for (const Route& route : routes_) {
    const auto score = score_match(route.pattern, *segments);
    if (!score) continue;
    path_known = true;
    if (route.method != request.method) continue;
    if (best == nullptr || *score > best_score) {
      best = &route;
      best_score = *score;
    }
  }
  if (best == nullptr) {
    if (method_not_allowed != nullptr) *method_not_allowed = path_known;
    return nullptr;
  }
  request.path_params.clear();
  fill_params(best->pattern, *segments, request.path_params);
  return best;
}

}  // namespace tanpu::http
