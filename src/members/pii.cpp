#include "members/pii.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "core/assert.h"
#include "core/limits.h"

namespace tanpu::members {
namespace {

constexpr std::size_t kKeyFileBytesMax = 1024;  // the real file is 130 bytes

Error key_error(ErrorKind kind, std::string code, const std::filesystem::path& path,
                std::string_view why) {
  return Error{kind, std::move(code), "key file " + path.string() + ": " + std::string(why), ""};
}

Error io_error(const std::filesystem::path& path, std::string_view what) {
  return key_error(ErrorKind::unavailable, "key_file_io", path,
                   std::string(what) + ": " + std::strerror(errno));
}

// Closes a file descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Result<std::string> read_all(int fd, const std::filesystem::path& path) {
  std::string out;
  char buf[512];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(io_error(path, "read"));
    if (n == 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > kKeyFileBytesMax) {
      return fail(key_error(ErrorKind::invalid, "key_file_malformed", path, "file is too large"));
    }
  }
}

Result<void> write_all(int fd, std::string_view data, const std::filesystem::path& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(io_error(path, "write"));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

bool parse_key_line(std::string_view line, std::array<std::uint8_t, 32>& key) {
  if (line.size() != 64) return false;
  auto bytes = from_hex(line);
  if (!bytes) return false;
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return true;
}

Result<Keys> parse_keys(std::string_view text, const std::filesystem::path& path) {
  if (text.ends_with('\n')) text.remove_suffix(1);
  const std::size_t nl = text.find('\n');
  Keys keys;
  const bool ok = nl != std::string_view::npos &&
                  parse_key_line(text.substr(0, nl), keys.data_key) &&
                  parse_key_line(text.substr(nl + 1), keys.index_key);
  if (!ok) {
    return fail(key_error(ErrorKind::invalid, "key_file_malformed", path,
                          "expected two lines of 64 hex digits (data key, index key)"));
  }
  if (keys.data_key == keys.index_key) {
    return fail(
        key_error(ErrorKind::invalid, "key_file_malformed", path, "the two keys are equal"));
  }
  return keys;
}

// Result: the keys; or not_found (code key_file_missing) if there is no file.
Result<Keys> read_keys(const std::filesystem::path& path) {
  Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (f.fd < 0 && errno == ENOENT) {
    return fail(key_error(ErrorKind::not_found, "key_file_missing", path, "does not exist"));
  }
  if (f.fd < 0) return fail(io_error(path, "open"));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) return fail(io_error(path, "stat"));
  if (!S_ISREG(st.st_mode)) {
    return fail(key_error(ErrorKind::invalid, "key_file_malformed", path, "not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    return fail(key_error(ErrorKind::invalid, "key_file_insecure", path,
                          "group or others have access; chmod 600 it"));
  }
  auto text = read_all(f.fd, path);
  if (!text) return fail(text.error());
  return parse_keys(*text, path);
}

std::string fresh_key_file_text() {
  std::array<std::uint8_t, 32> data{};
  std::array<std::uint8_t, 32> index{};
  random_bytes(data);
  random_bytes(index);
  return to_hex(data) + "\n" + to_hex(index) + "\n";
}

// Writes a complete file under a temporary name, then link()s it into place: link never replaces
// an existing file, so of two concurrent starts exactly one file wins and both read it.
Result<void> create_key_file(const std::filesystem::path& path) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (std::filesystem::create_directories(dir, ec)) {
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  }
  if (ec) return fail(key_error(ErrorKind::unavailable, "key_file_io", path, ec.message()));
  std::string tmp = (dir / ("." + path.filename().string() + ".XXXXXX")).string();
  Fd f(::mkstemp(tmp.data()));  // mode 0600
  if (f.fd < 0) return fail(io_error(path, "create temporary file"));
  auto written = write_all(f.fd, fresh_key_file_text(), path);
  if (written && ::fsync(f.fd) != 0) written = fail(io_error(path, "fsync"));
  if (written && ::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    written = fail(io_error(path, "link"));
  }
  ::unlink(tmp.c_str());
  if (!written) return written;
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.fd < 0 || ::fsync(d.fd) != 0) return fail(io_error(path, "fsync folder"));
  return {};
}

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

CipherCtx new_ctx() {
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  TANPU_ASSERT(ctx != nullptr);
  return ctx;
}

// Associated data: the version byte and the field name, so neither can be swapped unnoticed.
std::string associated_data(PiiField field) {
  std::string aad(1, static_cast<char>(kPiiCipherVersion));
  aad.append(to_string(field));
  return aad;
}

int as_int(std::size_t n) {
  TANPU_ASSERT(n <= pii_plaintext_bytes_max + 64);
  return static_cast<int>(n);
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

Result<Keys> load_or_create_keys(const std::filesystem::path& path) {
  auto keys = read_keys(path);
  if (keys || keys.error().code != "key_file_missing") return keys;
  if (auto created = create_key_file(path); !created) return fail(created.error());
  return read_keys(path);
}

std::string_view to_string(PiiField field) {
  switch (field) {
    case PiiField::phone:
      return "phone";
    case PiiField::email:
      return "email";
    case PiiField::source_key:
      return "source_key";
  }
  TANPU_ASSERT_MSG(false, "unknown PiiField");
}

std::vector<std::uint8_t> encrypt_pii(const Keys& keys, PiiField field,
                                      std::string_view plaintext) {
  TANPU_ASSERT(plaintext.size() <= pii_plaintext_bytes_max);
  std::vector<std::uint8_t> out(1 + kPiiNonceBytes + plaintext.size() + kPiiTagBytes);
  out[0] = kPiiCipherVersion;
  std::uint8_t* nonce = out.data() + 1;
  std::uint8_t* body = nonce + kPiiNonceBytes;
  random_bytes({nonce, kPiiNonceBytes});
  const std::string aad = associated_data(field);
  const auto pt = as_bytes(plaintext);
  CipherCtx ctx = new_ctx();
  int len = 0;
  int final_len = 0;
  TANPU_ASSERT(
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, keys.data_key.data(), nonce) == 1);
  TANPU_ASSERT(
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, as_bytes(aad).data(), as_int(aad.size())) == 1);
  TANPU_ASSERT(EVP_EncryptUpdate(ctx.get(), body, &len, pt.data(), as_int(pt.size())) == 1);
  TANPU_ASSERT(EVP_EncryptFinal_ex(ctx.get(), body + len, &final_len) == 1);
  TANPU_ASSERT(static_cast<std::size_t>(len + final_len) == plaintext.size());
  TANPU_ASSERT(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kPiiTagBytes,
                                   body + plaintext.size()) == 1);
  return out;
}

Result<std::string> decrypt_pii(const Keys& keys, PiiField field,
                                std::span<const std::uint8_t> stored) {
  auto refused = [] {
    return fail(ErrorKind::internal, "pii_decrypt_failed",
                "stored personal data could not be decrypted (changed, or another key)");
  };
  constexpr std::size_t overhead = 1 + kPiiNonceBytes + kPiiTagBytes;
  if (stored.size() < overhead || stored.size() > overhead + pii_plaintext_bytes_max ||
      stored[0] != kPiiCipherVersion) {
    return refused();
  }
  const std::uint8_t* nonce = stored.data() + 1;
  const std::uint8_t* body = nonce + kPiiNonceBytes;
  const std::size_t body_size = stored.size() - overhead;
  std::vector<std::uint8_t> tag(body + body_size, body + body_size + kPiiTagBytes);
  std::string out(body_size, '\0');
  const std::string aad = associated_data(field);
  CipherCtx ctx = new_ctx();
  int len = 0;
  int final_len = 0;
  TANPU_ASSERT(
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, keys.data_key.data(), nonce) == 1);
  TANPU_ASSERT(
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, as_bytes(aad).data(), as_int(aad.size())) == 1);
  auto* plain = reinterpret_cast<std::uint8_t*>(out.data());
  TANPU_ASSERT(EVP_DecryptUpdate(ctx.get(), plain, &len, body, as_int(body_size)) == 1);
  TANPU_ASSERT(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kPiiTagBytes, tag.data()) == 1);
  // Final checks the tag; until it passes, `out` must not be used.
  if (EVP_DecryptFinal_ex(ctx.get(), plain + len, &final_len) != 1) return refused();
  TANPU_ASSERT(static_cast<std::size_t>(len + final_len) == body_size);
  return out;
}

Sha256Digest blind_index(const Keys& keys, PiiField field, std::string_view normalised) {
  std::string message(to_string(field));
  message.push_back('\0');
  message.append(normalised);
  return hmac_sha256(keys.index_key, message);
}

Result<std::string> normalise_phone(std::string_view input) {
  auto invalid = [] {
    return fail(ErrorKind::invalid, "invalid_phone",
                "phone must be +<country code><number> (8 to 15 digits) or an 11-digit mainland "
                "China mobile number",
                "phone");
  };
  if (input.size() > 32) return invalid();
  std::string digits;
  bool plus = false;
  for (char c : input) {
    if (c == ' ' || c == '-') continue;
    if (c == '+' && !plus && digits.empty()) {
      plus = true;
    } else if (is_digit(c)) {
      digits.push_back(c);
    } else {
      return invalid();
    }
  }
  if (plus && digits.size() >= 8 && digits.size() <= 15 && digits[0] != '0') return "+" + digits;
  if (!plus && digits.size() == 11 && digits[0] == '1' && digits[1] >= '3' && digits[1] <= '9') {
    return "+86" + digits;
  }
  return invalid();
}

namespace {

bool is_atext(char c) {
  if ((c >= 'a' && c <= 'z') || is_digit(c)) return true;
  return std::string_view("!#$%&'*+/=?^_`{|}~-").find(c) != std::string_view::npos;
}

bool valid_local_part(std::string_view local) {
  if (local.empty() || local.size() > 64 || local.front() == '.' || local.back() == '.') {
    return false;
  }
  for (std::size_t i = 0; i < local.size(); ++i) {
    const char c = local[i];
    if (c == '.' ? local[i - 1] == '.' : !is_atext(c)) return false;
  }
  return true;
}

bool valid_label(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
    return false;
  }
  for (char c : label) {
    if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '-')) return false;
  }
  return true;
}

bool valid_domain(std::string_view domain) {
  std::size_t labels = 0;
  std::string_view last;
  while (true) {
    const std::size_t dot = domain.find('.');
    last = domain.substr(0, dot);
    if (!valid_label(last)) return false;
    ++labels;
    if (dot == std::string_view::npos) break;
    domain.remove_prefix(dot + 1);
  }
  bool tld_all_digits = true;
  for (char c : last) tld_all_digits = tld_all_digits && is_digit(c);
  return labels >= 2 && !tld_all_digits;
}

}  // namespace

Result<std::string> normalise_email(std::string_view input) {
  constexpr std::string_view space = " \t\r\n\f\v";
  const std::size_t first = input.find_first_not_of(space);
  const std::size_t last = input.find_last_not_of(space);
  std::string email(first == std::string_view::npos ? std::string_view{}
                                                    : input.substr(first, last - first + 1));
  if (email.size() > limits::email_bytes_max) {
    return fail(ErrorKind::invalid, "email_too_long",
                "email is longer than " + std::to_string(limits::email_bytes_max) + " bytes",
                "email");
  }
  for (char& c : email) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  const std::size_t at = email.find('@');
  const bool ok = at != std::string::npos && email.find('@', at + 1) == std::string::npos &&
                  valid_local_part(std::string_view(email).substr(0, at)) &&
                  valid_domain(std::string_view(email).substr(at + 1));
  if (!ok)
    return fail(ErrorKind::invalid, "invalid_email", "email is not a valid address", "email");
  return email;
}

std::string mask_phone(std::string_view e164) {
  TANPU_ASSERT(e164.size() >= 9 && e164[0] == '+');
  const std::string_view digits = e164.substr(1);
  if (digits.size() == 13 && digits.starts_with("861")) {
    return "+86 " + std::string(digits.substr(2, 3)) + "****" + std::string(digits.substr(9));
  }
  const std::size_t head = digits.size() >= 11 ? 3 : 2;
  const std::size_t tail = digits.size() >= 11 ? 4 : 2;
  return "+" + std::string(digits.substr(0, head)) + std::string(digits.size() - head - tail, '*') +
         std::string(digits.substr(digits.size() - tail));
}

std::string mask_email(std::string_view email) {
  const std::size_t at = email.find('@');
  TANPU_ASSERT(at != std::string_view::npos && at >= 1);
  return std::string(email.substr(0, 1)) + "***" + std::string(email.substr(at));
}

}  // namespace tanpu::members
