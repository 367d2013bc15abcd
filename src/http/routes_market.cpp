// The market routes (docs/market.md): merchants and staff (operator), offers (merchant staff),
// orders and vouchers (members), write-off and settlement (merchant staff, operator).
#include <nlohmann/json.hpp>

#include "core/time.h"
#include "http/app.h"
#include "http/auth.h"
#include "http/json_input.h"
#include "market/market.h"

namespace tanpu::http {
namespace {

using nlohmann::json;

json opt(const std::optional<std::int64_t>& v) {
  return v ? json(*v) : json(nullptr);
}

json merchant_json(const market::Merchant& m) {
  json stores = json::array();
  for (const auto& s : m.stores) {
    stores.push_back(
        {{"id", s.id}, {"name", s.name}, {"address", s.address}, {"org_id", opt(s.org_id)}});
  }
  return {{"id", m.id},
          {"name", m.name},
          {"category", m.category},
          {"settlement",
           {{"account_name", m.settlement_account_name},
            {"bank", m.settlement_bank},
            {"account_no", m.settlement_account_masked}}},
          {"account_id", m.account_id},
          {"stores", std::move(stores)},
          {"created_at", format_iso8601(m.created_at_us)}};
}

std::string_view offer_status(const market::Offer& o, std::int64_t now) {
  if (o.withdrawn) return "withdrawn";
  if (now < o.sale_starts_us) return "upcoming";
  if (now >= o.sale_ends_us) return "ended";
  if (o.remaining <= 0) return "sold_out";
  return "on_sale";
}

json offer_json(const market::Offer& o, std::int64_t now) {
  return {{"id", o.id},
          {"merchant_id", o.merchant_id},
          {"merchant_name", o.merchant_name},
          {"store_id", opt(o.store_id)},
          {"title", o.title},
          {"category", o.category},
          {"fulfilment", market::to_string(o.fulfilment)},
          {"price_points", o.price_points},
          {"stock", o.stock},
          {"remaining", o.remaining},
          {"per_member_day_max", o.per_member_day_max},
          {"per_member_total_max", o.per_member_total_max},
          {"sale_starts_at", format_iso8601(o.sale_starts_us)},
          {"sale_ends_at", format_iso8601(o.sale_ends_us)},
          {"eligible_org_id", opt(o.eligible_org_id)},
          {"eligible_region", o.eligible_region ? json(*o.eligible_region) : json(nullptr)},
          {"voucher_valid_days", o.voucher_valid_days},
          {"status", offer_status(o, now)},
          {"created_at", format_iso8601(o.created_at_us)}};
}

// with_voucher: the member sees the voucher's code and QR payload; merchant staff never do (they
// would be able to write it off themselves).
json order_json(const market::Order& o, bool with_voucher) {
  json out{{"id", o.id},
           {"member_id", o.member_id},
           {"offer_id", o.offer_id},
           {"merchant_id", o.merchant_id},
           {"offer_title", o.offer_title},
           {"price_points", o.price_points},
           {"status", market::to_string(o.status)},
           {"hold_transfer_id", o.hold_id.to_hex()},
           {"delivery_address", o.delivery_address ? json(*o.delivery_address) : json(nullptr)},
           {"created_at", format_iso8601(o.created_at_us)},
           {"expires_at", format_iso8601(o.expires_at_us)},
           {"redeemed_at", optional_time(o.redeemed_at_us)},
           {"redeemed_store_id", opt(o.redeemed_store_id)},
           {"closed_at", optional_time(o.closed_at_us)}};
  if (with_voucher) out["voucher"] = {{"code", o.voucher_code}, {"qr", o.voucher_qr}};
  return out;
}

json page_json(const market::OrderPage& page, bool with_voucher) {
  json orders = json::array();
  for (const auto& o : page.orders) orders.push_back(order_json(o, with_voucher));
  return {{"orders", std::move(orders)},
          {"next_cursor",
           page.next_before_id ? json(std::to_string(*page.next_before_id)) : json(nullptr)}};
}

Response unavailable() {
  return fail_response(
      Error{ErrorKind::unavailable, "market_unavailable", "the market is not served here", {}});
}

Result<std::int64_t> path_id(Request& request, const std::string& name, std::string_view what) {
  const auto id = parse_positive_id(request.path_params[name]);
  if (!id) {
    return fail(ErrorKind::not_found, std::string(what) + "_not_found",
                "no such " + std::string(what), name);
  }
  return *id;
}

// The page cursor: the id below which the next page starts.
Result<std::optional<std::int64_t>> read_cursor(const Request& request) {
  const std::string_view text = request.query_param("cursor");
  if (text.empty()) return std::optional<std::int64_t>{};
  const auto id = parse_positive_id(text);
  if (!id) return fail(ErrorKind::invalid, "invalid_cursor", "cursor is not one we gave", "cursor");
  return std::optional<std::int64_t>(*id);
}

// The caller acts for merchant_id: its staff, or an operator.
Result<members::Principal> require_staff(App& app, const Request& request,
                                         std::int64_t merchant_id) {
  auto who = authenticate(request, app.members);
  if (!who) return who;
  if (who->role == members::Role::operator_) return who;
  auto staff = app.market->is_staff(merchant_id, who->member_id);
  if (!staff) return fail(staff.error());
  if (!*staff) {
    return fail(ErrorKind::forbidden, "merchant_staff_only",
                "only this merchant's staff or an operator may do this");
  }
  return who;
}

Response create_merchant(App& app, const Request& request) {
  auto who = require_operator(request, app.members);
  if (!who) return fail_response(who.error());
  auto body = parse_json(request.body);
  if (!body) return fail_response(body.error());
  ObjectReader r(*body);
  market::MerchantInput in;
  auto name = r.string("name", 1024);
  if (!name) return fail_response(name.error());
  in.name = std::move(*name);
  auto category = r.string("category", 64);
  if (!category) return fail_response(category.error());
  in.category = std::move(*category);
  auto settlement = r.object("settlement");
  if (!settlement) return fail_response(settlement.error());
  ObjectReader s(**settlement, "settlement");
  for (auto [field, out] : {std::pair{"account_name", &in.settlement_account_name},
                            std::pair{"bank", &in.settlement_bank},
                            std::pair{"account_no", &in.settlement_account_no}}) {
    auto v = s.string(field, 1024);
    if (!v) return fail_response(v.error());
    *out = std::move(*v);
  }
  if (auto done = s.finish(); !done) return fail_response(done.error());
  auto stores = r.opt_array("stores", 200);
  if (!stores) return fail_response(stores.error());
  if (*stores != nullptr) {
    for (std::size_t i = 0; i < (*stores)->size(); ++i) {
      ObjectReader st((**stores)[i], "stores[" + std::to_string(i) + "]");
      market::StoreInput store;
      auto sname = st.string("name", 1024);
      if (!sname) return fail_response(sname.error());
      store.name = std::move(*sname);
      auto address = st.opt_string("address", 1024);
      if (!address) return fail_response(address.error());
      store.address = address->value_or("");
      auto org = st.opt_int64("org_id");
      if (!org) return fail_response(org.error());
      store.org_id = *org;
      if (auto done = st.finish(); !done) return fail_response(done.error());
      in.stores.push_back(std::move(store));
    }
  }
  if (auto done = r.finish(); !done) return fail_response(done.error());
  auto m = app.market->create_merchant(in);
  if (!m) return fail_response(m.error());
  return json_response(merchant_json(*m), 201);
}

Response list_merchants(App& app, const Request& request) {
  auto who = require_operator(request, app.members);
  if (!who) return fail_response(who.error());
  auto limit = read_limit(request);
  if (!limit) return fail_response(limit.error());
  const std::string_view after_text = request.query_param("cursor");
  const auto after = parse_positive_id(after_text);
  if (!after_text.empty() && !after) {
    return fail_response(
        Error{ErrorKind::invalid, "invalid_cursor", "cursor is not one we gave", "cursor"});
  }
  auto list = app.market->list_merchants(*limit + 1, after.value_or(0));
  if (!list) return fail_response(list.error());
  json out = json::array();
  for (std::size_t i = 0; i < list->size() && i < *limit; ++i) {
    out.push_back(merchant_json((*list)[i]));
  }
  const bool more = list->size() > *limit;
  return json_response(
      {{"merchants", std::move(out)},
       {"next_cursor", more ? json(std::to_string((*list)[*limit - 1].id)) : json(nullptr)}});
}

Response get_merchant(App& app, Request& request) {
  auto id = path_id(request, "merchant_id", "merchant");
  if (!id) return fail_response(id.error());
  auto who = require_staff(app, request, *id);
  if (!who) return fail_response(who.error());
  auto m = app.market->get_merchant(*id);
  if (!m) return fail_response(m.error());
  return json_response(merchant_json(*m));
}

Response add_staff(App& app, Request& request) {
  auto who = require_operator(request, app.members);
  if (!who) return fail_response(who.error());
  auto id = path_id(request, "merchant_id", "merchant");
  if (!id) return fail_response(id.error());
  auto body = parse_json(request.body);
  if (!body) return fail_response(body.error());
  ObjectReader r(*body);
  auto member = r.int64("member_id");
  if (!member) return fail_response(member.error());
  if (auto done = r.finish(); !done) return fail_response(done.error());
  if (auto added = app.market->add_staff(*id, *member); !added) {
    return fail_response(added.error());
  }
  return json_response({{"merchant_id", *id}, {"member_id", *member}}, 201);
}

Response remove_staff(App& app, Request& request) {
  auto who = require_operator(request, app.members);
  if (!who) return fail_response(who.error());
  auto id = path_id(request, "merchant_id", "merchant");
  if (!id) return fail_response(id.error());
  auto member = path_id(request, "member_id", "staff");
  if (!member) return fail_response(member.error());
  if (auto removed = app.market->remove_staff(*id, *member); !removed) {
    return fail_response(removed.error());
  }
  return json_response({{"merchant_id", *id}, {"member_id", *member}});
}

Result<market::OfferInput> read_offer(const json& body, std::int64_t merchant_id) {
  ObjectReader r(body);
  market::OfferInput in;
  in.merchant_id = merchant_id;
  auto title = r.string("title", 1024);
  if (!title) return fail(title.error());
  in.title = std::move(*title);
  auto category = r.string("category", 64);
  if (!category) return fail(category.error());
  in.category = std::move(*category);
  auto fulfilment = r.opt_string("fulfilment", 64);
  if (!fulfilment) return fail(fulfilment.error());
  if (*fulfilment && **fulfilment != "evoucher" && **fulfilment != "physical") {
    return fail(ErrorKind::invalid, "invalid_fulfilment", "fulfilment is evoucher or physical",
                "fulfilment");
  }
  in.fulfilment = *fulfilment && **fulfilment == "physical" ? market::Fulfilment::physical
                                                            : market::Fulfilment::evoucher;
  for (auto [field, out] :
       {std::pair{"price_points", &in.price_points}, std::pair{"stock", &in.stock}}) {
    auto v = r.int64(field);
    if (!v) return fail(v.error());
    *out = *v;
  }
  for (auto [field, out] : {std::pair{"per_member_day_max", &in.per_member_day_max},
                            std::pair{"per_member_total_max", &in.per_member_total_max},
                            std::pair{"voucher_valid_days", &in.voucher_valid_days}}) {
    auto v = r.opt_int64(field);
    if (!v) return fail(v.error());
    if (*v) *out = **v;
  }
  auto starts = r.time("sale_starts_at");
  if (!starts) return fail(starts.error());
  in.sale_starts_us = *starts;
  auto ends = r.time("sale_ends_at");
  if (!ends) return fail(ends.error());
  in.sale_ends_us = *ends;
  auto store = r.opt_int64("store_id");
  if (!store) return fail(store.error());
  in.store_id = *store;
  auto org = r.opt_int64("eligible_org_id");
  if (!org) return fail(org.error());
  in.eligible_org_id = *org;
  auto region = r.opt_string("eligible_region", 64);
  if (!region) return fail(region.error());
  in.eligible_region = *region;
  if (auto done = r.finish(); !done) return fail(done.error());
  return in;
}

Response create_offer(App& app, Request& request) {
  auto id = path_id(request, "merchant_id", "merchant");
  if (!id) return fail_response(id.error());
  auto who = require_staff(app, request, *id);
  if (!who) return fail_response(who.error());
  auto body = parse_json(request.body);
  if (!body) return fail_response(body.error());
  auto in = read_offer(*body, *id);
  if (!in) return fail_response(in.error());
  auto offer = app.market->create_offer(*in);
  if (!offer) return fail_response(offer.error());
  return json_response(offer_json(*offer, app.clock.now_us()), 201);
}

Response list_offers(App& app, const Request& request, std::int64_t merchant_id) {
  auto limit = read_limit(request);
  if (!limit) return fail_response(limit.error());
  auto cursor = read_cursor(request);
  if (!cursor) return fail_response(cursor.error());
  std::optional<std::string> category;
  if (const auto c = request.query_param("category"); !c.empty()) category = std::string(c);
  auto list = app.market->list_offers(merchant_id, category, *limit + 1,
                                      cursor->value_or(std::numeric_limits<std::int64_t>::max()));
  if (!list) return fail_response(list.error());
  const std::int64_t now = app.clock.now_us();
  json out = json::array();
  for (std::size_t i = 0; i < list->size() && i < *limit; ++i) {
    out.push_back(offer_json((*list)[i], now));
  }
  const bool more = list->size() > *limit;
  return json_response(
      {{"offers", std::move(out)},
       {"next_cursor", more ? json(std::to_string((*list)[*limit - 1].id)) : json(nullptr)}});
}

Response merchant_offers(App& app, Request& request) {
  auto id = path_id(request, "merchant_id", "merchant");
  if (!id) return fail_response(id.error());
  auto who = require_staff(app, request, *id);
  if (!who) return fail_response(who.error());
  return list_offers(app, request, *id);
}

Response get_offer(App& app, Request& request) {
  auto id = path_id(request, "offer_id", "offer");
  if (!id) return fail_response(id.error());
  auto offer = app.market->get_offer(*id);
  if (!offer) return fail_response(offer.error());
  return json_response(offer_json(*offer, app.clock.now_us()));
}

Response withdraw_offer(App& app, Request& request) {
  auto id = path_id(request, "offer_id", "offer");
  if (!id) return fail_response(id.error());
  auto offer = app.market->get_offer(*id);
  if (!offer) return fail_response(offer.error());
  auto who = require_staff(app, request, offer->merchant_id);
  if (!who) return fail_response(who.error());
  auto done = app.market->withdraw_offer(*id);
  if (!done) return fail_response(done.error());
  return json_response(offer_json(*done, app.clock.now_us()));
}

// The order request's offer, key and delivery address (member_id left to the caller).
Result<market::OrderInput> order_input(Request& request) {
  auto offer = path_id(request, "offer_id", "offer");
  if (!offer) return fail(offer.error());
  auto key = idempotency_key(request);
  if (!key) return fail(key.error());
  market::OrderInput in{.member_id = 0,
                        .offer_id = *offer,
                        .idempotency_key = std::move(*key),
                        .delivery_address = std::nullopt};
  if (!request.body.empty()) {
    auto body = parse_json(request.body);
    if (!body) return fail(body.error());
    ObjectReader r(*body);
    auto address = r.opt_string("delivery_address", 1024);
    if (!address) return fail(address.error());
    in.delivery_address = std::move(*address);
    if (auto done = r.finish(); !done) return fail(done.error());
  }
  return in;
}

// A token that names its member is checked by the market in the round trip of the order's first
// reads (Market::place_order_for_session); a flash sale's buyers save one round trip each. The
// answers are as if the session were checked first: a bad request is refused as unauthenticated
// if its session is not valid.
Response place_order(App& app, Request& request) {
  const std::string_view token = bearer_token(request);
  std::optional<members::Principal> who;
  if (!members::Members::member_hint(token)) {
    auto w = authenticate(request, app.members);
    if (!w) return fail_response(w.error());
    who = *w;
  }
  auto in = order_input(request);
  if (!in) {
    if (!who) {
      if (auto w = authenticate(request, app.members); !w) return fail_response(w.error());
    }
    return fail_response(in.error());
  }
  auto order = [&]() -> Result<market::Order> {
    if (!who) return app.market->place_order_for_session(token, std::move(*in));
    in->member_id = who->member_id;
    return app.market->place_order(*in);
  }();
  if (!order) return fail_response(order.error());
  return json_response(order_json(*order, true), order->replayed ? 200 : 201);
}

Response my_orders(App& app, const Request& request) {
  auto who = authenticate(request, app.members);
  if (!who) return fail_response(who.error());
  auto limit = read_limit(request);
  if (!limit) return fail_response(limit.error());
  auto cursor = read_cursor(request);
  if (!cursor) return fail_response(cursor.error());
  auto page = app.market->member_orders(who->member_id, *limit, *cursor);
  if (!page) return fail_response(page.error());
  return json_response(page_json(*page, true));
}

Result<market::Order> my_order(App& app, Request& request) {
  auto who = authenticate(request, app.members);
  if (!who) return fail(who.error());
  auto id = path_id(request, "order_id", "order");
  if (!id) return fail(id.error());
  return app.market->member_order(who->member_id, *id);
}

Response get_my_order(App& app, Request& request) {
  auto order = my_order(app, request);
  if (!order) return fail_response(order.error());
  return json_response(order_json(*order, true));
}

Response my_order_qr(App& app, Request& request) {
  auto order = my_order(app, request);
  if (!order) return fail_response(order.error());
  auto svg = market::voucher_qr_svg(order->voucher_qr);
  if (!svg) return fail_response(svg.error());
  Response out;
  out.content_type = "image/svg+xml";
  out.body = std::move(*svg);
  out.headers.emplace_back("Cache-Control", "no-store");
  return out;
}

Response cancel_order(App& app, Request& request) {
  auto who = authenticate(request, app.members);
  if (!who) return fail_response(who.error());
  auto id = path_id(request, "order_id", "order");
  if (!id) return fail_response(id.error());
  auto order = app.market->cancel_order(who->member_id, *id);
  if (!order) return fail_response(order.error());
  return json_response(order_json(*order, true));
}

Response redeem(App& app, Request& request) {
  auto id = path_id(request, "merchant_id", "merchant");
  if (!id) return fail_response(id.error());
  auto who = require_staff(app, request, *id);
  if (!who) return fail_response(who.error());
  auto body = parse_json(request.body);
  if (!body) return fail_response(body.error());
  ObjectReader r(*body);
  auto code = r.string("code", 200);
  if (!code) return fail_response(code.error());
  auto store = r.opt_int64("store_id");
  if (!store) return fail_response(store.error());
  if (auto done = r.finish(); !done) return fail_response(done.error());
  auto order = app.market->redeem(*id, *code, *store);
  if (!order) return fail_response(order.error());
  return json_response(order_json(*order, false));
}

Response fulfil(App& app, Request& request) {
  auto id = path_id(request, "merchant_id", "merchant");
  if (!id) return fail_response(id.error());
  auto who = require_staff(app, request, *id);
  if (!who) return fail_response(who.error());
  auto order = path_id(request, "order_id", "order");
  if (!order) return fail_response(order.error());
  auto done = app.market->fulfil(*id, *order);
  if (!done) return fail_response(done.error());
  return json_response(order_json(*done, false));
}

Response merchant_orders(App& app, Request& request) {
  auto id = path_id(request, "merchant_id", "merchant");
  if (!id) return fail_response(id.error());
  auto who = require_staff(app, request, *id);
  if (!who) return fail_response(who.error());
  auto limit = read_limit(request);
  if (!limit) return fail_response(limit.error());
  auto cursor = read_cursor(request);
  if (!cursor) return fail_response(cursor.error());
  std::optional<market::OrderStatus> status;
  if (const auto s = request.query_param("status"); !s.empty()) {
    for (auto st : {market::OrderStatus::held, market::OrderStatus::redeemed,
                    market::OrderStatus::cancelled, market::OrderStatus::expired}) {
      if (market::to_string(st) == s) status = st;
    }
    if (!status) {
      return fail_response(Error{ErrorKind::invalid, "invalid_status",
                                 "status is held, redeemed, cancelled or expired", "status"});
    }
  }
  auto page = app.market->merchant_orders(*id, status, *limit, *cursor);
  if (!page) return fail_response(page.error());
  return json_response(page_json(*page, false));
}

// from and to are local dates (the deployment's zone), both included.
Response settlement(App& app, const Request& request, std::int64_t merchant_id) {
  const auto from = parse_date(request.query_param("from"));
  const auto to = parse_date(request.query_param("to"));
  if (!from || !to) {
    return fail_response(Error{ErrorKind::invalid, "invalid_period",
                               "from and to are dates YYYY-MM-DD", from ? "to" : "from"});
  }
  constexpr std::int64_t kDayUs = 86'400'000'000;
  const std::int64_t offset_us =
      std::int64_t{app.market->options().utc_offset_minutes} * 60'000'000;
  const std::int64_t from_us = std::int64_t{*from} * kDayUs - offset_us;
  const std::int64_t to_us = (std::int64_t{*to} + 1) * kDayUs - offset_us;
  auto s = app.market->settlement(merchant_id, from_us, to_us);
  if (!s) return fail_response(s.error());
  if (request.query_param("format") == "csv") {
    Response out;
    out.content_type = "text/csv; charset=utf-8";
    out.body = market::settlement_csv(*s);
    out.headers.emplace_back("Content-Disposition",
                             "attachment; filename=\"settlement-" +
                                 std::string(request.query_param("from")) + "-" +
                                 std::string(request.query_param("to")) + ".csv\"");
    return out;
  }
  auto line = [](const market::SettlementLine& l) {
    return json{{"merchant_id", l.merchant_id},
                {"merchant_name", l.merchant_name},
                {"offer_id", l.offer_id},
                {"offer_title", l.offer_title},
                {"issued", l.issued},
                {"redeemed", l.redeemed},
                {"expired", l.expired},
                {"cancelled", l.cancelled},
                {"points_received", l.points_received}};
  };
  json lines = json::array();
  for (const auto& l : s->lines) lines.push_back(line(l));
  json total = line(s->total);
  for (const char* k : {"merchant_id", "merchant_name", "offer_id", "offer_title"}) total.erase(k);
  return json_response({{"from", format_date(*from)},
                        {"to", format_date(*to)},
                        {"lines", std::move(lines)},
                        {"total", std::move(total)}});
}

Response merchant_settlement(App& app, Request& request) {
  auto id = path_id(request, "merchant_id", "merchant");
  if (!id) return fail_response(id.error());
  auto who = require_staff(app, request, *id);
  if (!who) return fail_response(who.error());
  return settlement(app, request, *id);
}

Response all_settlement(App& app, const Request& request) {
  auto who = require_operator(request, app.members);
  if (!who) return fail_response(who.error());
  return settlement(app, request, 0);
}

}  // namespace

void add_market_routes(Router& router, App& app) {
  auto route = [&router, &app](std::string method, std::string pattern,
                               Response (*handler)(App&, Request&)) {
    router.add(std::move(method), std::move(pattern), [&app, handler](Request& r) {
      if (app.market == nullptr) return unavailable();
      return handler(app, r);
    });
  };
  route("POST", "/v1/merchants", [](App& a, Request& r) { return create_merchant(a, r); });
  route("GET", "/v1/merchants", [](App& a, Request& r) { return list_merchants(a, r); });
  route("GET", "/v1/merchants/{merchant_id}", get_merchant);
  route("POST", "/v1/merchants/{merchant_id}/staff", add_staff);
  route("DELETE", "/v1/merchants/{merchant_id}/staff/{member_id}", remove_staff);
  route("POST", "/v1/merchants/{merchant_id}/offers", create_offer);
  route("GET", "/v1/merchants/{merchant_id}/offers", merchant_offers);
  route("POST", "/v1/merchants/{merchant_id}/redemptions", redeem);
  route("GET", "/v1/merchants/{merchant_id}/orders", merchant_orders);
  route("POST", "/v1/merchants/{merchant_id}/orders/{order_id}/fulfil", fulfil);
  route("GET", "/v1/merchants/{merchant_id}/settlement", merchant_settlement);
  route("GET", "/v1/settlement", [](App& a, Request& r) { return all_settlement(a, r); });
  route("GET", "/v1/offers", [](App& a, Request& r) { return list_offers(a, r, 0); });
  route("GET", "/v1/offers/{offer_id}", get_offer);
  route("POST", "/v1/offers/{offer_id}/withdraw", withdraw_offer);
  route("POST", "/v1/offers/{offer_id}/orders", place_order);
  route("GET", "/v1/me/orders", [](App& a, Request& r) { return my_orders(a, r); });
  route("GET", "/v1/me/orders/{order_id}", get_my_order);
  route("GET", "/v1/me/orders/{order_id}/qr.svg", my_order_qr);
  route("POST", "/v1/me/orders/{order_id}/cancel", cancel_order);
}

}  // namespace tanpu::http
