#include "members/password.h"

#include <argon2.h>

#include <charconv>
#include <optional>
#include <vector>

#include "core/assert.h"
#include "core/crypto.h"

namespace tanpu::members {
namespace {

constexpr std::string_view kPrefix = "$argon2id$v=19$";

Error corrupt(std::string_view why) {
  return Error{ErrorKind::internal, "password_hash_corrupt",
               "stored password hash is not a valid argon2id string: " + std::string(why), ""};
}

// Length in bytes of an unpadded standard-base64 text, or nullopt if it is not one.
std::optional<std::size_t> base64_decoded_bytes(std::string_view text) {
  if (text.empty() || text.size() % 4 == 1) return std::nullopt;
  for (char c : text) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '/';
    if (!ok) return std::nullopt;
  }
  return text.size() / 4 * 3 + (text.size() % 4 == 0 ? 0 : text.size() % 4 - 1);
}

// Reads "<key>=<decimal>" from the front of text and removes it.
std::optional<std::uint32_t> take_param(std::string_view& text, char key) {
  if (text.size() < 3 || text[0] != key || text[1] != '=') return std::nullopt;
  std::uint32_t value = 0;
  const char* first = text.data() + 2;
  const char* last = text.data() + text.size();
  const auto [end, ec] = std::from_chars(first, last, value);
  if (ec != std::errc{} || end == first) return std::nullopt;
  text.remove_prefix(static_cast<std::size_t>(end - text.data()));
  return value;
}

void assert_params(const PasswordParams& p) {
  TANPU_ASSERT(p.lanes >= 1 && p.lanes <= password_lanes_max);
  TANPU_ASSERT(p.passes >= 1 && p.passes <= password_passes_max);
  TANPU_ASSERT(p.memory_kib >= 8 * p.lanes && p.memory_kib <= password_memory_kib_max);
  TANPU_ASSERT(p.salt_bytes >= 8 && p.salt_bytes <= 64);
  TANPU_ASSERT(p.hash_bytes >= 16 && p.hash_bytes <= 64);
}

}  // namespace

Result<PasswordParams> parse_password_params(std::string_view phc) {
  if (phc.size() > password_hash_string_bytes_max) return fail(corrupt("too long"));
  if (!phc.starts_with(kPrefix)) return fail(corrupt("not argon2id version 19"));
  std::string_view rest = phc.substr(kPrefix.size());
  PasswordParams p;
  const auto m = take_param(rest, 'm');
  if (!m || !rest.starts_with(',')) return fail(corrupt("bad m"));
  rest.remove_prefix(1);
  const auto t = take_param(rest, 't');
  if (!t || !rest.starts_with(',')) return fail(corrupt("bad t"));
  rest.remove_prefix(1);
  const auto lanes = take_param(rest, 'p');
  if (!lanes || !rest.starts_with('$')) return fail(corrupt("bad p"));
  rest.remove_prefix(1);
  const std::size_t dollar = rest.find('$');
  if (dollar == std::string_view::npos) return fail(corrupt("no hash part"));
  const auto salt_bytes = base64_decoded_bytes(rest.substr(0, dollar));
  const auto hash_bytes = base64_decoded_bytes(rest.substr(dollar + 1));
  if (!salt_bytes || !hash_bytes) return fail(corrupt("bad base64"));
  p.memory_kib = *m;
  p.passes = *t;
  p.lanes = *lanes;
  p.salt_bytes = static_cast<std::uint32_t>(*salt_bytes);
  p.hash_bytes = static_cast<std::uint32_t>(*hash_bytes);
  const bool in_bounds = p.lanes >= 1 && p.lanes <= password_lanes_max && p.passes >= 1 &&
                         p.passes <= password_passes_max && p.memory_kib >= 8 * p.lanes &&
                         p.memory_kib <= password_memory_kib_max && p.salt_bytes >= 8 &&
                         p.salt_bytes <= 64 && p.hash_bytes >= 16 && p.hash_bytes <= 64;
  if (!in_bounds) return fail(corrupt("parameters out of bounds"));
  return p;
}

Result<std::string> hash_password(std::string_view password, const PasswordParams& params) {
  assert_params(params);
  std::vector<std::uint8_t> salt(params.salt_bytes);
  random_bytes(salt);
  const std::size_t encoded_len =
      argon2_encodedlen(params.passes, params.memory_kib, params.lanes, params.salt_bytes,
                        params.hash_bytes, Argon2_id);
  std::string encoded(encoded_len, '\0');
  const int rc = argon2id_hash_encoded(params.passes, params.memory_kib, params.lanes,
                                       password.data(), password.size(), salt.data(), salt.size(),
                                       params.hash_bytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK) {
    return fail(ErrorKind::internal, "password_hash_failed",
                std::string("argon2id failed: ") + argon2_error_message(rc));
  }
  encoded.resize(std::char_traits<char>::length(encoded.c_str()));
  TANPU_ASSERT(parse_password_params(encoded).has_value());
  return encoded;
}

Result<bool> verify_password(std::string_view password, std::string_view phc) {
  // Bounds first: libargon2 would otherwise allocate whatever m the stored string names.
  if (auto p = parse_password_params(phc); !p) return fail(p.error());
  const std::string encoded(phc);  // libargon2 wants a NUL-terminated string
  // argon2id_verify recomputes the hash and compares it with a constant-time loop.
  const int rc = argon2id_verify(encoded.c_str(), password.data(), password.size());
  if (rc == ARGON2_OK) return true;
  if (rc == ARGON2_VERIFY_MISMATCH) return false;
  if (rc == ARGON2_MEMORY_ALLOCATION_ERROR) {
    return fail(ErrorKind::unavailable, "password_verify_failed", "out of memory verifying");
  }
  return fail(corrupt(argon2_error_message(rc)));
}

bool needs_rehash(std::string_view phc, const PasswordParams& params) {
  const auto stored = parse_password_params(phc);
  return !stored || !(*stored == params);
}

}  // namespace tanpu::members
