// Guarding accounts: login attempt counters, password change, a member's own sessions, and the
// purge of ended sessions and spent counters (docs/members.md, "Security").
#include <algorithm>
#include <string>

#include "core/assert.h"
#include "core/crypto.h"
#include "core/id.h"
#include "core/limits.h"
#include "core/log.h"
#include "members/internal.h"
#include "members/members.h"

namespace tanpu::members {
namespace {

constexpr std::size_t kSessionIdBytes = 8;
// A closed account keeps its row (the ledger accounts point at it) with nothing personal in it; no
// password verifies against this hash (it is not a PHC string), and no login finds the row.
constexpr std::string_view kClosedDisplayName = "closed account";
constexpr std::string_view kClosedPasswordHash = "!closed";

std::string session_id(std::span<const std::uint8_t> token_hash) {
  TANPU_ASSERT(token_hash.size() >= kSessionIdBytes);
  return to_hex(token_hash.first(kSessionIdBytes));
}

// Ends every live session of the member (but `keep`, if given). Returns how many ended.
Result<std::int64_t> end_sessions(store::Connection& c, std::int64_t member_id, std::int64_t now,
                                  const Sha256Digest* keep) {
  // An ended session's expiry moves to the moment it ended: one index finds it for the purge.
  if (keep == nullptr) {
    return c.exec(
        "UPDATE member_sessions SET revoked_at_us = ?, expires_at_us = ? WHERE member_id = ? AND "
        "revoked_at_us IS NULL AND expires_at_us > ?",
        {now, now, member_id, now});
  }
  return c.exec(
      "UPDATE member_sessions SET revoked_at_us = ?, expires_at_us = ? WHERE member_id = ? AND "
      "token_hash <> ? AND revoked_at_us IS NULL AND expires_at_us > ?",
      {now, now, member_id, std::span<const std::uint8_t>(*keep), now});
}

std::int64_t ceil_seconds(std::int64_t us) {
  return (us + 999'999) / 1'000'000;
}

}  // namespace

Sha256Digest Members::throttle_subject(std::string_view kind, std::string_view value) const {
  std::string message = "tanpu-throttle:";
  message += kind;
  message += '\0';
  message += value;
  return hmac_sha256(keys_.index_key, message);
}

Result<bool> Members::admit_attempt(std::span<const Sha256Digest> subjects,
                                    std::span<const std::int64_t> maxima,
                                    std::int64_t* retry_after_s) {
  TANPU_ASSERT(subjects.size() == maxima.size());
  const std::int64_t now = clock_.now_us();
  const std::int64_t window_cutoff = now - options_.login_window_s * 1'000'000;
  const std::int64_t lock_until = now + options_.login_lock_s * 1'000'000;
  std::int64_t locked_until_max = 0;
  auto written = store_.write([&](store::Connection& c) -> Result<void> {
    locked_until_max = 0;
    for (std::size_t i = 0; i < subjects.size(); ++i) {
      // One statement, so two servers counting the same subject at once both count. A locked
      // subject stays as it is; after its window or its lock is over it starts again at one.
      const store::Param subject{std::span<const std::uint8_t>(subjects[i])};
      auto rows = c.query(
          "INSERT INTO member_login_throttle AS t (subject, attempts, window_start_us, "
          "locked_until_us) VALUES (?, 1, ?, CASE WHEN 1 > ? THEN ? ELSE 0 END) "
          "ON CONFLICT (subject) DO UPDATE SET "
          "attempts = CASE WHEN t.locked_until_us > ? THEN t.attempts "
          "WHEN t.window_start_us <= ? OR t.locked_until_us > 0 THEN 1 ELSE t.attempts + 1 END, "
          "window_start_us = CASE WHEN t.locked_until_us > ? THEN t.window_start_us "
          "WHEN t.window_start_us <= ? OR t.locked_until_us > 0 THEN ? ELSE t.window_start_us END, "
          "locked_until_us = CASE WHEN t.locked_until_us > ? THEN t.locked_until_us "
          "WHEN t.window_start_us > ? AND t.locked_until_us = 0 AND t.attempts + 1 > ? THEN ? "
          "ELSE 0 END "
          "RETURNING locked_until_us",
          {subject, now, maxima[i], lock_until, now, window_cutoff, now, window_cutoff, now, now,
           window_cutoff, maxima[i], lock_until});
      if (!rows) return fail(rows.error());
      TANPU_ASSERT(rows->size() == 1);
      locked_until_max = std::max(locked_until_max, rows->i64(0, 0));
    }
    return {};
  });
  if (!written) return fail(written.error());
  if (locked_until_max <= now) return true;
  if (retry_after_s != nullptr) *retry_after_s = ceil_seconds(locked_until_max - now);
  return false;
}

void Members::forgive_attempt(const Sha256Digest& login_subject,
                              const Sha256Digest* address_subject) {
  const std::int64_t now = clock_.now_us();
  auto written = store_.write([&](store::Connection& c) -> Result<void> {
    auto n = c.exec("DELETE FROM member_login_throttle WHERE subject = ? AND locked_until_us <= ?",
                    {std::span<const std::uint8_t>(login_subject), now});
    if (!n) return fail(n.error());
    if (address_subject == nullptr) return {};
    auto m = c.exec(
        "UPDATE member_login_throttle SET attempts = attempts - 1 WHERE subject = ? AND "
        "attempts > 0 AND locked_until_us <= ?",
        {std::span<const std::uint8_t>(*address_subject), now});
    if (!m) return fail(m.error());
    return {};
  });
  // The login itself succeeded; a counter left one too high only brings a lock nearer.
  if (!written) log::warn("login_counter_reset_failed", {{"error", written.error().message}});
}

Result<std::pair<std::int64_t, Sha256Digest>> Members::live_session(std::string_view token) {
  if (!detail::well_formed_token(token)) {
    return detail::invalid_session("the session token is malformed");
  }
  const Sha256Digest token_hash = sha256(token);
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto rows = (*lease)->query(
      "SELECT member_id FROM member_sessions WHERE token_hash = ? AND revoked_at_us IS NULL AND "
      "expires_at_us > ?",
      {std::span<const std::uint8_t>(token_hash), clock_.now_us()});
  if (!rows) return fail(rows.error());
  if (rows->empty()) return detail::invalid_session("the session is unknown, expired or ended");
  return std::pair{rows->i64(0, 0), token_hash};
}

Result<std::string> Members::check_own_password(std::int64_t member_id, std::string_view password,
                                                std::string_view field,
                                                std::int64_t* retry_after_s) {
  const Sha256Digest subject = throttle_subject("member", std::to_string(member_id));
  const std::int64_t maximum = options_.login_attempts_per_login_max;
  auto admitted = admit_attempt(std::span(&subject, 1), std::span(&maximum, 1), retry_after_s);
  if (!admitted) return fail(admitted.error());
  if (!*admitted) {
    return fail(ErrorKind::rate_limited, "too_many_attempts",
                "too many wrong passwords for this member; try again later");
  }
  std::string hash;
  {
    auto lease = store_.acquire();
    if (!lease) return fail(lease.error());
    auto rows = (*lease)->query("SELECT password_hash FROM members WHERE id = ?", {member_id});
    if (!rows) return fail(rows.error());
    TANPU_ASSERT(rows->size() == 1);
    hash = std::string(rows->text(0, 0));
  }
  const bool bounded = password.size() <= limits::password_bytes_max;
  auto ok = verify_password(bounded ? password : std::string_view{}, hash);
  if (!ok) return fail(ok.error());
  if (!bounded || !*ok) {
    return fail(ErrorKind::forbidden, "wrong_password", "the password is wrong",
                std::string(field));
  }
  forgive_attempt(subject, nullptr);
  return hash;
}

Result<void> Members::change_password(std::string_view token, std::string_view current_password,
                                      std::string_view new_password, std::int64_t* retry_after_s) {
  auto session = live_session(token);
  if (!session) return fail(session.error());
  const auto [member_id, token_hash] = *session;
  if (auto ok = detail::validate_password(new_password, "new_password"); !ok) return ok;
  auto old_hash =
      check_own_password(member_id, current_password, "current_password", retry_after_s);
  if (!old_hash) return fail(old_hash.error());
  if (new_password == current_password) {
    return fail(ErrorKind::invalid, "password_unchanged",
                "new_password is the same as the current password", "new_password");
  }
  auto fresh = hash_password(new_password, options_.password);
  if (!fresh) return fail(fresh.error());
  const std::int64_t now = clock_.now_us();
  bool changed = false;
  auto written = store_.write([&](store::Connection& c) -> Result<void> {
    // Conditional on the hash just checked: of two changes at once, the second is refused.
    auto n = c.exec("UPDATE members SET password_hash = ? WHERE id = ? AND password_hash = ?",
                    {std::string_view(*fresh), member_id, std::string_view(*old_hash)});
    if (!n) return fail(n.error());
    changed = *n == 1;
    if (!changed) return {};
    auto ended = end_sessions(c, member_id, now, &token_hash);
    if (!ended) return fail(ended.error());
    return {};
  });
  if (!written) return fail(written.error());
  if (!changed) {
    return fail(ErrorKind::conflict, "password_changed_meanwhile",
                "the password was changed by another request; sign in again if needed");
  }
  return {};
}

Result<ClosureReceipt> Members::close_account(std::string_view token, std::string_view password,
                                              std::int64_t* retry_after_s) {
  auto session = live_session(token);
  if (!session) return fail(session.error());
  const std::int64_t member_id = session->first;
  auto view = get(member_id);
  if (!view) return fail(view.error());
  if (view->role == Role::operator_) {
    return fail(ErrorKind::forbidden, "operator_cannot_close",
                "an operator account cannot be closed by its holder");
  }
  if (auto ok = check_own_password(member_id, password, "password", retry_after_s); !ok) {
    return fail(ok.error());
  }
  const std::int64_t now = clock_.now_us();
  ClosureReceipt receipt{member_id, now, 0};
  auto written = store_.write([&](store::Connection& c) -> Result<void> {
    receipt.points_forfeited = 0;
    auto closed = c.query("SELECT closed_at_us FROM members WHERE id = ?", {member_id});
    if (!closed) return fail(closed.error());
    if (closed->empty() || !closed->is_null(0, 0)) {
      return detail::invalid_session("the account is closed");
    }
    for (const ClosureHook& hook : closure_hooks_) {
      if (auto r = hook(c, member_id, now); !r) return r;
    }
    // After the hooks (an order's hold voided returns its points): what is left is forfeited.
    auto points = ledger_.lookup_account(c, view->points_account_id);
    if (!points) return fail(points.error());
    if (points->debits_pending > 0) {
      return fail(ErrorKind::conflict, "points_held",
                  "some points are still held by an open transaction; try again later");
    }
    if (points->available() > 0) {
      ledger::Transfer t;
      // Derived from the member, so a retried job writes the same transfer.
      Sha256 h;
      h.update(std::string_view("tanpu-account-closure:"));
      h.update(std::to_string(member_id));
      const Sha256Digest d = h.finish();
      t.id = Id128::from_bytes(std::span<const std::uint8_t>(d.data(), 16));
      t.debit_account_id = view->points_account_id;
      t.credit_account_id = ledger::kPlatformPointsAccount;
      t.amount = points->available();
      t.code = ledger::codes::account_closure;
      t.reference = "closure:" + std::to_string(member_id);
      std::vector<ledger::Transfer> one{t};
      auto applied = ledger_.create_transfers(c, one);
      if (!applied) return fail(applied.error());
      if (applied->statuses.front() != ledger::TransferStatus::ok) {
        return fail(ErrorKind::internal, "forfeit_refused",
                    "the ledger refused to return the closed account's points: " +
                        std::string(ledger::to_string(applied->statuses.front())));
      }
      receipt.points_forfeited = t.amount;
    }
    auto erased = c.exec(
        "UPDATE members SET display_name = ?, phone_enc = NULL, phone_bidx = NULL, email_enc = "
        "NULL, email_bidx = NULL, password_hash = ?, closed_at_us = ? WHERE id = ? AND "
        "closed_at_us IS NULL",
        {std::string_view(kClosedDisplayName), std::string_view(kClosedPasswordHash), now,
         member_id});
    if (!erased) return fail(erased.error());
    TANPU_ASSERT(*erased == 1);
    auto reviewer = c.exec(
        "UPDATE member_reviewers SET revoked_at_us = ? WHERE member_id = ? AND revoked_at_us IS "
        "NULL",
        {now, member_id});
    if (!reviewer) return fail(reviewer.error());
    auto ended = end_sessions(c, member_id, now, nullptr);
    if (!ended) return fail(ended.error());
    return {};
  });
  if (!written) return fail(written.error());
  log::info("account_closed",
            {{"member_id", member_id}, {"points_forfeited", receipt.points_forfeited}});
  return receipt;
}

Result<std::vector<SessionInfo>> Members::sessions(std::string_view token) {
  auto session = live_session(token);
  if (!session) return fail(session.error());
  const auto& [member_id, token_hash] = *session;
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto rows = (*lease)->query(
      "SELECT token_hash, created_at_us, expires_at_us FROM member_sessions WHERE member_id = ? "
      "AND revoked_at_us IS NULL AND expires_at_us > ? ORDER BY created_at_us DESC, token_hash "
      "DESC",
      {member_id, clock_.now_us()});
  if (!rows) return fail(rows.error());
  std::vector<SessionInfo> out;
  out.reserve(rows->size());
  for (std::size_t r = 0; r < rows->size(); ++r) {
    const auto hash = rows->blob(r, 0);
    out.push_back(SessionInfo{session_id(hash), rows->i64(r, 1), rows->i64(r, 2),
                              std::equal(hash.begin(), hash.end(), token_hash.begin())});
  }
  return out;
}

Result<void> Members::end_session(std::string_view token, std::string_view id) {
  auto session = live_session(token);
  if (!session) return fail(session.error());
  const std::int64_t member_id = session->first;
  const std::int64_t now = clock_.now_us();
  auto not_found = [] {
    return fail(ErrorKind::not_found, "session_not_found", "no live session of yours has this id",
                "id");
  };
  // The id is a prefix of the hash: find the member's live row that carries it (at most
  // sessions_per_member_max rows), then end that row.
  std::vector<std::uint8_t> target;
  {
    auto lease = store_.acquire();
    if (!lease) return fail(lease.error());
    auto rows = (*lease)->query(
        "SELECT token_hash FROM member_sessions WHERE member_id = ? AND revoked_at_us IS NULL AND "
        "expires_at_us > ?",
        {member_id, now});
    if (!rows) return fail(rows.error());
    for (std::size_t r = 0; r < rows->size() && target.empty(); ++r) {
      const auto hash = rows->blob(r, 0);
      if (session_id(hash) == id) target.assign(hash.begin(), hash.end());
    }
  }
  if (target.empty()) return not_found();
  auto written = store_.write([&](store::Connection& c) -> Result<void> {
    auto n = c.exec(
        "UPDATE member_sessions SET revoked_at_us = ?, expires_at_us = ? WHERE token_hash = ? AND "
        "member_id = ? AND revoked_at_us IS NULL AND expires_at_us > ?",
        {now, now, std::span<const std::uint8_t>(target), member_id, now});
    if (!n) return fail(n.error());
    if (*n == 0) return not_found();
    return {};
  });
  if (!written) return fail(written.error());
  return {};
}

Result<std::int64_t> Members::end_other_sessions(std::string_view token) {
  auto session = live_session(token);
  if (!session) return fail(session.error());
  const auto& [member_id, token_hash] = *session;
  const std::int64_t now = clock_.now_us();
  return store_.write_value<std::int64_t>([&](store::Connection& c) -> Result<std::int64_t> {
    return end_sessions(c, member_id, now, &token_hash);
  });
}

Result<PurgeCounts> Members::purge(std::int64_t max_rows) {
  TANPU_ASSERT(max_rows > 0);
  const std::int64_t now = clock_.now_us();
  const std::int64_t ended_before = now - options_.ended_session_retention_s * 1'000'000;
  const std::int64_t window_before = now - options_.login_window_s * 1'000'000;
  PurgeCounts counts;
  auto written = store_.write([&](store::Connection& c) -> Result<void> {
    auto s = c.exec(
        "DELETE FROM member_sessions WHERE token_hash IN (SELECT token_hash FROM member_sessions "
        "WHERE expires_at_us < ? LIMIT ?)",
        {ended_before, max_rows});
    if (!s) return fail(s.error());
    auto t = c.exec(
        "DELETE FROM member_login_throttle WHERE subject IN (SELECT subject FROM "
        "member_login_throttle WHERE window_start_us <= ? AND locked_until_us <= ? LIMIT ?)",
        {window_before, now, max_rows});
    if (!t) return fail(t.error());
    counts = PurgeCounts{*s, *t};
    return {};
  });
  if (!written) return fail(written.error());
  return counts;
}

}  // namespace tanpu::members
