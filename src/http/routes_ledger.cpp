// /v1/accounts and /v1/transfers: the ledger over HTTP. Creating accounts and posting transfers is
// the operator's (modules post their own transfers internally); members read their own.
#include <algorithm>
#include <charconv>

#include <nlohmann/json.hpp>

#include "core/limits.h"
#include "core/time.h"
#include "http/app.h"
#include "http/auth.h"
#include "http/json_input.h"
#include "ledger/ledger.h"
#include "members/members.h"

namespace tanpu::http {
namespace {

using ledger::TransferStatus;
using nlohmann::json;

using ledger::FlagName;

json flag_names(std::uint32_t flags, std::span<const FlagName> table) {
  json out = json::array();
  for (const auto& f : table) {
    if ((flags & f.bit) != 0) out.push_back(f.name);
  }
  return out;
}

// Flag names → bits; only names in `table` up to `settable` are accepted from clients.
Result<std::uint32_t> parse_flags(const json* names, std::span<const FlagName> table,
                                  std::uint32_t settable, const std::string& field) {
  std::uint32_t flags = 0;
  if (names == nullptr) return flags;
  for (std::size_t i = 0; i < names->size(); ++i) {
    const json& n = (*names)[i];
    const std::string at = field + "[" + std::to_string(i) + "]";
    if (!n.is_string()) return fail(ErrorKind::invalid, "wrong_type", "flags are names", at);
    bool found = false;
    for (const auto& f : table) {
      if (n.get_ref<const std::string&>() == f.name && (f.bit & settable) != 0) {
        flags |= f.bit;
        found = true;
      }
    }
    if (!found) return fail(ErrorKind::invalid, "unknown_flag", "unknown flag", at);
  }
  return flags;
}

json account_json(const ledger::Account& a) {
  return {{"id", a.id},
          {"currency", ledger::to_string(a.currency)},
          {"owner_kind", a.owner_kind},
          {"owner_id", a.owner_id},
          {"flags", flag_names(a.flags, ledger::account_flag_names())},
          {"debits_pending", a.debits_pending},
          {"debits_posted", a.debits_posted},
          {"credits_pending", a.credits_pending},
          {"credits_posted", a.credits_posted},
          {"balance", a.balance()},
          {"available", a.available()},
          {"created_at", format_iso8601(a.created_at_us)}};
}

json transfer_json(const ledger::Transfer& t) {
  json j = {{"id", t.id.to_hex()},
            {"debit_account_id", t.debit_account_id},
            {"credit_account_id", t.credit_account_id},
            {"amount", t.amount},
            {"code", t.code},
            {"flags", flag_names(t.flags, ledger::transfer_flag_names())},
            {"reference", t.reference},
            {"timeout_s", t.timeout_s},
            {"timestamp", format_iso8601(t.timestamp_us)}};
  j["pending_id"] = t.pending_id.is_zero() ? json(nullptr) : json(t.pending_id.to_hex());
  return j;
}

Result<Id128> parse_id(const std::string& text, const std::string& field) {
  auto id = Id128::parse(text);
  if (!id || id->is_zero()) {
    return fail(ErrorKind::invalid, "invalid_id", "ids are 32 hex digits (or a UUID), not zero",
                field);
  }
  return *id;
}

Result<ledger::Transfer> parse_transfer(const json& item, const std::string& at) {
  ObjectReader r(item, at);
  ledger::Transfer t;
  auto id = r.string("id", 36);
  if (!id) return std::unexpected(id.error());
  auto parsed_id = parse_id(*id, r.path("id"));
  if (!parsed_id) return std::unexpected(parsed_id.error());
  t.id = *parsed_id;
  auto debit = r.opt_int64("debit_account_id");
  auto credit = r.opt_int64("credit_account_id");
  auto amount = r.opt_int64("amount");
  auto code = r.int64("code");
  auto reference = r.opt_string("reference", limits::transfer_reference_bytes_max);
  auto pending_id = r.opt_string("pending_id", 36);
  auto timeout = r.opt_int64("timeout_s");
  auto flags_json = r.opt_array("flags", 8);
  for (const Error* e :
       {debit ? nullptr : &debit.error(), credit ? nullptr : &credit.error(),
        amount ? nullptr : &amount.error(), code ? nullptr : &code.error(),
        reference ? nullptr : &reference.error(), pending_id ? nullptr : &pending_id.error(),
        timeout ? nullptr : &timeout.error(), flags_json ? nullptr : &flags_json.error()}) {
    if (e != nullptr) return fail(*e);
  }
  if (auto done = r.finish(); !done) return std::unexpected(done.error());
  auto flags = parse_flags(*flags_json, ledger::transfer_flag_names(),
                           ledger::transfer_flags::client_settable, r.path("flags"));
  if (!flags) return std::unexpected(flags.error());
  if (*code <= 0 || *code > 0xFFFFFFFF) {
    return fail(ErrorKind::invalid, "invalid_code", "code must be 1..4294967295", r.path("code"));
  }
  const bool second_phase =
      (*flags & (ledger::transfer_flags::post_pending | ledger::transfer_flags::void_pending)) != 0;
  if (!second_phase && (!*debit || !*credit || !*amount)) {
    const char* missing = !*debit ? "debit_account_id" : !*credit ? "credit_account_id" : "amount";
    return fail(ErrorKind::invalid, "missing_field", "missing field", r.path(missing));
  }
  if (*amount && (**amount < 0 || (!second_phase && **amount == 0))) {
    return fail(ErrorKind::invalid, "amount_must_be_positive", "amount must be > 0",
                r.path("amount"));
  }
  if (*pending_id) {
    auto pid = parse_id(**pending_id, r.path("pending_id"));
    if (!pid) return std::unexpected(pid.error());
    t.pending_id = *pid;
  }
  t.debit_account_id = debit->value_or(0);
  t.credit_account_id = credit->value_or(0);
  t.amount = amount->value_or(0);
  t.code = static_cast<std::uint32_t>(*code);
  t.reference = reference->value_or("");
  t.timeout_s = timeout->value_or(0);
  t.flags = *flags;
  return t;
}

Error status_error(TransferStatus s, std::size_t index) {
  const std::string code(ledger::to_string(s));
  const std::string field = "transfers[" + std::to_string(index) + "]";
  switch (s) {
    case TransferStatus::conflict:
      return {ErrorKind::conflict, code, "this transfer id was used for a different transfer",
              field + ".id"};
    case TransferStatus::debit_account_not_found:
    case TransferStatus::credit_account_not_found:
    case TransferStatus::pending_not_found:
      return {ErrorKind::invalid, code, "the transfer names something that does not exist", field};
    default:
      return {ErrorKind::invalid, code, "the transfer was refused: " + code, field};
  }
}

Response post_transfers(Request& req, App& app) {
  if (auto p = require_operator(req, app.members); !p) return error_response(p.error());
  auto body = parse_json(req.body);
  if (!body) return error_response(body.error());
  ObjectReader top(*body);
  auto list = top.array("transfers", limits::transfers_per_request_max);
  if (!list) return error_response(list.error());
  if (auto done = top.finish(); !done) return error_response(done.error());
  if ((*list)->empty()) {
    return error_response(
        {ErrorKind::invalid, "empty_batch", "give at least one transfer", "transfers"});
  }
  std::vector<ledger::Transfer> transfers;
  transfers.reserve((*list)->size());
  for (std::size_t i = 0; i < (*list)->size(); ++i) {
    auto t = parse_transfer((**list)[i], "transfers[" + std::to_string(i) + "]");
    if (!t) return error_response(t.error());
    transfers.push_back(std::move(*t));
  }
  auto statuses = app.ledger.submit(transfers);
  if (!statuses) return error_response(statuses.error());
  // One transfer: its refusal is the answer. Several: each gets its own status (a refused one
  // changes nothing; linked chains fail together).
  if (transfers.size() == 1 && (*statuses)[0] != TransferStatus::ok &&
      (*statuses)[0] != TransferStatus::exists) {
    return error_response(status_error((*statuses)[0], 0));
  }
  json results = json::array();
  std::size_t applied = 0;
  for (std::size_t i = 0; i < statuses->size(); ++i) {
    const TransferStatus s = (*statuses)[i];
    applied += s == TransferStatus::ok ? 1 : 0;
    results.push_back({{"id", transfers[i].id.to_hex()}, {"status", ledger::to_string(s)}});
  }
  return json_response(
      {{"results", results},
       {"applied", applied},
       {"refused", statuses->size() - applied -
                       static_cast<std::size_t>(std::count(statuses->begin(), statuses->end(),
                                                           TransferStatus::exists))}},
      applied > 0 ? 201 : 200);
}

// A member may see accounts they own; the operator sees all. Others get 404 (not 403) so that
// account ids cannot be probed.
Result<void> may_see_account(const members::Principal& p, const ledger::Account& a) {
  if (p.role == members::Role::operator_) return {};
  if (a.owner_kind == "member" && a.owner_id == std::to_string(p.member_id)) return {};
  return fail(ErrorKind::not_found, "account_not_found", "no account with this id", "id");
}

Response get_account(Request& req, App& app) {
  auto p = authenticate(req, app.members);
  if (!p) return error_response(p.error());
  std::int64_t id = 0;
  const std::string& text = req.path_params["id"];
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id <= 0) {
    return error_response(
        {ErrorKind::not_found, "account_not_found", "no account with this id", "id"});
  }
  auto a = app.ledger.lookup_account(id);
  if (!a) return error_response(a.error());
  if (auto ok = may_see_account(*p, *a); !ok) return error_response(ok.error());
  return json_response(account_json(*a));
}

Response post_account(Request& req, App& app) {
  if (auto p = require_operator(req, app.members); !p) return error_response(p.error());
  auto body = parse_json(req.body);
  if (!body) return error_response(body.error());
  ObjectReader r(*body);
  auto currency = r.string("currency", 16);
  auto owner_kind = r.string("owner_kind", 32);
  auto owner_id = r.string("owner_id", 128);
  auto flags_json = r.opt_array("flags", 4);
  for (const Error* e :
       {currency ? nullptr : &currency.error(), owner_kind ? nullptr : &owner_kind.error(),
        owner_id ? nullptr : &owner_id.error(), flags_json ? nullptr : &flags_json.error()}) {
    if (e != nullptr) return error_response(*e);
  }
  if (auto done = r.finish(); !done) return error_response(done.error());
  const auto cur = ledger::parse_currency(*currency);
  if (!cur) {
    return error_response(
        {ErrorKind::invalid, "unknown_currency", "currency is points or co2e_mg", "currency"});
  }
  // Hot accounts are the platform's own (created by migrations), not made over the API.
  auto flags = parse_flags(
      *flags_json, ledger::account_flag_names(),
      ledger::account_flags::debits_must_not_exceed_credits | ledger::account_flags::credit_only,
      "flags");
  if (!flags) return error_response(flags.error());
  const ledger::NewAccount na{*cur, *owner_kind, *owner_id, *flags};
  auto ids = app.store.write_value<std::vector<std::int64_t>>(
      [&](store::Connection& c) { return app.ledger.create_accounts(c, std::span(&na, 1)); });
  if (!ids) return error_response(ids.error());
  auto a = app.ledger.lookup_account(ids->front());
  if (!a) return error_response(a.error());
  return json_response(account_json(*a), 201);
}

Response get_transfer(Request& req, App& app) {
  auto p = authenticate(req, app.members);
  if (!p) return error_response(p.error());
  auto id = Id128::parse(req.path_params["id"]);
  const Error not_found{ErrorKind::not_found, "transfer_not_found", "no transfer with this id",
                        "id"};
  if (!id) return error_response(not_found);
  auto t = app.ledger.lookup_transfer(*id);
  if (!t) return error_response(t.error());
  if (p->role != members::Role::operator_) {
    auto me = app.members.get(p->member_id);
    if (!me) return error_response(me.error());
    const std::int64_t mine[] = {me->points_account_id, me->co2e_account_id};
    const bool party = std::ranges::any_of(mine, [&](std::int64_t a) {
      return a == t->debit_account_id || a == t->credit_account_id;
    });
    if (!party) return error_response(not_found);
  }
  return json_response(transfer_json(*t));
}

}  // namespace

void add_ledger_routes(Router& router, App& app) {
  router.add("POST", "/v1/accounts", [&app](Request& r) { return post_account(r, app); });
  router.add("GET", "/v1/accounts/{id}", [&app](Request& r) { return get_account(r, app); });
  router.add("POST", "/v1/transfers", [&app](Request& r) { return post_transfers(r, app); });
  router.add("GET", "/v1/transfers/{id}", [&app](Request& r) { return get_transfer(r, app); });
}

}  // namespace tanpu::http
