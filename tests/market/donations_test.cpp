// Charity projects and donations (market/donations.h) on both engines: validation, the donation's
// transfer and row in one transaction, progress read from the ledger, idempotency, refusals that
// change nothing, certificates and their public look-up, and concurrent donors.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include "core/crypto.h"
#include "market/donations.h"
#include "members/members_fixture.h"

namespace tanpu::test {
namespace {

using market::DonationInput;
using market::ProjectInput;

constexpr std::int64_t kHourUs = 3'600'000'000;

class DonationsTest : public MembersFixture {
 protected:
  void SetUp() override {
    MembersFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    std::vector<store::Migration> all(ledger::migrations().begin(), ledger::migrations().end());
    all.insert(all.end(), members::migrations().begin(), members::migrations().end());
    all.insert(all.end(), market::donation_migrations().begin(),
               market::donation_migrations().end());
    auto lease = db_->store().acquire();
    ASSERT_OK(lease);
    ASSERT_OK(store::migrate(**lease, all));
    donations_ = std::make_unique<market::Donations>(db_->store(), *ledger_, *members_, clock_);
    op_view_ = must_register(std::nullopt, "op@example.com", members::Role::operator_);
    alice_ = must_register(std::nullopt, "alice@example.com");
    bob_ = must_register(std::nullopt, "bob@example.com");
    op_ = {op_view_.id, members::Role::operator_};
  }
  void TearDown() override {
    donations_.reset();
    MembersFixture::TearDown();
  }

  static Id128 next_id() {
    static std::atomic<std::uint64_t> n{0};
    const auto digest = sha256("donations-test-" + std::to_string(++n));
    return Id128::from_bytes(std::span<const std::uint8_t>(digest.data(), 16));
  }

  ledger::TransferStatus move(std::int64_t debit, std::int64_t credit, std::int64_t amount) {
    ledger::Transfer t;
    t.id = next_id();
    t.debit_account_id = debit;
    t.credit_account_id = credit;
    t.amount = amount;
    t.code = ledger::codes::operator_adjustment;
    const std::vector<ledger::Transfer> one{t};
    auto r = ledger_->submit(one);
    EXPECT_TRUE(r.has_value());
    return r ? r->front() : ledger::TransferStatus::invalid_id;
  }

  // Gives a member points as an operator would: a transfer from the platform's issuing account.
  void give(const members::MemberView& m, std::int64_t points) {
    ASSERT_EQ(move(ledger::kPlatformPointsAccount, m.points_account_id, points),
              ledger::TransferStatus::ok);
  }

  std::int64_t balance(std::int64_t account_id) {
    auto a = ledger_->lookup_account(account_id);
    EXPECT_TRUE(a.has_value());
    return a ? a->balance() : -1;
  }

  static ProjectInput input(std::int64_t target = 1'000) {
    ProjectInput in;
    in.title = "Saxaul forest in Alxa";
    in.description = "Plant saxaul on the edge of the Tengger desert.";
    in.beneficiary = "Alxa SEE Foundation";
    in.target_points = target;
    return in;
  }

  market::Project must_create(ProjectInput in = input()) {
    auto p = donations_->create_project(op_, in);
    EXPECT_TRUE(p.has_value()) << (p ? "" : p.error().code);
    return p ? *p : market::Project{};
  }

  Result<market::Donation> donate(const members::MemberView& m, std::int64_t project_id,
                                  std::int64_t points, std::string key, bool anonymous = false) {
    return donations_->donate(DonationInput{m.id, project_id, points, anonymous, std::move(key)});
  }

  // What a refused donation must leave as it was.
  struct State {
    std::int64_t alice = 0, bob = 0, project = 0, rows = 0, transfers = 0;
    bool operator==(const State&) const = default;
  };
  State state(const market::Project& p) {
    return {balance(alice_.points_account_id), balance(bob_.points_account_id),
            balance(p.account_id), count("charity_donations"), count("ledger_transfers")};
  }

  std::unique_ptr<market::Donations> donations_;
  members::MemberView op_view_, alice_, bob_;
  members::Principal op_;
};

TEST_P(DonationsTest, ProjectsAreValidatedAndOnlyOperatorsCreateThem) {
  const std::int64_t accounts = count("ledger_accounts");
  const auto refused = [&](auto change, const char* code, const char* field) {
    ProjectInput in = input();
    change(in);
    auto p = donations_->create_project(op_, in);
    ASSERT_FALSE(p.has_value()) << code;
    EXPECT_EQ(p.error().code, code);
    EXPECT_EQ(p.error().field, field);
    EXPECT_EQ(p.error().kind, ErrorKind::invalid);
  };
  refused([](ProjectInput& in) { in.title.clear(); }, "title_required", "title");
  refused([](ProjectInput& in) { in.title = std::string(121, 'x'); }, "title_too_long", "title");
  refused([](ProjectInput& in) { in.description = std::string(4'001, 'x'); },
          "description_too_long", "description");
  refused([](ProjectInput& in) { in.beneficiary.clear(); }, "beneficiary_required", "beneficiary");
  refused([](ProjectInput& in) { in.beneficiary = std::string(201, 'x'); }, "beneficiary_too_long",
          "beneficiary");
  refused([](ProjectInput& in) { in.target_points = 0; }, "target_points_out_of_range",
          "target_points");
  refused([](ProjectInput& in) { in.target_points = -5; }, "target_points_out_of_range",
          "target_points");
  refused([](ProjectInput& in) { in.target_points = market::kTargetPointsMax + 1; },
          "target_points_out_of_range", "target_points");
  refused([](ProjectInput& in) { in.min_points = 0; }, "min_points_out_of_range", "min_points");
  refused([](ProjectInput& in) { in.min_points = 500, in.max_points = 499; },
          "min_points_out_of_range", "min_points");
  refused([](ProjectInput& in) { in.max_points = market::kDonationPointsMax + 1; },
          "max_points_out_of_range", "max_points");
  refused(
      [](ProjectInput& in) {
        in.starts_at_us = kStartUs + kHourUs;
        in.ends_at_us = kStartUs;
      },
      "window_ends_before_start", "ends_at");
  refused(
      [](ProjectInput& in) {
        in.starts_at_us = kStartUs;
        in.ends_at_us = kStartUs;
      },
      "window_ends_before_start", "ends_at");

  auto member = donations_->create_project({alice_.id, members::Role::member}, input());
  ASSERT_FALSE(member.has_value());
  EXPECT_EQ(member.error().code, "operator_only");
  EXPECT_EQ(member.error().kind, ErrorKind::forbidden);
  auto reviewer = donations_->create_project({alice_.id, members::Role::reviewer}, input());
  ASSERT_FALSE(reviewer.has_value());
  EXPECT_EQ(reviewer.error().code, "operator_only");

  EXPECT_EQ(count("charity_projects"), 0);
  EXPECT_EQ(count("ledger_accounts"), accounts);
}

TEST_P(DonationsTest, AProjectHasItsOwnLedgerAccount) {
  ProjectInput in = input(5'000);
  in.min_points = 10;
  in.max_points = 2'000;
  const market::Project p = must_create(in);
  EXPECT_GT(p.id, 0);
  EXPECT_EQ(p.status, market::ProjectStatus::open);
  EXPECT_EQ(p.min_points, 10);
  EXPECT_EQ(p.max_points, 2'000);
  EXPECT_EQ(p.created_by, op_view_.id);
  EXPECT_EQ(p.created_at_us, kStartUs);
  EXPECT_FALSE(p.closed_at_us.has_value());
  EXPECT_EQ(p.progress.raised_points, 0);
  EXPECT_EQ(p.progress.target_points, 5'000);
  EXPECT_EQ(p.progress.percent_bp, 0);
  auto account = ledger_->lookup_account(p.account_id);
  ASSERT_OK(account);
  EXPECT_EQ(account->owner_kind, "charity");
  EXPECT_EQ(account->owner_id, std::to_string(p.id));
  EXPECT_EQ(account->flags, 0u);
  EXPECT_EQ(account->currency, ledger::Currency::points);

  auto read = donations_->project(p.id);
  ASSERT_OK(read);
  EXPECT_EQ(read->title, in.title);
  EXPECT_EQ(read->description, in.description);
  EXPECT_EQ(read->beneficiary, in.beneficiary);
  EXPECT_EQ(read->account_id, p.account_id);
  auto missing = donations_->project(p.id + 100);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, "project_not_found");
  EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
}

TEST_P(DonationsTest, ProjectCreationIsIdempotentByKey) {
  auto first = donations_->create_project(op_, input(), "proj-1");
  ASSERT_OK(first);
  EXPECT_FALSE(first->replayed);
  auto again = donations_->create_project(op_, input(), "proj-1");
  ASSERT_OK(again);
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->id, first->id);
  auto other = donations_->create_project(op_, input(2'000), "proj-1");
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().code, "idempotency_conflict");
  EXPECT_EQ(other.error().kind, ErrorKind::conflict);
  EXPECT_EQ(count("charity_projects"), 1);
  // Without a key every request creates.
  must_create();
  must_create();
  EXPECT_EQ(count("charity_projects"), 3);
}

TEST_P(DonationsTest, ADonationMovesPointsAndProgressComesFromTheLedger) {
  const market::Project p = must_create(input(1'000));
  give(alice_, 1'000);
  give(bob_, 500);

  auto d = donate(alice_, p.id, 300, "d-1");
  ASSERT_OK(d);
  EXPECT_FALSE(d->replayed);
  EXPECT_EQ(d->serial, "TPD-2026-" + std::string(6 - std::to_string(d->id).size(), '0') +
                           std::to_string(d->id));
  EXPECT_EQ(d->points, 300);
  EXPECT_EQ(d->member_id, alice_.id);
  EXPECT_EQ(d->project_title, p.title);
  EXPECT_EQ(d->created_at_us, kStartUs);
  EXPECT_EQ(balance(alice_.points_account_id), 700);
  EXPECT_EQ(balance(p.account_id), 300);

  // The ledger holds the transfer: member → project, code donation, referring to the row.
  auto t = ledger_->lookup_transfer(d->transfer_id);
  ASSERT_OK(t);
  EXPECT_EQ(t->debit_account_id, alice_.points_account_id);
  EXPECT_EQ(t->credit_account_id, p.account_id);
  EXPECT_EQ(t->amount, 300);
  EXPECT_EQ(t->code, ledger::codes::donation);
  EXPECT_EQ(t->flags, 0u);
  EXPECT_EQ(t->reference, "donation:" + std::to_string(d->id));

  ASSERT_OK(donate(bob_, p.id, 200, "b-1"));
  ASSERT_OK(donate(bob_, p.id, 50, "b-2"));
  auto read = donations_->project(p.id);
  ASSERT_OK(read);
  EXPECT_EQ(read->progress.raised_points, 550);
  EXPECT_EQ(read->progress.balance_points, 550);
  EXPECT_EQ(read->progress.donors, 2);
  EXPECT_EQ(read->progress.donations, 3);
  EXPECT_EQ(read->progress.percent_bp, 5'500);
  EXPECT_EQ(balance(bob_.points_account_id), 250);
  EXPECT_EQ(count("charity_donations"), 3);
}

TEST_P(DonationsTest, APayoutToTheBeneficiaryDoesNotLowerProgress) {
  const market::Project p = must_create(input(3));
  give(alice_, 10);
  ASSERT_OK(donate(alice_, p.id, 2, "d-1"));
  // The operator pays out with an ordinary transfer; this module never debits the account.
  const members::MemberView beneficiary = must_register(std::nullopt, "see@example.org");
  ASSERT_EQ(move(p.account_id, beneficiary.points_account_id, 2), ledger::TransferStatus::ok);
  auto read = donations_->project(p.id);
  ASSERT_OK(read);
  EXPECT_EQ(read->progress.raised_points, 2);
  EXPECT_EQ(read->progress.balance_points, 0);
  EXPECT_EQ(read->progress.percent_bp, 6'666);  // 2/3, rounded down
}

TEST_P(DonationsTest, TheSameKeyAnswersTheFirstDonationAndOtherContentConflicts) {
  const market::Project p = must_create();
  const market::Project q = must_create();
  give(alice_, 1'000);
  give(bob_, 1'000);
  auto first = donate(alice_, p.id, 100, "key-1");
  ASSERT_OK(first);
  const State after_first = state(p);

  auto again = donate(alice_, p.id, 100, "key-1");
  ASSERT_OK(again);
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->id, first->id);
  EXPECT_EQ(again->serial, first->serial);
  EXPECT_EQ(again->transfer_id, first->transfer_id);
  EXPECT_EQ(state(p), after_first);

  const auto conflicts = [&](std::int64_t project, std::int64_t points, bool anonymous) {
    auto r = donate(alice_, project, points, "key-1", anonymous);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, "idempotency_conflict");
    EXPECT_EQ(r.error().kind, ErrorKind::conflict);
    EXPECT_EQ(state(p), after_first);
  };
  conflicts(p.id, 101, false);
  conflicts(p.id, 100, true);
  conflicts(q.id, 100, false);
  EXPECT_EQ(balance(q.account_id), 0);

  // Keys are per member: Bob's "key-1" is a donation of his own.
  auto bobs = donate(bob_, p.id, 100, "key-1");
  ASSERT_OK(bobs);
  EXPECT_FALSE(bobs->replayed);
  EXPECT_NE(bobs->id, first->id);
  EXPECT_EQ(balance(p.account_id), 200);
}

TEST_P(DonationsTest, EveryRefusalChangesNothing) {
  ProjectInput bounded = input();
  bounded.min_points = 10;
  bounded.max_points = 100;
  const market::Project p = must_create(bounded);
  ProjectInput later = input();
  later.starts_at_us = kStartUs + kHourUs;
  later.ends_at_us = kStartUs + 2 * kHourUs;
  const market::Project upcoming = must_create(later);
  ProjectInput past = input();
  past.starts_at_us = kStartUs - 2 * kHourUs;
  past.ends_at_us = kStartUs - kHourUs;
  const market::Project ended = must_create(past);
  const market::Project closed = must_create();
  ASSERT_OK(donations_->close_project(op_, closed.id));
  give(alice_, 50);
  give(bob_, 1'000);
  ASSERT_OK(donate(bob_, p.id, 20, "bob-first"));  // so the rows and balances are not all 0
  const State before = state(p);

  const auto refused = [&](std::int64_t project, std::int64_t points, const char* code,
                           ErrorKind kind, std::string key = "refused") {
    auto r = donate(alice_, project, points, std::move(key));
    ASSERT_FALSE(r.has_value()) << code;
    EXPECT_EQ(r.error().code, code);
    EXPECT_EQ(r.error().kind, kind) << code;
    EXPECT_EQ(state(p), before) << code;
    EXPECT_EQ(balance(upcoming.account_id), 0) << code;
    EXPECT_EQ(balance(ended.account_id), 0) << code;
    EXPECT_EQ(balance(closed.account_id), 0) << code;
  };
  refused(p.id + 1'000, 20, "project_not_found", ErrorKind::not_found);
  refused(closed.id, 20, "project_closed", ErrorKind::conflict);
  refused(ended.id, 20, "project_closed", ErrorKind::conflict);
  refused(upcoming.id, 20, "project_not_open", ErrorKind::conflict);
  refused(p.id, 0, "amount_must_be_positive", ErrorKind::invalid);
  refused(p.id, -20, "amount_must_be_positive", ErrorKind::invalid);
  refused(p.id, 9, "amount_below_minimum", ErrorKind::invalid);
  refused(p.id, 101, "amount_above_maximum", ErrorKind::invalid);
  refused(p.id, market::kDonationPointsMax + 1, "amount_above_maximum", ErrorKind::invalid);
  refused(p.id, 60, "insufficient_points", ErrorKind::conflict);  // Alice holds 50
  refused(p.id, 20, "invalid_idempotency_key", ErrorKind::invalid, "");
  refused(p.id, 20, "invalid_idempotency_key", ErrorKind::invalid, std::string(65, 'k'));
  auto stranger = donations_->donate(DonationInput{alice_.id + 1'000, p.id, 20, false, "s"});
  ASSERT_FALSE(stranger.has_value());
  EXPECT_EQ(stranger.error().code, "member_not_found");
  EXPECT_EQ(state(p), before);

  // A refused key stored nothing: the same key goes through once the refusal no longer holds.
  clock_.advance_us(kHourUs);
  auto now_open = donate(alice_, upcoming.id, 20, "refused");
  ASSERT_OK(now_open);
  EXPECT_FALSE(now_open->replayed);
  EXPECT_EQ(balance(upcoming.account_id), 20);
  EXPECT_EQ(balance(alice_.points_account_id), 30);
}

TEST_P(DonationsTest, TheWindowOpensAndEndsDonations) {
  ProjectInput in = input();
  in.starts_at_us = kStartUs + kHourUs;
  in.ends_at_us = kStartUs + 2 * kHourUs;
  const market::Project p = must_create(in);
  EXPECT_EQ(p.status, market::ProjectStatus::upcoming);
  give(alice_, 100);
  auto early = donate(alice_, p.id, 10, "early");
  ASSERT_FALSE(early.has_value());
  EXPECT_EQ(early.error().code, "project_not_open");
  clock_.advance_us(kHourUs);  // starts_at: open (the window includes its start)
  ASSERT_OK(donate(alice_, p.id, 10, "on-time"));
  EXPECT_EQ(donations_->project(p.id)->status, market::ProjectStatus::open);
  clock_.advance_us(kHourUs);  // ends_at: ended (the window excludes its end)
  auto late = donate(alice_, p.id, 10, "late");
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error().code, "project_closed");
  EXPECT_EQ(donations_->project(p.id)->status, market::ProjectStatus::ended);
  EXPECT_EQ(balance(p.account_id), 10);
  EXPECT_EQ(balance(alice_.points_account_id), 90);
}

TEST_P(DonationsTest, DonationsPastTheTargetAreAcceptedUntilTheProjectCloses) {
  const market::Project p = must_create(input(100));
  give(alice_, 1'000);
  ASSERT_OK(donate(alice_, p.id, 80, "a"));
  ASSERT_OK(donate(alice_, p.id, 70, "b"));  // past the target: accepted
  auto read = donations_->project(p.id);
  ASSERT_OK(read);
  EXPECT_EQ(read->progress.raised_points, 150);
  EXPECT_EQ(read->progress.percent_bp, 15'000);
  EXPECT_EQ(read->status, market::ProjectStatus::open);

  auto by_member = donations_->close_project({alice_.id, members::Role::member}, p.id);
  ASSERT_FALSE(by_member.has_value());
  EXPECT_EQ(by_member.error().code, "operator_only");
  auto unknown = donations_->close_project(op_, p.id + 1'000);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code, "project_not_found");

  clock_.advance_us(kHourUs);
  auto closed = donations_->close_project(op_, p.id);
  ASSERT_OK(closed);
  EXPECT_EQ(closed->status, market::ProjectStatus::closed);
  ASSERT_TRUE(closed->closed_at_us.has_value());
  EXPECT_EQ(*closed->closed_at_us, kStartUs + kHourUs);
  clock_.advance_us(kHourUs);
  auto twice = donations_->close_project(op_, p.id);  // idempotent: the first close stands
  ASSERT_OK(twice);
  EXPECT_EQ(twice->closed_at_us, closed->closed_at_us);

  const State before = state(p);
  auto after = donate(alice_, p.id, 10, "c");
  ASSERT_FALSE(after.has_value());
  EXPECT_EQ(after.error().code, "project_closed");
  EXPECT_EQ(state(p), before);
  // A replay of a donation made before the close still answers it.
  auto replay = donate(alice_, p.id, 80, "a");
  ASSERT_OK(replay);
  EXPECT_TRUE(replay->replayed);
  EXPECT_EQ(state(p), before);
}

TEST_P(DonationsTest, CertificatesNameTheDonorAndThePublicLookUpMasksThem) {
  const market::Project p = must_create();
  auto zhang = members_->register_member(
      {std::nullopt, "zhang@example.com", "s3cret-pass", "张三丰"}, members::Role::member);
  ASSERT_OK(zhang);
  give(alice_, 100);
  give(*zhang, 100);
  auto named = donate(alice_, p.id, 30, "named");
  ASSERT_OK(named);
  auto hidden = donate(alice_, p.id, 20, "hidden", true);
  ASSERT_OK(hidden);
  auto chinese = donate(*zhang, p.id, 10, "z");
  ASSERT_OK(chinese);

  auto mine = donations_->certificate(alice_.id, named->id);
  ASSERT_OK(mine);
  EXPECT_EQ(mine->serial, named->serial);
  EXPECT_EQ(mine->donor_name, "Test Member");
  EXPECT_FALSE(mine->anonymous);
  EXPECT_EQ(mine->project_id, p.id);
  EXPECT_EQ(mine->project_title, p.title);
  EXPECT_EQ(mine->beneficiary, p.beneficiary);
  EXPECT_EQ(mine->points, 30);
  EXPECT_EQ(mine->donated_at_us, kStartUs);

  auto pub = donations_->public_certificate(named->serial);
  ASSERT_OK(pub);
  EXPECT_EQ(pub->donor_name, "T***");
  EXPECT_EQ(pub->serial, mine->serial);
  EXPECT_EQ(pub->points, mine->points);
  EXPECT_EQ(pub->project_id, mine->project_id);
  EXPECT_EQ(pub->donated_at_us, mine->donated_at_us);

  auto anon = donations_->certificate(alice_.id, hidden->id);
  ASSERT_OK(anon);
  EXPECT_EQ(anon->donor_name, "anonymous");
  EXPECT_TRUE(anon->anonymous);
  auto anon_pub = donations_->public_certificate(hidden->serial);
  ASSERT_OK(anon_pub);
  EXPECT_EQ(anon_pub->donor_name, "anonymous");

  auto zh = donations_->public_certificate(chinese->serial);
  ASSERT_OK(zh);
  EXPECT_EQ(zh->donor_name, "张***");

  // Another member's donation is not Bob's to see; unknown and malformed serials name nothing.
  auto bobs = donations_->certificate(bob_.id, named->id);
  ASSERT_FALSE(bobs.has_value());
  EXPECT_EQ(bobs.error().code, "donation_not_found");
  for (const std::string& serial : std::vector<std::string>{
           "TPD-2026-999999", "TPD-2026-1", "tpd-2026-000001", "TPD-2026-00000x", "", "TPD-",
           "TPD-2026-" + std::string(40, '1')}) {
    auto r = donations_->public_certificate(serial);
    ASSERT_FALSE(r.has_value()) << serial;
    EXPECT_EQ(r.error().code, "certificate_not_found") << serial;
    EXPECT_EQ(r.error().kind, ErrorKind::not_found);
  }
}

TEST(DonationMasking, KeepsTheFirstCharacterOnly) {
  EXPECT_EQ(market::mask_display_name("Alice"), "A***");
  EXPECT_EQ(market::mask_display_name("张三"), "张***");
  EXPECT_EQ(market::mask_display_name("\xF0\x9F\x8C\xB3 tree"), "\xF0\x9F\x8C\xB3***");
  EXPECT_EQ(market::mask_display_name(""), "***");
}

TEST_P(DonationsTest, TheMembersDonationsArePagedNewestFirst) {
  const market::Project p = must_create();
  give(alice_, 100);
  give(bob_, 100);
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    auto d = donate(alice_, p.id, 1 + i, "k" + std::to_string(i));
    ASSERT_OK(d);
    ids.push_back(d->id);
    ASSERT_OK(donate(bob_, p.id, 1, "bob" + std::to_string(i)));
  }
  std::vector<std::int64_t> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto page = donations_->member_donations(alice_.id, cursor, 2);
    ASSERT_OK(page);
    ASSERT_LE(page->donations.size(), 2u);
    for (const auto& d : page->donations) {
      EXPECT_EQ(d.member_id, alice_.id);
      seen.push_back(d.id);
    }
    cursor = page->next_cursor;
    ++pages;
  } while (!cursor.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, std::vector<std::int64_t>(ids.rbegin(), ids.rend()));
  auto bad = donations_->member_donations(alice_.id, "x1", 2);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, "invalid_cursor");

  must_create();
  must_create();
  auto first = donations_->list_projects("", 2);
  ASSERT_OK(first);
  ASSERT_EQ(first->projects.size(), 2u);
  EXPECT_GT(first->projects[0].id, first->projects[1].id);
  auto rest = donations_->list_projects(first->next_cursor, 2);
  ASSERT_OK(rest);
  ASSERT_EQ(rest->projects.size(), 1u);
  EXPECT_EQ(rest->projects[0].id, p.id);
  EXPECT_EQ(rest->projects[0].progress.raised_points, 20);
  EXPECT_EQ(rest->projects[0].progress.donors, 2);
  EXPECT_TRUE(rest->next_cursor.empty());
}

// Eight threads, four members with 100 points each, 7-point donations: the members run out, the
// ledger refuses what they do not hold, and what was donated adds up everywhere.
TEST_P(DonationsTest, ConcurrentDonorsNeverOverspendAndEverythingAddsUp) {
  const market::Project p = must_create(input(1'000));
  std::vector<members::MemberView> donors{alice_, bob_};
  donors.push_back(must_register(std::nullopt, "carol@example.com"));
  donors.push_back(must_register(std::nullopt, "dave@example.com"));
  for (const auto& m : donors) give(m, 100);
  constexpr int kThreads = 8;
  constexpr int kEach = 10;
  std::atomic<std::int64_t> donated{0};
  std::atomic<int> refused{0};
  std::atomic<int> other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const members::MemberView& m = donors[static_cast<std::size_t>(t) % donors.size()];
      for (int i = 0; i < kEach; ++i) {
        auto d = donate(m, p.id, 7, "t" + std::to_string(t) + "-" + std::to_string(i));
        if (d) {
          donated += d->points;
        } else if (d.error().code == "insufficient_points") {
          ++refused;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(other.load(), 0);
  // Each member holds 100 and tries 2 × 10 × 7 = 140: 14 go through (98), 6 are refused.
  EXPECT_EQ(donated.load(), 4 * 14 * 7);
  EXPECT_EQ(refused.load(), 4 * 6);
  std::int64_t left = 0;
  for (const auto& m : donors) {
    const std::int64_t b = balance(m.points_account_id);
    EXPECT_EQ(b, 2) << m.id;
    EXPECT_GE(b, 0);
    left += b;
  }
  EXPECT_EQ(left + donated.load(), 400);
  EXPECT_EQ(balance(p.account_id), donated.load());
  EXPECT_EQ(count("charity_donations"), 4 * 14);
  auto read = donations_->project(p.id);
  ASSERT_OK(read);
  EXPECT_EQ(read->progress.raised_points, donated.load());
  EXPECT_EQ(read->progress.donors, 4);
  EXPECT_EQ(read->progress.donations, 4 * 14);
}

// The same request sent eight times at once (a client retrying over a flaky link): one donation.
TEST_P(DonationsTest, ConcurrentRetriesOfOneKeyDonateOnce) {
  const market::Project p = must_create();
  give(alice_, 100);
  std::vector<std::thread> threads;
  std::vector<std::int64_t> ids(8, 0);
  for (std::size_t t = 0; t < ids.size(); ++t) {
    threads.emplace_back([&, t] {
      auto d = donate(alice_, p.id, 25, "same-key");
      EXPECT_TRUE(d.has_value()) << (d ? "" : d.error().code);
      if (d) ids[t] = d->id;
    });
  }
  for (auto& th : threads) th.join();
  for (const std::int64_t id : ids) EXPECT_EQ(id, ids[0]);
  EXPECT_EQ(count("charity_donations"), 1);
  EXPECT_EQ(balance(alice_.points_account_id), 75);
  EXPECT_EQ(balance(p.account_id), 25);
}

TANPU_INSTANTIATE_ENGINES(DonationsTest);

}  // namespace
}  // namespace tanpu::test
