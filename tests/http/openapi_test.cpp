// docs/openapi.json and the routes of the real App agree: every route is documented and every
// documented operation is served. (The one test file that needs every module.)
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "http/app.h"
#include "http/metrics.h"
#include "ingest/consents.h"
#include "ingest/sources.h"
#include "ledger/ledger.h"
#include "members/members.h"
#include "store/migrate.h"
#include "support/test_catalog.h"
#include "support/test_store.h"

namespace tanpu::http {
namespace {

using nlohmann::json;
using Operation = std::pair<std::string, std::string>;  // lower-case method, path pattern

constexpr const char* kHttpMethods[] = {"get",  "put",     "post",  "delete",
                                        "head", "options", "patch", "trace"};

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// The routes of the real App, as `tanpu serve` wires it, on a SQLite store.
class OpenApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto lease = db_.store().acquire();
    ASSERT_TRUE(lease.has_value());
    std::vector<store::Migration> all;
    for (const auto& m : ledger::migrations()) all.push_back(m);
    for (const auto& m : members::migrations()) all.push_back(m);
    ASSERT_TRUE(store::migrate(**lease, all).has_value());
  }

  std::set<Operation> routed() {
    members::Keys keys;
    keys.data_key.fill(1);
    keys.index_key.fill(2);
    members::Options options;
    options.password = members::PasswordParams{8, 1, 1, 16, 32};  // cheap: nothing is hashed here
    ledger::Ledger ledger(db_.store(), clock_);
    members::Members members(db_.store(), ledger, keys, clock_, options);
    methodology::EvaluatorPool methodologies(testing::repository_catalog());
    ingest::Sources sources(db_.store(), keys, clock_);
    ingest::Consents consents(db_.store(), clock_);
    App app{db_.store(), ledger, members, methodologies, sources, consents, metrics_, clock_};
    Router router;
    add_all_routes(router, app);
    std::set<Operation> out;
    for (const Route& route : router.routes()) out.emplace(lower(route.method), route.pattern);
    return out;
  }

  static std::set<Operation> documented(const json& doc) {
    std::set<Operation> out;
    for (const auto& [path, item] : doc.at("paths").items()) {
      for (const char* method : kHttpMethods) {
        if (item.contains(method)) out.emplace(method, path);
      }
    }
    return out;
  }

  test::TestStore db_{test::Engine::sqlite};
  SystemClock clock_;
  Metrics metrics_;
};

TEST_F(OpenApiTest, EveryRouteIsDocumentedAndEveryOperationIsRouted) {
  const json doc = json::parse(openapi_document());
  const auto routes = routed();
  const auto operations = documented(doc);
  EXPECT_FALSE(routes.empty());
  for (const auto& [method, pattern] : routes) {
    EXPECT_TRUE(operations.contains({method, pattern}))
        << method << " " << pattern << " is routed but not in docs/openapi.json";
  }
  for (const auto& [method, pattern] : operations) {
    EXPECT_TRUE(routes.contains({method, pattern}))
        << method << " " << pattern << " is in docs/openapi.json but not routed";
  }
}

TEST_F(OpenApiTest, TheSystemRoutesAreThere) {
  const auto routes = routed();
  EXPECT_TRUE(routes.contains({"get", "/healthz"}));
  EXPECT_TRUE(routes.contains({"get", "/metrics"}));
  EXPECT_TRUE(routes.contains({"get", "/v1/openapi.json"}));
}

TEST(OpenApiDocument, EveryOperationHasASummaryResponsesAndAUniqueId) {
  const json doc = json::parse(openapi_document());  // throws, failing the test, if malformed
  EXPECT_EQ(doc.at("openapi").get<std::string>().substr(0, 2), "3.");
  std::set<std::string> ids;
  for (const auto& [path, item] : doc.at("paths").items()) {
    for (const char* method : kHttpMethods) {
      if (!item.contains(method)) continue;
      const json& op = item[method];
      const std::string where = std::string(method) + " " + path;
      EXPECT_TRUE(op.contains("summary") && op["summary"].is_string() &&
                  !op["summary"].get<std::string>().empty())
          << where;
      EXPECT_TRUE(op.contains("responses") && op["responses"].is_object() &&
                  !op["responses"].empty())
          << where;
      if (op.contains("operationId")) {
        EXPECT_TRUE(ids.insert(op["operationId"].get<std::string>()).second)
            << where << " repeats operationId " << op["operationId"];
      }
    }
  }
}

// OpenAPI requires each {name} of a path to be declared as a path parameter.
TEST(OpenApiDocument, PathParametersAreDeclared) {
  const json doc = json::parse(openapi_document());
  for (const auto& [path, item] : doc.at("paths").items()) {
    std::vector<std::string> names;
    for (std::size_t open = path.find('{'); open != std::string::npos;
         open = path.find('{', open + 1)) {
      names.push_back(path.substr(open + 1, path.find('}', open) - open - 1));
    }
    for (const char* method : kHttpMethods) {
      if (!item.contains(method)) continue;
      for (const std::string& name : names) {
        bool declared = false;
        for (const json* level : {&item, &item[method]}) {
          if (!level->contains("parameters")) continue;
          for (const json& given : level->at("parameters")) {
            const json& p =
                given.contains("$ref")
                    ? doc.at(json::json_pointer(given["$ref"].get<std::string>().substr(1)))
                    : given;
            declared = declared || (p.value("in", "") == "path" && p.value("name", "") == name);
          }
        }
        EXPECT_TRUE(declared) << method << " " << path << " does not declare {" << name << "}";
      }
    }
  }
}

}  // namespace
}  // namespace tanpu::http
