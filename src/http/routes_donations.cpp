// Charity projects and donations (market/donations.h; docs/donations.md is the guide): operators
// create and close projects, anyone reads them with their progress, members donate points and get
// a certificate, and anyone checks a certificate by its serial.
#include <nlohmann/json.hpp>

#include "core/time.h"
#include "http/app.h"
#include "http/auth.h"
#include "http/json_input.h"
#include "market/donations.h"
#include "members/members.h"

namespace tanpu::http {
namespace {

using nlohmann::json;

// The JSON reader's bounds are looser than the module's, so the module's own codes answer.
constexpr std::size_t kTitleReaderBytesMax = market::kProjectTitleBytesMax * 4;
constexpr std::size_t kDescriptionReaderBytesMax = market::kProjectDescriptionBytesMax * 4;
constexpr std::size_t kBeneficiaryReaderBytesMax = market::kBeneficiaryBytesMax * 4;

Result<market::Donations*> donations_of(App& app) {
  if (app.donations == nullptr) {
    return fail(ErrorKind::unavailable, "donations_unavailable", "donations are not served here");
  }
  return app.donations;
}

json project_json(const market::Project& p) {
  const market::Progress& g = p.progress;
  return json{{"id", p.id},
              {"title", p.title},
              {"description", p.description},
              {"beneficiary", p.beneficiary},
              {"target_points", p.target_points},
              {"min_points", p.min_points},
              {"max_points", p.max_points},
              {"starts_at", optional_time(p.starts_at_us)},
              {"ends_at", optional_time(p.ends_at_us)},
              {"status", market::to_string(p.status)},
              {"account_id", p.account_id},
              {"created_at", format_iso8601(p.created_at_us)},
              {"closed_at", optional_time(p.closed_at_us)},
              {"progress",
               {{"raised_points", g.raised_points},
                {"balance_points", g.balance_points},
                {"target_points", g.target_points},
                {"percent_bp", g.percent_bp},
                {"donors", g.donors},
                {"donations", g.donations}}}};
}

std::string verify_path(std::string_view serial) {
  return "/v1/donation-certificates/" + std::string(serial);
}

json donation_json(const market::Donation& d) {
  return json{{"id", d.id},
              {"serial", d.serial},
              {"project_id", d.project_id},
              {"project_title", d.project_title},
              {"points", d.points},
              {"anonymous", d.anonymous},
              {"transfer_id", d.transfer_id.to_hex()},
              {"donated_at", format_iso8601(d.created_at_us)},
              {"verify_path", verify_path(d.serial)}};
}

json certificate_json(const market::Certificate& c) {
  return json{{"serial", c.serial},
              {"donor_name", c.donor_name},
              {"anonymous", c.anonymous},
              {"project_id", c.project_id},
              {"project_title", c.project_title},
              {"beneficiary", c.beneficiary},
              {"points", c.points},
              {"donated_at", format_iso8601(c.donated_at_us)},
              {"verify_path", verify_path(c.serial)}};
}

json next_cursor(const std::string& cursor) {
  return cursor.empty() ? json(nullptr) : json(cursor);
}

Result<market::ProjectInput> read_project(const Request& request) {
  auto body = parse_json(request.body);
  if (!body) return fail(body.error());
  ObjectReader in(*body);
  market::ProjectInput p;
  auto title = in.string("title", kTitleReaderBytesMax);
  if (!title) return fail(title.error());
  auto description = in.opt_string("description", kDescriptionReaderBytesMax);
  if (!description) return fail(description.error());
  auto beneficiary = in.string("beneficiary", kBeneficiaryReaderBytesMax);
  if (!beneficiary) return fail(beneficiary.error());
  auto target = in.int64("target_points");
  if (!target) return fail(target.error());
  auto starts = in.opt_time("starts_at");
  if (!starts) return fail(starts.error());
  auto ends = in.opt_time("ends_at");
  if (!ends) return fail(ends.error());
  auto min_points = in.opt_int64("min_points");
  if (!min_points) return fail(min_points.error());
  auto max_points = in.opt_int64("max_points");
  if (!max_points) return fail(max_points.error());
  if (auto done = in.finish(); !done) return fail(done.error());
  p.title = std::move(*title);
  p.description = description->value_or("");
  p.beneficiary = std::move(*beneficiary);
  p.target_points = *target;
  p.starts_at_us = *starts;
  p.ends_at_us = *ends;
  p.min_points = min_points->value_or(market::kDefaultMinPoints);
  p.max_points = max_points->value_or(market::kDefaultMaxPoints);
  return p;
}

// A project id from the path. Errors: project_not_found (not a positive decimal).
Result<std::int64_t> project_id_of(Request& request) {
  const auto id = parse_positive_id(request.path_params["id"]);
  if (!id) return fail(ErrorKind::not_found, "project_not_found", "no such charity project");
  return *id;
}

Response create_project(App& app, const Request& request) {
  auto op = require_operator(request, app.members);
  if (!op) return fail_response(op.error());
  auto donations = donations_of(app);
  if (!donations) return fail_response(donations.error());
  // Optional here (an operator's console may not send one); when sent it must be well formed.
  std::string key;
  if (!request.header("idempotency-key").empty()) {
    auto k = idempotency_key(request);
    if (!k) return fail_response(k.error());
    key = std::move(*k);
  }
  auto input = read_project(request);
  if (!input) return fail_response(input.error());
  auto project = (*donations)->create_project(*op, *input, key);
  if (!project) return fail_response(project.error());
  return json_response(project_json(*project), project->replayed ? 200 : 201);
}

Response list_projects(App& app, const Request& request) {
  auto donations = donations_of(app);
  if (!donations) return fail_response(donations.error());
  auto limit = read_limit(request);
  if (!limit) return fail_response(limit.error());
  auto page = (*donations)->list_projects(request.query_param("cursor"), *limit);
  if (!page) return fail_response(page.error());
  json projects = json::array();
  for (const auto& p : page->projects) projects.push_back(project_json(p));
  return json_response(
      {{"projects", std::move(projects)}, {"next_cursor", next_cursor(page->next_cursor)}});
}

Response get_project(App& app, Request& request) {
  auto donations = donations_of(app);
  if (!donations) return fail_response(donations.error());
  auto id = project_id_of(request);
  if (!id) return fail_response(id.error());
  auto project = (*donations)->project(*id);
  if (!project) return fail_response(project.error());
  return json_response(project_json(*project));
}

Response close_project(App& app, Request& request) {
  auto op = require_operator(request, app.members);
  if (!op) return fail_response(op.error());
  auto donations = donations_of(app);
  if (!donations) return fail_response(donations.error());
  auto id = project_id_of(request);
  if (!id) return fail_response(id.error());
  auto project = (*donations)->close_project(*op, *id);
  if (!project) return fail_response(project.error());
  return json_response(project_json(*project));
}

Response donate(App& app, Request& request) {
  auto who = authenticate(request, app.members);
  if (!who) return fail_response(who.error());
  auto donations = donations_of(app);
  if (!donations) return fail_response(donations.error());
  auto id = project_id_of(request);
  if (!id) return fail_response(id.error());
  auto key = idempotency_key(request);
  if (!key) return fail_response(key.error());
  auto body = parse_json(request.body);
  if (!body) return fail_response(body.error());
  ObjectReader in(*body);
  auto points = in.int64("points");
  if (!points) return fail_response(points.error());
  auto anonymous = in.opt_boolean("anonymous");
  if (!anonymous) return fail_response(anonymous.error());
  if (auto done = in.finish(); !done) return fail_response(done.error());
  auto donation =
      (*donations)
          ->donate({who->member_id, *id, *points, anonymous->value_or(false), std::move(*key)});
  if (!donation) return fail_response(donation.error());
  return json_response(donation_json(*donation), donation->replayed ? 200 : 201);
}

Response my_donations(App& app, const Request& request) {
  auto who = authenticate(request, app.members);
  if (!who) return fail_response(who.error());
  auto donations = donations_of(app);
  if (!donations) return fail_response(donations.error());
  auto limit = read_limit(request);
  if (!limit) return fail_response(limit.error());
  auto page = (*donations)->member_donations(who->member_id, request.query_param("cursor"), *limit);
  if (!page) return fail_response(page.error());
  json out = json::array();
  for (const auto& d : page->donations) out.push_back(donation_json(d));
  return json_response(
      {{"donations", std::move(out)}, {"next_cursor", next_cursor(page->next_cursor)}});
}

Response my_certificate(App& app, Request& request) {
  auto who = authenticate(request, app.members);
  if (!who) return fail_response(who.error());
  auto donations = donations_of(app);
  if (!donations) return fail_response(donations.error());
  const auto id = parse_positive_id(request.path_params["id"]);
  if (!id)
    return fail_response({ErrorKind::not_found, "donation_not_found", "no such donation", {}});
  auto certificate = (*donations)->certificate(who->member_id, *id);
  if (!certificate) return fail_response(certificate.error());
  return json_response(certificate_json(*certificate));
}

Response public_certificate(App& app, Request& request) {
  auto donations = donations_of(app);
  if (!donations) return fail_response(donations.error());
  auto certificate = (*donations)->public_certificate(request.path_params["serial"]);
  if (!certificate) return fail_response(certificate.error());
  return json_response(certificate_json(*certificate));
}

}  // namespace

void add_donation_routes(Router& router, App& app) {
  router.add("POST", "/v1/charity-projects", [&app](Request& r) { return create_project(app, r); });
  router.add("GET", "/v1/charity-projects", [&app](Request& r) { return list_projects(app, r); });
  router.add("GET", "/v1/charity-projects/{id}",
             [&app](Request& r) { return get_project(app, r); });
  router.add("POST", "/v1/charity-projects/{id}/close",
             [&app](Request& r) { return close_project(app, r); });
  router.add("POST", "/v1/charity-projects/{id}/donations",
             [&app](Request& r) { return donate(app, r); });
  router.add("GET", "/v1/me/donations", [&app](Request& r) { return my_donations(app, r); });
  router.add("GET", "/v1/me/donations/{id}/certificate",
             [&app](Request& r) { return my_certificate(app, r); });
  router.add("GET", "/v1/donation-certificates/{serial}",
             [&app](Request& r) { return public_certificate(app, r); });
}

}  // namespace tanpu::http
