#include "methodology/query_json.h"

#include <algorithm>

#include "core/time.h"

namespace tanpu::methodology {
namespace {

using nlohmann::json;

Result<std::string> text(const json& body, const char* key) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::string();
  if (!it->is_string())
    return fail(ErrorKind::invalid, "wrong_type", std::string(key) + " must be a string", key);
  return it->get<std::string>();
}

Result<InputValue> input_value(const std::string& name, const json& v) {
  const std::string field = "inputs." + name;
  if (v.is_boolean()) return InputValue{name, v.get<bool>() ? 1.0 : 0.0, {}};
  if (v.is_number()) return InputValue{name, v.get<double>(), {}};
  if (v.is_object()) {
    const auto value = v.find("value");
    const auto unit = v.find("unit");
    if (value == v.end() || !value->is_number() || unit == v.end() || !unit->is_string() ||
        v.size() != 2)
      return fail(ErrorKind::invalid, "wrong_type",
                  name + " must be a number or {\"value\": number, \"unit\": \"…\"}", field);
    return InputValue{name, value->get<double>(), unit->get<std::string>()};
  }
  return fail(ErrorKind::invalid, "wrong_type",
              name + " must be a number, a boolean or {\"value\", \"unit\"}", field);
}

}  // namespace

Result<Query> query_from_json(const json& body,
                              std::initializer_list<std::string_view> extra_keys) {
  if (!body.is_object())
    return fail(ErrorKind::invalid, "wrong_type", "the body must be a JSON object");
  static constexpr std::array<std::string_view, 7> kKeys{
      "scenario", "methodology", "version", "region", "date", "occurred_at", "inputs"};
  for (const auto& [key, value] : body.items()) {
    if (std::find(kKeys.begin(), kKeys.end(), key) != kKeys.end()) continue;
    if (std::find(extra_keys.begin(), extra_keys.end(), key) != extra_keys.end()) continue;
    return fail(ErrorKind::invalid, "unknown_field", "unknown field '" + key + "'", key);
  }
  Query q;
  for (auto [key, out] : {std::pair{"scenario", &q.scenario}, std::pair{"methodology", &q.code},
                          std::pair{"version", &q.version}, std::pair{"region", &q.region}}) {
    auto v = text(body, key);
    if (!v) return std::unexpected(std::move(v.error()));
    *out = std::move(*v);
  }
  if (!q.scenario.empty() && !q.code.empty())
    return fail(ErrorKind::invalid, "ambiguous", "give scenario or methodology, not both",
                "methodology");
  auto date = text(body, "date");
  if (!date) return std::unexpected(std::move(date.error()));
  auto occurred = text(body, "occurred_at");
  if (!occurred) return std::unexpected(std::move(occurred.error()));
  if (!date->empty()) {
    q.date = parse_date(*date);
    if (!q.date) return fail(ErrorKind::invalid, "invalid_date", "date must be YYYY-MM-DD", "date");
  } else if (!occurred->empty()) {
    q.occurred_at_us = parse_iso8601(*occurred);
    if (!q.occurred_at_us)
      return fail(ErrorKind::invalid, "invalid_time", "occurred_at must be ISO-8601 with a zone",
                  "occurred_at");
  }
  const auto inputs = body.find("inputs");
  if (inputs != body.end()) {
    if (!inputs->is_object())
      return fail(ErrorKind::invalid, "wrong_type", "inputs must be an object", "inputs");
    if (inputs->size() > kInputsPerMethodologyMax)
      return fail(ErrorKind::invalid, "too_many_inputs", "at most 16 inputs", "inputs");
    for (const auto& [name, value] : inputs->items()) {
      auto in = input_value(name, value);
      if (!in) return std::unexpected(std::move(in.error()));
      q.inputs.push_back(std::move(*in));
    }
  }
  return q;
}

}  // namespace tanpu::methodology
