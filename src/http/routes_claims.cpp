// Evidence claims and the review queue: members upload evidence and file claims; reviewers (and
// operators) list the queue, look at the evidence and approve or reject; operators grant the
// reviewer role. docs/ingestion.md, "Evidence claims and review", is the guide.
#include <charconv>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/limits.h"
#include "core/time.h"
#include "http/app.h"
#include "http/auth.h"
#include "http/json_input.h"
#include "ingest/claims.h"
#include "ingest/pipeline.h"
#include "members/members.h"

namespace tanpu::http {
namespace {

using nlohmann::json;

// The JSON reader's bound on the reason, looser than the pipeline's so its code answers.
constexpr std::size_t kReasonReaderBytesMax = ingest::kReviewReasonBytesMax * 4;

// The modules of one request: the pipeline and claims hold no state of their own.
struct Intake {
  explicit Intake(App& app)
      : options(app.intake != nullptr ? *app.intake : ingest::PipelineOptions{}),
        pipeline(app.store, app.ledger, app.members, app.methodologies, app.clock, options),
        claims(app.store, pipeline, app.clock, options.review_scenarios) {}
  ingest::PipelineOptions options;
  ingest::Pipeline pipeline;
  ingest::Claims claims;
};

json evidence_json(const ingest::Evidence& e) {
  return json{{"id", e.id},
              {"media_type", e.media_type},
              {"size_bytes", e.size_bytes},
              {"sha256", e.sha256},
              {"uploaded_at", format_iso8601(e.uploaded_at_us)}};
}

json item_json(const ingest::ReviewItem& it) {
  const ingest::RecordOutcome& o = it.outcome;
  json evidence = json::array();
  for (const auto& e : it.evidence) evidence.push_back(evidence_json(e));
  json out{{"source_id", it.source_id},
           {"source_name", it.source_name},
           {"external_id", it.external_id},
           {"scenario", it.scenario},
           {"region", it.region},
           {"occurred_at", format_iso8601(it.occurred_at_us)},
           {"received_at", format_iso8601(it.received_at_us)},
           {"status", it.status},
           {"outcome", o.outcome},
           {"methodology", o.methodology},
           {"provisional", o.provisional},
           {"quantified_reduction_mg", it.quantified_mg},
           {"quantified_points", it.quantified_points},
           {"inputs", it.inputs},
           {"reduction_mg", o.reduction_mg},
           {"points", o.points},
           {"evidence", std::move(evidence)}};
  if (!it.claim_id.empty()) out["claim_id"] = it.claim_id;
  if (o.outcome == "capped") out["cap"] = o.reason;
  if (o.outcome == "rejected") out["reason"] = o.reason;
  if (o.outcome == "duplicate") out["duplicate_of"] = o.duplicate_of;
  out["review"] = it.decided_at_us
                      ? json{{"decision", it.status},
                             {"reviewer_id", it.reviewer_id.value_or(0)},
                             {"decided_at", optional_time(it.decided_at_us)},
                             {"reason", o.message.empty() ? json(nullptr) : json(o.message)}}
                      : json(nullptr);
  if (o.replay) out["replay"] = true;
  return out;
}

// A queue record with its member, masked: reviewers see who, not their personal data.
Result<json> queue_json(App& app, const ingest::ReviewItem& it,
                        std::map<std::int64_t, json>& members_seen) {
  auto found = members_seen.find(it.member_id);
  if (found == members_seen.end()) {
    auto view = app.members.get(it.member_id);
    if (!view) return fail(view.error());
    json member{{"id", view->id},
                {"phone", view->phone_masked ? json(*view->phone_masked) : json(nullptr)},
                {"email", view->email_masked ? json(*view->email_masked) : json(nullptr)}};
    found = members_seen.emplace(it.member_id, std::move(member)).first;
  }
  json out = item_json(it);
  out["member"] = found->second;
  return out;
}

Response upload_evidence(App& app, const Request& request) {
  auto who = authenticate(request, app.members);
  if (!who) return fail_response(who.error());
  Intake intake(app);
  auto up =
      intake.claims.upload_evidence(who->member_id, request.header("content-type"), request.body);
  if (!up) return fail_response(up.error());
  return json_response(evidence_json(up->evidence), up->created ? 201 : 200);
}

Response submit_claim(App& app, const Request& request) {
  auto who = authenticate(request, app.members);
  if (!who) return fail_response(who.error());
  auto body = parse_json(request.body);
  if (!body) return fail_response(body.error());
  Intake intake(app);
  auto claim = intake.claims.submit(who->member_id, *body, request.header("idempotency-key"));
  if (!claim) return fail_response(claim.error());
  // A retry with the same claim id answers the claim as it stands, with 200.
  return json_response(item_json(*claim), claim->outcome.replay ? 200 : 201);
}

Response my_claims(App& app, const Request& request) {
  auto who = authenticate(request, app.members);
  if (!who) return fail_response(who.error());
  auto limit = read_limit(request);
  if (!limit) return fail_response(limit.error());
  Intake intake(app);
  auto page = intake.claims.list_member(who->member_id, request.query_param("cursor"), *limit);
  if (!page) return fail_response(page.error());
  json claims = json::array();
  for (const auto& it : page->items) claims.push_back(item_json(it));
  return json_response(
      {{"claims", std::move(claims)},
       {"next_cursor", page->next_cursor.empty() ? json(nullptr) : json(page->next_cursor)}});
}

Response review_queue(App& app, const Request& request) {
  auto who = require_reviewer(request, app.members);
  if (!who) return fail_response(who.error());
  auto limit = read_limit(request);
  if (!limit) return fail_response(limit.error());
  std::string_view status = request.query_param("status");
  if (status.empty()) status = "pending";
  Intake intake(app);
  auto page = intake.claims.list_queue(status, request.query_param("cursor"), *limit);
  if (!page) return fail_response(page.error());
  json records = json::array();
  std::map<std::int64_t, json> members_seen;
  for (const auto& it : page->items) {
    auto one = queue_json(app, it, members_seen);
    if (!one) return fail_response(one.error());
    records.push_back(std::move(*one));
  }
  return json_response(
      {{"records", std::move(records)},
       {"next_cursor", page->next_cursor.empty() ? json(nullptr) : json(page->next_cursor)}});
}

Response review_evidence(App& app, Request& request) {
  auto who = require_reviewer(request, app.members);
  if (!who) return fail_response(who.error());
  Intake intake(app);
  auto file = intake.claims.evidence_file(request.path_params["id"]);
  if (!file) return fail_response(file.error());
  Response response;
  response.content_type = file->media_type;
  response.body = std::move(file->content);
  // Served as a download, never interpreted: the bytes are a member's.
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("Content-Disposition",
                                "attachment; filename=\"" + request.path_params["id"] + "\"");
  return response;
}

Response decide(App& app, Request& request, bool approve) {
  auto who = require_reviewer(request, app.members);
  if (!who) return fail_response(who.error());
  ingest::ReviewDecision d{request.path_params["source_id"],
                           request.path_params["external_id"],
                           approve,
                           who->member_id,
                           {}};
  const bool empty = request.body.find_first_not_of(" \t\r\n") == std::string::npos;
  if (!approve || !empty) {
    auto body = parse_json(request.body);
    if (!body) return fail_response(body.error());
    ObjectReader in(*body);
    if (!approve) {
      auto reason = in.opt_string("reason", kReasonReaderBytesMax);
      if (!reason) return fail_response(reason.error());
      d.reason = reason->value_or("");
    }
    if (auto done = in.finish(); !done) return fail_response(done.error());
  }
  Intake intake(app);
  auto item = intake.claims.decide(d);
  if (!item) return fail_response(item.error());
  std::map<std::int64_t, json> members_seen;
  auto out = queue_json(app, *item, members_seen);
  if (!out) return fail_response(out.error());
  return json_response(*out);
}

// A positive decimal member id, or an error naming `field`.
Result<std::int64_t> member_id_of(std::string_view text, const char* field) {
  const auto id = parse_positive_id(text);
  if (!id) return fail(ErrorKind::not_found, "not_found", "no such member", field);
  return *id;
}

json reviewer_json(const members::MemberView& v) {
  return json{{"member_id", v.id}, {"role", members::to_string(v.role)}};
}

Response grant_reviewer(App& app, const Request& request) {
  auto op = require_operator(request, app.members);
  if (!op) return fail_response(op.error());
  auto body = parse_json(request.body);
  if (!body) return fail_response(body.error());
  ObjectReader in(*body);
  auto id = in.int64("member_id");
  if (!id) return fail_response(id.error());
  if (auto done = in.finish(); !done) return fail_response(done.error());
  if (*id <= 0)
    return fail_response({ErrorKind::not_found, "not_found", "no such member", "member_id"});
  auto view = app.members.grant_reviewer(*id, op->member_id);
  if (!view) {
    Error e = view.error();
    if (e.code == "not_found") e.field = "member_id";
    return fail_response(e);
  }
  return json_response(reviewer_json(*view));
}

Response revoke_reviewer(App& app, Request& request) {
  auto op = require_operator(request, app.members);
  if (!op) return fail_response(op.error());
  auto id = member_id_of(request.path_params["member_id"], "member_id");
  if (!id) return fail_response(id.error());
  auto view = app.members.revoke_reviewer(*id);
  if (!view) return fail_response(view.error());
  return json_response(reviewer_json(*view));
}

}  // namespace

void add_claims_routes(Router& router, App& app) {
  // Evidence files are larger than JSON bodies: the route's own limit, answered in its own code.
  router.add(
      "POST", "/v1/me/evidence", [&app](Request& r) { return upload_evidence(app, r); },
      BodyLimit{ingest::kEvidenceBytesMax, "evidence_too_large"});
  router.add("POST", "/v1/me/claims", [&app](Request& r) { return submit_claim(app, r); });
  router.add("GET", "/v1/me/claims", [&app](Request& r) { return my_claims(app, r); });
  router.add("GET", "/v1/reviews", [&app](Request& r) { return review_queue(app, r); });
  router.add("GET", "/v1/reviews/evidence/{id}",
             [&app](Request& r) { return review_evidence(app, r); });
  router.add("POST", "/v1/reviews/{source_id}/{external_id}/approve",
             [&app](Request& r) { return decide(app, r, true); });
  router.add("POST", "/v1/reviews/{source_id}/{external_id}/reject",
             [&app](Request& r) { return decide(app, r, false); });
  router.add("POST", "/v1/reviewers", [&app](Request& r) { return grant_reviewer(app, r); });
  router.add("DELETE", "/v1/reviewers/{member_id}",
             [&app](Request& r) { return revoke_reviewer(app, r); });
}

}  // namespace tanpu::http
