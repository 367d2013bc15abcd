// Personal data: AES-256-GCM sealing, blind indexes, normalisation, masking and the key file.
#include "members/pii.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "core/limits.h"

namespace tanpu::members {
namespace {

Keys test_keys(std::uint8_t seed) {
  Keys k;
  for (std::size_t i = 0; i < 32; ++i) {
    k.data_key[i] = static_cast<std::uint8_t>(seed + i);
    k.index_key[i] = static_cast<std::uint8_t>(seed * 3 + i + 100);
  }
  return k;
}

TEST(PiiCipher, RoundTripsAndHasTheStoredLayout) {
  const Keys keys = test_keys(1);
  const auto sealed = encrypt_pii(keys, PiiField::phone, "+8613800138000");
  ASSERT_EQ(sealed.size(), 1 + kPiiNonceBytes + 14 + kPiiTagBytes);
  EXPECT_EQ(sealed[0], kPiiCipherVersion);
  const std::string_view as_text(reinterpret_cast<const char*>(sealed.data()), sealed.size());
  EXPECT_EQ(as_text.find("13800138000"), std::string_view::npos);
  auto plain = decrypt_pii(keys, PiiField::phone, sealed);
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(*plain, "+8613800138000");
  auto empty = decrypt_pii(keys, PiiField::email, encrypt_pii(keys, PiiField::email, ""));
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(*empty, "");
}

TEST(PiiCipher, FreshNonceEachTime) {
  const Keys keys = test_keys(1);
  EXPECT_NE(encrypt_pii(keys, PiiField::email, "a@example.com"),
            encrypt_pii(keys, PiiField::email, "a@example.com"));
}

TEST(PiiCipher, RefusesAnyChangedByte) {
  const Keys keys = test_keys(1);
  const auto sealed = encrypt_pii(keys, PiiField::email, "alice@example.com");
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    auto changed = sealed;
    changed[i] ^= 0x01;
    auto r = decrypt_pii(keys, PiiField::email, changed);
    ASSERT_FALSE(r.has_value()) << "byte " << i;
    EXPECT_EQ(r.error().code, "pii_decrypt_failed");
  }
}

TEST(PiiCipher, RefusesOtherFieldOtherKeyAndTruncation) {
  const Keys keys = test_keys(1);
  const auto sealed = encrypt_pii(keys, PiiField::phone, "+8613800138000");
  EXPECT_FALSE(decrypt_pii(keys, PiiField::email, sealed).has_value());
  EXPECT_FALSE(decrypt_pii(test_keys(2), PiiField::phone, sealed).has_value());
  EXPECT_FALSE(
      decrypt_pii(keys, PiiField::phone, std::span(sealed).first(sealed.size() - 1)).has_value());
  EXPECT_FALSE(decrypt_pii(keys, PiiField::phone, std::span(sealed).first(5)).has_value());
  EXPECT_FALSE(decrypt_pii(keys, PiiField::phone, {}).has_value());
}

TEST(BlindIndex, DeterministicPerKeyAndField) {
  const Keys keys = test_keys(1);
  EXPECT_EQ(blind_index(keys, PiiField::phone, "+8613800138000"),
            blind_index(keys, PiiField::phone, "+8613800138000"));
  EXPECT_NE(blind_index(keys, PiiField::phone, "+8613800138000"),
            blind_index(keys, PiiField::phone, "+8613800138001"));
  EXPECT_NE(blind_index(keys, PiiField::phone, "x"), blind_index(keys, PiiField::email, "x"));
  EXPECT_NE(blind_index(keys, PiiField::phone, "+8613800138000"),
            blind_index(test_keys(2), PiiField::phone, "+8613800138000"));
}

TEST(NormalisePhone, AcceptsE164AndMainlandMobiles) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"13800138000", "+8613800138000"},
      {"+8613800138000", "+8613800138000"},
      {"+86 138-0013-8000", "+8613800138000"},
      {" 199 1234 5678 ", "+8619912345678"},
      {"+14155552671", "+14155552671"},
      {"+44 20 7946 0958", "+442079460958"},
      {"+12345678", "+12345678"},
      {"+123456789012345", "+123456789012345"},
  };
  for (const auto& [input, want] : cases) {
    auto got = normalise_phone(input);
    ASSERT_TRUE(got.has_value()) << input;
    EXPECT_EQ(*got, want) << input;
  }
}

TEST(NormalisePhone, RefusesEverythingElse) {
  for (std::string_view bad :
       {"", "+", "12800138000", "1380013800", "138001380001", "8613800138000", "+0123456789",
        "+1234567", "+1234567890123456", "++8613800138000", "138 0013 800a", "+86(138)00138000",
        "1 3 8 0 0 1 3 8 0 0 0 0 0 0 0 0 0 0 0", "１３８００１３８０００"}) {
    auto got = normalise_phone(bad);
    ASSERT_FALSE(got.has_value()) << bad;
    EXPECT_EQ(got.error().code, "invalid_phone");
    EXPECT_EQ(got.error().field, "phone");
    EXPECT_EQ(got.error().kind, ErrorKind::invalid);
  }
}

TEST(NormaliseEmail, TrimsAndLowerCases) {
  auto got = normalise_email("  Alice.Smith+tag@Example.COM\t");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, "alice.smith+tag@example.com");
  EXPECT_TRUE(normalise_email("x@mail.xn--fiqs8s").has_value());
}

TEST(NormaliseEmail, RefusesBadSyntax) {
  for (std::string_view bad :
       {"", "   ", "a", "a@b", "@example.com", "a@", "a..b@example.com", ".a@example.com",
        "a.@example.com", "a@-example.com", "a@example-.com", "a@example..com", "a@example.123",
        "a b@example.com", "a@@example.com", "a@b@example.com", "\xC3\xA4@example.com",
        "a@exa_mple.com", "a\"b@example.com"}) {
    auto got = normalise_email(bad);
    ASSERT_FALSE(got.has_value()) << bad;
    EXPECT_EQ(got.error().code, "invalid_email") << bad;
    EXPECT_EQ(got.error().field, "email");
  }
  EXPECT_FALSE(normalise_email(std::string(65, 'a') + "@example.com").has_value());
}

TEST(NormaliseEmail, LengthLimit) {
  // 64 + 1 + 63 + 1 + 63 + 1 + 61 = 254 bytes: the longest accepted.
  const std::string local(64, 'a');
  const std::string label(63, 'b');
  const std::string longest = local + "@" + label + "." + label + "." + std::string(61, 'c');
  ASSERT_EQ(longest.size(), limits::email_bytes_max);
  EXPECT_TRUE(normalise_email(longest).has_value());
  auto over = normalise_email(local + "@" + label + "." + label + "." + std::string(62, 'c'));
  ASSERT_FALSE(over.has_value());
  EXPECT_EQ(over.error().code, "email_too_long");
  EXPECT_EQ(over.error().field, "email");
}

TEST(Mask, Phones) {
  EXPECT_EQ(mask_phone("+8613812345678"), "+86 138****5678");
  EXPECT_EQ(mask_phone("+14155552671"), "+141****2671");
  EXPECT_EQ(mask_phone("+4420794609"), "+44******09");
  EXPECT_EQ(mask_phone("+12345678"), "+12****78");
  EXPECT_EQ(mask_phone("+123456789012345"), "+123********2345");
}

TEST(Mask, Emails) {
  EXPECT_EQ(mask_email("alice@example.com"), "a***@example.com");
  EXPECT_EQ(mask_email("b@example.org"), "b***@example.org");
}

class KeyFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tanpu-keys-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  void write(const std::filesystem::path& p, std::string_view text, mode_t mode = 0600) {
    std::ofstream(p) << text;
    ASSERT_EQ(::chmod(p.c_str(), mode), 0);
  }
  std::filesystem::path dir;
};

TEST_F(KeyFile, CreatedWithMode0600AndReadBackTheSame) {
  const auto path = dir / "sub" / "keys";
  auto created = load_or_create_keys(path);
  ASSERT_TRUE(created.has_value()) << created.error().message;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(path.parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);
  EXPECT_NE(created->data_key, created->index_key);
  auto again = load_or_create_keys(path);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->data_key, created->data_key);
  EXPECT_EQ(again->index_key, created->index_key);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(path.parent_path()), {}), 1)
      << "the temporary file must be gone";
}

TEST_F(KeyFile, ReadsTheDocumentedFormat) {
  const auto path = dir / "keys";
  write(path, std::string(64, 'a') + "\n" + std::string(63, '0') + "1\n");
  auto keys = load_or_create_keys(path);
  ASSERT_TRUE(keys.has_value()) << keys.error().message;
  EXPECT_EQ(keys->data_key[0], 0xAA);
  EXPECT_EQ(keys->index_key[31], 0x01);
  EXPECT_EQ(keys->index_key[0], 0x00);
}

TEST_F(KeyFile, RefusesReadableByOthers) {
  const auto path = dir / "keys";
  for (mode_t mode : {0644U, 0640U, 0604U, 0660U}) {
    write(path, std::string(64, 'a') + "\n" + std::string(64, 'b') + "\n", mode);
    auto keys = load_or_create_keys(path);
    ASSERT_FALSE(keys.has_value()) << std::oct << mode;
    EXPECT_EQ(keys.error().code, "key_file_insecure");
  }
}

TEST_F(KeyFile, RefusesMalformed) {
  const auto path = dir / "keys";
  const std::string a(64, 'a');
  const std::string b(64, 'b');
  for (const std::string& text :
       {std::string(), a, a + "\n", a + "\n" + b + "\n\n", a + "\n" + b + "\nextra\n",
        a + "\n" + b.substr(1) + "\n", a + "\n" + b + "0\n", "g" + a.substr(1) + "\n" + b + "\n",
        a + "\n" + a + "\n", a + " \n" + b + "\n"}) {
    write(path, text);
    auto keys = load_or_create_keys(path);
    ASSERT_FALSE(keys.has_value()) << text;
    EXPECT_EQ(keys.error().code, "key_file_malformed") << text;
  }
}

TEST_F(KeyFile, ConcurrentStartsAgree) {
  const auto path = dir / "keys";
  std::vector<Result<Keys>> results(6, fail(ErrorKind::internal, "unset", ""));
  std::vector<std::thread> threads;
  for (auto& r : results) threads.emplace_back([&r, &path] { r = load_or_create_keys(path); });
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->data_key, results[0]->data_key);
    EXPECT_EQ(r->index_key, results[0]->index_key);
  }
}

}  // namespace
}  // namespace tanpu::members
