// Consent: a member's explicit, recorded, revocable grant that a data source may report their
// behaviour. The partner proves who its user is by asking tanpu (signed) for a one-time binding
// code for its pseudonymous user reference; the member redeems the code in tanpu, which records the
// grant. Records of partner users without a live grant are refused (no_consent).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "store/store.h"

namespace tanpu::ingest {

inline constexpr std::int64_t kBindingTtl_s = 600;
inline constexpr std::size_t kPartnerUserRefBytesMax = 128;

struct Binding {
  std::string code;  // "BND-" + 12 upper-case hex in groups of four; shown once
  std::int64_t expires_at_us = 0;
};

struct Consent {
  std::string source_id;
  std::string source_name;
  std::string partner_user_ref;
  std::int64_t member_id = 0;
  std::vector<std::string> scenarios;  // what the member granted: the source's scenarios then
  std::int64_t granted_at_us = 0;
  std::optional<std::int64_t> revoked_at_us;
};

class Consents {
 public:
  Consents(store::Store& store, const Clock& clock);

  // A one-time code binding `partner_user_ref` of the source (the caller verified the source's
  // signature). Errors: partner_user_ref_required, partner_user_ref_too_long (invalid);
  // not_found (source).
  Result<Binding> create_binding(std::string_view source_id, std::string_view partner_user_ref);

  // The member redeems a binding code: records the grant. Errors: invalid_binding_code
  // (not_found: unknown, used or expired — one answer, so codes cannot be probed);
  // already_bound (conflict) when the partner user is bound to a member by a live grant, or the
  // member already has a live grant for this source (revoke it first).
  Result<Consent> grant(std::int64_t member_id, std::string_view code);

  // The member's grants, live and revoked, newest first.
  Result<std::vector<Consent>> list(std::int64_t member_id);

  // Revokes the member's live grant for the source. Errors: not_found.
  Result<Consent> revoke(std::int64_t member_id, std::string_view source_id);

  // A live grant as the intake pipeline needs it: the member, and the scenarios granted.
  struct LiveGrant {
    std::int64_t member_id = 0;
    std::vector<std::string> scenarios;
  };
  // The live grants of the source's partner users among `refs`, read in the caller's
  // transaction (the pipeline credits in the same one). Refs without a live grant are absent.
  static Result<std::unordered_map<std::string, LiveGrant>> live_grants(
      store::Connection& c, std::string_view source_id, std::span<const std::string> refs);
  // The version of the source's consents as c reads it: every transaction that grants or revokes
  // one moves it, so grants read at one version are still the live grants while it is unchanged.
  // Errors: not_found (source).
  static Result<std::int64_t> consents_version(store::Connection& c, std::string_view source_id);

 private:
  store::Store& store_;
  const Clock& clock_;
};

}  // namespace tanpu::ingest
