// What route handlers can reach: the modules, wired once by `tanpu serve`.
#pragma once

#include <string_view>

#include "core/time.h"
#include "http/router.h"

namespace tanpu::store {
class Store;
}
namespace tanpu::ledger {
class Ledger;
}
namespace tanpu::members {
class Members;
}
namespace tanpu::methodology {
class EvaluatorPool;
}
namespace tanpu::ingest {
class Sources;
class Consents;
struct PipelineOptions;
}  // namespace tanpu::ingest
namespace tanpu::points {
class Points;
}
namespace tanpu::market {
class Market;
class Lotteries;
class Donations;
}  // namespace tanpu::market
namespace tanpu::orgs {
class Orgs;
}

namespace tanpu::http {

class Metrics;

struct App {
  store::Store& store;
  ledger::Ledger& ledger;
  members::Members& members;
  methodology::EvaluatorPool& methodologies;
  ingest::Sources& sources;
  ingest::Consents& consents;
  Metrics& metrics;
  const Clock& clock;
  // Optional parts (trailing, so tests that need none of them leave them out):
  const ingest::PipelineOptions* intake = nullptr;  // the operator's intake and points policy
  points::Points* points = nullptr;                 // GET /v1/me/points answers 503 without it
  market::Market* market = nullptr;        // merchants, offers, orders, vouchers, settlement
  market::Lotteries* lotteries = nullptr;  // lotteries and lucky bags
  market::Donations* donations = nullptr;  // charity projects and donations
  orgs::Orgs* orgs = nullptr;              // organisations, rosters, activities, credits
};

// One routes file per module; each adds its routes to the router.
void add_system_routes(Router& router, App& app);       // /healthz, /metrics, /v1/openapi.json
void add_ledger_routes(Router& router, App& app);       // /v1/accounts…, /v1/transfers…
void add_member_routes(Router& router, App& app);       // /v1/members, /v1/sessions, /v1/me…
void add_methodology_routes(Router& router, App& app);  // /v1/methodologies…, /v1/quantify…
void add_ingest_routes(Router& router, App& app);       // /v1/sources…, /v1/me/consents…
void add_claims_routes(Router& router, App& app);  // /v1/me/evidence, /v1/me/claims, /v1/reviews…
void add_points_routes(Router& router, App& app);  // /v1/me/points
void add_market_routes(Router& router, App& app);  // /v1/merchants…, /v1/offers…, /v1/me/orders…
void add_lottery_routes(Router& router, App& app);   // /v1/lotteries…
void add_donation_routes(Router& router, App& app);  // /v1/charity-projects…, /v1/me/donations…
void add_org_routes(Router& router, App& app);  // /v1/orgs…, /v1/activities…, /v1/me/orgs…

// All of the above.
void add_all_routes(Router& router, App& app);

// The system routes need only the store and the metrics; this form lets them be served (and
// tested) without the modules. add_system_routes(router, app) calls it.
void add_system_routes(Router& router, store::Store& store, Metrics& metrics);

// docs/openapi.json as embedded at build time (generated from cmake/embed.cmake).
std::string_view openapi_document();

}  // namespace tanpu::http
