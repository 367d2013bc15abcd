// Provably fair lotteries and lucky bags (market/lottery.h): operators create them; anyone may list
// and read them (the seed commitment from the start, the seed after the close); members draw with
// an Idempotency-Key, list their draws and verify each one. docs/lottery.md is the guide.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/time.h"
#include "http/app.h"
#include "http/auth.h"
#include "http/json_input.h"
#include "market/lottery.h"
#include "members/members.h"

namespace tanpu::http {
namespace {

using nlohmann::json;

// The JSON reader's bounds, looser than the module's so that the module's own codes answer.
constexpr std::size_t kTitleReaderBytesMax = market::kLotteryTitleBytesMax * 4;
constexpr std::size_t kPrizesReaderMax = market::kPrizesMax * 4;
constexpr std::size_t kClientSeedReaderBytesMax = market::kClientSeedBytesMax * 4;

Response unavailable() {
  return fail_response(
      Error{ErrorKind::unavailable, "lotteries_unavailable", "lotteries are not served here", {}});
}

json opt_int(const std::optional<std::int64_t>& v) {
  return v ? json(*v) : json(nullptr);
}

json opt_int(const std::optional<std::int32_t>& v) {
  return v ? json(*v) : json(nullptr);
}

json lottery_json(const market::Lottery& l, std::int64_t now_us) {
  json prizes = json::array();
  for (const auto& p : l.prizes) {
    prizes.push_back({{"prize_no", p.prize_no},
                      {"name", p.name},
                      {"odds_ppm", p.odds_ppm},
                      {"stock_initial", p.stock_initial},
                      {"stock_remaining", p.stock_remaining}});
  }
  return json{{"id", l.id},
              {"kind", market::to_string(l.kind)},
              {"title", l.title},
              {"status", l.status(now_us)},
              {"price_points", l.price_points},
              {"opens_at", format_iso8601(l.opens_at_us)},
              {"closes_at", format_iso8601(l.closes_at_us)},
              {"per_member_day_max", opt_int(l.per_member_day_max)},
              {"per_member_total_max", opt_int(l.per_member_total_max)},
              {"no_prize_ppm", l.no_prize_ppm},
              {"prizes", std::move(prizes)},
              {"draws_count", l.draws},
              {"seed_commitment", l.seed_commitment},
              {"seed", l.seed ? json(*l.seed) : json(nullptr)},
              {"account_id", l.account_id},
              {"created_at", format_iso8601(l.created_at_us)}};
}

json draw_json(const market::Draw& d) {
  const bool won = d.prize_no.has_value();
  return json{
      {"lottery_id", d.lottery_id},
      {"draw_no", d.draw_no},
      {"client_seed", d.client_seed},
      {"ticket", d.ticket},
      {"outcome", won ? "prize" : "no_prize"},
      {"prize", won ? json{{"prize_no", *d.prize_no}, {"name", d.prize_name}} : json(nullptr)},
      {"reason", won ? json(nullptr) : json(market::to_string(d.reason))},
      {"range_prize_no", opt_int(d.range_prize_no)},
      {"price_points", d.price_points},
      {"transfer_id", d.transfer_id.to_hex()},
      {"drawn_at", format_iso8601(d.drawn_at_us)}};
}

json verification_json(const market::Verification& v) {
  json ranges = json::array();
  for (const auto& r : v.ranges) {
    ranges.push_back({{"prize_no", opt_int(r.prize_no)}, {"from", r.from}, {"to", r.to}});
  }
  const auto opt_bool = [](const std::optional<bool>& b) { return b ? json(*b) : json(nullptr); };
  return json{{"draw", draw_json(v.draw)},
              {"member_id", v.draw.member_id},
              {"message", v.message},
              {"ranges", std::move(ranges)},
              {"seed_commitment", v.seed_commitment},
              {"revealed", v.revealed},
              {"seed", v.seed ? json(*v.seed) : json(nullptr)},
              {"recomputed_ticket", opt_int(v.recomputed_ticket)},
              {"checks",
               {{"commitment_matches", opt_bool(v.commitment_matches)},
                {"ticket_matches", opt_bool(v.ticket_matches)},
                {"range_matches", opt_bool(v.range_matches)}}}};
}

Result<std::vector<market::PrizeInput>> read_prizes(ObjectReader& r) {
  auto list = r.array("prizes", kPrizesReaderMax);
  if (!list) return fail(list.error());
  std::vector<market::PrizeInput> out;
  for (std::size_t i = 0; i < (*list)->size(); ++i) {
    ObjectReader p((**list)[i], "prizes[" + std::to_string(i) + "]");
    auto name = p.string("name", kTitleReaderBytesMax);
    if (!name) return fail(name.error());
    auto stock = p.int64("stock");
    if (!stock) return fail(stock.error());
    auto odds = p.int64("odds_ppm");
    if (!odds) return fail(odds.error());
    if (auto done = p.finish(); !done) return fail(done.error());
    out.push_back({std::move(*name), *stock, *odds});
  }
  return out;
}

Result<market::LotteryInput> read_lottery(const json& body) {
  ObjectReader r(body);
  market::LotteryInput in;
  auto kind = r.opt_string("kind", 32);
  if (!kind) return fail(kind.error());
  if (*kind) {
    const auto parsed = market::parse_lottery_kind(**kind);
    if (!parsed) {
      return fail(ErrorKind::invalid, "invalid_kind", "kind is lottery or lucky_bag", "kind");
    }
    in.kind = *parsed;
  }
  auto title = r.string("title", kTitleReaderBytesMax);
  if (!title) return fail(title.error());
  in.title = std::move(*title);
  auto price = r.int64("price_points");
  if (!price) return fail(price.error());
  in.price_points = *price;
  auto opens = r.time("opens_at");
  if (!opens) return fail(opens.error());
  in.opens_at_us = *opens;
  auto closes = r.time("closes_at");
  if (!closes) return fail(closes.error());
  in.closes_at_us = *closes;
  auto day_max = r.opt_int64("per_member_day_max");
  if (!day_max) return fail(day_max.error());
  in.per_member_day_max = *day_max;
  auto total_max = r.opt_int64("per_member_total_max");
  if (!total_max) return fail(total_max.error());
  in.per_member_total_max = *total_max;
  auto no_prize = r.int64("no_prize_ppm");
  if (!no_prize) return fail(no_prize.error());
  in.no_prize_ppm = *no_prize;
  auto prizes = read_prizes(r);
  if (!prizes) return fail(prizes.error());
  in.prizes = std::move(*prizes);
  if (auto done = r.finish(); !done) return fail(done.error());
  return in;
}

Response create_lottery(App& app, const Request& request) {
  auto who = require_operator(request, app.members);
  if (!who) return fail_response(who.error());
  if (app.lotteries == nullptr) return unavailable();
  auto body = parse_json(request.body);
  if (!body) return fail_response(body.error());
  auto in = read_lottery(*body);
  if (!in) return fail_response(in.error());
  // Optional here: an operator's retry with the same key answers the first lottery.
  if (!request.header("idempotency-key").empty()) {
    auto key = idempotency_key(request);
    if (!key) return fail_response(key.error());
    in->idempotency_key = std::move(*key);
  }
  auto made = app.lotteries->create(*in, who->member_id);
  if (!made) return fail_response(made.error());
  return json_response(lottery_json(*made, app.clock.now_us()), made->replayed ? 200 : 201);
}

Response list_lotteries(App& app, const Request& request) {
  if (app.lotteries == nullptr) return unavailable();
  auto limit = read_limit(request);
  if (!limit) return fail_response(limit.error());
  auto page = app.lotteries->list(request.query_param("cursor"), *limit);
  if (!page) return fail_response(page.error());
  const std::int64_t now = app.clock.now_us();
  json lotteries = json::array();
  for (const auto& l : page->lotteries) lotteries.push_back(lottery_json(l, now));
  return json_response(
      {{"lotteries", std::move(lotteries)},
       {"next_cursor", page->next_cursor.empty() ? json(nullptr) : json(page->next_cursor)}});
}

Result<std::int64_t> lottery_id_of(Request& request) {
  const auto id = parse_positive_id(request.path_params["id"]);
  if (!id) return fail(ErrorKind::not_found, "lottery_not_found", "no such lottery");
  return *id;
}

Response get_lottery(App& app, Request& request) {
  if (app.lotteries == nullptr) return unavailable();
  auto id = lottery_id_of(request);
  if (!id) return fail_response(id.error());
  auto l = app.lotteries->get(*id);
  if (!l) return fail_response(l.error());
  return json_response(lottery_json(*l, app.clock.now_us()));
}

Response draw(App& app, Request& request) {
  auto who = authenticate(request, app.members);
  if (!who) return fail_response(who.error());
  if (app.lotteries == nullptr) return unavailable();
  auto id = lottery_id_of(request);
  if (!id) return fail_response(id.error());
  auto key = idempotency_key(request);
  if (!key) return fail_response(key.error());
  market::DrawInput in{*id, who->member_id, std::move(*key), {}};
  // The body is optional: no body (or {}) draws with an empty client seed.
  if (request.body.find_first_not_of(" \t\r\n") != std::string::npos) {
    auto body = parse_json(request.body);
    if (!body) return fail_response(body.error());
    ObjectReader r(*body);
    auto seed = r.opt_string("client_seed", kClientSeedReaderBytesMax);
    if (!seed) return fail_response(seed.error());
    if (auto done = r.finish(); !done) return fail_response(done.error());
    in.client_seed = seed->value_or("");
  }
  auto d = app.lotteries->draw(in);
  if (!d) return fail_response(d.error());
  json out = draw_json(*d);
  out["replay"] = d->replayed;
  return json_response(out, d->replayed ? 200 : 201);
}

Response my_draws(App& app, const Request& request) {
  auto who = authenticate(request, app.members);
  if (!who) return fail_response(who.error());
  if (app.lotteries == nullptr) return unavailable();
  auto limit = read_limit(request);
  if (!limit) return fail_response(limit.error());
  std::int64_t lottery_id = 0;
  if (const auto text = request.query_param("lottery_id"); !text.empty()) {
    const auto id = parse_positive_id(text);
    if (!id) {
      return fail_response(
          {ErrorKind::invalid, "invalid_lottery_id", "lottery_id is a positive id", "lottery_id"});
    }
    lottery_id = *id;
  }
  auto page = app.lotteries->member_draws(who->member_id, lottery_id, request.query_param("cursor"),
                                          *limit);
  if (!page) return fail_response(page.error());
  json draws = json::array();
  for (const auto& d : page->draws) draws.push_back(draw_json(d));
  return json_response(
      {{"draws", std::move(draws)},
       {"next_cursor", page->next_cursor.empty() ? json(nullptr) : json(page->next_cursor)}});
}

Response verification(App& app, Request& request) {
  auto who = authenticate(request, app.members);
  if (!who) return fail_response(who.error());
  if (app.lotteries == nullptr) return unavailable();
  auto id = lottery_id_of(request);
  if (!id) return fail_response(id.error());
  const auto draw_no = parse_positive_id(request.path_params["draw_no"]);
  if (!draw_no) {
    return fail_response(
        {ErrorKind::not_found, "draw_not_found", "no such draw of yours in this lottery", {}});
  }
  const bool any = who->role == members::Role::operator_;
  auto v = app.lotteries->verify(who->member_id, *id, *draw_no, any);
  if (!v) return fail_response(v.error());
  return json_response(verification_json(*v));
}

}  // namespace

void add_lottery_routes(Router& router, App& app) {
  router.add("POST", "/v1/lotteries", [&app](Request& r) { return create_lottery(app, r); });
  router.add("GET", "/v1/lotteries", [&app](Request& r) { return list_lotteries(app, r); });
  router.add("GET", "/v1/lotteries/{id}", [&app](Request& r) { return get_lottery(app, r); });
  router.add("POST", "/v1/lotteries/{id}/draws", [&app](Request& r) { return draw(app, r); });
  router.add("GET", "/v1/me/lottery-draws", [&app](Request& r) { return my_draws(app, r); });
  router.add("GET", "/v1/lotteries/{id}/draws/{draw_no}/verification",
             [&app](Request& r) { return verification(app, r); });
}

}  // namespace tanpu::http
