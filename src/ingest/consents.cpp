#include "ingest/consents.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "core/crypto.h"
#include "ingest/text.h"
#include "store/key_rows.h"

namespace tanpu::ingest {
namespace {

constexpr std::string_view kConsentColumns =
    "c.source_id, s.name, c.partner_user_ref, c.member_id, c.scenarios, c.granted_at_us, "
    "c.revoked_at_us";

Consent consent_at(const store::Rows& rows, std::size_t i) {
  return Consent{std::string(rows.text(i, 0)),
                 std::string(rows.text(i, 1)),
                 std::string(rows.text(i, 2)),
                 rows.i64(i, 3),
                 split_list(rows.text(i, 4)),
                 rows.i64(i, 5),
                 rows.is_null(i, 6) ? std::nullopt : std::optional<std::int64_t>(rows.i64(i, 6))};
}

// Codes are typed by people: case and the dashes are forgiven.
std::string normalise_code(std::string_view code) {
  std::string out;
  for (const char c : code)
    if (c != '-' && c != ' ') out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::unexpected<Error> invalid_code() {
  return fail(ErrorKind::not_found, "invalid_binding_code",
              "this binding code is unknown, used or expired: ask the partner app for a new one",
              "code");
}

// Moves the source's consents version (Consents::consents_version), in the transaction that
// changes one of its consents.
Result<void> bump_consents_version(store::Connection& c, std::string_view source_id) {
  auto n = c.exec("UPDATE ingest_sources SET consents_version = consents_version + 1 WHERE id = ?",
                  {source_id});
  if (!n) return fail(n.error());
  return {};
}

}  // namespace

Consents::Consents(store::Store& store, const Clock& clock) : store_(store), clock_(clock) {}

Result<Binding> Consents::create_binding(std::string_view source_id,
                                         std::string_view partner_user_ref) {
  if (partner_user_ref.empty())
    return fail(ErrorKind::invalid, "partner_user_ref_required", "partner_user_ref is required",
                "partner_user_ref");
  if (partner_user_ref.size() > kPartnerUserRefBytesMax)
    return fail(ErrorKind::invalid, "partner_user_ref_too_long", "at most 128 bytes",
                "partner_user_ref");
  std::array<std::uint8_t, 6> raw{};
  random_bytes(raw);
  std::string hex = to_hex(raw);
  for (char& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  Binding out{"BND-" + hex.substr(0, 4) + "-" + hex.substr(4, 4) + "-" + hex.substr(8, 4),
              clock_.now_us() + kBindingTtl_s * 1'000'000};
  const auto hash = sha256(normalise_code(out.code));
  auto written = store_.write([&](store::Connection& c) -> Result<void> {
    auto exists = c.query("SELECT 1 FROM ingest_sources WHERE id = ?", {source_id});
    if (!exists) return fail(exists.error());
    if (exists->empty()) return fail(ErrorKind::not_found, "not_found", "no such data source");
    auto ins = c.exec(
        "INSERT INTO ingest_bindings (code_hash, source_id, partner_user_ref, "
        "created_at_us, expires_at_us) VALUES (?, ?, ?, ?, ?)",
        {std::span<const std::uint8_t>(hash), source_id, partner_user_ref, clock_.now_us(),
         out.expires_at_us});
    if (!ins) return fail(ins.error());
    return {};
  });
  if (!written) return fail(written.error());
  return out;
}

Result<Consent> Consents::grant(std::int64_t member_id, std::string_view code) {
  const auto hash = sha256(normalise_code(code));
  const std::int64_t now = clock_.now_us();
  std::string source_id;
  auto written = store_.write([&](store::Connection& c) -> Result<void> {
    auto rows = c.query(
        "SELECT b.source_id, b.partner_user_ref, s.scenarios FROM ingest_bindings "
        "b JOIN ingest_sources s ON s.id = b.source_id WHERE b.code_hash = ? AND "
        "b.used_at_us IS NULL AND b.expires_at_us > ?",
        {std::span<const std::uint8_t>(hash), now});
    if (!rows) return fail(rows.error());
    if (rows->empty()) return invalid_code();
    source_id = std::string(rows->text(0, 0));
    const std::string ref(rows->text(0, 1));
    const std::string scenarios(rows->text(0, 2));
    auto used = c.exec("UPDATE ingest_bindings SET used_at_us = ? WHERE code_hash = ?",
                       {now, std::span<const std::uint8_t>(hash)});
    if (!used) return fail(used.error());
    auto ins = c.exec(
        "INSERT INTO ingest_consents (source_id, partner_user_ref, member_id, "
        "scenarios, granted_at_us) VALUES (?, ?, ?, ?, ?)",
        {std::string_view(source_id), std::string_view(ref), member_id, std::string_view(scenarios),
         now});
    if (!ins) return fail(ins.error());
    return bump_consents_version(c, source_id);
  });
  if (!written) {
    if (written.error().code == store::kUniqueViolation)
      return fail(ErrorKind::conflict, "already_bound",
                  "this partner account or this member already has a live grant for the source: "
                  "revoke it first",
                  "code");
    return fail(written.error());
  }
  auto all = list(member_id);
  if (!all) return fail(all.error());
  for (auto& consent : *all)
    if (consent.source_id == source_id && !consent.revoked_at_us) return std::move(consent);
  return fail(ErrorKind::internal, "consent_vanished", "the grant just written was not found");
}

Result<std::vector<Consent>> Consents::list(std::int64_t member_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto rows = (*lease)->query("SELECT " + std::string(kConsentColumns) +
                                  " FROM ingest_consents c JOIN ingest_sources s ON s.id = "
                                  "c.source_id WHERE c.member_id = ? ORDER BY c.id DESC",
                              {member_id});
  if (!rows) return fail(rows.error());
  std::vector<Consent> out;
  for (std::size_t i = 0; i < rows->size(); ++i) out.push_back(consent_at(*rows, i));
  return out;
}

Result<Consent> Consents::revoke(std::int64_t member_id, std::string_view source_id) {
  const std::int64_t now = clock_.now_us();
  auto n = store_.write_value<std::int64_t>([&](store::Connection& c) -> Result<std::int64_t> {
    auto revoked = c.exec(
        "UPDATE ingest_consents SET revoked_at_us = ? WHERE member_id = ? AND source_id "
        "= ? AND revoked_at_us IS NULL",
        {now, member_id, source_id});
    if (!revoked || *revoked == 0) return revoked;
    if (auto r = bump_consents_version(c, source_id); !r) return fail(r.error());
    return revoked;
  });
  if (!n) return fail(n.error());
  if (*n == 0)
    return fail(ErrorKind::not_found, "not_found", "no live grant for this source", "source_id");
  auto all = list(member_id);
  if (!all) return fail(all.error());
  for (auto& consent : *all)
    if (consent.source_id == source_id && consent.revoked_at_us == now) return std::move(consent);
  return fail(ErrorKind::internal, "consent_vanished", "the revoked grant was not found");
}

Result<std::unordered_map<std::string, Consents::LiveGrant>> Consents::live_grants(
    store::Connection& c, std::string_view source_id, std::span<const std::string> refs) {
  std::unordered_map<std::string, LiveGrant> out;
  store::KeyRows keys(c.dialect(), {{"ref", store::KeyType::text}});
  for (const std::string& ref : refs) keys.add({std::string_view(ref)});
  const store::Param source{source_id};
  auto found =
      keys.join(c, "c.partner_user_ref, c.member_id, c.scenarios", "ingest_consents", "c",
                "c.source_id = ? AND c.partner_user_ref = k.ref AND c.revoked_at_us IS NULL",
                {&source, 1}, [&](const store::Rows& rows) {
                  for (std::size_t r = 0; r < rows.size(); ++r)
                    out[std::string(rows.text(r, 0))] =
                        LiveGrant{rows.i64(r, 1), split_list(rows.text(r, 2))};
                });
  if (!found) return fail(found.error());
  return out;
}

Result<std::int64_t> Consents::consents_version(store::Connection& c, std::string_view source_id) {
  auto rows = c.query("SELECT consents_version FROM ingest_sources WHERE id = ?", {source_id});
  if (!rows) return fail(rows.error());
  if (rows->empty()) return fail(ErrorKind::not_found, "not_found", "no such source", "source_id");
  return rows->i64(0, 0);
}

}  // namespace tanpu::ingest
