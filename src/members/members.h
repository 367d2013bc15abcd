// Members: registration, login sessions and each member's personal carbon account (a points account
// and a co2e_mg account in the ledger). Phone and e-mail are stored encrypted with a blind index
// (pii.h); passwords as argon2id hashes (password.h); session tokens only as their SHA-256.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "core/time.h"
#include "ledger/ledger.h"
#include "members/password.h"
#include "members/pii.h"
#include "store/migrate.h"
#include "store/store.h"

namespace tanpu::members {

// The members module's tables (module "members"). They need the ledger's tables as well.
std::span<const store::Migration> migrations();

// A reviewer is a member granted the right to decide evidence claims (member_reviewers); the
// members.role column keeps 'member' for them, so the grant can be revoked without rewriting it.
enum class Role : std::uint8_t { member, operator_, reviewer };

// "member", "operator" or "reviewer".
std::string_view to_string(Role role);

// Who is calling: the result of authenticating a session token.
struct Principal {
  std::int64_t member_id = 0;
  Role role = Role::member;
};

// A member as answers show them: personal data masked, never in clear.
struct MemberView {
  std::int64_t id = 0;
  std::string display_name;
  std::optional<std::string> phone_masked;  // "+86 138****5678"; nullopt if none
  std::optional<std::string> email_masked;  // "a***@example.com"; nullopt if none
  Role role = Role::member;
  std::int64_t points_account_id = 0;  // ledger account, currency points
  std::int64_t co2e_account_id = 0;    // ledger account, currency co2e_mg
  std::int64_t created_at_us = 0;
  std::optional<std::int64_t> closed_at_us;  // set once the member closed their account
};

struct RegisterInput {
  std::optional<std::string> phone;  // any accepted format (pii.h normalise_phone)
  std::optional<std::string> email;
  std::string password;
  std::string display_name;
};

// A new login session. The token is shown once, here; the database keeps only its SHA-256.
struct Session {
  std::string token;  // "tps_" + 43 base64url characters (32 random bytes) + "." + member id
  std::int64_t member_id = 0;
  std::int64_t expires_at_us = 0;
};

inline constexpr std::string_view kSessionTokenPrefix = "tps_";
inline constexpr std::size_t kSessionTokenBytes = 47;  // prefix + base64url(32 bytes), unpadded
// A token's secret part is followed by "." and the member's id (Members::member_hint); tokens
// issued before 2026-12-07 have the secret part alone, and stay valid.
inline constexpr char kSessionTokenHintSeparator = '.';

struct Options {
  // A session is valid this long after login (no sliding renewal).
  std::int64_t session_ttl_s = 30LL * 24 * 3600;
  // argon2id cost for new hashes; stored hashes with other parameters are upgraded at login.
  PasswordParams password;
  // Password guessing. Attempts are counted per login identifier (registered or not) and per client
  // address in a fixed window; a login's count restarts after a success, an address's counts only
  // failures. Past the maximum the subject is locked: attempts are refused (429
  // too_many_attempts) without checking the password until the lock ends.
  std::int64_t login_window_s = 15 * 60;
  std::int64_t login_attempts_per_login_max = 10;
  std::int64_t login_failures_per_address_max = 100;
  std::int64_t login_lock_s = 15 * 60;
  // Live sessions per member: a login beyond ends the oldest.
  std::int64_t sessions_per_member_max = 20;
  // Ended sessions (expired, logged out, revoked) are deleted this long after they ended.
  std::int64_t ended_session_retention_s = 7LL * 24 * 3600;
};

// A live session as its member sees it. The id is the first 8 bytes of the token's SHA-256 in hex:
// it names the session without being a credential.
struct SessionInfo {
  std::string id;
  std::int64_t created_at_us = 0;
  std::int64_t expires_at_us = 0;
  bool current = false;
};

// What closing an account did.
struct ClosureReceipt {
  std::int64_t member_id = 0;
  std::int64_t closed_at_us = 0;
  std::int64_t points_forfeited = 0;  // the available balance, returned to the platform
};

// A module's part of closing an account, run inside the closing transaction (before the member's
// points are forfeited and personal data erased). Returning an error refuses the closure and
// undoes everything.
using ClosureHook =
    std::function<Result<void>(store::Connection& c, std::int64_t member_id, std::int64_t now_us)>;

// A module's part of a member's data export: adds its sections (arrays of objects, see
// store::export_section) to `out`, reading through `c`.
using ExportHook =
    std::function<Result<void>(store::Connection& c, std::int64_t member_id, nlohmann::json& out)>;

// What purge() removed.
struct PurgeCounts {
  std::int64_t sessions = 0;
  std::int64_t throttles = 0;
};

class Members {
 public:
  // Hashes one dummy password (so that logins for unknown identifiers cost as much as real ones).
  // store must have the ledger's and this module's migrations applied. All references must outlive
  // this object.
  Members(store::Store& store, ledger::Ledger& ledger, Keys keys, const Clock& clock,
          Options options = {});

  // Registers a member with role (a reviewer is a member with a reviewer grant), creating the
  // member row and the member's two ledger accounts (points and co2e_mg, owner "member"/<id>,
  // debits_must_not_exceed_credits) in one transaction. Requires at least one of phone and e-mail.
  // Errors name their field: phone_or_email_required, invalid_phone, invalid_email, email_too_long,
  // password_too_short, password_too_long, display_name_required, display_name_too_long,
  // invalid_display_name (all invalid); already_registered (conflict) if the phone or e-mail
  // belongs to a member already.
  Result<MemberView> register_member(const RegisterInput& input, Role role = Role::member);

  // Starts a session for the member whose phone or e-mail is phone_or_email (any accepted format)
  // if password is theirs. Errors: invalid_credentials (unauthenticated) for an unknown identifier
  // and for a wrong password alike, after similar work; too_many_attempts (rate_limited) while the
  // identifier or remote_addr (the client's address; empty: not counted) is locked (Options), and
  // then *retry_after_s is set to the seconds until the lock ends.
  Result<Session> login(std::string_view phone_or_email, std::string_view password,
                        std::string_view remote_addr = {}, std::int64_t* retry_after_s = nullptr);

  // Changes the password of the member of the live session `token` after checking the current one
  // (counted like logins, per member), and ends every other session of the member. Errors:
  // invalid_session; wrong_password (forbidden, field current_password); too_many_attempts (and
  // *retry_after_s); password_too_short / password_too_long (field new_password);
  // password_unchanged (invalid, field new_password).
  Result<void> change_password(std::string_view token, std::string_view current_password,
                               std::string_view new_password,
                               std::int64_t* retry_after_s = nullptr);

  // The live sessions of the member of `token`, newest first (current marks that one).
  // Errors: invalid_session.
  Result<std::vector<SessionInfo>> sessions(std::string_view token);

  // Ends the member's live session with this id (SessionInfo::id). Errors: invalid_session;
  // not_found (no live session of theirs with that id).
  Result<void> end_session(std::string_view token, std::string_view session_id);

  // Ends every live session of the member but the one of `token`; returns how many ended.
  // Errors: invalid_session.
  Result<std::int64_t> end_other_sessions(std::string_view token);

  // Closes the account of the member of `token` after checking their password (counted like
  // logins, per member): runs every closure hook, forfeits the available points to the platform
  // (ledger code account_closure), erases phone, e-mail, password and display name, and ends every
  // session, in one transaction. The ledger accounts stay, owned by the now pseudonymous member id;
  // reductions stay counted. Errors: invalid_session; wrong_password (forbidden, field password);
  // too_many_attempts (and *retry_after_s); operator_cannot_close (forbidden); a hook's error.
  Result<ClosureReceipt> close_account(std::string_view token, std::string_view password,
                                       std::int64_t* retry_after_s = nullptr);

  // Adds a module's part of closing an account (before serving; not thread-safe).
  void add_closure_hook(ClosureHook hook) { closure_hooks_.push_back(std::move(hook)); }

  // Everything tanpu keeps about the member, for the member (architecture.md §11): the profile with
  // phone and e-mail in clear, sessions, both ledger accounts and every transfer, then each export
  // hook's sections. Sections are bounded by store::kExportRowsMax (named in "truncated" if cut).
  // Secrets (password hash, token hashes beyond their ids, voucher secrets) are never included.
  // Errors: not_found.
  Result<nlohmann::json> export_data(std::int64_t member_id);

  // Adds a module's part of the export (before serving; not thread-safe).
  void add_export_hook(ExportHook hook) { export_hooks_.push_back(std::move(hook)); }

  // Deletes sessions ended longer ago than Options::ended_session_retention_s and login counters
  // whose window and lock are over; at most max_rows of each per call. Run by the scheduler.
  Result<PurgeCounts> purge(std::int64_t max_rows = 10'000);

  // Revokes the session of token. Errors: invalid_session (unauthenticated) if it is not a live
  // session (unknown, expired or revoked already).
  Result<void> logout(std::string_view token);

  // Who token belongs to. Errors: invalid_session (unauthenticated) if the token is malformed,
  // unknown, expired (by the Clock) or revoked.
  Result<Principal> authenticate(std::string_view token);

  // authenticate in two halves, for a caller that reads the session with its own statements in
  // one round trip (Connection::run_all): the session's statement (Errors: invalid_session if the
  // token is malformed), then its rows as the principal (Errors: as authenticate).
  static Result<store::Statement> session_statement(std::string_view token);
  Result<Principal> principal_from(Result<store::Rows> rows);

  // The member a well-formed token names, unverified: a hint to read that member's data in the
  // same round trip as the session, which then must confirm it. The hint is part of the token, so
  // its hash (the session's key) covers it. nullopt: malformed, or a token without a hint.
  static std::optional<std::int64_t> member_hint(std::string_view token);

  // The member's view. Errors: not_found.
  Result<MemberView> get(std::int64_t member_id);

  // The ledger accounts (points, co2e_mg) of members, read in the caller's transaction (the
  // ingestion pipeline credits them in the same one). Unknown ids are absent from the answer.
  struct LedgerAccounts {
    std::int64_t points_account_id = 0;
    std::int64_t co2e_account_id = 0;
  };
  Result<std::unordered_map<std::int64_t, LedgerAccounts>> ledger_accounts(
      store::Connection& c, std::span<const std::int64_t> member_ids);
  // The member's points account with its balance, in one statement. Errors: member_not_found.
  Result<ledger::Account> points_account(store::Connection& c, std::int64_t member_id);
  // points_account as a statement to run with others in one round trip (Connection::run_all), and
  // the account in what it came to. Errors: member_not_found.
  static store::Statement points_account_statement(std::int64_t member_id);
  static Result<ledger::Account> points_account_from(Result<store::Rows> rows);

  // Grants the reviewer role to member `member_id` (recorded with `granted_by` and the time);
  // granting it again is a no-op. An operator keeps the operator role (operators review anyway).
  // Errors: not_found.
  Result<MemberView> grant_reviewer(std::int64_t member_id, std::int64_t granted_by);

  // Revokes a reviewer grant at once (the member's live sessions become member sessions).
  // Errors: not_found (no such member, or no live grant).
  Result<MemberView> revoke_reviewer(std::int64_t member_id);

  const Options& options() const { return options_; }

 private:
  Result<MemberView> insert_member(const RegisterInput& input, Role role,
                                   std::string password_hash);
  void upgrade_hash(std::int64_t member_id, std::string_view password, std::string_view old_hash);
  Result<Session> new_session(std::int64_t member_id);
  // Counts one attempt against each subject (Options) and tells whether all are unlocked; if not,
  // *retry_after_s is the wait. Subjects are keyed HMACs, never the clear identifier or address.
  Result<bool> admit_attempt(std::span<const Sha256Digest> subjects,
                             std::span<const std::int64_t> maxima, std::int64_t* retry_after_s);
  // After a success: the login's (or member's) count starts again, the address's forgets one.
  void forgive_attempt(const Sha256Digest& login_subject, const Sha256Digest* address_subject);
  Sha256Digest throttle_subject(std::string_view kind, std::string_view value) const;
  // The member of a live session, and that session's token hash. Errors: invalid_session.
  Result<std::pair<std::int64_t, Sha256Digest>> live_session(std::string_view token);

  store::Store& store_;
  ledger::Ledger& ledger_;
  Keys keys_;
  const Clock& clock_;
  Options options_;
  std::string dummy_hash_;  // verified against when the identifier is unknown
  std::vector<ClosureHook> closure_hooks_;
  std::vector<ExportHook> export_hooks_;
  // Checks the current password of a member (counted per member); returns the hash it matched.
  // Errors: wrong_password (forbidden, naming field), too_many_attempts.
  Result<std::string> check_own_password(std::int64_t member_id, std::string_view password,
                                         std::string_view field, std::int64_t* retry_after_s);
};

}  // namespace tanpu::members
