#include "http/json_input.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <vector>

#include "core/limits.h"
#include "core/time.h"

namespace tanpu::http {
namespace {

using nlohmann::json;

// Thrown from the parser callback to stop parsing at once; never leaves parse_json.
struct Refused {
  Error error;
};

// Watches the parser's events: refuses nesting past limits::json_depth_max and duplicate keys
// (nlohmann keeps the last of two equal keys silently, which would let two readers of one body
// disagree about what it says).
class Guard {
 public:
  bool operator()(int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        check_depth(depth);
        keys_.emplace_back();
        break;
      case json::parse_event_t::array_start:
        check_depth(depth);
        break;
      case json::parse_event_t::object_end:
        keys_.pop_back();
        break;
      case json::parse_event_t::key:
        check_key(parsed.get_ref<const std::string&>());
        break;
      default:
        break;
    }
    return true;
  }

 private:
  static void check_depth(int depth) {
    // depth counts the containers already open; this one is one deeper.
    if (depth >= limits::json_depth_max) {
      throw Refused{Error{
          ErrorKind::invalid,
          "json_too_deep",
          "request body nests deeper than " + std::to_string(limits::json_depth_max) + " levels",
          {}}};
    }
  }

  void check_key(const std::string& key) {
    if (!keys_.back().insert(key).second) {
      throw Refused{
          Error{ErrorKind::invalid, "duplicate_key", "key '" + key + "' appears twice", {}}};
    }
  }

  std::vector<std::set<std::string, std::less<>>> keys_;
};

// nlohmann's text after "…column N: ", without its exception prefix.
std::string parse_detail(const std::string& what) {
  const std::size_t column = what.find("column");
  const std::size_t colon = what.find(": ", column == std::string::npos ? 0 : column);
  return colon == std::string::npos ? what : what.substr(colon + 2);
}

bool is_blank(std::string_view body) {
  return body.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

const char* type_name(const json& value) {
  if (value.is_number_integer()) return "an integer";
  if (value.is_number_float()) return "a number with a fraction or exponent";
  return value.type_name();
}

}  // namespace

Result<json> parse_json(std::string_view body) {
  if (is_blank(body)) {
    return fail(ErrorKind::invalid, "body_required", "this request needs a JSON body");
  }
  Guard guard;
  try {
    // The callback is copied into a std::function; std::ref keeps one Guard whose state we own.
    return json::parse(body.begin(), body.end(), std::ref(guard), true, false);
  } catch (const Refused& refused) {
    return fail(refused.error);
  } catch (const json::parse_error& e) {
    return fail(ErrorKind::invalid, "invalid_json",
                "request body is not valid JSON at byte " + std::to_string(e.byte) + ": " +
                    parse_detail(e.what()));
  }
}

ObjectReader::ObjectReader(const json& object, std::string prefix)
    : object_(object), prefix_(std::move(prefix)), is_object_(object.is_object()) {}

std::string ObjectReader::path(std::string_view name) const {
  if (prefix_.empty()) return std::string(name);
  std::string out = prefix_;
  out += '.';
  out += name;
  return out;
}

const json* ObjectReader::find(std::string_view name) {
  seen_.emplace(name);
  const auto it = object_.find(name);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

namespace {

Error not_an_object(const std::string& prefix) {
  return Error{ErrorKind::invalid, "wrong_type",
               prefix.empty() ? "request body must be a JSON object"
                              : "'" + prefix + "' must be a JSON object",
               prefix};
}

Error wrong_type(const std::string& field, const char* wanted, const json& value) {
  return Error{ErrorKind::invalid, "wrong_type",
               "'" + field + "' must be " + wanted + ", not " + type_name(value), field};
}

Error missing(const std::string& field) {
  return Error{ErrorKind::invalid, "missing_field", "'" + field + "' is required", field};
}

// An integer that fits int64, or why not. nlohmann keeps integers over INT64_MAX as unsigned and
// those past UINT64_MAX (or below INT64_MIN) as floats: an integral-looking float of int64
// magnitude or more is reported as out of range, any other float as the wrong type.
Result<std::int64_t> to_int64(const json& value, const std::string& field) {
  if (value.is_number_unsigned()) {
    const auto u = value.get<std::uint64_t>();
    if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return static_cast<std::int64_t>(u);
    }
  } else if (value.is_number_integer()) {
    return value.get<std::int64_t>();
  } else if (!value.is_number_float() || std::abs(value.get<double>()) < 0x1p63) {
    return fail(wrong_type(field, "an integer", value));
  }
  return fail(ErrorKind::invalid, "out_of_range",
              "'" + field + "' does not fit a signed 64-bit integer", field);
}

}  // namespace

Result<std::optional<std::string>> ObjectReader::opt_string(std::string_view name,
                                                            std::size_t max_bytes) {
  if (!is_object_) return fail(not_an_object(prefix_));
  const json* value = find(name);
  if (value == nullptr) return std::optional<std::string>{};
  if (!value->is_string()) return fail(wrong_type(path(name), "a string", *value));
  const auto& text = value->get_ref<const std::string&>();
  if (text.size() > max_bytes) {
    return fail(ErrorKind::invalid, "too_long",
                "'" + path(name) + "' is longer than " + std::to_string(max_bytes) + " bytes",
                path(name));
  }
  return std::optional<std::string>{text};
}

Result<std::optional<std::int64_t>> ObjectReader::opt_int64(std::string_view name) {
  if (!is_object_) return fail(not_an_object(prefix_));
  const json* value = find(name);
  if (value == nullptr) return std::optional<std::int64_t>{};
  auto number = to_int64(*value, path(name));
  if (!number) return fail(std::move(number.error()));
  return std::optional<std::int64_t>{*number};
}

Result<std::optional<std::int64_t>> ObjectReader::opt_time(std::string_view name) {
  constexpr std::size_t kTimeBytesMax = 64;
  auto text = opt_string(name, kTimeBytesMax);
  if (!text) return fail(std::move(text.error()));
  if (!*text) return std::optional<std::int64_t>{};
  const auto us = parse_iso8601(**text);
  if (!us) {
    return fail(ErrorKind::invalid, "invalid_time",
                "expected an ISO-8601 time with its zone, e.g. 2026-12-01T00:00:00+08:00",
                path(name));
  }
  return us;
}

Result<std::int64_t> ObjectReader::time(std::string_view name) {
  auto t = opt_time(name);
  if (!t) return fail(std::move(t.error()));
  if (!*t)
    return fail(ErrorKind::invalid, "missing_field", path(name) + " is required", path(name));
  return **t;
}

Result<std::optional<bool>> ObjectReader::opt_boolean(std::string_view name) {
  if (!is_object_) return fail(not_an_object(prefix_));
  const json* value = find(name);
  if (value == nullptr) return std::optional<bool>{};
  if (!value->is_boolean()) return fail(wrong_type(path(name), "true or false", *value));
  return std::optional<bool>{value->get<bool>()};
}

Result<const json*> ObjectReader::opt_array(std::string_view name, std::size_t max_items) {
  if (!is_object_) return fail(not_an_object(prefix_));
  const json* value = find(name);
  if (value == nullptr) return nullptr;
  if (!value->is_array()) return fail(wrong_type(path(name), "an array", *value));
  if (value->size() > max_items) {
    return fail(ErrorKind::invalid, "too_many_items",
                "'" + path(name) + "' has more than " + std::to_string(max_items) + " items",
                path(name));
  }
  return value;
}

Result<std::string> ObjectReader::string(std::string_view name, std::size_t max_bytes) {
  auto value = opt_string(name, max_bytes);
  if (!value) return fail(std::move(value.error()));
  if (!value->has_value()) return fail(missing(path(name)));
  return std::move(**value);
}

Result<std::int64_t> ObjectReader::int64(std::string_view name) {
  auto value = opt_int64(name);
  if (!value) return fail(std::move(value.error()));
  if (!value->has_value()) return fail(missing(path(name)));
  return **value;
}

Result<bool> ObjectReader::boolean(std::string_view name) {
  auto value = opt_boolean(name);
  if (!value) return fail(std::move(value.error()));
  if (!value->has_value()) return fail(missing(path(name)));
  return **value;
}

Result<const json*> ObjectReader::array(std::string_view name, std::size_t max_items) {
  auto value = opt_array(name, max_items);
  if (!value) return fail(std::move(value.error()));
  if (*value == nullptr) return fail(missing(path(name)));
  return *value;
}

Result<const json*> ObjectReader::object(std::string_view name) {
  if (!is_object_) return fail(not_an_object(prefix_));
  const json* value = find(name);
  if (value == nullptr) return fail(missing(path(name)));
  if (!value->is_object()) return fail(wrong_type(path(name), "an object", *value));
  return value;
}

Result<void> ObjectReader::finish() const {
  if (!is_object_) return fail(not_an_object(prefix_));
  for (auto it = object_.begin(); it != object_.end(); ++it) {
    if (!seen_.contains(it.key())) {
      return fail(ErrorKind::invalid, "unknown_field",
                  "'" + path(it.key()) + "' is not a field of this request", path(it.key()));
    }
  }
  return {};
}

Result<std::size_t> read_limit(const Request& request) {
  const auto it = request.query.find("limit");
  if (it == request.query.end()) return limits::page_size_default;
  const std::string& text = it->second;
  std::size_t limit = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
  if (text.empty() || end != text.data() + text.size() || ec == std::errc::invalid_argument) {
    return fail(ErrorKind::invalid, "invalid_limit", "limit must be a whole number", "limit");
  }
  if (ec == std::errc::result_out_of_range || limit == 0 || limit > limits::page_size_max) {
    return fail(ErrorKind::invalid, "limit_out_of_range",
                "limit must be between 1 and " + std::to_string(limits::page_size_max), "limit");
  }
  return limit;
}

std::optional<std::int64_t> parse_positive_id(std::string_view text) {
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (text.empty() || end != text.data() + text.size() || ec != std::errc() || id <= 0) {
    return std::nullopt;
  }
  return id;
}

Result<std::string> idempotency_key(const Request& request) {
  constexpr std::size_t kMaxBytes = 64;
  const std::string_view key = request.header("idempotency-key");
  if (key.empty()) {
    return fail(ErrorKind::invalid, "idempotency_key_required",
                "this request creates something and needs an Idempotency-Key header",
                "Idempotency-Key");
  }
  const bool ok = key.size() <= kMaxBytes && std::ranges::all_of(key, [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' || c == '-';
                  });
  if (!ok) {
    return fail(ErrorKind::invalid, "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 64 characters of letters, digits and _ . : -",
                "Idempotency-Key");
  }
  return std::string(key);
}

}  // namespace tanpu::http
