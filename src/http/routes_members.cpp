// /v1/members, /v1/sessions, /v1/me: registration, login, and the member's own carbon account.
#include <array>
#include <charconv>
#include <cstdint>
#include <string>
#include <utility>

#include <boost/asio/ip/address.hpp>
#include <nlohmann/json.hpp>

#include "core/assert.h"
#include "core/limits.h"
#include "core/time.h"
#include "core/units.h"
#include "http/app.h"
#include "http/auth.h"
#include "http/client_address.h"
#include "http/json_input.h"
#include "ledger/ledger.h"
#include "members/members.h"

namespace tanpu::http {
namespace {

using nlohmann::json;

// The JSON reader's own bound on each string, looser than the members module's limits so that the
// module's precise codes (password_too_long, email_too_long…) answer the usual cases.
constexpr std::size_t kReaderSlack = 4;

json nullable(const std::optional<std::string>& text) {
  return text ? json(*text) : json(nullptr);
}

json member_json(const members::MemberView& view) {
  return json{
      {"id", view.id},
      {"display_name", view.display_name},
      {"phone", nullable(view.phone_masked)},
      {"email", nullable(view.email_masked)},
      {"role", members::to_string(view.role)},
      {"points_account_id", view.points_account_id},
      {"co2e_account_id", view.co2e_account_id},
      {"created_at", format_iso8601(view.created_at_us)},
      {"closed_at", view.closed_at_us ? json(format_iso8601(*view.closed_at_us)) : json(nullptr)}};
}

json transfer_flag_names(std::uint32_t flags) {
  json out = json::array();
  for (const auto& f : ledger::transfer_flag_names()) {
    if ((flags & f.bit) != 0) out.push_back(f.name);
  }
  return out;
}

json transfer_json(const ledger::Transfer& t, const members::MemberView& member) {
  auto mine = [&](std::int64_t id) {
    return id == member.points_account_id || id == member.co2e_account_id;
  };
  const bool incoming = mine(t.credit_account_id);
  TANPU_ASSERT_MSG(incoming || mine(t.debit_account_id), "listed a transfer of other accounts");
  const std::int64_t account_id = incoming ? t.credit_account_id : t.debit_account_id;
  const bool points = account_id == member.points_account_id;
  return json{{"id", t.id.to_hex()},
              {"direction", incoming ? "in" : "out"},
              {"account_id", account_id},
              {"currency",
               ledger::to_string(points ? ledger::Currency::points : ledger::Currency::co2e_mg)},
              {"amount", t.amount},
              {points ? "amount_points" : "amount_mg", t.amount},
              {"code", t.code},
              {"reference", t.reference},
              {"flags", transfer_flag_names(t.flags)},
              {"timestamp", format_iso8601(t.timestamp_us)}};
}

Result<members::RegisterInput> read_register(const Request& request) {
  auto body = parse_json(request.body);
  if (!body) return fail(body.error());
  ObjectReader reader(*body);
  auto phone = reader.opt_string("phone", kReaderSlack * 32);
  if (!phone) return fail(phone.error());
  auto email = reader.opt_string("email", kReaderSlack * limits::email_bytes_max);
  if (!email) return fail(email.error());
  auto password = reader.string("password", kReaderSlack * limits::password_bytes_max);
  if (!password) return fail(password.error());
  auto name = reader.string("display_name", kReaderSlack * limits::display_name_bytes_max);
  if (!name) return fail(name.error());
  if (auto done = reader.finish(); !done) return fail(done.error());
  return members::RegisterInput{std::move(*phone), std::move(*email), std::move(*password),
                                std::move(*name)};
}

Response register_member(App& app, const Request& request) {
  auto input = read_register(request);
  if (!input) return fail_response(input.error());
  auto view = app.members.register_member(*input);
  if (!view) return fail_response(view.error());
  Response response = json_response(member_json(*view), 201);
  response.headers.emplace_back("Location", "/v1/members/" + std::to_string(view->id));
  return response;
}

// The client's address as login attempts count it: Request::remote_addr (client_address.h)
// without its port, and an IPv6 address as its /64 (one subscriber's prefix; addresses within it
// are free for them to change).
std::string address_counted(const Request& request) {
  const std::string host(host_of(request.remote_addr));
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(host, ec);
  if (ec || !address.is_v6()) return host;
  auto bytes = address.to_v6().to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), std::uint8_t{0});
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

// A 429 with Retry-After (RFC 9110 §10.2.3) when the refusal says how long to wait.
Response throttled_or_failed(const Error& error, std::int64_t retry_after_s) {
  Response response = fail_response(error);
  if (error.kind == ErrorKind::rate_limited && retry_after_s > 0) {
    response.headers.emplace_back("Retry-After", std::to_string(retry_after_s));
  }
  return response;
}

Response login(App& app, const Request& request) {
  auto body = parse_json(request.body);
  if (!body) return fail_response(body.error());
  ObjectReader reader(*body);
  auto login_id = reader.string("login", kReaderSlack * limits::email_bytes_max);
  if (!login_id) return fail_response(login_id.error());
  auto password = reader.string("password", kReaderSlack * limits::password_bytes_max);
  if (!password) return fail_response(password.error());
  if (auto done = reader.finish(); !done) return fail_response(done.error());
  std::int64_t retry_after_s = 0;
  auto session = app.members.login(*login_id, *password, address_counted(request), &retry_after_s);
  if (!session) return throttled_or_failed(session.error(), retry_after_s);
  Response response = json_response(
      json{{"token", session->token}, {"expires_at", format_iso8601(session->expires_at_us)}}, 201);
  response.headers.emplace_back("Cache-Control", "no-store");  // the token is a credential
  return response;
}

Response logout(App& app, const Request& request) {
  auto principal = authenticate(request, app.members);
  if (!principal) return fail_response(principal.error());
  if (auto done = app.members.logout(bearer_token(request)); !done) {
    return fail_response(done.error());
  }
  return no_content();
}

Result<json> me_json(App& app, const members::MemberView& view) {
  auto points = app.ledger.lookup_account(view.points_account_id);
  if (!points) return fail(points.error());
  auto co2e = app.ledger.lookup_account(view.co2e_account_id);
  if (!co2e) return fail(co2e.error());
  TANPU_ASSERT(points->currency == ledger::Currency::points);
  TANPU_ASSERT(co2e->currency == ledger::Currency::co2e_mg);
  const std::int64_t reduction_mg = co2e->balance();
  return json{{"id", view.id},
              {"display_name", view.display_name},
              {"phone", nullable(view.phone_masked)},
              {"email", nullable(view.email_masked)},
              {"role", members::to_string(view.role)},
              {"points",
               {{"account_id", points->id},
                {"balance_points", points->balance()},
                {"available_points", points->available()},
                {"pending_points", points->debits_pending}}},
              {"reductions",
               {{"account_id", co2e->id},
                {"reduction_mg", reduction_mg},
                {"display", format_mass_mg(reduction_mg)},
                {"reduction_g", format_scaled(reduction_mg, 3, false)},
                {"reduction_kg", format_scaled(reduction_mg, 6, false)},
                {"reduction_t", format_scaled(reduction_mg, 9, false)}}}};
}

Response me(App& app, const Request& request) {
  auto principal = authenticate(request, app.members);
  if (!principal) return fail_response(principal.error());
  auto view = app.members.get(principal->member_id);
  if (!view) return fail_response(view.error());
  auto body = me_json(app, *view);
  if (!body) return fail_response(body.error());
  return json_response(*body);
}

Response my_transfers(App& app, const Request& request) {
  auto principal = authenticate(request, app.members);
  if (!principal) return fail_response(principal.error());
  auto limit = read_limit(request);
  if (!limit) return fail_response(limit.error());
  auto view = app.members.get(principal->member_id);
  if (!view) return fail_response(view.error());
  const std::array<std::int64_t, 2> accounts{view->points_account_id, view->co2e_account_id};
  auto page = app.ledger.list_transfers(accounts, request.query_param("cursor"), *limit);
  if (!page) {
    Error error = page.error();
    if (error.field.empty() && error.code == "invalid_cursor") error.field = "cursor";
    return fail_response(error);
  }
  json transfers = json::array();
  for (const ledger::Transfer& t : page->transfers) transfers.push_back(transfer_json(t, *view));
  return json_response(
      json{{"transfers", std::move(transfers)},
           {"next_cursor", page->next_cursor.empty() ? json(nullptr) : json(page->next_cursor)}});
}

Response change_password(App& app, const Request& request) {
  auto principal = authenticate(request, app.members);
  if (!principal) return fail_response(principal.error());
  auto body = parse_json(request.body);
  if (!body) return fail_response(body.error());
  ObjectReader reader(*body);
  auto current = reader.string("current_password", kReaderSlack * limits::password_bytes_max);
  if (!current) return fail_response(current.error());
  auto fresh = reader.string("new_password", kReaderSlack * limits::password_bytes_max);
  if (!fresh) return fail_response(fresh.error());
  if (auto done = reader.finish(); !done) return fail_response(done.error());
  std::int64_t retry_after_s = 0;
  auto changed =
      app.members.change_password(bearer_token(request), *current, *fresh, &retry_after_s);
  if (!changed) return throttled_or_failed(changed.error(), retry_after_s);
  return no_content();
}

Response my_sessions(App& app, const Request& request) {
  auto principal = authenticate(request, app.members);
  if (!principal) return fail_response(principal.error());
  auto sessions = app.members.sessions(bearer_token(request));
  if (!sessions) return fail_response(sessions.error());
  json out = json::array();
  for (const members::SessionInfo& s : *sessions) {
    out.push_back(json{{"id", s.id},
                       {"created_at", format_iso8601(s.created_at_us)},
                       {"expires_at", format_iso8601(s.expires_at_us)},
                       {"current", s.current}});
  }
  return json_response(json{{"sessions", std::move(out)}});
}

Response end_my_session(App& app, Request& request) {
  auto principal = authenticate(request, app.members);
  if (!principal) return fail_response(principal.error());
  auto ended = app.members.end_session(bearer_token(request), request.path_params["id"]);
  if (!ended) return fail_response(ended.error());
  return no_content();
}

Response end_my_other_sessions(App& app, const Request& request) {
  auto principal = authenticate(request, app.members);
  if (!principal) return fail_response(principal.error());
  auto ended = app.members.end_other_sessions(bearer_token(request));
  if (!ended) return fail_response(ended.error());
  return json_response(json{{"ended", *ended}});
}

Response close_account(App& app, const Request& request) {
  auto principal = authenticate(request, app.members);
  if (!principal) return fail_response(principal.error());
  auto body = parse_json(request.body);
  if (!body) return fail_response(body.error());
  ObjectReader reader(*body);
  auto password = reader.string("password", kReaderSlack * limits::password_bytes_max);
  if (!password) return fail_response(password.error());
  if (auto done = reader.finish(); !done) return fail_response(done.error());
  std::int64_t retry_after_s = 0;
  auto receipt = app.members.close_account(bearer_token(request), *password, &retry_after_s);
  if (!receipt) return throttled_or_failed(receipt.error(), retry_after_s);
  return json_response(json{{"member_id", receipt->member_id},
                            {"closed_at", format_iso8601(receipt->closed_at_us)},
                            {"points_forfeited", receipt->points_forfeited}});
}

Response export_my_data(App& app, const Request& request) {
  auto principal = authenticate(request, app.members);
  if (!principal) return fail_response(principal.error());
  auto data = app.members.export_data(principal->member_id);
  if (!data) return fail_response(data.error());
  Response response = json_response(*data);
  // Personal data in clear: never cached, and saved as a file by browsers.
  response.headers.emplace_back("Cache-Control", "no-store");
  response.headers.emplace_back(
      "Content-Disposition",
      "attachment; filename=\"tanpu-export-" + std::to_string(principal->member_id) + ".json\"");
  return response;
}

// A positive decimal member id, or nullopt.
std::optional<std::int64_t> parse_member_id(std::string_view text) {
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc{} || end != text.data() + text.size() || id <= 0) return std::nullopt;
  return id;
}

Response member_by_id(App& app, Request& request) {
  auto principal = authenticate(request, app.members);
  if (!principal) return fail_response(principal.error());
  const auto id = parse_member_id(request.path_params["id"]);
  // Another member's id answers exactly like an id that does not exist: existence is not revealed.
  const bool visible =
      id && (principal->role == members::Role::operator_ || principal->member_id == *id);
  if (!visible)
    return fail_response(Error{ErrorKind::not_found, "not_found", "no such member", ""});
  auto view = app.members.get(*id);
  if (!view) return fail_response(view.error());
  return json_response(member_json(*view));
}

}  // namespace

void add_member_routes(Router& router, App& app) {
  router.add("POST", "/v1/members", [&app](Request& r) { return register_member(app, r); });
  router.add("GET", "/v1/members/{id}", [&app](Request& r) { return member_by_id(app, r); });
  router.add("POST", "/v1/sessions", [&app](Request& r) { return login(app, r); });
  router.add("DELETE", "/v1/sessions/current", [&app](Request& r) { return logout(app, r); });
  router.add("GET", "/v1/me", [&app](Request& r) { return me(app, r); });
  router.add("GET", "/v1/me/transfers", [&app](Request& r) { return my_transfers(app, r); });
  router.add("POST", "/v1/me/password", [&app](Request& r) { return change_password(app, r); });
  router.add("POST", "/v1/me/closure", [&app](Request& r) { return close_account(app, r); });
  router.add("GET", "/v1/me/export", [&app](Request& r) { return export_my_data(app, r); });
  router.add("GET", "/v1/me/sessions", [&app](Request& r) { return my_sessions(app, r); });
  router.add("DELETE", "/v1/me/sessions",
             [&app](Request& r) { return end_my_other_sessions(app, r); });
  router.add("DELETE", "/v1/me/sessions/{id}",
             [&app](Request& r) { return end_my_session(app, r); });
}

}  // namespace tanpu::http
