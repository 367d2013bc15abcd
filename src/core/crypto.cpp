#include "core/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "core/assert.h"

namespace tanpu {
namespace {

// SHA-256 fetched from OpenSSL's default provider once: EVP_sha256() makes every EVP_DigestInit_ex
// fetch it again (a locked look-up in the provider's method store, about as costly as hashing a
// short message). Kept for the process's life, like OpenSSL's own tables.
const EVP_MD* sha256_md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  TANPU_ASSERT(md != nullptr);
  return md;
}

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  TANPU_ASSERT(ctx_ != nullptr);
  TANPU_ASSERT(EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), sha256_md(), nullptr) == 1);
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_));
}

void Sha256::update(std::span<const std::uint8_t> bytes) {
  TANPU_ASSERT(EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), bytes.data(), bytes.size()) == 1);
}

void Sha256::update(std::string_view text) {
  update(as_bytes(text));
}

Sha256Digest Sha256::finish() {
  Sha256Digest out{};
  unsigned int len = 0;
  TANPU_ASSERT(EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), out.data(), &len) == 1);
  TANPU_ASSERT(len == out.size());
  return out;
}

Sha256Digest sha256(std::span<const std::uint8_t> bytes) {
  Sha256 h;
  h.update(bytes);
  return h.finish();
}

Sha256Digest sha256(std::string_view text) {
  return sha256(as_bytes(text));
}

Sha256Digest hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> message) {
  Sha256Digest out{};
  unsigned int len = 0;
  const auto* res = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), message.data(),
                         message.size(), out.data(), &len);
  TANPU_ASSERT(res != nullptr && len == out.size());
  return out;
}

Sha256Digest hmac_sha256(std::span<const std::uint8_t> key, std::string_view message) {
  return hmac_sha256(key, as_bytes(message));
}

void random_bytes(std::span<std::uint8_t> out) {
  TANPU_ASSERT(RAND_bytes(out.data(), static_cast<int>(out.size())) == 1);
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0xF]);
  }
  return out;
}

Result<std::vector<std::uint8_t>> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return fail(ErrorKind::invalid, "bad_hex", "hex text has odd length");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<std::uint8_t> out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int h = nibble(hex[2 * i]);
    const int l = nibble(hex[2 * i + 1]);
    if (h < 0 || l < 0) return fail(ErrorKind::invalid, "bad_hex", "hex text has a non-hex digit");
    out[i] = static_cast<std::uint8_t>(h << 4 | l);
  }
  return out;
}

bool constant_time_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace tanpu
