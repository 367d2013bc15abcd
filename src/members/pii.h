// Personal data at rest (architecture.md §11): phone numbers and e-mail addresses are stored only
// encrypted (AES-256-GCM) and are found by a blind index (HMAC-SHA256 of the normalised value under
// a second key); answers show them masked.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/crypto.h"
#include "core/result.h"

namespace tanpu::members {

// The two secret keys. data_key encrypts; index_key makes blind indexes. They must differ.
struct Keys {
  std::array<std::uint8_t, 32> data_key{};
  std::array<std::uint8_t, 32> index_key{};
};

// Reads the key file at path: two lines of 64 lower- or upper-case hex digits (data key, then index
// key), nothing else. If the file does not exist, creates it (and its folder, mode 0700) with two
// fresh random keys, mode 0600, atomically: concurrent starts end up with the same keys.
// Errors (kind invalid): key_file_insecure if group or others have any permission on it (as ssh
// does for private keys), key_file_malformed if its content is not exactly the format above or the
// two keys are equal; key_file_io (kind unavailable) if it cannot be read or written.
Result<Keys> load_or_create_keys(const std::filesystem::path& path);

// Which personal field a value belongs to. It is bound into each ciphertext (as associated data)
// and into each blind index, so a value cannot be moved to another column or matched across kinds.
// source_key: a data source's HMAC signing secret (src/ingest), secret at rest like personal data.
enum class PiiField : std::uint8_t { phone, email, source_key };

std::string_view to_string(PiiField field);

// The first byte of every stored ciphertext; a new scheme gets a new version.
inline constexpr std::uint8_t kPiiCipherVersion = 1;
inline constexpr std::size_t kPiiNonceBytes = 12;
inline constexpr std::size_t kPiiTagBytes = 16;
// The largest plaintext accepted (well above any phone or e-mail; keeps rows bounded).
inline constexpr std::size_t pii_plaintext_bytes_max = 1024;

// Encrypts plaintext with a fresh random 96-bit nonce. Returns version ‖ nonce ‖ ciphertext ‖ tag.
// Requires plaintext.size() <= pii_plaintext_bytes_max (asserted).
std::vector<std::uint8_t> encrypt_pii(const Keys& keys, PiiField field, std::string_view plaintext);

// Decrypts what encrypt_pii produced for the same field. Errors: pii_decrypt_failed (internal) if
// the bytes are malformed, were changed, belong to another field or were made with another key.
Result<std::string> decrypt_pii(const Keys& keys, PiiField field,
                                std::span<const std::uint8_t> stored);

// The blind index of an already normalised value: HMAC-SHA256(index_key, field name ‖ 0 ‖ value).
Sha256Digest blind_index(const Keys& keys, PiiField field, std::string_view normalised);

// Normalises a phone number to E.164 ("+8613800138000"). Spaces and hyphens are ignored. Accepts
// "+<country code><number>" with 8 to 15 digits in all (the first not 0), and mainland China
// 11-digit mobiles 1[3-9]xxxxxxxxx, which get +86. Errors: invalid_phone (field "phone").
Result<std::string> normalise_phone(std::string_view input);

// Normalises an e-mail address: trims surrounding ASCII white space and lower-cases it. Requires
// one '@', a local part of 1 to 64 characters from RFC 5322's dot-atom set without leading,
// trailing or doubled dots, and a domain of at least two dot-separated labels of letters, digits
// and inner hyphens (each at most 63), the last one not all digits. At most
// limits::email_bytes_max. Errors (field "email"): email_too_long, invalid_email.
Result<std::string> normalise_email(std::string_view input);

// For answers: "+86 138****5678" for mainland mobiles; for other numbers "+" with the first 3 and
// last 4 digits (first 2 and last 2 under 11 digits), the rest as '*'. Requires a normalised phone.
std::string mask_phone(std::string_view e164);

// For answers: the first character of the local part, "***", then '@' and the domain
// ("a***@example.com"). Requires a normalised e-mail.
std::string mask_email(std::string_view email);

}  // namespace tanpu::members
