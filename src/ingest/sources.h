// Data sources: the partners that report behaviour (metro and bus payments, bike sharing, charging
// operators, utilities…). The operator registers a source with the scenarios it may report and
// gives it HMAC keys; every request of the source is signed (signature.h) and verified here.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "ingest/signature.h"
#include "members/pii.h"
#include "store/migrate.h"
#include "store/store.h"

namespace tanpu::ingest {

// The ingest module's tables (module "ingest").
std::span<const store::Migration> migrations();

inline constexpr std::size_t kSourceNameBytesMax = 100;
inline constexpr std::size_t kSourceScenariosMax = 24;
// Active keys per source: two is enough to rotate without downtime; four leaves room for mistakes.
inline constexpr std::size_t kSourceKeysActiveMax = 4;

struct SourceKey {
  std::string key_id;  // "key_" + 16 hex
  std::int64_t created_at_us = 0;
  std::optional<std::int64_t> revoked_at_us;
};

struct Source {
  std::string id;  // "src_" + 16 hex
  std::string name;
  std::vector<std::string> scenarios;  // methodology scenario keys it may report
  std::int64_t created_at_us = 0;
  std::vector<SourceKey> keys;  // oldest first, revoked ones included
};

// A new key: the secret is shown here, once; tanpu keeps it encrypted (AES-256-GCM).
struct NewKey {
  std::string key_id;
  std::string secret;  // "tsk_" + 64 hex
};

struct CreatedSource {
  Source source;
  NewKey key;
};

class Sources {
 public:
  // `keys` encrypt the signing secrets at rest. References must outlive this object.
  Sources(store::Store& store, members::Keys keys, const Clock& clock);

  // Registers a source and its first key. Errors (invalid, with field): name_required,
  // name_too_long, scenarios_required, too_many_items, unknown_scenario, duplicate_scenario.
  Result<CreatedSource> create(std::string_view name, std::span<const std::string> scenarios);

  // A further key (rotation: both work until the old one is revoked). Errors: not_found;
  // too_many_keys (invalid) past kSourceKeysActiveMax active keys.
  Result<NewKey> add_key(std::string_view source_id);

  // Revokes a key at once. Errors: not_found (source or key, or already revoked);
  // last_active_key (invalid): a source keeps at least one key, so revoking cannot lock it out by
  // mistake — add the new key first.
  Result<Source> revoke_key(std::string_view source_id, std::string_view key_id);

  Result<Source> get(std::string_view source_id);
  Result<std::vector<Source>> list();

  // Verifies a signed request of `source_id` and records its nonce, so the same request is
  // accepted once. Returns the key id used. Errors (unauthenticated, nothing written):
  // signature_required (a header missing), unknown_key (not a live key of this source),
  // invalid_timestamp, stale_timestamp (more than kSignatureSkewMax_s off), invalid_nonce,
  // bad_signature, nonce_reused.
  Result<std::string> verify(std::string_view source_id, const SignedRequest& request);

  // verify() in two halves, for a caller that records the nonce inside its own write transaction
  // (the intake does, so a batch costs one commit): check_signature writes nothing (the errors of
  // verify but nonce_reused); record_nonce refuses a nonce seen before with nonce_reused
  // (unauthenticated).
  Result<std::string> check_signature(std::string_view source_id, const SignedRequest& request);
  static Result<void> record_nonce(store::Connection& c, std::string_view source_id,
                                   std::string_view nonce, std::int64_t now_us);

  // Forgets nonces too old to be accepted again anyway. Returns how many were removed.
  Result<std::int64_t> purge_nonces();

 private:
  Result<std::vector<SourceKey>> load_keys(store::Connection& c, std::string_view source_id,
                                           bool lock);
  Result<std::string> secret_of(std::string_view source_id, std::string_view key_id);

  store::Store& store_;
  members::Keys keys_;
  const Clock& clock_;
};

}  // namespace tanpu::ingest
