#include "members/members.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <utility>

#include "core/assert.h"
#include "core/crypto.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/units.h"
#include "members/internal.h"
#include "store/key_rows.h"

namespace tanpu::members {
namespace {

// PII columns hold only ciphertexts (*_enc) and blind indexes (*_bidx); UNIQUE on each index makes
// the database, not a racy check, refuse a second registration of the same phone or e-mail (NULLs
// do not clash, so members with only one of the two are fine).
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE members (
  id {{serial_pk}},
  role TEXT NOT NULL CHECK (role IN ('member', 'operator')),
  display_name TEXT NOT NULL,
  phone_enc {{blob}},
  phone_bidx {{blob}},
  email_enc {{blob}},
  email_bidx {{blob}},
  password_hash TEXT NOT NULL,
  points_account_id BIGINT NOT NULL DEFAULT 0,
  co2e_account_id BIGINT NOT NULL DEFAULT 0,
  created_at_us BIGINT NOT NULL
);
CREATE UNIQUE INDEX members_phone_bidx ON members (phone_bidx);
CREATE UNIQUE INDEX members_email_bidx ON members (email_bidx);
CREATE TABLE member_sessions (
  token_hash {{blob}} NOT NULL PRIMARY KEY,
  member_id BIGINT NOT NULL REFERENCES members (id),
  created_at_us BIGINT NOT NULL,
  expires_at_us BIGINT NOT NULL,
  revoked_at_us BIGINT
) {{without_rowid}};
CREATE INDEX member_sessions_member ON member_sessions (member_id);
)sql";

// Reviewer grants (evidence claims, docs/ingestion.md). A table of its own rather than a third
// value of members.role: the CHECK on role cannot be changed in place on SQLite, and a grant keeps
// who gave it and when. A revoked grant keeps its row with revoked_at_us set.
constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE member_reviewers (
  member_id BIGINT NOT NULL PRIMARY KEY REFERENCES members (id),
  granted_by BIGINT,
  granted_at_us BIGINT NOT NULL,
  revoked_at_us BIGINT
);
)sql";

// Login attempt counters (Options::login_*): subject is an HMAC of "login"/"address"/"member" and
// the value, so neither identifiers nor addresses are stored in clear. A session's end (logout,
// revocation) also moves its expires_at_us to that moment, so one index finds every ended session.
constexpr std::string_view kSchemaV3 = R"sql(
CREATE TABLE member_login_throttle (
  subject {{blob}} NOT NULL PRIMARY KEY,
  attempts BIGINT NOT NULL,
  window_start_us BIGINT NOT NULL,
  locked_until_us BIGINT NOT NULL
) {{without_rowid}};
CREATE INDEX member_login_throttle_window ON member_login_throttle (window_start_us);
CREATE INDEX member_sessions_expiry ON member_sessions (expires_at_us);
UPDATE member_sessions SET expires_at_us = revoked_at_us
  WHERE revoked_at_us IS NOT NULL AND revoked_at_us < expires_at_us;
)sql";

// Closed accounts (close_account): the row stays, erased, with the moment it was closed.
constexpr std::string_view kSchemaV4 = R"sql(
ALTER TABLE members ADD COLUMN closed_at_us BIGINT;
)sql";

constexpr std::array kMigrations{
    store::Migration{"members", 1, "members_and_sessions", kSchemaV1},
    store::Migration{"members", 2, "reviewer_grants", kSchemaV2},
    store::Migration{"members", 3, "login_throttle_and_session_purge", kSchemaV3},
    store::Migration{"members", 4, "account_closure", kSchemaV4},
};

// The live reviewer grant of a member, as a column of a query on members m.
constexpr std::string_view kIsReviewer =
    "CASE WHEN EXISTS (SELECT 1 FROM member_reviewers r WHERE r.member_id = m.id AND "
    "r.revoked_at_us IS NULL) THEN 1 ELSE 0 END";

constexpr std::uint32_t kMemberAccountFlags = ledger::account_flags::debits_must_not_exceed_credits;
// The owner kind of a member's ledger accounts; the owner id is the member id in decimal.
constexpr const char* kAccountOwner = "member";

// Registration input after validation: identifiers normalised, display name trimmed.
struct Prepared {
  std::optional<std::string> phone;
  std::optional<std::string> email;
  std::string display_name;
};

// The stored form of one optional personal field.
struct SealedField {
  std::vector<std::uint8_t> enc;
  Sha256Digest bidx{};
  bool present = false;

  store::Param enc_param() const {
    return present ? store::Param(std::span<const std::uint8_t>(enc)) : store::Param(nullptr);
  }
  store::Param bidx_param() const {
    return present ? store::Param(std::span<const std::uint8_t>(bidx)) : store::Param(nullptr);
  }
};

SealedField seal(const Keys& keys, PiiField field, const std::optional<std::string>& value) {
  if (!value) return {};
  return {encrypt_pii(keys, field, *value), blind_index(keys, field, *value), true};
}

std::string_view trim_ascii(std::string_view s) {
  constexpr std::string_view space = " \t\r\n\f\v";
  const std::size_t first = s.find_first_not_of(space);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(space) - first + 1);
}

// Length of the UTF-8 sequence at s[i] if it is well formed and not a control character, else 0.
std::size_t printable_utf8_at(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return (b0 < 0x20 || b0 == 0x7F) ? 0 : 1;
  const std::size_t n = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : b0 >= 0xC2 ? 2 : 0;
  if (n == 0 || b0 > 0xF4 || i + n > s.size()) return 0;
  std::uint32_t cp = b0 & (0x7FU >> n);
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (b & 0x3FU);
  }
  const std::uint32_t min_cp = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
  const bool bad =
      cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x80 && cp <= 0x9F);
  return bad ? 0 : n;
}

bool printable_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = printable_utf8_at(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

Result<std::string> validate_display_name(std::string_view input) {
  const std::string_view name = trim_ascii(input);
  if (name.empty()) {
    return fail(ErrorKind::invalid, "display_name_required", "display_name must not be empty",
                "display_name");
  }
  if (name.size() > limits::display_name_bytes_max) {
    return fail(
        ErrorKind::invalid, "display_name_too_long",
        "display_name is longer than " + std::to_string(limits::display_name_bytes_max) + " bytes",
        "display_name");
  }
  if (!printable_utf8(name)) {
    return fail(ErrorKind::invalid, "invalid_display_name",
                "display_name must be UTF-8 text without control characters", "display_name");
  }
  return std::string(name);
}

Result<Prepared> prepare(const RegisterInput& input) {
  if (!input.phone && !input.email) {
    return fail(ErrorKind::invalid, "phone_or_email_required",
                "give a phone number, an e-mail address or both", "phone");
  }
  Prepared out;
  if (input.phone) {
    auto phone = normalise_phone(*input.phone);
    if (!phone) return fail(phone.error());
    out.phone = std::move(*phone);
  }
  if (input.email) {
    auto email = normalise_email(*input.email);
    if (!email) return fail(email.error());
    out.email = std::move(*email);
  }
  if (auto ok = detail::validate_password(input.password); !ok) return fail(ok.error());
  auto name = validate_display_name(input.display_name);
  if (!name) return fail(name.error());
  out.display_name = std::move(*name);
  return out;
}

// The role of members.role (`text`), a member with a live reviewer grant being a reviewer.
Role parse_role(std::string_view text, bool reviewer = false) {
  TANPU_ASSERT_MSG(text == "member" || text == "operator", "members.role holds an unknown role");
  if (text == "operator") return Role::operator_;
  return reviewer ? Role::reviewer : Role::member;
}

std::string base64url(std::span<const std::uint8_t> bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(),
                                static_cast<int>(bytes.size()));
  TANPU_ASSERT(n >= 0);
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::unexpected<Error> invalid_credentials() {
  return fail(ErrorKind::unauthenticated, "invalid_credentials",
              "the login or the password is wrong");
}

std::unexpected<Error> already_registered(std::string_view field) {
  return fail(ErrorKind::conflict, "already_registered",
              std::string(field) + " is already registered to a member", std::string(field));
}

struct Credentials {
  std::int64_t member_id = 0;
  std::string password_hash;
};

// The member id after a token's secret part ("." and 1 to 18 digits, no leading zero); nullopt
// if there is none or it is malformed.
std::optional<std::int64_t> token_hint(std::string_view token) {
  if (token.size() <= kSessionTokenBytes + 1 ||
      token[kSessionTokenBytes] != kSessionTokenHintSeparator)
    return std::nullopt;
  const std::string_view digits = token.substr(kSessionTokenBytes + 1);
  if (digits.size() > 18 || digits.front() == '0') return std::nullopt;
  std::int64_t id = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    id = id * 10 + (c - '0');
  }
  return id;
}

}  // namespace

namespace detail {

// A well-formed token can be looked up; anything else is refused without touching the database.
bool well_formed_token(std::string_view token) {
  if (token.size() < kSessionTokenBytes || !token.starts_with(kSessionTokenPrefix)) return false;
  if (token.size() > kSessionTokenBytes && !token_hint(token)) return false;
  return std::ranges::all_of(
      token.substr(kSessionTokenPrefix.size(), kSessionTokenBytes - kSessionTokenPrefix.size()),
      [](const char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_';
      });
}

std::unexpected<Error> invalid_session(std::string why) {
  return fail(ErrorKind::unauthenticated, "invalid_session", std::move(why));
}

Result<void> validate_password(std::string_view password, std::string_view field) {
  if (password.size() < limits::password_bytes_min) {
    return fail(ErrorKind::invalid, "password_too_short",
                std::string(field) + " must have at least " +
                    std::to_string(limits::password_bytes_min) + " bytes",
                std::string(field));
  }
  if (password.size() > limits::password_bytes_max) {
    return fail(ErrorKind::invalid, "password_too_long",
                std::string(field) + " must have at most " +
                    std::to_string(limits::password_bytes_max) + " bytes",
                std::string(field));
  }
  return {};
}

}  // namespace detail

using detail::invalid_session;
using detail::well_formed_token;

std::span<const store::Migration> migrations() {
  return kMigrations;
}

std::string_view to_string(Role role) {
  switch (role) {
    case Role::operator_:
      return "operator";
    case Role::reviewer:
      return "reviewer";
    case Role::member:
      break;
  }
  return "member";
}

Members::Members(store::Store& store, ledger::Ledger& ledger, Keys keys, const Clock& clock,
                 Options options)
    : store_(store), ledger_(ledger), keys_(keys), clock_(clock), options_(std::move(options)) {
  TANPU_ASSERT(options_.session_ttl_s > 0 && options_.session_ttl_s <= 400LL * 24 * 3600);
  TANPU_ASSERT(options_.login_window_s > 0 && options_.login_lock_s > 0);
  TANPU_ASSERT(options_.login_attempts_per_login_max > 0 &&
               options_.login_failures_per_address_max > 0);
  TANPU_ASSERT(options_.sessions_per_member_max > 0 && options_.ended_session_retention_s >= 0);
  TANPU_ASSERT_MSG(keys_.data_key != keys_.index_key, "data and index keys must differ");
  auto dummy = hash_password("tanpu: no such member", options_.password);
  TANPU_ASSERT_MSG(dummy.has_value(), "argon2id could not hash at start");
  dummy_hash_ = std::move(*dummy);
}

Result<MemberView> Members::register_member(const RegisterInput& input, Role role) {
  auto prepared = prepare(input);
  if (!prepared) return fail(prepared.error());
  // Hashing is slow on purpose; it happens here so the writer is never held for it.
  auto hash = hash_password(input.password, options_.password);
  if (!hash) return fail(hash.error());
  RegisterInput normalised{prepared->phone, prepared->email, {}, prepared->display_name};
  return insert_member(normalised, role, std::move(*hash));
}

Result<MemberView> Members::insert_member(const RegisterInput& in, Role role,
                                          std::string password_hash) {
  const SealedField phone = seal(keys_, PiiField::phone, in.phone);
  const SealedField email = seal(keys_, PiiField::email, in.email);
  MemberView view{0,
                  in.display_name,
                  in.phone ? std::optional(mask_phone(*in.phone)) : std::nullopt,
                  in.email ? std::optional(mask_email(*in.email)) : std::nullopt,
                  role,
                  0,
                  0,
                  clock_.now_us(),
                  std::nullopt};
  auto written = store_.write([&](store::Connection& c) -> Result<void> {
    auto rows = c.query(
        "INSERT INTO members (role, display_name, phone_enc, phone_bidx, email_enc, email_bidx, "
        "password_hash, created_at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        {to_string(role == Role::reviewer ? Role::member : role),
         std::string_view(view.display_name), phone.enc_param(), phone.bidx_param(),
         email.enc_param(), email.bidx_param(), std::string_view(password_hash),
         view.created_at_us});
    if (!rows) return fail(rows.error());
    TANPU_ASSERT(rows->size() == 1);
    view.id = rows->i64(0, 0);
    const std::string owner = std::to_string(view.id);
    const std::array<ledger::NewAccount, 2> accounts{
        ledger::NewAccount{ledger::Currency::points, kAccountOwner, owner, kMemberAccountFlags},
        ledger::NewAccount{ledger::Currency::co2e_mg, kAccountOwner, owner, kMemberAccountFlags}};
    auto ids = ledger_.create_accounts(c, accounts);
    if (!ids) return fail(ids.error());
    TANPU_ASSERT(ids->size() == 2);
    view.points_account_id = (*ids)[0];
    view.co2e_account_id = (*ids)[1];
    auto updated =
        c.exec("UPDATE members SET points_account_id = ?, co2e_account_id = ? WHERE id = ?",
               {view.points_account_id, view.co2e_account_id, view.id});
    if (!updated) return fail(updated.error());
    TANPU_ASSERT(*updated == 1);
    if (role != Role::reviewer) return {};
    auto granted = c.exec(
        "INSERT INTO member_reviewers (member_id, granted_by, granted_at_us) VALUES (?, NULL, ?)",
        {view.id, view.created_at_us});
    if (!granted) return fail(granted.error());
    return {};
  });
  if (written) return view;
  if (written.error().code != store::kUniqueViolation) return fail(written.error());
  // Which of the two clashed, for the error's field; the refusal itself came from the UNIQUE index.
  auto lease = store_.acquire();
  if (lease && phone.present) {
    auto hit = (*lease)->query("SELECT 1 FROM members WHERE phone_bidx = ?", {phone.bidx_param()});
    if (hit && !hit->empty()) return already_registered("phone");
  }
  return already_registered(email.present ? "email" : "phone");
}

Result<Session> Members::login(std::string_view phone_or_email, std::string_view password,
                               std::string_view remote_addr, std::int64_t* retry_after_s) {
  std::optional<Credentials> found;
  const bool is_email = phone_or_email.find('@') != std::string_view::npos;
  const PiiField field = is_email ? PiiField::email : PiiField::phone;
  auto normalised = is_email ? normalise_email(phone_or_email) : normalise_phone(phone_or_email);
  // Counted before any work, so parallel guesses cannot outrun the lock; an identifier that does
  // not normalise is counted as sent (bounded: the route caps its length).
  const Sha256Digest login_subject =
      throttle_subject("login", normalised ? std::string_view(*normalised) : phone_or_email);
  std::vector<Sha256Digest> subjects{login_subject};
  std::vector<std::int64_t> maxima{options_.login_attempts_per_login_max};
  if (!remote_addr.empty()) {
    subjects.push_back(throttle_subject("address", remote_addr));
    maxima.push_back(options_.login_failures_per_address_max);
  }
  auto admitted = admit_attempt(subjects, maxima, retry_after_s);
  if (!admitted) return fail(admitted.error());
  if (!*admitted) {
    return fail(ErrorKind::rate_limited, "too_many_attempts",
                "too many login attempts for this login or from this address; try again later");
  }
  if (normalised) {
    const Sha256Digest bidx = blind_index(keys_, field, *normalised);
    auto lease = store_.acquire();
    if (!lease) return fail(lease.error());
    auto rows =
        (*lease)->query(is_email ? "SELECT id, password_hash FROM members WHERE email_bidx = ?"
                                 : "SELECT id, password_hash FROM members WHERE phone_bidx = ?",
                        {std::span<const std::uint8_t>(bidx)});
    if (!rows) return fail(rows.error());
    if (!rows->empty()) found = Credentials{rows->i64(0, 0), std::string(rows->text(0, 1))};
  }
  // Unknown identifiers and over-long passwords still cost one argon2id verification, so the time
  // an answer takes does not tell whether the phone or e-mail is registered.
  const bool bounded = password.size() <= limits::password_bytes_max;
  const std::string& hash = found ? found->password_hash : dummy_hash_;
  auto ok = verify_password(bounded ? password : std::string_view{}, hash);
  if (!ok) return fail(ok.error());
  if (!found || !bounded || !*ok) return invalid_credentials();
  forgive_attempt(login_subject, subjects.size() > 1 ? &subjects[1] : nullptr);
  if (needs_rehash(hash, options_.password)) upgrade_hash(found->member_id, password, hash);
  return new_session(found->member_id);
}

void Members::upgrade_hash(std::int64_t member_id, std::string_view password,
                           std::string_view old_hash) {
  auto fresh = hash_password(password, options_.password);
  if (!fresh) {
    log::warn("password_rehash_failed", {{"member_id", member_id}, {"error", fresh.error().code}});
    return;
  }
  // Conditional on the old hash, so a password changed meanwhile is not overwritten.
  auto done = store_.write([&](store::Connection& c) -> Result<void> {
    auto n = c.exec("UPDATE members SET password_hash = ? WHERE id = ? AND password_hash = ?",
                    {std::string_view(*fresh), member_id, old_hash});
    if (!n) return fail(n.error());
    return {};
  });
  if (!done) {
    log::warn("password_rehash_failed", {{"member_id", member_id}, {"error", done.error().code}});
  }
}

Result<Session> Members::new_session(std::int64_t member_id) {
  std::array<std::uint8_t, 32> secret{};
  random_bytes(secret);
  Session session{.token = std::string(kSessionTokenPrefix) + base64url(secret) +
                           kSessionTokenHintSeparator + std::to_string(member_id),
                  .member_id = member_id,
                  .expires_at_us = 0};
  TANPU_ASSERT(well_formed_token(session.token));
  const Sha256Digest token_hash = sha256(session.token);
  const std::int64_t now = clock_.now_us();
  const auto expires = checked_add(now, options_.session_ttl_s * 1'000'000);
  TANPU_ASSERT(expires.has_value());
  session.expires_at_us = *expires;
  auto written = store_.write([&](store::Connection& c) -> Result<void> {
    auto n = c.exec(
        "INSERT INTO member_sessions (token_hash, member_id, created_at_us, expires_at_us) "
        "VALUES (?, ?, ?, ?)",
        {std::span<const std::uint8_t>(token_hash), member_id, now, session.expires_at_us});
    if (!n) return fail(n.error());
    TANPU_ASSERT(*n == 1);
    // At most sessions_per_member_max live sessions: the oldest beyond end now.
    auto ended = c.exec(
        "UPDATE member_sessions SET revoked_at_us = ?, expires_at_us = ? WHERE member_id = ? AND "
        "revoked_at_us IS NULL AND expires_at_us > ? AND token_hash NOT IN (SELECT token_hash FROM "
        "member_sessions WHERE member_id = ? AND revoked_at_us IS NULL AND expires_at_us > ? "
        "ORDER BY created_at_us DESC, token_hash DESC LIMIT ?)",
        {now, now, member_id, now, member_id, now, options_.sessions_per_member_max});
    if (!ended) return fail(ended.error());
    return {};
  });
  if (!written) return fail(written.error());
  return session;
}

Result<void> Members::logout(std::string_view token) {
  if (!well_formed_token(token)) return invalid_session("the session token is malformed");
  const Sha256Digest token_hash = sha256(token);
  const std::int64_t now = clock_.now_us();
  std::int64_t revoked = 0;
  auto written = store_.write([&](store::Connection& c) -> Result<void> {
    auto n = c.exec(
        "UPDATE member_sessions SET revoked_at_us = ?, expires_at_us = ? "
        "WHERE token_hash = ? AND revoked_at_us IS NULL AND expires_at_us > ?",
        {now, now, std::span<const std::uint8_t>(token_hash), now});
    if (!n) return fail(n.error());
    revoked = *n;
    return {};
  });
  if (!written) return fail(written.error());
  TANPU_ASSERT(revoked == 0 || revoked == 1);  // token_hash is the primary key
  if (revoked == 0) return invalid_session("the session is unknown, expired or ended already");
  return {};
}

Result<Principal> Members::authenticate(std::string_view token) {
  auto st = session_statement(token);
  if (!st) return fail(st.error());
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  return principal_from((*lease)->query(st->sql(), st->params()));
}

Result<store::Statement> Members::session_statement(std::string_view token) {
  if (!well_formed_token(token)) return invalid_session("the session token is malformed");
  static const std::string sql =
      "SELECT s.member_id, s.expires_at_us, s.revoked_at_us, m.role, " + std::string(kIsReviewer) +
      " FROM member_sessions s JOIN members m ON m.id = s.member_id WHERE s.token_hash = ?";
  const Sha256Digest token_hash = sha256(token);
  store::Statement st(sql);
  st.bind_owned(std::span<const std::uint8_t>(token_hash));
  return st;
}

std::optional<std::int64_t> Members::member_hint(std::string_view token) {
  if (!well_formed_token(token)) return std::nullopt;
  return token_hint(token);
}

Result<Principal> Members::principal_from(Result<store::Rows> rows) {
  if (!rows) return fail(rows.error());
  if (rows->empty()) return invalid_session("the session is unknown");
  if (!rows->is_null(0, 2)) return invalid_session("the session was ended");
  if (clock_.now_us() >= rows->i64(0, 1)) return invalid_session("the session has expired");
  return Principal{rows->i64(0, 0), parse_role(rows->text(0, 3), rows->i64(0, 4) != 0)};
}

Result<MemberView> Members::get(std::int64_t member_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto rows = (*lease)->query(
      "SELECT m.id, m.role, m.display_name, m.phone_enc, m.email_enc, m.points_account_id, "
      "m.co2e_account_id, m.created_at_us, " +
          std::string(kIsReviewer) + ", m.closed_at_us FROM members m WHERE m.id = ?",
      {member_id});
  if (!rows) return fail(rows.error());
  if (rows->empty()) return fail(ErrorKind::not_found, "not_found", "no such member");
  MemberView view{rows->i64(0, 0),
                  std::string(rows->text(0, 2)),
                  std::nullopt,
                  std::nullopt,
                  parse_role(rows->text(0, 1), rows->i64(0, 8) != 0),
                  rows->i64(0, 5),
                  rows->i64(0, 6),
                  rows->i64(0, 7),
                  std::nullopt};
  TANPU_ASSERT(view.points_account_id > 0 && view.co2e_account_id > 0);
  if (!rows->is_null(0, 9)) view.closed_at_us = rows->i64(0, 9);
  if (!rows->is_null(0, 3)) {
    auto phone = decrypt_pii(keys_, PiiField::phone, rows->blob(0, 3));
    if (!phone) return fail(phone.error());
    view.phone_masked = mask_phone(*phone);
  }
  if (!rows->is_null(0, 4)) {
    auto email = decrypt_pii(keys_, PiiField::email, rows->blob(0, 4));
    if (!email) return fail(email.error());
    view.email_masked = mask_email(*email);
  }
  return view;
}

Result<MemberView> Members::grant_reviewer(std::int64_t member_id, std::int64_t granted_by) {
  auto written = store_.write([&](store::Connection& c) -> Result<void> {
    auto exists = c.query("SELECT 1 FROM members WHERE id = ?", {member_id});
    if (!exists) return fail(exists.error());
    if (exists->empty()) return fail(ErrorKind::not_found, "not_found", "no such member");
    // A live grant stays as it was (who and when); a revoked one is granted anew.
    auto n = c.exec(
        "INSERT INTO member_reviewers (member_id, granted_by, granted_at_us) VALUES (?, ?, ?) "
        "ON CONFLICT (member_id) DO UPDATE SET granted_by = excluded.granted_by, "
        "granted_at_us = excluded.granted_at_us, revoked_at_us = NULL "
        "WHERE member_reviewers.revoked_at_us IS NOT NULL",
        {member_id, granted_by, clock_.now_us()});
    if (!n) return fail(n.error());
    return {};
  });
  if (!written) return fail(written.error());
  return get(member_id);
}

Result<MemberView> Members::revoke_reviewer(std::int64_t member_id) {
  auto written = store_.write([&](store::Connection& c) -> Result<void> {
    auto n = c.exec(
        "UPDATE member_reviewers SET revoked_at_us = ? WHERE member_id = ? AND revoked_at_us IS "
        "NULL",
        {clock_.now_us(), member_id});
    if (!n) return fail(n.error());
    if (*n == 0)
      return fail(ErrorKind::not_found, "not_found", "this member holds no reviewer grant");
    return {};
  });
  if (!written) return fail(written.error());
  return get(member_id);
}

Result<std::unordered_map<std::int64_t, Members::LedgerAccounts>> Members::ledger_accounts(
    store::Connection& c, std::span<const std::int64_t> member_ids) {
  // One statement of keys (store::KeyRows): a list of the batch's size as its own statement text
  // would be prepared again for nearly every batch.
  store::KeyRows keys(c.dialect(), {{"id", store::KeyType::bigint}});
  for (const std::int64_t id : member_ids) keys.add({id});
  std::unordered_map<std::int64_t, LedgerAccounts> out;
  auto read = keys.join(c, "m.id, m.points_account_id, m.co2e_account_id", "members", "m",
                        "m.id = k.id", {}, [&](const store::Rows& rows) {
                          for (std::size_t r = 0; r < rows.size(); ++r)
                            out[rows.i64(r, 0)] = LedgerAccounts{rows.i64(r, 1), rows.i64(r, 2)};
                        });
  if (!read) return fail(read.error());
  return out;
}

Result<ledger::Account> Members::points_account(store::Connection& c, std::int64_t member_id) {
  const store::Statement st = points_account_statement(member_id);
  return points_account_from(c.query(st.sql(), st.params()));
}

store::Statement Members::points_account_statement(std::int64_t member_id) {
  return ledger::Ledger::owner_account_statement(ledger::Currency::points, kAccountOwner,
                                                 std::to_string(member_id));
}

Result<ledger::Account> Members::points_account_from(Result<store::Rows> rows) {
  auto account = ledger::Ledger::owner_account_from(std::move(rows));
  if (!account && account.error().code == "account_not_found") {
    return fail(ErrorKind::not_found, "member_not_found", "no such member");
  }
  return account;
}

}  // namespace tanpu::members
