#include "http/message.h"

#include <gtest/gtest.h>

namespace tanpu::http {
namespace {

TEST(ErrorResponse, HasTheOneErrorShape) {
  const Response r = error_response(
      {ErrorKind::invalid, "wrong_type", "'amount' must be an integer", "transfers[3].amount"});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(nlohmann::json::parse(r.body),
            (nlohmann::json{{"error",
                             {{"code", "wrong_type"},
                              {"message", "'amount' must be an integer"},
                              {"field", "transfers[3].amount"}}}}));
}

TEST(ErrorResponse, OmitsAnEmptyField) {
  const Response r = error_response({ErrorKind::not_found, "not_found", "no such transfer", {}});
  EXPECT_EQ(r.status, 404);
  const auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["error"].size(), 2U);
  EXPECT_FALSE(body["error"].contains("field"));
}

TEST(ErrorResponse, SurvivesInvalidUtf8InTheMessage) {
  const Response r = error_response({ErrorKind::not_found, "not_found", "no \xFF here", {}});
  EXPECT_EQ(nlohmann::json::parse(r.body)["error"]["message"], "no \xEF\xBF\xBD here");
}

TEST(StatusFor, MapsEachKind) {
  const auto status = [](ErrorKind kind, std::string code = "x") {
    return status_for(Error{kind, std::move(code), "", ""});
  };
  EXPECT_EQ(status(ErrorKind::invalid), 400);
  EXPECT_EQ(status(ErrorKind::unauthenticated), 401);
  EXPECT_EQ(status(ErrorKind::forbidden), 403);
  EXPECT_EQ(status(ErrorKind::not_found), 404);
  EXPECT_EQ(status(ErrorKind::conflict), 409);
  EXPECT_EQ(status(ErrorKind::too_large), 413);
  EXPECT_EQ(status(ErrorKind::rate_limited), 429);
  EXPECT_EQ(status(ErrorKind::unavailable), 503);
  EXPECT_EQ(status(ErrorKind::timeout), 504);
  EXPECT_EQ(status(ErrorKind::internal), 500);
}

TEST(StatusFor, SemanticRefusalsAre422) {
  for (const char* code : {"exceeds_credits", "currency_mismatch", "pending_expired",
                           "pending_already_posted", "post_amount_exceeds_pending"}) {
    EXPECT_EQ(status_for({ErrorKind::invalid, code, "", ""}), 422) << code;
  }
  EXPECT_EQ(status_for({ErrorKind::invalid, "missing_field", "", ""}), 400);
  // The code decides only for ErrorKind::invalid.
  EXPECT_EQ(status_for({ErrorKind::conflict, "exceeds_credits", "", ""}), 409);
}

TEST(StatusFor, ProtocolCodes) {
  EXPECT_EQ(status_for({ErrorKind::invalid, "method_not_allowed", "", ""}), 405);
  EXPECT_EQ(status_for({ErrorKind::timeout, "request_timeout", "", ""}), 408);
  EXPECT_EQ(status_for({ErrorKind::too_large, "headers_too_large", "", ""}), 431);
  EXPECT_EQ(status_for({ErrorKind::too_large, "body_too_large", "", ""}), 413);
}

TEST(JsonResponse, CarriesStatusAndBody) {
  const Response r = json_response({{"id", 7}}, 201);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, R"({"id":7})");
}

TEST(RequestAccessors, FindHeadersAndQueryParameters) {
  Request r;
  r.headers = {{"x-a", "1"}, {"x-b", "2"}, {"x-a", "3"}};
  r.query = {{"limit", "10"}};
  EXPECT_EQ(r.header("x-a"), "1");
  EXPECT_EQ(r.header("x-c"), "");
  EXPECT_EQ(r.query_param("limit"), "10");
  EXPECT_EQ(r.query_param("cursor"), "");
}

}  // namespace
}  // namespace tanpu::http
