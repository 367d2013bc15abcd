// Structured logs: one JSON object per line on stderr, with a level, an event name and fields.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

namespace tanpu::log {

enum class Level { debug, info, warn, error };

// Lines below this level are dropped. Default: info.
void set_min_level(Level level);
bool enabled(Level level);

// Writes {"ts":…,"level":…,"event":…, ...fields} atomically (one write per line).
void write(Level level, std::string_view event,
           const nlohmann::json& fields = nlohmann::json::object());

inline void info(std::string_view event, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::info, event, f);
}
inline void warn(std::string_view event, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::warn, event, f);
}
inline void error(std::string_view event, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::error, event, f);
}

}  // namespace tanpu::log
