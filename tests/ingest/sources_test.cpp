// Data sources, request signatures and consent, on both engines.
#include <gtest/gtest.h>

#include "ingest/consents.h"
#include "ingest/ingest_fixture.h"
#include "ingest/signature.h"
#include "ingest/sources.h"
#include "members/members_fixture.h"

namespace tanpu::test {
namespace {

class IngestTest : public MembersFixture {
 protected:
  void SetUp() override {
    MembersFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    migrate_ingest(db_->store());
    if (HasFatalFailure()) return;
    sources_ = std::make_unique<ingest::Sources>(db_->store(), keys_, clock_);
    consents_ = std::make_unique<ingest::Consents>(db_->store(), clock_);
  }
  void TearDown() override {
    consents_.reset();
    sources_.reset();
    MembersFixture::TearDown();
  }

  ingest::CreatedSource metro_source() {
    const std::vector<std::string> scenarios{"metro", "bus"};
    auto created = sources_->create("Wuhan Metro", scenarios);
    EXPECT_TRUE(created.has_value()) << created.error().message;
    return *created;
  }

  std::string now_s() const { return std::to_string(clock_.now_us() / 1'000'000); }

  // A request signed with `secret`, as a partner would send it.
  struct Signed {
    std::string timestamp, nonce, signature, body;
    ingest::SignedRequest request(std::string_view key_id, std::string_view path) const {
      return {"POST", path, key_id, timestamp, nonce, signature, body};
    }
  };
  Signed signed_request(const std::string& secret, const std::string& path, std::string body,
                        std::string nonce = "") {
    if (nonce.empty()) nonce = "nonce-" + std::to_string(++nonces_) + "-abcdefghij";
    const std::string ts = now_s();
    return Signed{ts, nonce, ingest::sign(secret, "POST", path, ts, nonce, body), std::move(body)};
  }

  std::int64_t count(const char* table) {
    auto lease = db_->store().acquire();
    auto rows = (*lease)->query(std::string("SELECT COUNT(*) FROM ") + table);
    return rows->i64(0, 0);
  }

  // The member bound to a partner user by a live grant, if any.
  std::optional<std::int64_t> live(const std::string& source_id, const std::string& ref) {
    auto lease = db_->store().acquire();
    EXPECT_TRUE(lease.has_value());
    const std::vector<std::string> refs{ref};
    auto grants = ingest::Consents::live_grants(**lease, source_id, refs);
    EXPECT_TRUE(grants.has_value());
    const auto found = grants->find(ref);
    if (found == grants->end()) return std::nullopt;
    EXPECT_EQ(found->second.scenarios, (std::vector<std::string>{"metro", "bus"}));
    return found->second.member_id;
  }

  std::unique_ptr<ingest::Sources> sources_;
  std::unique_ptr<ingest::Consents> consents_;
  int nonces_ = 0;
};

TEST(Signature, StringToSignAndAKnownVector) {
  EXPECT_EQ(ingest::string_to_sign("POST", "/v1/sources/src_1/behaviours", "1700000000",
                                   "0123456789abcdef", ""),
            "TANPU-HMAC-SHA256\nPOST\n/v1/sources/src_1/behaviours\n1700000000\n"
            "0123456789abcdef\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // Computed independently: printf '%s' "$string_to_sign" | openssl dgst -sha256 -hmac tsk_test
  EXPECT_EQ(ingest::sign("tsk_test", "POST", "/v1/sources/src_1/behaviours", "1700000000",
                         "0123456789abcdef", ""),
            "v1=a1d484e2f98f74965f2960872ad50e3256c9ef539c4035c5b9f0cd49cedcab62");
  EXPECT_TRUE(ingest::nonce_well_formed("0123456789abcdef"));
  EXPECT_FALSE(ingest::nonce_well_formed("short"));
  EXPECT_FALSE(ingest::nonce_well_formed("0123456789abcdef/"));
}

TEST_P(IngestTest, CreateValidatesNameAndScenarios) {
  const std::vector<std::string> none;
  EXPECT_EQ(sources_->create("", std::vector<std::string>{"metro"}).error().code, "name_required");
  EXPECT_EQ(sources_->create("X", none).error().code, "scenarios_required");
  auto unknown = sources_->create("X", std::vector<std::string>{"metro", "teleport"});
  EXPECT_EQ(unknown.error().code, "unknown_scenario");
  EXPECT_EQ(unknown.error().field, "scenarios[1]");
  EXPECT_EQ(sources_->create("X", std::vector<std::string>{"bus", "bus"}).error().code,
            "duplicate_scenario");
  EXPECT_EQ(count("ingest_sources"), 0);
  const auto created = metro_source();
  EXPECT_EQ(created.source.id.rfind("src_", 0), 0u);
  EXPECT_EQ(created.key.secret.size(), 4u + 64u);
  auto listed = sources_->list();
  ASSERT_OK(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].scenarios, (std::vector<std::string>{"metro", "bus"}));
}

TEST_P(IngestTest, SecretsAreStoredEncrypted) {
  const auto created = metro_source();
  auto lease = db_->store().acquire();
  auto rows = (*lease)->query("SELECT secret_enc FROM ingest_source_keys");
  ASSERT_OK(rows);
  const auto stored = rows->blob(0, 0);
  const std::string bytes(stored.begin(), stored.end());
  EXPECT_EQ(bytes.find(created.key.secret), std::string::npos);
  EXPECT_EQ(bytes.find(created.key.secret.substr(4, 16)), std::string::npos);
}

TEST_P(IngestTest, AValidSignatureIsAcceptedOnce) {
  const auto s = metro_source();
  const std::string path = "/v1/sources/" + s.source.id + "/bindings";
  const auto req = signed_request(s.key.secret, path, R"({"partner_user_ref":"u1"})");
  auto ok = sources_->verify(s.source.id, req.request(s.key.key_id, path));
  ASSERT_OK(ok);
  EXPECT_EQ(*ok, s.key.key_id);
  auto replay = sources_->verify(s.source.id, req.request(s.key.key_id, path));
  EXPECT_EQ(replay.error().code, "nonce_reused");
  EXPECT_EQ(replay.error().kind, ErrorKind::unauthenticated);
}

TEST_P(IngestTest, EveryForgeryIsRefusedAndWritesNothing) {
  const auto s = metro_source();
  const std::string path = "/v1/sources/" + s.source.id + "/bindings";
  const auto req = signed_request(s.key.secret, path, R"({"partner_user_ref":"u1"})");
  const auto refused = [&](ingest::SignedRequest r) {
    auto v = sources_->verify(s.source.id, r);
    EXPECT_FALSE(v.has_value());
    return v ? std::string("accepted") : v.error().code;
  };
  auto tampered = req.request(s.key.key_id, path);
  tampered.body = R"({"partner_user_ref":"u2"})";
  EXPECT_EQ(refused(tampered), "bad_signature");
  const std::string ping_path = "/v1/sources/" + s.source.id + "/ping";  // outlives the view
  auto other_path = req.request(s.key.key_id, ping_path);
  EXPECT_EQ(refused(other_path), "bad_signature");
  auto wrong_method = req.request(s.key.key_id, path);
  wrong_method.method = "GET";
  EXPECT_EQ(refused(wrong_method), "bad_signature");
  EXPECT_EQ(refused(req.request("key_0000000000000000", path)), "unknown_key");
  auto other_source = sources_->create("Bikes", std::vector<std::string>{"bike"});
  ASSERT_OK(other_source);
  // Another source's key is not a key of this source.
  EXPECT_EQ(refused(req.request(other_source->key.key_id, path)), "unknown_key");
  auto missing = req.request(s.key.key_id, path);
  missing.signature = "";
  EXPECT_EQ(refused(missing), "signature_required");
  auto bad_nonce = req.request(s.key.key_id, path);
  bad_nonce.nonce = "x";
  EXPECT_EQ(refused(bad_nonce), "invalid_nonce");
  auto not_a_time = req.request(s.key.key_id, path);
  not_a_time.timestamp = "yesterday";
  EXPECT_EQ(refused(not_a_time), "invalid_timestamp");
  EXPECT_EQ(count("ingest_nonces"), 0);
  // Five minutes and one second later the same, correctly signed, request is stale.
  clock_.advance_us(301 * 1'000'000);
  EXPECT_EQ(refused(req.request(s.key.key_id, path)), "stale_timestamp");
  EXPECT_EQ(count("ingest_nonces"), 0);
}

TEST_P(IngestTest, KeysRotateWithoutDowntime) {
  const auto s = metro_source();
  const std::string path = "/v1/sources/" + s.source.id + "/ping";
  EXPECT_EQ(sources_->revoke_key(s.source.id, s.key.key_id).error().code, "last_active_key");
  auto second = sources_->add_key(s.source.id);
  ASSERT_OK(second);
  // Both keys work while the partner switches over.
  ASSERT_OK(sources_->verify(s.source.id,
                             signed_request(s.key.secret, path, "").request(s.key.key_id, path)));
  ASSERT_OK(sources_->verify(
      s.source.id, signed_request(second->secret, path, "").request(second->key_id, path)));
  auto after = sources_->revoke_key(s.source.id, s.key.key_id);
  ASSERT_OK(after);
  for (const auto& k : after->keys)
    EXPECT_EQ(k.revoked_at_us.has_value(), k.key_id == s.key.key_id) << k.key_id;
  EXPECT_EQ(
      sources_
          ->verify(s.source.id, signed_request(s.key.secret, path, "").request(s.key.key_id, path))
          .error()
          .code,
      "unknown_key");
  ASSERT_OK(sources_->verify(
      s.source.id, signed_request(second->secret, path, "").request(second->key_id, path)));
  EXPECT_EQ(sources_->revoke_key(s.source.id, s.key.key_id).error().code, "not_found");
  for (int i = 0; i < 3; ++i) ASSERT_OK(sources_->add_key(s.source.id));
  EXPECT_EQ(sources_->add_key(s.source.id).error().code, "too_many_keys");
  EXPECT_EQ(sources_->add_key("src_nope").error().code, "not_found");
}

TEST_P(IngestTest, NoncesArePurgedAfterTwiceTheWindow) {
  const auto s = metro_source();
  const std::string path = "/v1/sources/" + s.source.id + "/ping";
  ASSERT_OK(sources_->verify(s.source.id,
                             signed_request(s.key.secret, path, "").request(s.key.key_id, path)));
  auto kept = sources_->purge_nonces();
  ASSERT_OK(kept);
  EXPECT_EQ(*kept, 0);
  clock_.advance_us(601 * 1'000'000);
  auto purged = sources_->purge_nonces();
  ASSERT_OK(purged);
  EXPECT_EQ(*purged, 1);
}

TEST_P(IngestTest, ConsentIsGrantedByCodeRecordedAndRevocable) {
  const auto s = metro_source();
  auto alice = must_register(std::nullopt, "alice@example.com");
  auto bob = must_register(std::nullopt, "bob@example.com");
  auto binding = consents_->create_binding(s.source.id, "metro-user-42");
  ASSERT_OK(binding);
  EXPECT_EQ(binding->code.size(), 18u);
  EXPECT_FALSE(live(s.source.id, "metro-user-42").has_value());
  // Codes are forgiving about case and dashes.
  std::string typed = binding->code;
  for (char& c : typed) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto granted = consents_->grant(alice.id, typed);
  ASSERT_OK(granted);
  EXPECT_EQ(granted->scenarios, (std::vector<std::string>{"metro", "bus"}));
  EXPECT_EQ(granted->source_name, "Wuhan Metro");
  EXPECT_EQ(live(s.source.id, "metro-user-42"), alice.id);
  // A code works once.
  EXPECT_EQ(consents_->grant(bob.id, binding->code).error().code, "invalid_binding_code");
  // Another code for the same partner user cannot bind it to a second member.
  auto again = consents_->create_binding(s.source.id, "metro-user-42");
  ASSERT_OK(again);
  EXPECT_EQ(consents_->grant(bob.id, again->code).error().code, "already_bound");
  EXPECT_EQ(count("ingest_consents"), 1);
  // Revoke, then the partner user is no longer live; the record of the grant stays.
  auto revoked = consents_->revoke(alice.id, s.source.id);
  ASSERT_OK(revoked);
  EXPECT_TRUE(revoked->revoked_at_us.has_value());
  EXPECT_FALSE(live(s.source.id, "metro-user-42").has_value());
  EXPECT_EQ(consents_->revoke(alice.id, s.source.id).error().code, "not_found");
  auto history = consents_->list(alice.id);
  ASSERT_OK(history);
  ASSERT_EQ(history->size(), 1u);
  // The unused second code can now bind bob.
  ASSERT_OK(consents_->grant(bob.id, again->code));
  EXPECT_EQ(live(s.source.id, "metro-user-42"), bob.id);
}

TEST_P(IngestTest, BindingCodesExpireAndBadInputIsRefused) {
  const auto s = metro_source();
  auto alice = must_register(std::nullopt, "alice@example.com");
  EXPECT_EQ(consents_->create_binding(s.source.id, "").error().code, "partner_user_ref_required");
  EXPECT_EQ(consents_->create_binding(s.source.id, std::string(129, 'x')).error().code,
            "partner_user_ref_too_long");
  EXPECT_EQ(consents_->create_binding("src_nope", "u").error().code, "not_found");
  auto binding = consents_->create_binding(s.source.id, "u");
  ASSERT_OK(binding);
  clock_.advance_us((ingest::kBindingTtl_s + 1) * 1'000'000);
  EXPECT_EQ(consents_->grant(alice.id, binding->code).error().code, "invalid_binding_code");
  EXPECT_EQ(consents_->grant(alice.id, "BND-0000-0000-0000").error().code, "invalid_binding_code");
  EXPECT_EQ(count("ingest_consents"), 0);
}

TANPU_INSTANTIATE_ENGINES(IngestTest);

}  // namespace
}  // namespace tanpu::test
