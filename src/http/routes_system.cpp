// System routes: liveness with a database round trip, metrics for Prometheus, the API description.
#include "core/log.h"
#include "http/app.h"
#include "http/metrics.h"
#include "store/store.h"

namespace tanpu::http {
namespace {

// 503 whatever the store's error kind: to a load balancer, a failing database means "not ready".
Response unhealthy(const Error& error) {
  log::warn("healthz_failed", {{"code", error.code}, {"message", error.message}});
  Response response = error_response({ErrorKind::unavailable,
                                      "database_unavailable",
                                      "the database did not answer SELECT 1 (" + error.code + ")",
                                      {}});
  response.status = 503;
  return response;
}

Response healthz(store::Store& store) {
  auto lease = store.acquire();
  if (!lease) return unhealthy(lease.error());
  auto rows = (*lease)->query("SELECT 1");
  if (!rows) return unhealthy(rows.error());
  if (rows->size() != 1) {
    return unhealthy({ErrorKind::internal, "unexpected_result", "SELECT 1 returned no row", {}});
  }
  return json_response({{"status", "ok"}});
}

}  // namespace

void add_system_routes(Router& router, store::Store& store, Metrics& metrics) {
  router.add("GET", "/healthz", [&store](Request&) { return healthz(store); });
  router.add("GET", "/metrics", [&metrics](Request&) {
    return Response{200, "text/plain; version=0.0.4; charset=utf-8", metrics.render(), {}};
  });
  router.add("GET", "/v1/openapi.json", [](Request&) {
    return Response{200, "application/json", std::string(openapi_document()), {}};
  });
}

void add_system_routes(Router& router, App& app) {
  add_system_routes(router, app.store, app.metrics);
}

void add_all_routes(Router& router, App& app) {
  add_system_routes(router, app);
  add_ledger_routes(router, app);
  add_member_routes(router, app);
  add_methodology_routes(router, app);
  add_ingest_routes(router, app);
  add_claims_routes(router, app);
  add_points_routes(router, app);
  add_market_routes(router, app);
  add_lottery_routes(router, app);
  add_donation_routes(router, app);
  add_org_routes(router, app);
}

}  // namespace tanpu::http
