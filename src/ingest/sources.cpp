#include "ingest/sources.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "core/assert.h"
#include "core/crypto.h"
#include "ingest/text.h"
#include "methodology/catalog.h"

namespace tanpu::ingest {
namespace {

// Sources and their keys; nonces seen (per source, kept twice the skew window); partner bindings
// and members' consents (consents.cpp uses them). Secrets only as AES-GCM ciphertexts.
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE ingest_sources (
  id TEXT NOT NULL PRIMARY KEY,
  name TEXT NOT NULL,
  scenarios TEXT NOT NULL,
  created_at_us BIGINT NOT NULL
);
CREATE TABLE ingest_source_keys (
  source_id TEXT NOT NULL REFERENCES ingest_sources (id),
  key_id TEXT NOT NULL,
  secret_enc {{blob}} NOT NULL,
  created_at_us BIGINT NOT NULL,
  revoked_at_us BIGINT,
  PRIMARY KEY (source_id, key_id)
);
CREATE TABLE ingest_nonces (
  source_id TEXT NOT NULL,
  nonce TEXT NOT NULL,
  seen_at_us BIGINT NOT NULL,
  PRIMARY KEY (source_id, nonce)
) {{without_rowid}};
CREATE INDEX ingest_nonces_seen ON ingest_nonces (seen_at_us);
CREATE TABLE ingest_bindings (
  code_hash {{blob}} NOT NULL PRIMARY KEY,
  source_id TEXT NOT NULL REFERENCES ingest_sources (id),
  partner_user_ref TEXT NOT NULL,
  created_at_us BIGINT NOT NULL,
  expires_at_us BIGINT NOT NULL,
  used_at_us BIGINT
);
CREATE TABLE ingest_consents (
  id {{serial_pk}},
  source_id TEXT NOT NULL REFERENCES ingest_sources (id),
  partner_user_ref TEXT NOT NULL,
  member_id BIGINT NOT NULL,
  scenarios TEXT NOT NULL,
  granted_at_us BIGINT NOT NULL,
  revoked_at_us BIGINT
);
CREATE UNIQUE INDEX ingest_consents_live_ref ON ingest_consents (source_id, partner_user_ref)
  WHERE revoked_at_us IS NULL;
CREATE UNIQUE INDEX ingest_consents_live_member ON ingest_consents (member_id, source_id)
  WHERE revoked_at_us IS NULL;
)sql";

// Behaviour records keep their final outcome and provenance, keyed by (source, external id) for
// idempotency; (member, time) serves the cross-source dedup. Usage rows carry the caps (per member,
// period "d:YYYY-MM-DD" or "m:YYYY-MM", methodology code or "*" for points until migration 5);
// rollups feed the dashboards without scanning records.
constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE ingest_records (
  source_id TEXT NOT NULL,
  external_id TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  member_id BIGINT NOT NULL,
  scenario TEXT NOT NULL,
  occurred_at_us BIGINT NOT NULL,
  outcome TEXT NOT NULL,
  reason TEXT NOT NULL,
  reduction_mg BIGINT NOT NULL,
  points BIGINT NOT NULL,
  methodology TEXT NOT NULL,
  duplicate_of TEXT NOT NULL,
  provisional BIGINT NOT NULL,
  provenance TEXT NOT NULL,
  received_at_us BIGINT NOT NULL,
  PRIMARY KEY (source_id, external_id)
);
CREATE INDEX ingest_records_member_time ON ingest_records (member_id, occurred_at_us);
CREATE TABLE ingest_member_usage (
  member_id BIGINT NOT NULL,
  period TEXT NOT NULL,
  code TEXT NOT NULL,
  reduction_mg BIGINT NOT NULL,
  records BIGINT NOT NULL,
  points BIGINT NOT NULL,
  PRIMARY KEY (member_id, period, code)
) {{update_heavy}};
CREATE TABLE ingest_rollup_day_scenario (
  day TEXT NOT NULL,
  scenario TEXT NOT NULL,
  records BIGINT NOT NULL,
  reduction_mg BIGINT NOT NULL,
  points BIGINT NOT NULL,
  PRIMARY KEY (day, scenario)
) {{update_heavy}};
CREATE TABLE ingest_rollup_member (
  member_id BIGINT NOT NULL PRIMARY KEY,
  records BIGINT NOT NULL,
  reduction_mg BIGINT NOT NULL,
  points BIGINT NOT NULL,
  last_occurred_at_us BIGINT NOT NULL
) {{update_heavy}};
)sql";

// Evidence claims and review (claims.h). Evidence files are kept in the database with their
// SHA-256; a file is attached to at most one record. A record's review is kept on the record:
// review_decision '' (never reviewed), 'approved' or 'rejected', by whom, when and why. The
// partial index serves the review queue (oldest pending first).
constexpr std::string_view kSchemaV3 = R"sql(
CREATE TABLE ingest_evidence (
  id TEXT NOT NULL PRIMARY KEY,
  member_id BIGINT NOT NULL,
  media_type TEXT NOT NULL,
  size_bytes BIGINT NOT NULL,
  sha256 TEXT NOT NULL,
  content {{blob}} NOT NULL,
  uploaded_at_us BIGINT NOT NULL,
  source_id TEXT,
  external_id TEXT
);
CREATE UNIQUE INDEX ingest_evidence_member_sha ON ingest_evidence (member_id, sha256);
CREATE INDEX ingest_evidence_record ON ingest_evidence (source_id, external_id);
ALTER TABLE ingest_records ADD COLUMN review_decision TEXT NOT NULL DEFAULT '';
ALTER TABLE ingest_records ADD COLUMN reviewer_id BIGINT;
ALTER TABLE ingest_records ADD COLUMN decided_at_us BIGINT;
ALTER TABLE ingest_records ADD COLUMN review_reason TEXT NOT NULL DEFAULT '';
CREATE INDEX ingest_records_review ON ingest_records (received_at_us, source_id, external_id)
  WHERE outcome = 'pending_review';
CREATE INDEX ingest_records_claims ON ingest_records (member_id, received_at_us)
  WHERE source_id = 'claims';
)sql";

// One row per member that intake has seen: concurrent intake transactions on PostgreSQL lock the
// rows of their members (pipeline.cpp, lock_members) instead of taking turns for all intake.
constexpr std::string_view kSchemaV4 = R"sql(
CREATE TABLE ingest_member_locks (
  member_id BIGINT NOT NULL PRIMARY KEY
) {{update_heavy}};
)sql";

// Fewer rows per credited record (docs/ingestion.md, "Usage and rollups"):
// - a member's points are kept in the usage rows of the methodology that earned them, day and
//   month, instead of in rows of their own (code "*", one per member-day). The old "*" day rows
//   stay and are counted by the daily points cap; their points are added up into one "*" row per
//   member and month, so the month rows still total every point a member earned;
// - the per-member rollup is the members' month usage rows: ingest_rollup_member, which held the
//   same totals once more per member, is dropped;
// - the usage table is rebuilt WITHOUT ROWID on SQLite, so a row lives in one B-tree (its primary
//   key) instead of two.
constexpr std::string_view kSchemaV5 = R"sql(
CREATE TABLE ingest_member_usage_v5 (
  member_id BIGINT NOT NULL,
  period TEXT NOT NULL,
  code TEXT NOT NULL,
  reduction_mg BIGINT NOT NULL,
  records BIGINT NOT NULL,
  points BIGINT NOT NULL,
  PRIMARY KEY (member_id, period, code)
) {{without_rowid}} {{update_heavy}};
INSERT INTO ingest_member_usage_v5 (member_id, period, code, reduction_mg, records, points)
  SELECT member_id, period, code, reduction_mg, records, points FROM ingest_member_usage
  ORDER BY member_id, period, code;
INSERT INTO ingest_member_usage_v5 (member_id, period, code, reduction_mg, records, points)
  SELECT member_id, 'm:' || substr(period, 3, 7), '*', 0, 0, SUM(points)
  FROM ingest_member_usage WHERE code = '*' AND period LIKE 'd:%'
  GROUP BY member_id, substr(period, 3, 7);
DROP TABLE ingest_member_usage;
ALTER TABLE ingest_member_usage_v5 RENAME TO ingest_member_usage;
DROP TABLE ingest_rollup_member;
)sql";

// A version of each source's consents, moved by every transaction that grants or revokes one of
// them (consents.cpp, member_data.cpp). The pipeline reads a batch's grants before its write job
// and uses them there only while the version is unchanged (pipeline.cpp, "Read before the write
// job").
constexpr std::string_view kSchemaV6 = R"sql(
ALTER TABLE ingest_sources ADD COLUMN consents_version BIGINT NOT NULL DEFAULT 0;
)sql";

constexpr std::array kMigrations{
    store::Migration{"ingest", 1, "sources_keys_nonces_consents", kSchemaV1},
    store::Migration{"ingest", 2, "records_usage_rollups", kSchemaV2},
    store::Migration{"ingest", 3, "evidence_claims_review", kSchemaV3},
    store::Migration{"ingest", 4, "member_locks", kSchemaV4},
    store::Migration{"ingest", 5, "points_in_usage_rows", kSchemaV5},
    store::Migration{"ingest", 6, "consents_version", kSchemaV6},
};

std::string random_token(std::string_view prefix, std::size_t bytes) {
  std::array<std::uint8_t, 32> raw{};
  TANPU_ASSERT(bytes <= raw.size());
  random_bytes(std::span(raw.data(), bytes));
  return std::string(prefix) + to_hex(std::span<const std::uint8_t>(raw.data(), bytes));
}

std::string join(std::span<const std::string> items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ',';
    out += item;
  }
  return out;
}

std::unexpected<Error> unauthenticated(std::string code, std::string message) {
  return fail(ErrorKind::unauthenticated, std::move(code), std::move(message));
}

Result<void> check_scenarios(std::span<const std::string> scenarios) {
  if (scenarios.empty())
    return fail(ErrorKind::invalid, "scenarios_required", "a source reports at least one scenario",
                "scenarios");
  if (scenarios.size() > kSourceScenariosMax)
    return fail(ErrorKind::invalid, "too_many_items", "at most 24 scenarios", "scenarios");
  const auto known = methodology::scenario_keys();
  for (std::size_t i = 0; i < scenarios.size(); ++i) {
    const std::string field = "scenarios[" + std::to_string(i) + "]";
    if (std::find(known.begin(), known.end(), scenarios[i]) == known.end())
      return fail(ErrorKind::invalid, "unknown_scenario",
                  "unknown scenario '" + scenarios[i] + "' (GET /v1/methodologies lists them)",
                  field);
    if (std::find(scenarios.begin(), scenarios.begin() + static_cast<std::ptrdiff_t>(i),
                  scenarios[i]) != scenarios.begin() + static_cast<std::ptrdiff_t>(i))
      return fail(ErrorKind::invalid, "duplicate_scenario", scenarios[i] + " is listed twice",
                  field);
  }
  return {};
}

std::unexpected<Error> source_not_found() {
  return fail(ErrorKind::not_found, "not_found", "no such data source");
}

}  // namespace

std::span<const store::Migration> migrations() {
  return kMigrations;
}

Sources::Sources(store::Store& store, members::Keys keys, const Clock& clock)
    : store_(store), keys_(keys), clock_(clock) {}

Result<CreatedSource> Sources::create(std::string_view name,
                                      std::span<const std::string> scenarios) {
  if (name.empty())
    return fail(ErrorKind::invalid, "name_required", "a source needs a name", "name");
  if (name.size() > kSourceNameBytesMax)
    return fail(ErrorKind::invalid, "name_too_long", "at most 100 bytes", "name");
  if (auto ok = check_scenarios(scenarios); !ok) return fail(ok.error());
  CreatedSource out;
  out.source = Source{random_token("src_", 8),
                      std::string(name),
                      std::vector<std::string>(scenarios.begin(), scenarios.end()),
                      clock_.now_us(),
                      {}};
  out.key = NewKey{random_token("key_", 8), random_token("tsk_", 32)};
  const auto secret_enc =
      members::encrypt_pii(keys_, members::PiiField::source_key, out.key.secret);
  const std::string scenario_list = join(scenarios);
  auto written = store_.write([&](store::Connection& c) -> Result<void> {
    auto s = c.exec(
        "INSERT INTO ingest_sources (id, name, scenarios, created_at_us) VALUES (?, ?, "
        "?, ?)",
        {std::string_view(out.source.id), name, std::string_view(scenario_list),
         out.source.created_at_us});
    if (!s) return fail(s.error());
    auto k = c.exec(
        "INSERT INTO ingest_source_keys (source_id, key_id, secret_enc, "
        "created_at_us) VALUES (?, ?, ?, ?)",
        {std::string_view(out.source.id), std::string_view(out.key.key_id),
         std::span<const std::uint8_t>(secret_enc), out.source.created_at_us});
    if (!k) return fail(k.error());
    return {};
  });
  if (!written) return fail(written.error());
  out.source.keys.push_back(SourceKey{out.key.key_id, out.source.created_at_us, std::nullopt});
  return out;
}

Result<std::vector<SourceKey>> Sources::load_keys(store::Connection& c, std::string_view source_id,
                                                  bool lock) {
  // On PostgreSQL concurrent writers would each count the active keys and act on the same
  // count (two revokes could leave none): the source row is locked first.
  if (lock && c.dialect() == store::Dialect::postgres) {
    auto locked = c.query("SELECT id FROM ingest_sources WHERE id = ? FOR UPDATE", {source_id});
    if (!locked) return fail(locked.error());
  }
  auto rows = c.query(
      "SELECT key_id, created_at_us, revoked_at_us FROM ingest_source_keys WHERE "
      "source_id = ? ORDER BY created_at_us, key_id",
      {source_id});
  if (!rows) return fail(rows.error());
  std::vector<SourceKey> out;
  for (std::size_t i = 0; i < rows->size(); ++i)
    out.push_back(SourceKey{
        std::string(rows->text(i, 0)), rows->i64(i, 1),
        rows->is_null(i, 2) ? std::nullopt : std::optional<std::int64_t>(rows->i64(i, 2))});
  return out;
}

Result<NewKey> Sources::add_key(std::string_view source_id) {
  NewKey key{random_token("key_", 8), random_token("tsk_", 32)};
  const auto secret_enc = members::encrypt_pii(keys_, members::PiiField::source_key, key.secret);
  const std::int64_t now = clock_.now_us();
  auto written = store_.write([&](store::Connection& c) -> Result<void> {
    auto keys = load_keys(c, source_id, true);
    if (!keys) return fail(keys.error());
    if (keys->empty()) return source_not_found();
    const auto active = std::count_if(keys->begin(), keys->end(),
                                      [](const SourceKey& k) { return !k.revoked_at_us; });
    if (static_cast<std::size_t>(active) >= kSourceKeysActiveMax)
      return fail(ErrorKind::invalid, "too_many_keys",
                  "a source has at most 4 active keys: revoke one first");
    auto k = c.exec(
        "INSERT INTO ingest_source_keys (source_id, key_id, secret_enc, "
        "created_at_us) VALUES (?, ?, ?, ?)",
        {source_id, std::string_view(key.key_id), std::span<const std::uint8_t>(secret_enc), now});
    if (!k) return fail(k.error());
    return {};
  });
  if (!written) return fail(written.error());
  return key;
}

Result<Source> Sources::revoke_key(std::string_view source_id, std::string_view key_id) {
  const std::int64_t now = clock_.now_us();
  auto written = store_.write([&](store::Connection& c) -> Result<void> {
    auto keys = load_keys(c, source_id, true);
    if (!keys) return fail(keys.error());
    const auto it = std::find_if(keys->begin(), keys->end(), [&](const SourceKey& k) {
      return k.key_id == key_id && !k.revoked_at_us;
    });
    if (it == keys->end())
      return fail(ErrorKind::not_found, "not_found", "no such active key for this source");
    const auto active = std::count_if(keys->begin(), keys->end(),
                                      [](const SourceKey& k) { return !k.revoked_at_us; });
    if (active == 1)
      return fail(ErrorKind::invalid, "last_active_key",
                  "this is the source's only active key: add its successor first");
    auto r = c.exec(
        "UPDATE ingest_source_keys SET revoked_at_us = ? WHERE source_id = ? AND "
        "key_id = ? AND revoked_at_us IS NULL",
        {now, source_id, key_id});
    if (!r) return fail(r.error());
    return {};
  });
  if (!written) return fail(written.error());
  return get(source_id);
}

Result<Source> Sources::get(std::string_view source_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto rows = (*lease)->query(
      "SELECT id, name, scenarios, created_at_us FROM ingest_sources WHERE id = ?", {source_id});
  if (!rows) return fail(rows.error());
  if (rows->empty()) return source_not_found();
  Source s{std::string(rows->text(0, 0)),
           std::string(rows->text(0, 1)),
           split_list(rows->text(0, 2)),
           rows->i64(0, 3),
           {}};
  auto keys = load_keys(**lease, source_id, false);
  if (!keys) return fail(keys.error());
  s.keys = std::move(*keys);
  return s;
}

Result<std::vector<Source>> Sources::list() {
  std::vector<std::string> ids;
  {
    auto lease = store_.acquire();
    if (!lease) return fail(lease.error());
    auto rows = (*lease)->query("SELECT id FROM ingest_sources ORDER BY created_at_us, id");
    if (!rows) return fail(rows.error());
    for (std::size_t i = 0; i < rows->size(); ++i) ids.emplace_back(rows->text(i, 0));
  }
  std::vector<Source> out;
  for (const auto& id : ids) {
    auto s = get(id);
    if (!s) return fail(s.error());
    out.push_back(std::move(*s));
  }
  return out;
}

Result<std::string> Sources::secret_of(std::string_view source_id, std::string_view key_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto rows = (*lease)->query(
      "SELECT secret_enc FROM ingest_source_keys WHERE source_id = ? AND "
      "key_id = ? AND revoked_at_us IS NULL",
      {source_id, key_id});
  if (!rows) return fail(rows.error());
  if (rows->empty())
    return unauthenticated("unknown_key", "X-Tanpu-Key-Id is not an active key of this source");
  return members::decrypt_pii(keys_, members::PiiField::source_key, rows->blob(0, 0));
}

Result<std::string> Sources::verify(std::string_view source_id, const SignedRequest& r) {
  auto key = check_signature(source_id, r);
  if (!key) return key;
  auto written = store_.write(
      [&](store::Connection& c) { return record_nonce(c, source_id, r.nonce, clock_.now_us()); });
  if (!written) return fail(written.error());
  return key;
}

Result<void> Sources::record_nonce(store::Connection& c, std::string_view source_id,
                                   std::string_view nonce, std::int64_t now_us) {
  auto ins = c.exec("INSERT INTO ingest_nonces (source_id, nonce, seen_at_us) VALUES (?, ?, ?)",
                    {source_id, nonce, now_us});
  if (!ins) {
    if (ins.error().code == store::kUniqueViolation)
      return unauthenticated("nonce_reused", "this X-Tanpu-Nonce was used already");
    return fail(ins.error());
  }
  return {};
}

Result<std::string> Sources::check_signature(std::string_view source_id, const SignedRequest& r) {
  if (r.key_id.empty() || r.timestamp.empty() || r.nonce.empty() || r.signature.empty())
    return unauthenticated("signature_required",
                           "signed requests carry X-Tanpu-Key-Id, X-Tanpu-Timestamp, "
                           "X-Tanpu-Nonce and X-Tanpu-Signature");
  std::int64_t ts_s = 0;
  const auto [end, ec] =
      std::from_chars(r.timestamp.data(), r.timestamp.data() + r.timestamp.size(), ts_s);
  if (ec != std::errc() || end != r.timestamp.data() + r.timestamp.size())
    return unauthenticated("invalid_timestamp", "X-Tanpu-Timestamp must be Unix seconds");
  const std::int64_t now_s = clock_.now_us() / 1'000'000;
  if (ts_s < now_s - kSignatureSkewMax_s || ts_s > now_s + kSignatureSkewMax_s)
    return unauthenticated("stale_timestamp",
                           "X-Tanpu-Timestamp is more than 300 s from the server's clock (" +
                               std::to_string(now_s) + ")");
  if (!nonce_well_formed(r.nonce))
    return unauthenticated("invalid_nonce", "X-Tanpu-Nonce must be 16-64 of [A-Za-z0-9_-]");
  auto secret = secret_of(source_id, r.key_id);
  if (!secret) return fail(secret.error());
  const std::string expected = sign(*secret, r.method, r.path, r.timestamp, r.nonce, r.body);
  if (!constant_time_equal(as_bytes(expected), as_bytes(r.signature)))
    return unauthenticated("bad_signature",
                           "X-Tanpu-Signature does not match the request (docs/ingestion.md shows "
                           "the string to sign)");
  return std::string(r.key_id);
}

Result<std::int64_t> Sources::purge_nonces() {
  const std::int64_t before = clock_.now_us() - 2 * kSignatureSkewMax_s * 1'000'000;
  return store_.write_value<std::int64_t>([&](store::Connection& c) -> Result<std::int64_t> {
    auto n = c.exec("DELETE FROM ingest_nonces WHERE seen_at_us < ?", {before});
    if (!n) return fail(n.error());
    return *n;
  });
}

}  // namespace tanpu::ingest
