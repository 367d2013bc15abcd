// Reading JSON request bodies with closed schemas: every field is looked up by name and type, and
// finish() refuses any field the handler did not read. Errors name the field.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "http/message.h"

namespace tanpu::http {

// Parses a request body: must be valid UTF-8 JSON, nested at most limits::json_depth_max deep.
// Errors: invalid_json, json_too_deep, body_required.
Result<nlohmann::json> parse_json(std::string_view body);

// The `limit` query parameter of a listing: 1..limits::page_size_max, limits::page_size_default
// when absent. Errors (invalid, field limit): invalid_limit, limit_out_of_range.
Result<std::size_t> read_limit(const Request& request);

// A positive decimal id (path segments, cursors), or nullopt.
std::optional<std::int64_t> parse_positive_id(std::string_view text);

// The `Idempotency-Key` header of a POST that creates something: 1..64 characters of
// [A-Za-z0-9_.:-]. The same key with the same body answers the first result again; with another
// body it is a conflict (each module keeps its keys). Errors (invalid, field Idempotency-Key):
// idempotency_key_required, invalid_idempotency_key.
Result<std::string> idempotency_key(const Request& request);

class ObjectReader {
 public:
  // prefix names this object in error fields ("transfers[2]"); empty for the top level.
  ObjectReader(const nlohmann::json& object, std::string prefix = {});

  // A required field. Errors: missing_field, wrong_type.
  Result<std::string> string(std::string_view name, std::size_t max_bytes);
  Result<std::int64_t> int64(std::string_view name);
  Result<bool> boolean(std::string_view name);
  Result<const nlohmann::json*> array(std::string_view name, std::size_t max_items);
  Result<const nlohmann::json*> object(std::string_view name);

  // Optional fields: nullopt when absent (or null); a present field of the wrong type is an error.
  Result<std::optional<std::string>> opt_string(std::string_view name, std::size_t max_bytes);
  Result<std::optional<std::int64_t>> opt_int64(std::string_view name);
  // An ISO-8601 time with its zone ("2026-12-01T00:00:00+08:00"), as UTC microseconds.
  // Errors: those of string, and invalid_time.
  Result<std::int64_t> time(std::string_view name);
  Result<std::optional<std::int64_t>> opt_time(std::string_view name);
  Result<std::optional<bool>> opt_boolean(std::string_view name);
  Result<const nlohmann::json*> opt_array(std::string_view name, std::size_t max_items);

  // Refuses fields that were never read (unknown_field). Call last.
  Result<void> finish() const;

  // "prefix.name" for error messages.
  std::string path(std::string_view name) const;

 private:
  const nlohmann::json* find(std::string_view name);
  const nlohmann::json& object_;
  std::string prefix_;
  std::set<std::string, std::less<>> seen_;
  bool is_object_ = false;
};

}  // namespace tanpu::http
