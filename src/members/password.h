// Password hashing with argon2id (RFC 9106), stored in the PHC string format:
//   $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt, base64 unpadded>$<hash, base64 unpadded>
// The parameters travel with each hash, so they can be raised later: needs_rehash() tells when a
// stored hash was made with other parameters, and login upgrades it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace tanpu::members {

// argon2id cost parameters. The defaults are OWASP's minimum recommendation for argon2id
// (19 MiB, 2 passes, 1 lane); tests may use cheaper ones.
struct PasswordParams {
  std::uint32_t memory_kib = 19'456;  // m: memory per hash, KiB
  std::uint32_t passes = 2;           // t: iterations over the memory
  std::uint32_t lanes = 1;            // p: parallelism (threads = lanes)
  std::uint32_t salt_bytes = 16;      // random salt per hash
  std::uint32_t hash_bytes = 32;      // output length

  bool operator==(const PasswordParams&) const = default;
};

// Upper bounds on parameters read back from a stored hash, so a corrupt or planted row cannot make
// one verification allocate gigabytes or run for minutes.
inline constexpr std::uint32_t password_memory_kib_max = 1024 * 1024;  // 1 GiB
inline constexpr std::uint32_t password_passes_max = 64;
inline constexpr std::uint32_t password_lanes_max = 16;
inline constexpr std::size_t password_hash_string_bytes_max = 512;

// Hashes password with a fresh random salt. Returns the PHC string. Requires params within the
// bounds above (asserted: parameters are configuration, not input). Errors: internal if libargon2
// fails (e.g. out of memory).
Result<std::string> hash_password(std::string_view password, const PasswordParams& params);

// True if password matches the PHC string. The comparison of the derived hash is constant-time.
// A malformed or out-of-bounds stored string gives an internal error (password_hash_corrupt), so a
// broken row is noticed instead of looking like a wrong password.
Result<bool> verify_password(std::string_view password, std::string_view phc);

// True if phc was made with parameters other than params (or is not a well-formed argon2id string),
// i.e. it should be replaced by hash_password(password, params) after the next successful login.
bool needs_rehash(std::string_view phc, const PasswordParams& params);

// The parameters of a PHC argon2id string, or an error (password_hash_corrupt) if it is malformed
// or outside the bounds above. Salt and hash lengths are filled in from the encoded parts.
Result<PasswordParams> parse_password_params(std::string_view phc);

}  // namespace tanpu::members
