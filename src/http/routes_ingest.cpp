// Data sources and consent: the operator registers sources and their HMAC keys; a source checks
// its signing (ping) and asks for binding codes; members redeem codes into recorded, revocable
// grants. docs/ingestion.md is the partner's guide.
#include "http/app.h"
#include "http/auth.h"
#include "http/json_input.h"
#include "ingest/consents.h"
#include "ingest/pipeline.h"
#include "ingest/sources.h"

namespace tanpu::http {
namespace {

using nlohmann::json;

json source_json(const ingest::Source& s) {
  json keys = json::array();
  for (const auto& k : s.keys)
    keys.push_back({{"key_id", k.key_id},
                    {"created_at", format_iso8601(k.created_at_us)},
                    {"revoked_at", optional_time(k.revoked_at_us)}});
  return json{{"id", s.id},
              {"name", s.name},
              {"scenarios", s.scenarios},
              {"created_at", format_iso8601(s.created_at_us)},
              {"keys", std::move(keys)}};
}

json new_key_json(const ingest::NewKey& k) {
  return json{{"key_id", k.key_id}, {"secret", k.secret}};
}

json consent_json(const ingest::Consent& c) {
  return json{{"source_id", c.source_id},
              {"source_name", c.source_name},
              {"partner_user_ref", c.partner_user_ref},
              {"scenarios", c.scenarios},
              {"granted_at", format_iso8601(c.granted_at_us)},
              {"revoked_at", optional_time(c.revoked_at_us)},
              {"live", !c.revoked_at_us}};
}

Response create_source(App& app, const Request& request) {
  auto op = require_operator(request, app.members);
  if (!op) return fail_response(op.error());
  auto body = parse_json(request.body);
  if (!body) return fail_response(body.error());
  ObjectReader in(*body);
  auto name = in.string("name", ingest::kSourceNameBytesMax + 4);
  if (!name) return fail_response(name.error());
  auto list = in.array("scenarios", ingest::kSourceScenariosMax + 1);
  if (!list) return fail_response(list.error());
  if (auto done = in.finish(); !done) return fail_response(done.error());
  std::vector<std::string> scenarios;
  for (std::size_t i = 0; i < (*list)->size(); ++i) {
    const json& item = (**list)[i];
    if (!item.is_string())
      return fail_response(Error{ErrorKind::invalid, "wrong_type", "scenarios are strings",
                                 "scenarios[" + std::to_string(i) + "]"});
    scenarios.push_back(item.get<std::string>());
  }
  auto created = app.sources.create(*name, scenarios);
  if (!created) return fail_response(created.error());
  json out = source_json(created->source);
  out["key"] = new_key_json(created->key);
  return json_response(out, 201);
}

Response list_sources(App& app, const Request& request) {
  auto op = require_operator(request, app.members);
  if (!op) return fail_response(op.error());
  auto all = app.sources.list();
  if (!all) return fail_response(all.error());
  json out = json::array();
  for (const auto& s : *all) out.push_back(source_json(s));
  return json_response({{"sources", std::move(out)}});
}

Response get_source(App& app, Request& request) {
  auto op = require_operator(request, app.members);
  if (!op) return fail_response(op.error());
  auto s = app.sources.get(request.path_params["id"]);
  if (!s) return fail_response(s.error());
  return json_response(source_json(*s));
}

Response add_key(App& app, Request& request) {
  auto op = require_operator(request, app.members);
  if (!op) return fail_response(op.error());
  auto key = app.sources.add_key(request.path_params["id"]);
  if (!key) return fail_response(key.error());
  return json_response(new_key_json(*key), 201);
}

Response revoke_key(App& app, Request& request) {
  auto op = require_operator(request, app.members);
  if (!op) return fail_response(op.error());
  auto s = app.sources.revoke_key(request.path_params["id"], request.path_params["key_id"]);
  if (!s) return fail_response(s.error());
  return json_response(source_json(*s));
}

// The source's signature on this request; the answer to send back when it does not hold.
ingest::SignedRequest signed_request(const Request& request) {
  return {request.method,
          request.path,
          request.header(ingest::kHeaderKeyId),
          request.header(ingest::kHeaderTimestamp),
          request.header(ingest::kHeaderNonce),
          request.header(ingest::kHeaderSignature),
          request.body};
}

Result<std::string> verify_signed(App& app, const Request& request, std::string_view source_id) {
  // An unknown source answers like an unknown key (Sources::verify looks the key up by source
  // and key id together), so source ids cannot be probed without a key.
  return app.sources.verify(source_id, signed_request(request));
}

Response ping(App& app, Request& request) {
  const std::string& source_id = request.path_params["id"];
  auto key = verify_signed(app, request, source_id);
  if (!key) return fail_response(key.error(), "TANPU-HMAC-SHA256");
  return json_response({{"source_id", source_id}, {"key_id", *key}, {"signature", "valid"}});
}

Response create_binding(App& app, Request& request) {
  const std::string& source_id = request.path_params["id"];
  auto key = verify_signed(app, request, source_id);
  if (!key) return fail_response(key.error(), "TANPU-HMAC-SHA256");
  auto body = parse_json(request.body);
  if (!body) return fail_response(body.error());
  ObjectReader in(*body);
  auto ref = in.string("partner_user_ref", ingest::kPartnerUserRefBytesMax + 4);
  if (!ref) return fail_response(ref.error());
  if (auto done = in.finish(); !done) return fail_response(done.error());
  auto binding = app.consents.create_binding(source_id, *ref);
  if (!binding) return fail_response(binding.error());
  return json_response(
      {{"code", binding->code}, {"expires_at", format_iso8601(binding->expires_at_us)}}, 201);
}

json outcome_json(const ingest::RecordOutcome& o) {
  json out{{"external_id", o.external_id}, {"outcome", o.outcome}};
  if (o.outcome == "rejected") {
    out["reason"] = o.reason;
    out["message"] = o.message;
    if (!o.field.empty()) out["field"] = o.field;
    return out;
  }
  out["methodology"] = o.methodology;
  out["provisional"] = o.provisional;
  if (o.outcome == "credited" || o.outcome == "capped") {
    out["reduction_mg"] = o.reduction_mg;
    out["points"] = o.points;
  }
  if (o.outcome == "capped") out["cap"] = o.reason;
  if (o.outcome == "duplicate") out["duplicate_of"] = o.duplicate_of;
  if (o.replay) out["replay"] = true;
  return out;
}

Response ingest_batch(App& app, Request& request) {
  const std::string& source_id = request.path_params["id"];
  // The signature is checked here; the nonce is recorded in the batch's own transaction.
  auto key = app.sources.check_signature(source_id, signed_request(request));
  if (!key) return fail_response(key.error(), "TANPU-HMAC-SHA256");
  auto source = app.sources.get(source_id);
  if (!source) return fail_response(source.error());
  const std::string nonce(request.header(ingest::kHeaderNonce));
  const store::WriteJob record_nonce = [&](store::Connection& c) {
    return ingest::Sources::record_nonce(c, source_id, nonce, app.clock.now_us());
  };
  // The pipeline holds no state of its own: one per request over the App's modules.
  static const ingest::PipelineOptions kDefaults;
  ingest::Pipeline pipeline(app.store, app.ledger, app.members, app.methodologies, app.clock,
                            app.intake != nullptr ? *app.intake : kDefaults);
  auto outcomes = pipeline.ingest(*source, request.body, record_nonce);
  if (!outcomes) return fail_response(outcomes.error(), "TANPU-HMAC-SHA256");
  const auto s = ingest::Pipeline::summarise(*outcomes);
  json results = json::array();
  for (const auto& o : *outcomes) results.push_back(outcome_json(o));
  return json_response({{"results", std::move(results)},
                        {"summary",
                         {{"records", outcomes->size()},
                          {"credited", s.credited},
                          {"duplicate", s.duplicate},
                          {"capped", s.capped},
                          {"pending_review", s.pending_review},
                          {"rejected", s.rejected},
                          {"reduction_mg", s.reduction_mg},
                          {"points", s.points}}}});
}

Response grant(App& app, const Request& request) {
  auto who = authenticate(request, app.members);
  if (!who) return fail_response(who.error());
  auto body = parse_json(request.body);
  if (!body) return fail_response(body.error());
  ObjectReader in(*body);
  auto code = in.string("code", 32);
  if (!code) return fail_response(code.error());
  if (auto done = in.finish(); !done) return fail_response(done.error());
  auto consent = app.consents.grant(who->member_id, *code);
  if (!consent) return fail_response(consent.error());
  return json_response(consent_json(*consent), 201);
}

Response list_consents(App& app, const Request& request) {
  auto who = authenticate(request, app.members);
  if (!who) return fail_response(who.error());
  auto all = app.consents.list(who->member_id);
  if (!all) return fail_response(all.error());
  json out = json::array();
  for (const auto& c : *all) out.push_back(consent_json(c));
  return json_response({{"consents", std::move(out)}});
}

Response revoke_consent(App& app, Request& request) {
  auto who = authenticate(request, app.members);
  if (!who) return fail_response(who.error());
  auto consent = app.consents.revoke(who->member_id, request.path_params["source_id"]);
  if (!consent) return fail_response(consent.error());
  return json_response(consent_json(*consent));
}

}  // namespace

void add_ingest_routes(Router& router, App& app) {
  router.add("POST", "/v1/sources", [&app](Request& r) { return create_source(app, r); });
  router.add("GET", "/v1/sources", [&app](Request& r) { return list_sources(app, r); });
  router.add("GET", "/v1/sources/{id}", [&app](Request& r) { return get_source(app, r); });
  router.add("POST", "/v1/sources/{id}/keys", [&app](Request& r) { return add_key(app, r); });
  router.add("DELETE", "/v1/sources/{id}/keys/{key_id}",
             [&app](Request& r) { return revoke_key(app, r); });
  router.add("GET", "/v1/sources/{id}/ping", [&app](Request& r) { return ping(app, r); });
  router.add("POST", "/v1/sources/{id}/bindings",
             [&app](Request& r) { return create_binding(app, r); });
  router.add("POST", "/v1/sources/{id}/behaviours",
             [&app](Request& r) { return ingest_batch(app, r); });
  router.add("POST", "/v1/me/consents", [&app](Request& r) { return grant(app, r); });
  router.add("GET", "/v1/me/consents", [&app](Request& r) { return list_consents(app, r); });
  router.add("DELETE", "/v1/me/consents/{source_id}",
             [&app](Request& r) { return revoke_consent(app, r); });
}

}  // namespace tanpu::http
