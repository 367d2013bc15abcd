// Members on both engines: registration, the ledger accounts, PII at rest, sessions.
#include "members/members.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "core/limits.h"
#include "members/members_fixture.h"

namespace tanpu::test {
namespace {

using members::RegisterInput;
using members::Role;

class MembersTest : public MembersFixture {
 protected:
  struct Counts {
    std::int64_t members = 0;
    std::int64_t sessions = 0;
    std::int64_t accounts = 0;
    bool operator==(const Counts&) const = default;
  };
  Counts counts() { return {count("members"), count("member_sessions"), count("ledger_accounts")}; }

  Result<members::Session> login(std::string_view id, std::string_view password = "s3cret-pass") {
    return members_->login(id, password);
  }

  static void expect_error(const Error& e, ErrorKind kind, std::string_view code,
                           std::string_view field) {
    EXPECT_EQ(e.kind, kind) << e.code;
    EXPECT_EQ(e.code, code);
    EXPECT_EQ(e.field, field) << e.code;
  }
};

TEST_P(MembersTest, RegistersWithPhone) {
  const auto view = must_register("13812345678", std::nullopt);
  EXPECT_GT(view.id, 0);
  EXPECT_EQ(view.phone_masked, "+86 138****5678");
  EXPECT_EQ(view.email_masked, std::nullopt);
  EXPECT_EQ(view.display_name, "Test Member");
  EXPECT_EQ(view.role, Role::member);
  EXPECT_EQ(view.created_at_us, kStartUs);
  auto got = members_->get(view.id);
  ASSERT_OK(got);
  EXPECT_EQ(got->phone_masked, view.phone_masked);
  EXPECT_EQ(got->email_masked, std::nullopt);
  EXPECT_EQ(got->points_account_id, view.points_account_id);
  EXPECT_EQ(got->co2e_account_id, view.co2e_account_id);
  EXPECT_EQ(got->created_at_us, kStartUs);
}

TEST_P(MembersTest, RegistersWithEmail) {
  const auto view = must_register(std::nullopt, "  Alice@Example.com ");
  EXPECT_EQ(view.phone_masked, std::nullopt);
  EXPECT_EQ(view.email_masked, "a***@example.com");
  auto got = members_->get(view.id);
  ASSERT_OK(got);
  EXPECT_EQ(got->email_masked, "a***@example.com");
  EXPECT_EQ(got->phone_masked, std::nullopt);
}

TEST_P(MembersTest, RegistersWithBothAndTrimsTheName) {
  const Counts before = counts();
  auto view =
      members_->register_member({"+8613812345678", "bob@example.org", "s3cret-pass", "  Bob 张  "});
  ASSERT_OK(view);
  EXPECT_EQ(view->display_name, "Bob 张");
  auto got = members_->get(view->id);
  ASSERT_OK(got);
  EXPECT_EQ(got->display_name, "Bob 张");
  EXPECT_EQ(got->phone_masked, "+86 138****5678");
  EXPECT_EQ(got->email_masked, "b***@example.org");
  EXPECT_EQ(counts(), (Counts{before.members + 1, before.sessions, before.accounts + 2}));
}

TEST_P(MembersTest, CreatesTwoFlaggedLedgerAccounts) {
  const auto view = must_register("13812345678", std::nullopt);
  ASSERT_NE(view.points_account_id, view.co2e_account_id);
  const std::pair<std::int64_t, ledger::Currency> expected[] = {
      {view.points_account_id, ledger::Currency::points},
      {view.co2e_account_id, ledger::Currency::co2e_mg}};
  for (const auto& [id, currency] : expected) {
    auto account = ledger_->lookup_account(id);
    ASSERT_OK(account);
    EXPECT_EQ(account->currency, currency);
    EXPECT_EQ(account->owner_kind, "member");
    EXPECT_EQ(account->owner_id, std::to_string(view.id));
    EXPECT_EQ(account->flags, ledger::account_flags::debits_must_not_exceed_credits);
    EXPECT_EQ(account->balance(), 0);
  }
}

struct BadInput {
  const char* name;
  RegisterInput input;
  const char* code;
  const char* field;
};

TEST_P(MembersTest, RefusesMalformedInputAndWritesNothing) {
  const std::string ok_pass = "s3cret-pass";
  const BadInput cases[] = {
      {"neither", {std::nullopt, std::nullopt, ok_pass, "N"}, "phone_or_email_required", "phone"},
      {"bad phone", {"12345", std::nullopt, ok_pass, "N"}, "invalid_phone", "phone"},
      {"bad phone 2", {"12812345678", std::nullopt, ok_pass, "N"}, "invalid_phone", "phone"},
      {"bad email", {std::nullopt, "alice@", ok_pass, "N"}, "invalid_email", "email"},
      {"bad email with good phone", {"13812345678", "a@b", ok_pass, "N"}, "invalid_email", "email"},
      {"long email",
       {std::nullopt, std::string(64, 'a') + "@" + std::string(200, 'b') + ".com", ok_pass, "N"},
       "email_too_long",
       "email"},
      {"short password",
       {"13812345678", std::nullopt, "1234567", "N"},
       "password_too_short",
       "password"},
      {"long password",
       {"13812345678", std::nullopt, std::string(limits::password_bytes_max + 1, 'p'), "N"},
       "password_too_long",
       "password"},
      {"empty name",
       {"13812345678", std::nullopt, ok_pass, "   "},
       "display_name_required",
       "display_name"},
      {"long name",
       {"13812345678", std::nullopt, ok_pass, std::string(limits::display_name_bytes_max + 1, 'n')},
       "display_name_too_long",
       "display_name"},
      {"control char",
       {"13812345678", std::nullopt, ok_pass, "a\x01z"},
       "invalid_display_name",
       "display_name"},
      {"bad utf-8",
       {"13812345678", std::nullopt, ok_pass, "a\xC3"},
       "invalid_display_name",
       "display_name"},
  };
  const Counts before = counts();
  for (const BadInput& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = members_->register_member(c.input);
    ASSERT_FALSE(r.has_value());
    expect_error(r.error(), ErrorKind::invalid, c.code, c.field);
  }
  EXPECT_EQ(counts(), before);
}

TEST_P(MembersTest, LimitsAreInclusive) {
  auto r = members_->register_member({"13812345678", std::nullopt,
                                      std::string(limits::password_bytes_min, 'p'),
                                      std::string(limits::display_name_bytes_max, 'n')});
  EXPECT_OK(r);
  auto r2 = members_->register_member(
      {"13812345679", std::nullopt, std::string(limits::password_bytes_max, 'p'), "N"});
  EXPECT_OK(r2);
}

TEST_P(MembersTest, SamePhoneInAnotherFormatIsAlreadyRegistered) {
  must_register("13800138000", std::nullopt);
  const Counts before = counts();
  for (const char* phone : {"+8613800138000", "+86 138-0013-8000", "13800138000"}) {
    auto r = members_->register_member({phone, "new@example.com", "s3cret-pass", "Other"});
    ASSERT_FALSE(r.has_value()) << phone;
    expect_error(r.error(), ErrorKind::conflict, "already_registered", "phone");
  }
  EXPECT_EQ(counts(), before);
}

TEST_P(MembersTest, SameEmailInAnotherCaseIsAlreadyRegistered) {
  must_register(std::nullopt, "carol@example.com");
  const Counts before = counts();
  auto r = members_->register_member({"13900000000", " CAROL@Example.COM", "s3cret-pass", "C"});
  ASSERT_FALSE(r.has_value());
  expect_error(r.error(), ErrorKind::conflict, "already_registered", "email");
  EXPECT_EQ(counts(), before);
}

TEST_P(MembersTest, ConcurrentRegistrationsOfOnePhoneLetExactlyOneIn) {
  constexpr int kThreads = 8;
  const char* formats[] = {"13800138000", "+8613800138000", "+86 138 0013 8000", "138-0013-8000"};
  std::vector<Result<members::MemberView>> results(kThreads,
                                                   fail(ErrorKind::internal, "unset", ""));
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      results[static_cast<std::size_t>(i)] = members_->register_member(
          {formats[i % 4], std::nullopt, "s3cret-pass", "Racer " + std::to_string(i)});
    });
  }
  for (auto& t : threads) t.join();
  int ok = 0;
  for (const auto& r : results) {
    if (r) {
      ++ok;
    } else {
      expect_error(r.error(), ErrorKind::conflict, "already_registered", "phone");
    }
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(count("members"), 1);
  EXPECT_EQ(count("ledger_accounts WHERE owner_kind = 'member'"), 2);
}

// The member's points account with its balance in one read (the market's check before an order):
// the account registration created, never the other member's or the co2e one; unknown members are
// member_not_found.
TEST_P(MembersTest, PointsAccountIsTheMembersWithItsBalance) {
  const auto a = must_register(std::nullopt, "a@example.com");
  const auto b = must_register(std::nullopt, "b@example.com");
  fund(a, 700);
  fund(b, 40);
  auto lease = db_->store().acquire();
  ASSERT_OK(lease);
  auto got = members_->points_account(**lease, a.id);
  ASSERT_OK(got);
  EXPECT_EQ(got->id, a.points_account_id);
  EXPECT_EQ(got->currency, ledger::Currency::points);
  EXPECT_EQ(got->available(), 700);
  auto other = members_->points_account(**lease, b.id);
  ASSERT_OK(other);
  EXPECT_EQ(other->id, b.points_account_id);
  EXPECT_EQ(other->available(), 40);
  auto missing = members_->points_account(**lease, b.id + 1000);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, "member_not_found");
}

TEST_P(MembersTest, DatabaseHoldsNoPlaintextPiiNoRawToken) {
  const auto view = must_register("13812345678", "Dave.Secret@Example.com");
  auto session = login("13812345678");
  ASSERT_OK(session);
  const std::string token_body = session->token.substr(members::kSessionTokenPrefix.size());
  const std::vector<std::string> secrets = {"13812345678",  "8613812345678", "dave.secret",
                                            "Dave.Secret",  "example.com",   "s3cret-pass",
                                            session->token, token_body};
  auto lease = db_->store().acquire();
  ASSERT_OK(lease);
  const std::pair<const char*, std::size_t> scans[] = {
      {"SELECT role, display_name, phone_enc, phone_bidx, email_enc, email_bidx, password_hash "
       "FROM members",
       7},
      {"SELECT token_hash FROM member_sessions", 1},
      {"SELECT owner_kind, owner_id FROM ledger_accounts", 2}};
  for (const auto& [sql, columns] : scans) {
    auto rows = (*lease)->query(sql);
    ASSERT_OK(rows);
    ASSERT_FALSE(rows->empty()) << sql;
    for (std::size_t r = 0; r < rows->size(); ++r) {
      for (std::size_t c = 0; c < columns; ++c) {
        const std::string_view cell = rows->text(r, c);
        for (const std::string& secret : secrets) {
          EXPECT_EQ(cell.find(secret), std::string_view::npos) << sql << " column " << c;
        }
      }
    }
  }
  // Pair check: what is stored is the sealed value and the blind index of the normalised value.
  auto row = (*lease)->query("SELECT phone_enc, phone_bidx, email_bidx FROM members WHERE id = ?",
                             {view.id});
  ASSERT_OK(row);
  auto phone = members::decrypt_pii(keys_, members::PiiField::phone, row->blob(0, 0));
  ASSERT_OK(phone);
  EXPECT_EQ(*phone, "+8613812345678");
  const auto bidx = members::blind_index(keys_, members::PiiField::phone, "+8613812345678");
  EXPECT_TRUE(std::ranges::equal(row->blob(0, 1), bidx));
  const auto email_bidx =
      members::blind_index(keys_, members::PiiField::email, "dave.secret@example.com");
  EXPECT_TRUE(std::ranges::equal(row->blob(0, 2), email_bidx));
  auto token_hash = (*lease)->query("SELECT token_hash FROM member_sessions");
  ASSERT_OK(token_hash);
  EXPECT_TRUE(std::ranges::equal(token_hash->blob(0, 0), sha256(session->token)));
}

TEST_P(MembersTest, LoginWithEitherIdentifierInAnyFormat) {
  const auto view = must_register("13812345678", "erin@example.com");
  for (const char* id :
       {"13812345678", "+86 138 1234 5678", "ERIN@example.com", " erin@example.com"}) {
    auto session = login(id);
    ASSERT_OK(session);
    EXPECT_TRUE(session->token.starts_with("tps_")) << session->token;
    EXPECT_EQ(session->token.substr(members::kSessionTokenBytes), "." + std::to_string(view.id));
    EXPECT_EQ(session->member_id, view.id);
    EXPECT_EQ(session->expires_at_us, kStartUs + members::Options{}.session_ttl_s * 1'000'000);
    auto who = members_->authenticate(session->token);
    ASSERT_OK(who);
    EXPECT_EQ(who->member_id, view.id);
    EXPECT_EQ(who->role, Role::member);
  }
  EXPECT_EQ(count("member_sessions"), 4);
}

// A token ends in its member's id: a hint for reading the member's data in the round trip that
// reads the session. The token's hash covers it, so a token naming another member has no session.
TEST_P(MembersTest, ATokenNamesItsMemberAndOnlyItsOwnSessionConfirmsIt) {
  const auto view = must_register(std::nullopt, "hint@example.com");
  const auto other = must_register(std::nullopt, "other@example.com");
  auto session = login("hint@example.com");
  ASSERT_OK(session);
  EXPECT_EQ(members::Members::member_hint(session->token), view.id);
  auto statement = members::Members::session_statement(session->token);
  ASSERT_OK(statement);
  auto lease = db_->store().acquire();
  ASSERT_OK(lease);
  auto who = members_->principal_from((*lease)->query(statement->sql(), statement->params()));
  ASSERT_OK(who);
  EXPECT_EQ(who->member_id, view.id);

  const std::string secret = session->token.substr(0, members::kSessionTokenBytes);
  const std::string renamed = secret + "." + std::to_string(other.id);
  EXPECT_EQ(members::Members::member_hint(renamed), other.id);
  auto refused = members_->authenticate(renamed);
  ASSERT_FALSE(refused.has_value());
  expect_error(refused.error(), ErrorKind::unauthenticated, "invalid_session", "");
  for (const std::string suffix :
       {".", ".0", ".01", ".-1", ".1a", ". 1", "1", "..1", ".1 ", ".1234567890123456789"}) {
    const std::string token = secret + suffix;
    EXPECT_FALSE(members::Members::member_hint(token).has_value()) << token;
    EXPECT_FALSE(members::Members::session_statement(token).has_value()) << token;
    auto r = members_->authenticate(token);
    ASSERT_FALSE(r.has_value()) << token;
    expect_error(r.error(), ErrorKind::unauthenticated, "invalid_session", "");
  }
}

// Tokens issued before tokens named their member are the secret part alone, and stay valid.
TEST_P(MembersTest, ATokenWithoutAMemberHintIsStillASession) {
  const auto view = must_register(std::nullopt, "legacy@example.com");
  const std::string legacy = "tps_" + std::string(43, 'L');
  insert_session(legacy, view.id);
  EXPECT_FALSE(members::Members::member_hint(legacy).has_value());
  auto who = members_->authenticate(legacy);
  ASSERT_OK(who);
  EXPECT_EQ(who->member_id, view.id);
  ASSERT_OK(members_->logout(legacy));
  EXPECT_FALSE(members_->authenticate(legacy).has_value());
}

TEST_P(MembersTest, WrongPasswordAndUnknownLoginLookTheSame) {
  must_register("13812345678", std::nullopt);
  const Counts before = counts();
  std::vector<Error> errors;
  for (auto [id, password] : std::vector<std::pair<std::string, std::string>>{
           {"13812345678", "wrong-pass"},
           {"13812345679", "s3cret-pass"},
           {"nobody@example.com", "s3cret-pass"},
           {"not an identifier", "s3cret-pass"},
           {"13812345678", ""},
           {"13812345678", std::string(limits::password_bytes_max + 1, 'x')}}) {
    auto r = login(id, password);
    ASSERT_FALSE(r.has_value()) << id;
    errors.push_back(r.error());
  }
  for (const Error& e : errors) {
    expect_error(e, ErrorKind::unauthenticated, "invalid_credentials", "");
    EXPECT_EQ(e.message, errors[0].message);
  }
  EXPECT_EQ(counts(), before);
}

TEST_P(MembersTest, SessionExpiresByTheClock) {
  must_register("13812345678", std::nullopt);
  members::Options short_ttl = options();
  short_ttl.session_ttl_s = 60;
  members_ = make_members(short_ttl);
  auto session = login("13812345678");
  ASSERT_OK(session);
  EXPECT_EQ(session->expires_at_us, kStartUs + 60'000'000);
  clock_.advance_us(59'999'999);
  EXPECT_OK(members_->authenticate(session->token));
  clock_.advance_us(1);
  auto r = members_->authenticate(session->token);
  ASSERT_FALSE(r.has_value());
  expect_error(r.error(), ErrorKind::unauthenticated, "invalid_session", "");
  auto out = members_->logout(session->token);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().code, "invalid_session");
}

TEST_P(MembersTest, LogoutRevokesOnlyThatSession) {
  must_register("13812345678", std::nullopt);
  auto first = login("13812345678");
  auto second = login("13812345678");
  ASSERT_OK(first);
  ASSERT_OK(second);
  ASSERT_OK(members_->logout(first->token));
  auto r = members_->authenticate(first->token);
  ASSERT_FALSE(r.has_value());
  expect_error(r.error(), ErrorKind::unauthenticated, "invalid_session", "");
  EXPECT_OK(members_->authenticate(second->token));
  auto again = members_->logout(first->token);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, "invalid_session");
  auto lease = db_->store().acquire();
  ASSERT_OK(lease);
  auto revoked =
      (*lease)->query("SELECT COUNT(*) FROM member_sessions WHERE revoked_at_us = ?", {kStartUs});
  ASSERT_OK(revoked);
  EXPECT_EQ(revoked->i64(0, 0), 1);
}

TEST_P(MembersTest, RefusesMalformedAndUnknownTokens) {
  const std::string unknown = "tps_" + std::string(43, 'A');
  for (const std::string& token :
       {std::string(), std::string("tps_"), std::string("garbage"), unknown,
        "tps_" + std::string(42, 'A'), "tps_" + std::string(42, 'A') + "!",
        "tpx_" + std::string(43, 'A')}) {
    auto r = members_->authenticate(token);
    ASSERT_FALSE(r.has_value()) << token;
    expect_error(r.error(), ErrorKind::unauthenticated, "invalid_session", "");
  }
}

TEST_P(MembersTest, OperatorRoleIsAuthenticatedAsOperator) {
  const auto view = must_register(std::nullopt, "op@example.com", Role::operator_);
  EXPECT_EQ(view.role, Role::operator_);
  auto session = login("op@example.com");
  ASSERT_OK(session);
  auto who = members_->authenticate(session->token);
  ASSERT_OK(who);
  EXPECT_EQ(who->role, Role::operator_);
  auto got = members_->get(view.id);
  ASSERT_OK(got);
  EXPECT_EQ(got->role, Role::operator_);
}

TEST_P(MembersTest, GetUnknownIsNotFound) {
  auto r = members_->get(424242);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::not_found);
  EXPECT_EQ(r.error().code, "not_found");
}

TEST_P(MembersTest, LoginUpgradesAHashMadeWithOlderParameters) {
  const auto view = must_register("13812345678", std::nullopt);
  members::Options stronger = options();
  stronger.password.memory_kib = 512;
  stronger.password.passes = 2;
  members_ = make_members(stronger);
  ASSERT_OK(login("13812345678"));
  auto lease = db_->store().acquire();
  ASSERT_OK(lease);
  auto rows = (*lease)->query("SELECT password_hash FROM members WHERE id = ?", {view.id});
  ASSERT_OK(rows);
  EXPECT_FALSE(members::needs_rehash(rows->text(0, 0), stronger.password)) << rows->text(0, 0);
  EXPECT_OK(login("13812345678"));  // the upgraded hash still verifies
  auto wrong = login("13812345678", "not-the-pass");
  EXPECT_FALSE(wrong.has_value());
}

TANPU_INSTANTIATE_ENGINES(MembersTest);

}  // namespace
}  // namespace tanpu::test
