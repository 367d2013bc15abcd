#include "cli/serve_app.h"

namespace tanpu::cli {

http::App serve_app(Runtime& rt, http::Metrics& metrics) {
  return http::App{.store = *rt.store,
                   .ledger = *rt.ledger,
                   .members = *rt.members,
                   .methodologies = *rt.evaluators,
                   .sources = *rt.sources,
                   .consents = *rt.consents,
                   .metrics = metrics,
                   .clock = rt.clock,
                   .intake = &rt.intake,
                   .points = rt.points.get(),
                   .market = rt.market.get(),
                   .lotteries = rt.lotteries.get(),
                   .donations = rt.donations.get(),
                   .orgs = rt.orgs.get()};
}

int server_thread_nice(const Runtime& rt) {
  constexpr int kGiveWayToTheSqliteWriter = 10;
  return rt.store->dialect() == store::Dialect::sqlite ? kGiveWayToTheSqliteWriter : 0;
}

}  // namespace tanpu::cli
