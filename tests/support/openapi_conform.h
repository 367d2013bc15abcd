// A small OpenAPI 3.0 schema check for route tests: holds answers to the document's schemas.
#pragma once

#include <algorithm>
#include <regex>
#include <string>

#include <nlohmann/json.hpp>

#include "core/time.h"

namespace tanpu::testing {

using json = nlohmann::json;

// ── A small OpenAPI 3.0 schema check: $ref, oneOf, type, nullable, enum, required, properties,
// additionalProperties (false or a schema) and items. Enough to hold the responses to the
// document's schemas, which are closed (additionalProperties: false).

inline std::string conform(const json& doc, const json& schema, const json& value,
                           const std::string& at);

inline std::string conform_object(const json& doc, const json& schema, const json& value,
                                  const std::string& at) {
  if (!value.is_object()) return at + ": not an object";
  for (const auto& name : schema.value("required", json::array())) {
    if (!value.contains(name.get<std::string>()))
      return at + ": lacks required " + name.get<std::string>();
  }
  const json properties = schema.value("properties", json::object());
  const json additional = schema.value("additionalProperties", json(true));
  for (const auto& [key, member] : value.items()) {
    const std::string where = at + "." + key;
    if (properties.contains(key)) {
      if (auto why = conform(doc, properties[key], member, where); !why.empty()) return why;
    } else if (additional.is_boolean()) {
      if (!additional.get<bool>()) return where + ": not in the schema";
    } else if (auto why = conform(doc, additional, member, where); !why.empty()) {
      return why;
    }
  }
  return {};
}

// Empty when `value` conforms to `schema`, else where and why it does not.
inline std::string conform(const json& doc, const json& schema, const json& value,
                           const std::string& at) {
  if (schema.contains("$ref")) {
    const std::string ref = schema["$ref"].get<std::string>();
    return conform(doc, doc.at(json::json_pointer(ref.substr(1))), value, at);
  }
  if (schema.contains("oneOf")) {
    int matches = 0;
    std::string why;
    for (const json& option : schema["oneOf"]) {
      const std::string mismatch = conform(doc, option, value, at);
      if (mismatch.empty()) ++matches;
      why += " [" + mismatch + "]";
    }
    return matches == 1 ? std::string()
                        : at + ": matches " + std::to_string(matches) + " schemas of oneOf:" + why;
  }
  if (value.is_null())
    return schema.value("nullable", false) ? std::string() : at + ": null, not nullable";
  if (schema.contains("enum")) {
    const json& allowed = schema["enum"];
    if (std::find(allowed.begin(), allowed.end(), value) == allowed.end())
      return at + ": " + value.dump() + " not in the enum";
  }
  if (value.is_string() && schema.contains("pattern") &&
      !std::regex_search(value.get<std::string>(),
                         std::regex(schema["pattern"].get<std::string>())))
    return at + ": " + value.dump() + " does not match " + schema["pattern"].get<std::string>();
  const std::string type = schema.value("type", "");
  if (type == "object") return conform_object(doc, schema, value, at);
  if (type == "array") {
    if (!value.is_array()) return at + ": not an array";
    for (std::size_t i = 0; i < value.size(); ++i) {
      const std::string why =
          conform(doc, schema.at("items"), value[i], at + "[" + std::to_string(i) + "]");
      if (!why.empty()) return why;
    }
    return {};
  }
  if (type == "string") {
    if (!value.is_string()) return at + ": not a string";
    if (schema.value("format", "") == "date" && !parse_date(value.get<std::string>()))
      return at + ": not a YYYY-MM-DD date";
    return {};
  }
  if (type == "integer") return value.is_number_integer() ? std::string() : at + ": not an integer";
  if (type == "number") return value.is_number() ? std::string() : at + ": not a number";
  if (type == "boolean") return value.is_boolean() ? std::string() : at + ": not a boolean";
  return {};
}

}  // namespace tanpu::testing
