// Cryptographic primitives over OpenSSL. Pure computation; keys are passed in by the caller.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace tanpu {

using Sha256Digest = std::array<std::uint8_t, 32>;

// Incremental SHA-256, for hashing many pieces without concatenating them.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::span<const std::uint8_t> bytes);
  void update(std::string_view text);
  Sha256Digest finish();

 private:
  void* ctx_;  // EVP_MD_CTX*
};

Sha256Digest sha256(std::span<const std::uint8_t> bytes);
Sha256Digest sha256(std::string_view text);

// HMAC-SHA256 of message under key.
Sha256Digest hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> message);
Sha256Digest hmac_sha256(std::span<const std::uint8_t> key, std::string_view message);

// Fills out with cryptographically secure random bytes; aborts if the system RNG fails.
void random_bytes(std::span<std::uint8_t> out);

// Lower-case hex of bytes; and back (nullopt-like error on odd length or bad digit).
std::string to_hex(std::span<const std::uint8_t> bytes);
Result<std::vector<std::uint8_t>> from_hex(std::string_view hex);

// Constant-time equality for secrets.
bool constant_time_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

inline std::span<const std::uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace tanpu
