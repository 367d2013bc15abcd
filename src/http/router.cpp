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
  std::vector<Segment> segments;
  for_each_segment(pattern, [&](std::string_view segment) {
    if (is_param(segment))
      segments.push_back({std::string(segment.substr(1, segment.size() - 2)), true});
    else
      segments.push_back({std::string(segment), false});
    return true;
  });
  if (by_segments_.size() <= segments.size()) by_segments_.resize(segments.size() + 1);
  by_segments_[segments.size()].push_back(routes_.size());
  segments_.push_back(std::move(segments));
  routes_.push_back(
      Route{std::move(method), std::move(pattern), std::move(handler), std::move(body_limit)});
}

// Only the routes with as many segments as the path are compared, on patterns split when added.
const Route* Router::match(Request& request, bool* method_not_allowed) const {
  if (method_not_allowed != nullptr) *method_not_allowed = false;
  const auto path = decode_segments(request.path);
  if (!path || path->size() >= by_segments_.size()) return nullptr;
  std::size_t best = routes_.size();
  Score best_score = 0;
  bool path_known = false;
  for (const std::size_t r : by_segments_[path->size()]) {
    const std::vector<Segment>& pattern = segments_[r];
    Score score = 0;
    bool matches = true;
    for (std::size_t i = 0; matches && i < pattern.size(); ++i) {
      if (pattern[i].param) {
        matches = !(*path)[i].empty();
      } else {
        matches = pattern[i].text == (*path)[i];
        score |= Score{1} << (kSegmentsMax - 1 - i);
      }
    }
    if (!matches) continue;
    path_known = true;
    if (routes_[r].method != request.method) continue;
    if (best == routes_.size() || score > best_score) {
      best = r;
      best_score = score;
    }
  }
  if (best == routes_.size()) {
    if (method_not_allowed != nullptr) *method_not_allowed = path_known;
    return nullptr;
  }
  request.path_params.clear();
  for (std::size_t i = 0; i < segments_[best].size(); ++i)
    if (segments_[best][i].param) request.path_params[segments_[best][i].text] = (*path)[i];
  return &routes_[best];
}

}  // namespace tanpu::http
