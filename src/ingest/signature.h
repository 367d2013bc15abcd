// Request signatures of data sources (docs/ingestion.md): HMAC-SHA256 over the method, the path,
// a timestamp, a nonce and the body's SHA-256. Pure functions, so partners' clients (and tanpu's
// own load client and tests) sign with exactly the code that verifies.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tanpu::ingest {

// A signature older or newer than this, by the server's clock, is refused (stale_timestamp).
inline constexpr std::int64_t kSignatureSkewMax_s = 300;
inline constexpr std::size_t kNonceBytesMin = 16;
inline constexpr std::size_t kNonceBytesMax = 64;

// The headers a signed request carries (lower-case names, as the server sees them).
inline constexpr std::string_view kHeaderKeyId = "x-tanpu-key-id";
inline constexpr std::string_view kHeaderTimestamp = "x-tanpu-timestamp";
inline constexpr std::string_view kHeaderNonce = "x-tanpu-nonce";
inline constexpr std::string_view kHeaderSignature = "x-tanpu-signature";

struct SignedRequest {
  std::string_view method;     // "POST"
  std::string_view path;       // "/v1/sources/src_…/behaviours", without the query string
  std::string_view key_id;     // X-Tanpu-Key-Id
  std::string_view timestamp;  // X-Tanpu-Timestamp: Unix seconds, decimal
  std::string_view nonce;      // X-Tanpu-Nonce: 16-64 of [A-Za-z0-9_-], never reused
  std::string_view signature;  // X-Tanpu-Signature: "v1=" + 64 lower-case hex digits
  std::string_view body;
};

// "TANPU-HMAC-SHA256\n" METHOD "\n" PATH "\n" TIMESTAMP "\n" NONCE "\n" hex(SHA-256(body))
std::string string_to_sign(std::string_view method, std::string_view path,
                           std::string_view timestamp, std::string_view nonce,
                           std::string_view body);

// "v1=" + hex(HMAC-SHA256(secret, string_to_sign(…))). The key is the secret's bytes as issued
// ("tsk_…").
std::string sign(std::string_view secret, std::string_view method, std::string_view path,
                 std::string_view timestamp, std::string_view nonce, std::string_view body);

// The four headers of a request signed at `now_s` (Unix seconds) with a fresh random nonce, with
// their canonical names, for clients: tanpu simulate and tanpu bench ingest.
std::vector<std::pair<std::string, std::string>> signed_headers(
    std::string_view key_id, std::string_view secret, std::string_view method,
    std::string_view path, std::string_view body, std::int64_t now_s);

// True when `nonce` has an allowed length and alphabet.
bool nonce_well_formed(std::string_view nonce);

}  // namespace tanpu::ingest
