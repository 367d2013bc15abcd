// Small text helpers of the ingest module's storage: scenario lists are stored comma-separated.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tanpu::ingest {

// "metro,bus" → {"metro", "bus"}; "" → {}.
inline std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    out.emplace_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace tanpu::ingest
