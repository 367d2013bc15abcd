// Route tests' common set-up over a module fixture (MembersFixture or one derived from it): the
// real App with every route, an operator and two members (alice, bob) with sessions, and the
// OpenAPI document the answers are held to.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "http/app.h"
#include "http/metrics.h"
#include "http/route_call.h"
#include "http/router.h"
#include "ingest/consents.h"
#include "ingest/sources.h"
#include "ledger/ledger.h"
#include "members/members_fixture.h"
#include "support/test_catalog.h"

namespace tanpu::test {

template <class Base>
class AppRoutesFixture : public Base {
 protected:
  // Call from SetUp once the modules the test needs exist; `wire` sets the App's optional parts.
  void start_app(const std::function<void(http::App&)>& wire = {}) {
    sources_ = std::make_unique<ingest::Sources>(this->db_->store(), this->keys_, this->clock_);
    consents_ = std::make_unique<ingest::Consents>(this->db_->store(), this->clock_);
    app_ = std::make_unique<http::App>(http::App{this->db_->store(), *this->ledger_,
                                                 *this->members_, methodologies_, *sources_,
                                                 *consents_, metrics_, this->clock_});
    if (wire) wire(*app_);
    http::add_all_routes(router_, *app_);
    op_ = this->must_register(std::nullopt, "op@example.com", members::Role::operator_);
    alice_ = this->must_register(std::nullopt, "alice@example.com");
    bob_ = this->must_register(std::nullopt, "bob@example.com");
    op_token_ = login("op@example.com");
    alice_token_ = login("alice@example.com");
    bob_token_ = login("bob@example.com");
    doc_ = nlohmann::json::parse(http::openapi_document());
  }

  // Call from TearDown before the modules go.
  void stop_app() {
    app_.reset();
    consents_.reset();
    sources_.reset();
  }

  std::string login(const std::string& who) {
    auto session = this->members_->login(who, "s3cret-pass");
    EXPECT_TRUE(session.has_value());
    return session ? session->token : std::string();
  }

  http::Response send(const std::string& token, std::string method, std::string path,
                      std::string body = {}, RouteHeaders headers = {}) {
    return call_route(router_, token, std::move(method), std::move(path), std::move(body),
                      std::move(headers));
  }

  std::int64_t balance(std::int64_t account_id) {
    auto a = this->ledger_->lookup_account(account_id);
    EXPECT_TRUE(a.has_value());
    return a ? a->balance() : -1;
  }

  methodology::EvaluatorPool methodologies_{testing::repository_catalog()};
  http::Metrics metrics_;
  std::unique_ptr<ingest::Sources> sources_;
  std::unique_ptr<ingest::Consents> consents_;
  std::unique_ptr<http::App> app_;
  http::Router router_;
  members::MemberView op_, alice_, bob_;
  std::string op_token_, alice_token_, bob_token_;
  nlohmann::json doc_;
};

}  // namespace tanpu::test
