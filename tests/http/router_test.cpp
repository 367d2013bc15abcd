#include "http/router.h"

#include <gtest/gtest.h>

namespace tanpu::http {
namespace {

Handler named(std::string name) {
  return [name](Request&) {
    Response r;
    r.body = name;
    return r;
  };
}

Request request(std::string method, std::string path) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  return r;
}

// Which handler a request reaches ("" if none), and whether the miss was a wrong method.
struct Outcome {
  std::string handler;
  bool method_not_allowed = false;
  std::map<std::string, std::string> params;
};

Outcome route(const Router& router, std::string method, std::string path) {
  Request r = request(std::move(method), std::move(path));
  Outcome out;
  const Route* found = router.match(r, &out.method_not_allowed);
  if (found != nullptr) out.handler = found->handler(r).body;
  out.params = r.path_params;
  return out;
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.add("GET", "/healthz", named("healthz"));
    router_.add("GET", "/v1/transfers/{id}", named("get_transfer"));
    router_.add("POST", "/v1/transfers", named("post_transfers"));
    router_.add("GET", "/v1/accounts/{id}/transfers", named("account_transfers"));
    router_.add("GET", "/v1/accounts/{id}", named("get_account"));
    router_.add("GET", "/v1/accounts/mine", named("my_accounts"));
    router_.add("GET", "/v1/{kind}/mine", named("kind_mine"));
    router_.add("DELETE", "/v1/accounts/{id}", named("delete_account"));
  }
  Router router_;
};

TEST_F(RouterTest, MatchesLiteralRoutes) {
  EXPECT_EQ(route(router_, "GET", "/healthz").handler, "healthz");
  EXPECT_EQ(route(router_, "POST", "/v1/transfers").handler, "post_transfers");
}

TEST_F(RouterTest, FillsPathParameters) {
  const auto out = route(router_, "GET", "/v1/accounts/42/transfers");
  EXPECT_EQ(out.handler, "account_transfers");
  EXPECT_EQ(out.params, (std::map<std::string, std::string>{{"id", "42"}}));
}

TEST_F(RouterTest, PercentDecodesParametersAfterSplitting) {
  // %2F is a slash inside one segment, not a separator.
  const auto out = route(router_, "GET", "/v1/transfers/a%2Fb%20c%C3%A9");
  EXPECT_EQ(out.handler, "get_transfer");
  EXPECT_EQ(out.params.at("id"), "a/b c\xC3\xA9");
}

TEST_F(RouterTest, ExactSegmentsWinOverParameters) {
  EXPECT_EQ(route(router_, "GET", "/v1/accounts/mine").handler, "my_accounts");
  EXPECT_EQ(route(router_, "GET", "/v1/accounts/7").handler, "get_account");
  EXPECT_EQ(route(router_, "GET", "/v1/orders/mine").handler, "kind_mine");
  // Both match /v2/y/x; the literal in the earlier segment decides.
  router_.add("GET", "/v2/{a}/x", named("param_first"));
  router_.add("GET", "/v2/y/{b}", named("literal_first"));
  EXPECT_EQ(route(router_, "GET", "/v2/y/x").handler, "literal_first");
  EXPECT_EQ(route(router_, "GET", "/v2/z/x").handler, "param_first");
}

TEST_F(RouterTest, ParametersWinWhenTheLiteralRouteHasAnotherMethod) {
  // DELETE /v1/accounts/mine is not a route of its own; /v1/accounts/{id} takes it.
  const auto out = route(router_, "DELETE", "/v1/accounts/mine");
  EXPECT_EQ(out.handler, "delete_account");
  EXPECT_EQ(out.params.at("id"), "mine");
}

TEST_F(RouterTest, ReportsMethodNotAllowedWhenThePathExists) {
  const auto wrong = route(router_, "PUT", "/v1/transfers");
  EXPECT_EQ(wrong.handler, "");
  EXPECT_TRUE(wrong.method_not_allowed);
  const auto missing = route(router_, "GET", "/v1/nothing/here/at/all");
  EXPECT_EQ(missing.handler, "");
  EXPECT_FALSE(missing.method_not_allowed);
}

TEST_F(RouterTest, RefusesNearMisses) {
  EXPECT_EQ(route(router_, "GET", "/healthz/").handler, "");
  EXPECT_EQ(route(router_, "GET", "/v1/transfers/").handler, "");  // empty parameter
  EXPECT_EQ(route(router_, "GET", "/v1/transfers").handler, "");
  EXPECT_EQ(route(router_, "GET", "/v1/transfers/1/2").handler, "");
  EXPECT_EQ(route(router_, "GET", "healthz").handler, "");
  EXPECT_EQ(route(router_, "GET", "").handler, "");
  EXPECT_EQ(route(router_, "get", "/healthz").handler, "");           // methods are case-sensitive
  EXPECT_EQ(route(router_, "GET", "/v1/transfers/%zz").handler, "");  // malformed escape
  EXPECT_EQ(route(router_, "GET", "/v1/transfers/%4").handler, "");
  // Longer than every route, and far longer.
  EXPECT_EQ(route(router_, "GET", "/v1/accounts/1/transfers/2").handler, "");
  EXPECT_FALSE(route(router_, "GET", "/v1/accounts/1/transfers/2").method_not_allowed);
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "/x";
  EXPECT_EQ(route(router_, "GET", deep).handler, "");
}

TEST_F(RouterTest, LiteralSegmentsCompareDecoded) {
  EXPECT_EQ(route(router_, "GET", "/%68ealthz").handler, "healthz");
}

TEST_F(RouterTest, ClearsParametersOfAnEarlierMatch) {
  Request r = request("GET", "/v1/transfers/1");
  r.path_params["stale"] = "x";
  ASSERT_NE(router_.match(r, nullptr), nullptr);
  EXPECT_EQ(r.path_params, (std::map<std::string, std::string>{{"id", "1"}}));
}

TEST(RouterDeathTest, RefusesAmbiguousRoutes) {
  Router router;
  router.add("GET", "/v1/transfers/{id}", named("a"));
  EXPECT_DEATH(router.add("GET", "/v1/transfers/{other}", named("b")), "same method and shape");
  EXPECT_DEATH(router.add("GET", "/v1/x{id}", named("c")), "whole segment");
  EXPECT_DEATH(router.add("GET", "v1", named("d")), "start with");
}

TEST(PercentDecode, DecodesAndRefusesMalformedEscapes) {
  EXPECT_EQ(percent_decode("a%20b+c", false), "a b+c");
  EXPECT_EQ(percent_decode("a%20b+c", true), "a b c");
  EXPECT_EQ(percent_decode("%e4%B8%ad", false), "\xE4\xB8\xAD");
  EXPECT_EQ(percent_decode("%", false), std::nullopt);
  EXPECT_EQ(percent_decode("%a", false), std::nullopt);
  EXPECT_EQ(percent_decode("%ag", false), std::nullopt);
  EXPECT_EQ(percent_decode("", false), "");
}

}  // namespace
}  // namespace tanpu::http
