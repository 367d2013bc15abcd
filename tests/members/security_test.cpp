// Guarding accounts on both engines: login attempt counters, password change, a member's own
// sessions, and the purge of ended sessions and spent counters.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/limits.h"
#include "members/members.h"
#include "members/members_fixture.h"

namespace tanpu::test {
namespace {

constexpr std::string_view kPhone = "13812345678";
constexpr std::string_view kPassword = "s3cret-pass";
constexpr std::int64_t kSecondUs = 1'000'000;

class MemberSecurityTest : public MembersFixture {
 protected:
  void SetUp() override {
    MembersFixture::SetUp();
    if (HasFatalFailure()) return;
    members::Options o = options();
    o.login_attempts_per_login_max = 3;
    o.login_failures_per_address_max = 5;
    o.login_window_s = 600;
    o.login_lock_s = 300;
    o.sessions_per_member_max = 3;
    o.ended_session_retention_s = 3600;
    members_ = make_members(o);
    member_ = must_register(std::string(kPhone), std::nullopt);
  }

  Result<members::Session> login(std::string_view password, std::string_view addr = {},
                                 std::string_view id = kPhone) {
    retry_after_s_ = 0;
    return members_->login(id, password, addr, &retry_after_s_);
  }

  static void expect_code(const Result<members::Session>& r, std::string_view code) {
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, code);
  }

  // Whether the member's password is (still) `password`, without counting against any address.
  bool password_is(std::string_view password) {
    // A fresh login counter: the test's own attempts must not lock the check.
    clock_.advance_us(601 * kSecondUs);
    auto s = members_->login(kPhone, password);
    return s.has_value();
  }

  std::int64_t live_sessions() {
    auto lease = db_->store().acquire();
    EXPECT_TRUE(lease.has_value());
    auto rows = (*lease)->query(
        "SELECT COUNT(*) FROM member_sessions WHERE revoked_at_us IS NULL AND expires_at_us > ?",
        {clock_.now_us()});
    EXPECT_TRUE(rows.has_value());
    return rows ? rows->i64(0, 0) : -1;
  }

  members::MemberView member_;
  std::int64_t retry_after_s_ = 0;
};

TEST_P(MemberSecurityTest, ALoginIsLockedAfterTooManyAttemptsEvenWithTheRightPassword) {
  for (int i = 0; i < 3; ++i) expect_code(login("wrong-password"), "invalid_credentials");
  const std::int64_t sessions_before = count("member_sessions");
  expect_code(login("wrong-password"), "too_many_attempts");
  EXPECT_EQ(retry_after_s_, 300);
  auto right = login(kPassword);
  expect_code(right, "too_many_attempts");
  EXPECT_EQ(right.error().kind, ErrorKind::rate_limited);
  EXPECT_EQ(count("member_sessions"), sessions_before);  // no session while locked
  clock_.advance_us(200 * kSecondUs);
  expect_code(login(kPassword), "too_many_attempts");
  EXPECT_EQ(retry_after_s_, 100);
  clock_.advance_us(100 * kSecondUs);
  ASSERT_OK(login(kPassword));
  // A success starts the count again: three more attempts before the next lock.
  for (int i = 0; i < 2; ++i) expect_code(login("wrong-password"), "invalid_credentials");
  ASSERT_OK(login(kPassword));
  for (int i = 0; i < 3; ++i) expect_code(login("wrong-password"), "invalid_credentials");
  expect_code(login(kPassword), "too_many_attempts");
}

TEST_P(MemberSecurityTest, UnknownAndOtherFormsOfALoginAreCountedAlike) {
  // An unknown phone locks like a registered one, so a lock does not tell who is registered.
  for (int i = 0; i < 3; ++i)
    expect_code(login("x-password", {}, "13900000000"), "invalid_credentials");
  expect_code(login("x-password", {}, "13900000000"), "too_many_attempts");
  // The same phone written another way is the same login.
  for (int i = 0; i < 3; ++i)
    expect_code(login("wrong-password", {}, "+86 138 1234 5678"), "invalid_credentials");
  expect_code(login(kPassword, {}, "138-1234-5678"), "too_many_attempts");
  // Another login is not affected.
  must_register(std::nullopt, "fay@example.com");
  ASSERT_OK(login(kPassword, {}, "fay@example.com"));
}

TEST_P(MemberSecurityTest, TheWindowEndsAndTheCountStartsAgain) {
  for (int i = 0; i < 3; ++i) expect_code(login("wrong-password"), "invalid_credentials");
  clock_.advance_us(601 * kSecondUs);
  for (int i = 0; i < 3; ++i) expect_code(login("wrong-password"), "invalid_credentials");
  expect_code(login("wrong-password"), "too_many_attempts");
}

TEST_P(MemberSecurityTest, AnAddressIsLockedAfterTooManyFailuresAcrossLogins) {
  must_register(std::nullopt, "fay@example.com");
  // Successes from the address do not count against it.
  for (int i = 0; i < 4; ++i) ASSERT_OK(login(kPassword, "10.0.0.7"));
  // Five failures spread over logins (none of which is locked by itself).
  for (const std::string_view id :
       {std::string_view("13900000001"), std::string_view("13900000002"),
        std::string_view("13900000003"), std::string_view("13900000004"),
        std::string_view("13900000005")}) {
    expect_code(login("wrong-password", "10.0.0.7", id), "invalid_credentials");
  }
  expect_code(login(kPassword, "10.0.0.7"), "too_many_attempts");
  expect_code(login(kPassword, "10.0.0.7", "fay@example.com"), "too_many_attempts");
  // Another address is not affected.
  ASSERT_OK(login(kPassword, "10.0.0.8"));
  clock_.advance_us(301 * kSecondUs);
  ASSERT_OK(login(kPassword, "10.0.0.7"));
}

TEST_P(MemberSecurityTest, CountersKeepNoIdentifierOrAddressInClear) {
  expect_code(login("wrong-password", "10.0.0.7"), "invalid_credentials");
  expect_code(login("wrong-password", "10.0.0.7", "fay@example.com"), "invalid_credentials");
  auto lease = db_->store().acquire();
  ASSERT_OK(lease);
  auto rows = (*lease)->query("SELECT subject FROM member_login_throttle");
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 3U);  // two logins, one address
  for (std::size_t r = 0; r < rows->size(); ++r) {
    const auto b = rows->blob(r, 0);
    const std::string bytes(b.begin(), b.end());
    EXPECT_EQ(bytes.size(), 32U);
    for (std::string_view clear : {"13812345678", "10.0.0.7", "fay@example.com", "example"}) {
      EXPECT_EQ(bytes.find(clear), std::string::npos);
    }
  }
}

TEST_P(MemberSecurityTest, AMemberKeepsAtMostTheNewestSessions) {
  std::vector<members::Session> sessions;
  for (int i = 0; i < 5; ++i) {
    auto s = login(kPassword);
    ASSERT_OK(s);
    sessions.push_back(*s);
    clock_.advance_us(kSecondUs);
  }
  EXPECT_EQ(live_sessions(), 3);
  for (int i = 0; i < 2; ++i) {
    auto p = members_->authenticate(sessions[static_cast<std::size_t>(i)].token);
    ASSERT_FALSE(p.has_value()) << i;
    EXPECT_EQ(p.error().code, "invalid_session");
  }
  for (int i = 2; i < 5; ++i)
    ASSERT_OK(members_->authenticate(sessions[static_cast<std::size_t>(i)].token));
}

TEST_P(MemberSecurityTest, ListingAndEndingOnesOwnSessions) {
  auto a = login(kPassword);
  ASSERT_OK(a);
  clock_.advance_us(kSecondUs);
  auto b = login(kPassword);
  ASSERT_OK(b);
  clock_.advance_us(kSecondUs);
  auto c = login(kPassword);
  ASSERT_OK(c);
  auto listed = members_->sessions(b->token);
  ASSERT_OK(listed);
  ASSERT_EQ(listed->size(), 3U);
  EXPECT_FALSE((*listed)[0].current);  // newest first: c, b, a
  EXPECT_TRUE((*listed)[1].current);
  EXPECT_EQ((*listed)[1].id.size(), 16U);
  EXPECT_EQ((*listed)[2].created_at_us, kStartUs);
  EXPECT_EQ((*listed)[2].expires_at_us, kStartUs + options().session_ttl_s * kSecondUs);
  // End a by its id from b.
  ASSERT_OK(members_->end_session(b->token, (*listed)[2].id));
  EXPECT_FALSE(members_->authenticate(a->token).has_value());
  // Unknown, already ended, and another member's session ids are not found; nothing changes.
  auto other_member = must_register(std::nullopt, "fay@example.com");
  auto f = login(kPassword, {}, "fay@example.com");
  ASSERT_OK(f);
  auto fay_listed = members_->sessions(f->token);
  ASSERT_OK(fay_listed);
  for (const std::string& bad : {std::string("0000000000000000"), (*listed)[2].id,
                                 fay_listed->front().id, std::string("not-an-id")}) {
    auto r = members_->end_session(b->token, bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, "session_not_found");
    EXPECT_EQ(r.error().field, "id");
  }
  ASSERT_OK(members_->authenticate(f->token));
  EXPECT_EQ(other_member.id, members_->authenticate(f->token)->member_id);
  // End every other session of b's member: c goes, b stays, fay's stays.
  auto ended = members_->end_other_sessions(b->token);
  ASSERT_OK(ended);
  EXPECT_EQ(*ended, 1);
  EXPECT_FALSE(members_->authenticate(c->token).has_value());
  ASSERT_OK(members_->authenticate(b->token));
  ASSERT_OK(members_->authenticate(f->token));
  // An ended or malformed token cannot list or end anything.
  EXPECT_EQ(members_->sessions(a->token).error().code, "invalid_session");
  EXPECT_EQ(members_->end_other_sessions("tps_short").error().code, "invalid_session");
}

TEST_P(MemberSecurityTest, ChangingThePasswordEndsTheOtherSessions) {
  auto here = login(kPassword);
  ASSERT_OK(here);
  auto elsewhere = login(kPassword);
  ASSERT_OK(elsewhere);
  ASSERT_OK(members_->change_password(here->token, kPassword, "n3w-password"));
  ASSERT_OK(members_->authenticate(here->token));
  EXPECT_FALSE(members_->authenticate(elsewhere->token).has_value());
  EXPECT_FALSE(password_is(kPassword));
  EXPECT_TRUE(password_is("n3w-password"));
}

TEST_P(MemberSecurityTest, PasswordChangeRefusalsChangeNothing) {
  auto here = login(kPassword);
  ASSERT_OK(here);
  auto elsewhere = login(kPassword);
  ASSERT_OK(elsewhere);
  struct Case {
    std::string current, fresh, code, field;
    ErrorKind kind;
  };
  const std::vector<Case> cases = {
      {"wrong-password", "n3w-password", "wrong_password", "current_password",
       ErrorKind::forbidden},
      {std::string(kPassword), "short", "password_too_short", "new_password", ErrorKind::invalid},
      {std::string(kPassword), std::string(limits::password_bytes_max + 1, 'x'),
       "password_too_long", "new_password", ErrorKind::invalid},
      {std::string(kPassword), std::string(kPassword), "password_unchanged", "new_password",
       ErrorKind::invalid},
  };
  for (const Case& c : cases) {
    auto r = members_->change_password(here->token, c.current, c.fresh);
    ASSERT_FALSE(r.has_value()) << c.code;
    EXPECT_EQ(r.error().code, c.code);
    EXPECT_EQ(r.error().field, c.field) << c.code;
    EXPECT_EQ(r.error().kind, c.kind) << c.code;
  }
  auto r = members_->change_password(elsewhere->token + "x", kPassword, "n3w-password");
  EXPECT_EQ(r.error().code, "invalid_session");
  ASSERT_OK(members_->authenticate(elsewhere->token));
  EXPECT_TRUE(password_is(kPassword));
}

TEST_P(MemberSecurityTest, GuessingTheCurrentPasswordIsLockedToo) {
  auto here = login(kPassword);
  ASSERT_OK(here);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(members_->change_password(here->token, "guess-password", "n3w-password").error().code,
              "wrong_password");
  }
  std::int64_t retry_after_s = 0;
  auto r = members_->change_password(here->token, kPassword, "n3w-password", &retry_after_s);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "too_many_attempts");
  EXPECT_EQ(retry_after_s, 300);
  EXPECT_TRUE(password_is(kPassword));
}

TEST_P(MemberSecurityTest, PurgeDeletesOnlySessionsEndedLongAgoAndSpentCounters) {
  auto ended = login(kPassword);
  ASSERT_OK(ended);
  auto live = login(kPassword);
  ASSERT_OK(live);
  ASSERT_OK(members_->logout(ended->token));
  expect_code(login("wrong-password", "10.0.0.7"), "invalid_credentials");
  // Within the retention and the window: nothing goes.
  auto early = members_->purge();
  ASSERT_OK(early);
  EXPECT_EQ(early->sessions, 0);
  EXPECT_EQ(early->throttles, 0);
  clock_.advance_us(3601 * kSecondUs);
  auto late = members_->purge();
  ASSERT_OK(late);
  EXPECT_EQ(late->sessions, 1);
  EXPECT_EQ(late->throttles, 2);  // the login's and the address's counters
  EXPECT_EQ(count("member_sessions"), 1);
  EXPECT_EQ(count("member_login_throttle"), 0);
  ASSERT_OK(members_->authenticate(live->token));
  // A locked counter stays until its lock is over, whatever its window.
  for (int i = 0; i < 4; ++i) (void)login("wrong-password");
  clock_.advance_us(299 * kSecondUs);
  auto locked = members_->purge();
  ASSERT_OK(locked);
  EXPECT_EQ(locked->throttles, 0);
  // max_rows bounds one call.
  clock_.advance_us(2 * kSecondUs);
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(members_->logout(login(kPassword)->token));
  }
  clock_.advance_us(3601 * kSecondUs);
  auto bounded = members_->purge(2);
  ASSERT_OK(bounded);
  EXPECT_EQ(bounded->sessions, 2);
}

struct MemberRowState {
  std::string display_name;
  bool has_phone = false;
  bool has_email = false;
  bool closed = false;
  bool operator==(const MemberRowState&) const = default;
};

class AccountClosureTest : public MemberSecurityTest {
 protected:
  MemberRowState row(std::int64_t id) {
    auto lease = db_->store().acquire();
    EXPECT_TRUE(lease.has_value());
    auto rows = (*lease)->query(
        "SELECT display_name, phone_bidx IS NOT NULL AND phone_enc IS NOT NULL, email_bidx IS NOT "
        "NULL AND email_enc IS NOT NULL, closed_at_us IS NOT NULL FROM members WHERE id = ?",
        {id});
    EXPECT_TRUE(rows.has_value() && rows->size() == 1);
    return {std::string(rows->text(0, 0)), rows->i64(0, 1) != 0, rows->i64(0, 2) != 0,
            rows->i64(0, 3) != 0};
  }

  std::int64_t available(std::int64_t account_id) {
    auto a = ledger_->lookup_account(account_id);
    EXPECT_TRUE(a.has_value());
    return a ? a->available() : -1;
  }
};

TEST_P(AccountClosureTest, ClosingErasesPersonalDataEndsSessionsAndForfeitsPoints) {
  const auto fay = must_register("13900001111", "fay@example.com");
  fund(fay, 500);
  auto other = members_->login("fay@example.com", kPassword);
  ASSERT_OK(other);
  auto here = members_->login("13900001111", kPassword);
  ASSERT_OK(here);
  const std::int64_t co2e_before = available(fay.co2e_account_id);
  const MemberRowState before = row(fay.id);
  // Wrong password: refused, nothing changed.
  auto wrong = members_->close_account(here->token, "wrong-password");
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code, "wrong_password");
  EXPECT_EQ(wrong.error().field, "password");
  EXPECT_EQ(row(fay.id), before);
  EXPECT_EQ(available(fay.points_account_id), 500);
  ASSERT_OK(members_->authenticate(other->token));

  auto receipt = members_->close_account(here->token, kPassword);
  ASSERT_OK(receipt);
  EXPECT_EQ(receipt->member_id, fay.id);
  EXPECT_EQ(receipt->points_forfeited, 500);
  EXPECT_EQ(receipt->closed_at_us, clock_.now_us());
  EXPECT_EQ(row(fay.id), (MemberRowState{"closed account", false, false, true}));
  EXPECT_EQ(available(fay.points_account_id), 0);
  EXPECT_EQ(available(fay.co2e_account_id), co2e_before);  // reductions stay counted
  EXPECT_FALSE(members_->authenticate(here->token).has_value());
  EXPECT_FALSE(members_->authenticate(other->token).has_value());
  EXPECT_EQ(members_->login("fay@example.com", kPassword).error().code, "invalid_credentials");
  auto view = members_->get(fay.id);
  ASSERT_OK(view);
  EXPECT_EQ(view->closed_at_us, receipt->closed_at_us);
  EXPECT_EQ(view->phone_masked, std::nullopt);
  EXPECT_EQ(view->email_masked, std::nullopt);
  // The phone and e-mail are free again: registering them makes a new member.
  const auto again = must_register("13900001111", "fay@example.com");
  EXPECT_NE(again.id, fay.id);
  // Nothing personal is left in the member's row: no name, no password hash (nothing verifies).
  auto lease = db_->store().acquire();
  ASSERT_OK(lease);
  auto rows =
      (*lease)->query("SELECT display_name, password_hash FROM members WHERE id = ?", {fay.id});
  ASSERT_OK(rows);
  EXPECT_EQ(rows->text(0, 0), "closed account");
  EXPECT_EQ(rows->text(0, 1), "!closed");
}

TEST_P(AccountClosureTest, AHookRefusingUndoesEverything) {
  const auto fay = must_register(std::nullopt, "fay@example.com");
  fund(fay, 300);
  auto here = members_->login("fay@example.com", kPassword);
  ASSERT_OK(here);
  auto other = members_->login("fay@example.com", kPassword);
  ASSERT_OK(other);
  std::vector<std::int64_t> seen;
  // The first hook writes (ends the other session); the second refuses: nothing may stay.
  members_->add_closure_hook(
      [&](store::Connection& c, std::int64_t member_id, std::int64_t now_us) -> Result<void> {
        seen.push_back(member_id);
        auto n = c.exec("UPDATE member_sessions SET revoked_at_us = ? WHERE member_id = ?",
                        {now_us, member_id});
        if (!n) return fail(n.error());
        return {};
      });
  members_->add_closure_hook([](store::Connection&, std::int64_t, std::int64_t) -> Result<void> {
    return fail(ErrorKind::conflict, "review_pending", "a claim waits for review");
  });
  const MemberRowState before = row(fay.id);
  auto refused = members_->close_account(here->token, kPassword);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, "review_pending");
  EXPECT_EQ(seen, std::vector<std::int64_t>{fay.id});
  EXPECT_EQ(row(fay.id), before);
  EXPECT_EQ(available(fay.points_account_id), 300);
  ASSERT_OK(members_->authenticate(other->token));
  ASSERT_OK(members_->authenticate(here->token));
}

TEST_P(AccountClosureTest, HeldPointsAndOperatorsAreRefused) {
  const auto fay = must_register(std::nullopt, "fay@example.com");
  fund(fay, 300);
  // A hold no hook releases (another module's open transaction).
  ledger::Transfer hold;
  hold.id = new_time_ordered_id();
  hold.debit_account_id = fay.points_account_id;
  hold.credit_account_id = ledger::kPlatformPointsAccount;
  hold.amount = 100;
  hold.code = ledger::codes::market_order;
  hold.flags = ledger::transfer_flags::pending;
  const std::vector<ledger::Transfer> one{hold};
  auto held = ledger_->submit(one);
  ASSERT_OK(held);
  ASSERT_EQ(held->front(), ledger::TransferStatus::ok);
  auto here = members_->login("fay@example.com", kPassword);
  ASSERT_OK(here);
  const MemberRowState before = row(fay.id);
  auto refused = members_->close_account(here->token, kPassword);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, "points_held");
  EXPECT_EQ(row(fay.id), before);
  EXPECT_EQ(available(fay.points_account_id), 200);

  const auto op = must_register(std::nullopt, "op@example.com", members::Role::operator_);
  auto op_session = members_->login("op@example.com", kPassword);
  ASSERT_OK(op_session);
  auto op_refused = members_->close_account(op_session->token, kPassword);
  ASSERT_FALSE(op_refused.has_value());
  EXPECT_EQ(op_refused.error().code, "operator_cannot_close");
  EXPECT_EQ(row(op.id).closed, false);
}

TANPU_INSTANTIATE_ENGINES(MemberSecurityTest);
TANPU_INSTANTIATE_ENGINES(AccountClosureTest);

}  // namespace
}  // namespace tanpu::test
