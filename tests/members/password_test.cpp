// argon2id hashing in the PHC format: round trips, reference vector, bounds, rehash decisions.
#include "members/password.h"

#include <gtest/gtest.h>

namespace tanpu::members {
namespace {

// Cheap parameters: the tests check behaviour, not cost.
constexpr PasswordParams kCheap{256, 1, 1, 16, 32};

TEST(Password, DefaultsAreOwaspMinimum) {
  const PasswordParams defaults;
  EXPECT_EQ(defaults.memory_kib, 19'456u);
  EXPECT_EQ(defaults.passes, 2u);
  EXPECT_EQ(defaults.lanes, 1u);
}

TEST(Password, HashIsPhcArgon2idWithItsParameters) {
  auto phc = hash_password("correct horse battery", kCheap);
  ASSERT_TRUE(phc.has_value());
  EXPECT_TRUE(phc->starts_with("$argon2id$v=19$m=256,t=1,p=1$")) << *phc;
  auto params = parse_password_params(*phc);
  ASSERT_TRUE(params.has_value());
  EXPECT_EQ(*params, kCheap);
}

TEST(Password, VerifiesTheRightPasswordOnly) {
  auto phc = hash_password("correct horse battery", kCheap);
  ASSERT_TRUE(phc.has_value());
  EXPECT_EQ(verify_password("correct horse battery", *phc), true);
  EXPECT_EQ(verify_password("correct horse batterY", *phc), false);
  EXPECT_EQ(verify_password("", *phc), false);
}

TEST(Password, SaltMakesEachHashDifferent) {
  auto a = hash_password("same password", kCheap);
  auto b = hash_password("same password", kCheap);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
}

// The argon2id vector of the reference implementation's test suite (password "password", salt
// "somesalt", t=2, m=64 MiB, p=1): our verification agrees with the published hash.
TEST(Password, VerifiesReferenceVector) {
  constexpr std::string_view vector =
      "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
  EXPECT_EQ(verify_password("password", vector), true);
  EXPECT_EQ(verify_password("passwore", vector), false);
}

TEST(Password, MalformedStoredHashIsAnErrorNotAMismatch) {
  for (std::string_view bad : {
           "",
           "plaintext",
           "$argon2i$v=19$m=256,t=1,p=1$c29tZXNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
           "$argon2id$v=16$m=256,t=1,p=1$c29tZXNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
           "$argon2id$v=19$m=256,t=1$c29tZXNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
           "$argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHRzYWx0",
           "$argon2id$v=19$m=256,t=1,p=1$c29t!XNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
           // Memory far past the bound: refused before libargon2 would try to allocate it.
           "$argon2id$v=19$m=4000000000,t=1,p=1$c29tZXNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
           "$argon2id$v=19$m=256,t=1000,p=1$c29tZXNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
       }) {
    auto r = verify_password("password", bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, "password_hash_corrupt") << bad;
    EXPECT_EQ(r.error().kind, ErrorKind::internal);
  }
}

TEST(Password, NeedsRehashWhenParametersDiffer) {
  auto phc = hash_password("password123", kCheap);
  ASSERT_TRUE(phc.has_value());
  EXPECT_FALSE(needs_rehash(*phc, kCheap));
  PasswordParams more_memory = kCheap;
  more_memory.memory_kib = 512;
  EXPECT_TRUE(needs_rehash(*phc, more_memory));
  PasswordParams more_passes = kCheap;
  more_passes.passes = 2;
  EXPECT_TRUE(needs_rehash(*phc, more_passes));
  PasswordParams longer_hash = kCheap;
  longer_hash.hash_bytes = 64;
  EXPECT_TRUE(needs_rehash(*phc, longer_hash));
  EXPECT_TRUE(needs_rehash("not a hash", kCheap));
}

}  // namespace
}  // namespace tanpu::members
