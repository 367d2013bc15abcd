#include "ingest/signature.h"

#include <array>

#include "core/crypto.h"

namespace tanpu::ingest {

std::string string_to_sign(std::string_view method, std::string_view path,
                           std::string_view timestamp, std::string_view nonce,
                           std::string_view body) {
  std::string out = "TANPU-HMAC-SHA256\n";
  out.append(method).append("\n").append(path).append("\n").append(timestamp).append("\n");
  out.append(nonce).append("\n").append(to_hex(sha256(body)));
  return out;
}

std::string sign(std::string_view secret, std::string_view method, std::string_view path,
                 std::string_view timestamp, std::string_view nonce, std::string_view body) {
  return "v1=" + to_hex(hmac_sha256(as_bytes(secret),
                                    string_to_sign(method, path, timestamp, nonce, body)));
}

std::vector<std::pair<std::string, std::string>> signed_headers(
    std::string_view key_id, std::string_view secret, std::string_view method,
    std::string_view path, std::string_view body, std::int64_t now_s) {
  std::array<std::uint8_t, 16> raw{};
  random_bytes(raw);
  const std::string nonce = to_hex(raw);
  const std::string timestamp = std::to_string(now_s);
  return {{"X-Tanpu-Key-Id", std::string(key_id)},
          {"X-Tanpu-Timestamp", timestamp},
          {"X-Tanpu-Nonce", nonce},
          {"X-Tanpu-Signature", sign(secret, method, path, timestamp, nonce, body)}};
}

bool nonce_well_formed(std::string_view nonce) {
  if (nonce.size() < kNonceBytesMin || nonce.size() > kNonceBytesMax) return false;
  for (const char c : nonce) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace tanpu::ingest
