// The organisations module over a fresh store on one engine: an operator, helpers that build a
// university → college → class tree, import a roster (CSV bytes from tabular::write_csv), activate
// people as registered members and read what a refusal must leave unchanged. Shared by the
// tests of tests/orgs/.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "members/members_fixture.h"
#include "orgs/orgs.h"
#include "tabular/tabular.h"

// Expects expr (a Result) to have failed with error code `want`.
#define EXPECT_ERROR(expr, want)                                   \
  do {                                                             \
    const auto& tanpu_refused_ = (expr);                           \
    if (tanpu_refused_.has_value()) {                              \
      ADD_FAILURE() << #expr << " succeeded; expected " << (want); \
    } else {                                                       \
      EXPECT_EQ(tanpu_refused_.error().code, (want))               \
          << #expr << ": " << tanpu_refused_.error().message;      \
    }                                                              \
  } while (false)

namespace tanpu::test {

// A mainland mobile number, distinct for each n < 10^8.
inline std::string mobile(std::int64_t n) {
  std::string digits = std::to_string(n);
  return "139" + std::string(8 - digits.size(), '0') + digits;
}

class OrgsFixture : public MembersFixture {
 protected:
  static constexpr std::int64_t kMinuteUs = 60'000'000;
  static constexpr std::int64_t kHourUs = 60 * kMinuteUs;
  static constexpr std::int64_t kDayUs = 24 * kHourUs;

  void SetUp() override {
    MembersFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    migrate_with(orgs::migrations());
    if (HasFatalFailure()) return;
    orgs_ = std::make_unique<orgs::Orgs>(db_->store(), *ledger_, *members_, keys_, clock_);
    const auto op = must_register(std::nullopt, "operator@example.com", members::Role::operator_);
    op_ = orgs::Actor{op.id, true};
  }

  void TearDown() override {
    orgs_.reset();
    MembersFixture::TearDown();
  }

  // A new organisation, which must be created.
  orgs::Org must_org(const orgs::Actor& who, std::optional<std::int64_t> parent, orgs::OrgType type,
                     std::string name, std::optional<std::string> region = std::nullopt,
                     std::int32_t depth_max = 3) {
    orgs::OrgInput in;
    in.parent_id = parent;
    in.type = type;
    in.name = std::move(name);
    in.region = std::move(region);
    in.depth_max = depth_max;
    auto o = orgs_->create_org(who, in);
    EXPECT_TRUE(o.has_value()) << (o ? "" : o.error().code + ": " + o.error().message);
    return o ? *o : orgs::Org{};
  }

  Result<orgs::Org> try_org(const orgs::Actor& who, std::optional<std::int64_t> parent,
                            orgs::OrgType type, std::string name) {
    orgs::OrgInput in;
    in.parent_id = parent;
    in.type = type;
    in.name = std::move(name);
    return orgs_->create_org(who, in);
  }

  // A registered member with a fresh e-mail.
  members::MemberView new_member(const std::string& tag = "m") {
    return must_register(std::nullopt, tag + std::to_string(++members_made_) + "@example.com");
  }

  // A new member holding role on org_id (granted by the operator), as an Actor.
  orgs::Actor role_holder(std::int64_t org_id, orgs::OrgRole role = orgs::OrgRole::admin) {
    const auto m = new_member(role == orgs::OrgRole::admin ? "admin" : "reviewer");
    EXPECT_OK(orgs_->grant_role(op_, org_id, m.id, role));
    return orgs::Actor{m.id, false};
  }

  static std::vector<std::string> roster_header() {
    return {"name", "member_number", "phone", "email", "org_path"};
  }

  static std::vector<std::uint8_t> as_bytes(const std::string& s) {
    return std::vector<std::uint8_t>(s.begin(), s.end());
  }

  // CSV bytes of rows under header (the default header is roster_header()).
  static std::vector<std::uint8_t> csv(const std::vector<std::vector<std::string>>& rows,
                                       const std::vector<std::string>& header = roster_header()) {
    return as_bytes(tabular::write_csv(header, rows));
  }

  static std::string phone(std::int64_t n) { return mobile(n); }

  Result<orgs::ImportReport> import(const orgs::Actor& who, std::int64_t org_id,
                                    const std::vector<std::vector<std::string>>& rows,
                                    bool dry_run = false) {
    const auto bytes = csv(rows);
    return orgs_->import_people(who, org_id, bytes, dry_run);
  }

  // Imports one person (as the operator) and returns their activation code.
  std::string must_import_one(std::int64_t org_id, const std::string& number,
                              const std::string& name, const std::string& org_path = "") {
    auto r = import(op_, org_id, {{name, number, phone(++phones_made_), "", org_path}});
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().code);
    if (!r || r->results.size() != 1 || !r->results[0].activation_code) {
      ADD_FAILURE() << "no activation code for " << number
                    << (r && !r->results.empty() && r->results[0].error
                            ? ": " + r->results[0].error->code
                            : std::string());
      return {};
    }
    return *r->results[0].activation_code;
  }

  // A registered member activated as person `number` of org_id (path relative to it).
  members::MemberView must_join(std::int64_t org_id, const std::string& number,
                                const std::string& name = "Student", const std::string& path = "") {
    const auto code = must_import_one(org_id, number, name, path);
    const auto m = new_member();
    auto p = orgs_->activate(m.id, code);
    EXPECT_TRUE(p.has_value()) << (p ? "" : p.error().code);
    return m;
  }

  // An activity of org_id running from an hour ago for two hours.
  orgs::ActivityInput activity_input(std::int64_t org_id, std::int64_t capacity = 10) const {
    orgs::ActivityInput in;
    in.org_id = org_id;
    in.title = "Tree planting";
    in.place = "North field";
    in.starts_at_us = clock_.now_us() - kHourUs;
    in.ends_at_us = clock_.now_us() + 2 * kHourUs;
    in.capacity = capacity;
    in.points_per_checkin = 50;
    in.reduction_mg_per_checkin = 2'500'000;
    in.scenario = "activity";
    return in;
  }

  Day today() const { return local_day(clock_.now_us(), 480); }

  // Rolls credits up as a posting's transaction would.
  void record(const std::vector<orgs::Credit>& credits) {
    auto r = db_->store().write(
        [&](store::Connection& c) -> Result<void> { return orgs_->record_credits(c, credits); });
    ASSERT_OK(r);
  }

  // A single integer from SQL written by the test itself.
  std::int64_t scalar(const std::string& sql, std::vector<store::Param> params = {}) {
    auto lease = db_->store().acquire();
    EXPECT_TRUE(lease.has_value());
    if (!lease) return -1;
    auto rows = (*lease)->query(sql, params);
    EXPECT_TRUE(rows.has_value()) << (rows ? "" : rows.error().message);
    return rows && !rows->empty() && !rows->is_null(0, 0) ? rows->i64(0, 0) : -1;
  }

  std::unique_ptr<orgs::Orgs> orgs_;
  orgs::Actor op_;
  int members_made_ = 0;
  std::int64_t phones_made_ = 0;
};

}  // namespace tanpu::test
