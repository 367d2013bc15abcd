// Organisations (src/orgs; docs/organisations.md is the guide): trees and scoped roles, the
// one-click roster import with activation codes, activities with a rotating check-in code,
// academic credit programmes with their transcripts, and the dashboards. Who may do what is the
// module's to decide (admins and reviewers reach their organisation's subtree; the operator
// reaches everything); these handlers authenticate, read the input with closed schemas and shape
// the answers.
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/time.h"
#include "core/units.h"
#include "http/app.h"
#include "http/auth.h"
#include "http/json_input.h"
#include "members/members.h"
#include "methodology/evaluator.h"
#include "methodology/quantify.h"
#include "methodology/query_json.h"
#include "orgs/orgs.h"
#include "tabular/tabular.h"

namespace tanpu::http {
namespace {

using nlohmann::json;

// The JSON reader's bounds are looser than the module's, so the module's own codes answer.
constexpr std::size_t kNameReaderBytesMax = orgs::kOrgNameBytesMax * 4;
constexpr std::size_t kRegionReaderBytesMax = orgs::kRegionBytesMax * 4;
constexpr std::size_t kTypeReaderBytesMax = 64;
constexpr std::size_t kCodeReaderBytesMax = 64;  // activation and check-in codes, as typed
constexpr std::size_t kTitleReaderBytesMax = orgs::kActivityTitleBytesMax * 4;
constexpr std::size_t kPlaceReaderBytesMax = orgs::kActivityPlaceBytesMax * 4;
constexpr std::size_t kScenarioReaderBytesMax = 160;
constexpr std::size_t kDateReaderBytesMax = 32;
// The roster page: larger than other listings, an admin's table shows a class or two at once.
constexpr std::size_t kPeoplePageMax = 1'000;
constexpr std::size_t kPeoplePageDefault = 100;
constexpr std::string_view kXlsxType =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

Result<orgs::Orgs*> orgs_of(App& app) {
  if (app.orgs == nullptr) {
    return fail(ErrorKind::unavailable, "orgs_unavailable", "organisations are not served here");
  }
  return app.orgs;
}

// The signed-in caller and the module.
struct Caller {
  orgs::Actor actor;
  orgs::Orgs* orgs = nullptr;
};

Result<Caller> caller(App& app, const Request& request) {
  auto who = authenticate(request, app.members);
  if (!who) return fail(who.error());
  auto module = orgs_of(app);
  if (!module) return fail(module.error());
  return Caller{{who->member_id, who->role == members::Role::operator_}, *module};
}

// A positive decimal id from the path. Errors: <what>_not_found (404) naming the parameter.
Result<std::int64_t> path_id(Request& request, const std::string& name, std::string_view what) {
  const auto id = parse_positive_id(request.path_params[name]);
  if (!id) {
    return fail(ErrorKind::not_found, std::string(what) + "_not_found",
                "no such " + std::string(what), name);
  }
  return *id;
}

// The opening of most handlers: the signed-in caller and the {id} of the path.
struct Target {
  Caller caller;
  std::int64_t id = 0;
};
Result<Target> caller_and_id(App& app, Request& request, std::string_view what) {
  auto c = caller(app, request);
  if (!c) return fail(c.error());
  auto id = path_id(request, "id", what);
  if (!id) return fail(id.error());
  return Target{*c, *id};
}

// The optional Idempotency-Key of a creating POST ("" when absent).
Result<std::string> optional_key(const Request& request) {
  if (request.header("idempotency-key").empty()) return std::string();
  return idempotency_key(request);
}

// What a creating POST answers: 201 with what it created, 200 when its Idempotency-Key answered
// an earlier request.
template <class T, class Shape>
Response created(const Result<T>& r, Shape shape) {
  if (!r) return fail_response(r.error());
  return json_response(shape(*r), r->replayed ? 200 : 201);
}

// The module's answer as JSON (shape(value)), or its error.
template <class T, class Shape>
Response answer(const Result<T>& r, Shape shape, int status = 200) {
  if (!r) return fail_response(r.error());
  return json_response(shape(*r), status);
}

// An int64 the module keeps as int32: out of that range it is refused with the module's code.
Result<std::int32_t> narrow(std::int64_t v, std::string code, std::string field) {
  if (v < std::numeric_limits<std::int32_t>::min() || v > std::numeric_limits<std::int32_t>::max())
    return fail(ErrorKind::invalid, std::move(code), "'" + field + "' is out of range", field);
  return static_cast<std::int32_t>(v);
}

json opt(const std::optional<std::int64_t>& v) {
  return v ? json(*v) : json(nullptr);
}
json opt(const std::optional<std::string>& v) {
  return v ? json(*v) : json(nullptr);
}

json org_json(const orgs::Org& o) {
  return json{{"id", o.id},
              {"parent_id", opt(o.parent_id)},
              {"root_id", o.root_id},
              {"depth", o.depth},
              {"depth_max", o.depth_max},
              {"type", orgs::to_string(o.type)},
              {"name", o.name},
              {"region", opt(o.region)},
              {"archived", o.archived},
              {"created_at", format_iso8601(o.created_at_us)}};
}

// {"<key>": [shape(item)…]}: the lists these routes answer.
template <class T, class Shape>
json list_json(const char* key, const std::vector<T>& items, Shape shape) {
  json out = json::array();
  for (const auto& item : items) out.push_back(shape(item));
  return json{{key, std::move(out)}};
}

json orgs_json(const std::vector<orgs::Org>& list) {
  return list_json("orgs", list, org_json);
}

json person_json(const orgs::Person& p) {
  return json{{"id", p.id},
              {"org_id", p.org_id},
              {"org_path", p.org_path_names},
              {"member_number", p.member_number},
              {"name", p.name},
              {"phone_masked", opt(p.phone_masked)},
              {"email_masked", opt(p.email_masked)},
              {"member_id", opt(p.member_id)},
              {"imported_at", format_iso8601(p.imported_at_us)},
              {"activated_at", optional_time(p.activated_at_us)}};
}

json report_json(const orgs::ImportReport& r) {
  json results = json::array();
  for (const auto& row : r.results) {
    json one{{"row", row.row}, {"member_number", row.member_number}, {"fate", to_string(row.fate)}};
    if (row.error) {
      one["error"] = {
          {"code", row.error->code}, {"message", row.error->message}, {"field", row.error->field}};
    }
    if (row.activation_code) one["activation_code"] = *row.activation_code;
    results.push_back(std::move(one));
  }
  return json{{"dry_run", r.dry_run},         {"rows", r.rows},           {"created", r.created},
              {"updated", r.updated},         {"unchanged", r.unchanged}, {"failed", r.failed},
              {"results", std::move(results)}};
}

json activity_json(const orgs::Activity& a) {
  return json{{"id", a.id},
              {"org_id", a.org_id},
              {"title", a.title},
              {"place", a.place},
              {"starts_at", format_iso8601(a.starts_at_us)},
              {"ends_at", format_iso8601(a.ends_at_us)},
              {"capacity", a.capacity},
              {"points_per_checkin", a.points_per_checkin},
              {"reduction_mg_per_checkin", a.reduction_mg_per_checkin},
              {"scenario", a.scenario},
              {"methodology", a.methodology.empty() ? json(nullptr) : json(a.methodology)},
              {"signed_up", a.signed_up},
              {"checked_in", a.checked_in},
              {"created_by", a.created_by},
              {"created_at", format_iso8601(a.created_at_us)}};
}

json activities_json(const std::vector<orgs::Activity>& list) {
  return list_json("activities", list, activity_json);
}

json programme_json(const orgs::Programme& p) {
  return json{{"id", p.id},
              {"org_id", p.org_id},
              {"name", p.name},
              {"points_per_credit", p.points_per_credit},
              {"credits_max", p.credits_max},
              {"enrolment_starts", format_date(p.enrolment_starts)},
              {"enrolment_ends", format_date(p.enrolment_ends)},
              {"enrolment_years", p.enrolment_years},
              {"created_at", format_iso8601(p.created_at_us)}};
}

// A body that must be empty or an empty object (actions that take no input).
Result<void> no_input(const Request& request) {
  if (request.body.find_first_not_of(" \t\r\n") == std::string::npos) return {};
  auto body = parse_json(request.body);
  if (!body) return fail(body.error());
  return ObjectReader(*body).finish();
}

// ── The tree ────────────────────────────────────────────────────────────────────────────────

Result<orgs::OrgInput> read_org(const Request& request) {
  auto body = parse_json(request.body);
  if (!body) return fail(body.error());
  ObjectReader in(*body);
  auto parent = in.opt_int64("parent_id");
  if (!parent) return fail(parent.error());
  auto type = in.string("type", kTypeReaderBytesMax);
  if (!type) return fail(type.error());
  auto name = in.string("name", kNameReaderBytesMax);
  if (!name) return fail(name.error());
  auto region = in.opt_string("region", kRegionReaderBytesMax);
  if (!region) return fail(region.error());
  auto depth_max = in.opt_int64("depth_max");
  if (!depth_max) return fail(depth_max.error());
  if (auto done = in.finish(); !done) return fail(done.error());
  orgs::OrgInput out;
  const auto parsed = orgs::parse_org_type(*type);
  if (!parsed) return fail(ErrorKind::invalid, "invalid_type", "no such organisation type", "type");
  if (*parent && **parent <= 0)
    return fail(ErrorKind::not_found, "org_not_found", "no such organisation", "parent_id");
  if (*parent && *depth_max)
    return fail(ErrorKind::invalid, "invalid_depth_max",
                "depth_max is set on a first-tier organisation only", "depth_max");
  if (*depth_max) {
    auto d = narrow(**depth_max, "invalid_depth_max", "depth_max");
    if (!d) return fail(d.error());
    out.depth_max = *d;
  }
  out.parent_id = *parent;
  out.type = *parsed;
  out.name = std::move(*name);
  out.region = std::move(*region);
  return out;
}

Response create_org(App& app, const Request& request) {
  auto c = caller(app, request);
  if (!c) return fail_response(c.error());
  auto input = read_org(request);
  if (!input) return fail_response(input.error());
  auto key = optional_key(request);
  if (!key) return fail_response(key.error());
  input->idempotency_key = std::move(*key);
  auto org = c->orgs->create_org(c->actor, *input);
  if (!org && org.error().code == "org_not_found") {
    Error e = org.error();
    e.field = "parent_id";
    return fail_response(e);
  }
  return created(org, org_json);
}

Response list_roots(App& app, const Request& request) {
  auto c = caller(app, request);
  if (!c) return fail_response(c.error());
  return answer(c->orgs->roots(c->actor), orgs_json);
}

Response get_org(App& app, Request& request) {
  auto t = caller_and_id(app, request, "org");
  if (!t) return fail_response(t.error());
  auto& [c, id] = *t;
  return answer(c.orgs->get_org(c.actor, id), org_json);
}

Response rename_org(App& app, Request& request) {
  auto t = caller_and_id(app, request, "org");
  if (!t) return fail_response(t.error());
  auto& [c, id] = *t;
  auto body = parse_json(request.body);
  if (!body) return fail_response(body.error());
  ObjectReader in(*body);
  auto name = in.string("name", kNameReaderBytesMax);
  if (!name) return fail_response(name.error());
  if (auto done = in.finish(); !done) return fail_response(done.error());
  return answer(c.orgs->rename_org(c.actor, id, *name), org_json);
}

Response move_org(App& app, Request& request) {
  auto t = caller_and_id(app, request, "org");
  if (!t) return fail_response(t.error());
  auto& [c, id] = *t;
  auto body = parse_json(request.body);
  if (!body) return fail_response(body.error());
  ObjectReader in(*body);
  auto parent = in.int64("parent_id");
  if (!parent) return fail_response(parent.error());
  if (auto done = in.finish(); !done) return fail_response(done.error());
  if (*parent <= 0)
    return fail_response(
        {ErrorKind::not_found, "org_not_found", "no such organisation", "parent_id"});
  return answer(c.orgs->move_org(c.actor, id, *parent), org_json);
}

Response archive_org(App& app, Request& request) {
  auto t = caller_and_id(app, request, "org");
  if (!t) return fail_response(t.error());
  auto& [c, id] = *t;
  if (auto ok = no_input(request); !ok) return fail_response(ok.error());
  return answer(c.orgs->archive_org(c.actor, id), org_json);
}

Response children(App& app, Request& request) {
  auto t = caller_and_id(app, request, "org");
  if (!t) return fail_response(t.error());
  auto& [c, id] = *t;
  return answer(c.orgs->children(c.actor, id), orgs_json);
}

Response change_role(App& app, Request& request, bool grant) {
  auto t = caller_and_id(app, request, "org");
  if (!t) return fail_response(t.error());
  auto& [c, id] = *t;
  auto member = path_id(request, "member_id", "member");
  if (!member) return fail_response(member.error());
  const auto role = orgs::parse_org_role(request.path_params["role"]);
  if (!role) {
    return fail_response(
        {ErrorKind::invalid, "invalid_role", "a role is admin or reviewer", "role"});
  }
  auto done = grant ? c.orgs->grant_role(c.actor, id, *member, *role)
                    : c.orgs->revoke_role(c.actor, id, *member, *role);
  if (!done) return fail_response(done.error());
  return no_content();
}

// ── The roster ──────────────────────────────────────────────────────────────────────────────

Result<bool> read_dry_run(const Request& request) {
  const std::string_view v = request.query_param("dry_run");
  if (v.empty() || v == "true") return true;
  if (v == "false") return false;
  return fail(ErrorKind::invalid, "invalid_dry_run", "dry_run is true or false", "dry_run");
}

Response import_people(App& app, Request& request) {
  auto t = caller_and_id(app, request, "org");
  if (!t) return fail_response(t.error());
  auto& [c, id] = *t;
  auto dry_run = read_dry_run(request);
  if (!dry_run) return fail_response(dry_run.error());
  const std::span<const std::uint8_t> bytes(
      reinterpret_cast<const std::uint8_t*>(request.body.data()), request.body.size());
  return answer(c.orgs->import_people(c.actor, id, bytes, *dry_run), report_json);
}

// `limit` of the roster: 1..kPeoplePageMax, kPeoplePageDefault when absent.
Result<std::size_t> read_people_limit(const Request& request) {
  const std::string_view text = request.query_param("limit");
  if (text.empty()) return kPeoplePageDefault;
  const auto n = parse_positive_id(text);
  if (!n && text != "0")
    return fail(ErrorKind::invalid, "invalid_limit", "limit is a whole number", "limit");
  if (!n || static_cast<std::uint64_t>(*n) > kPeoplePageMax)
    return fail(ErrorKind::invalid, "limit_out_of_range", "limit is 1 to 1000", "limit");
  return static_cast<std::size_t>(*n);
}

Response people(App& app, Request& request) {
  auto t = caller_and_id(app, request, "org");
  if (!t) return fail_response(t.error());
  auto& [c, id] = *t;
  auto limit = read_people_limit(request);
  if (!limit) return fail_response(limit.error());
  const std::string_view after = request.query_param("after");
  if (after.size() > orgs::kMemberNumberBytesMax) {
    return fail_response(
        {ErrorKind::invalid, "invalid_after", "after is a member number we gave", "after"});
  }
  // One more than the page: whether another page follows without a second query.
  auto list = c.orgs->people(c.actor, id, *limit + 1, after);
  if (!list) return fail_response(list.error());
  const bool more = list->size() > *limit;
  if (more) list->resize(*limit);
  json out = json::array();
  for (const auto& p : *list) out.push_back(person_json(p));
  return json_response({{"people", std::move(out)},
                        {"next_after", more ? json(list->back().member_number) : json(nullptr)}});
}

Response reissue_activation(App& app, Request& request) {
  auto t = caller_and_id(app, request, "org");
  if (!t) return fail_response(t.error());
  auto& [c, id] = *t;
  auto person = path_id(request, "person_id", "person");
  if (!person) return fail_response(person.error());
  if (auto ok = no_input(request); !ok) return fail_response(ok.error());
  auto code = c.orgs->reissue_activation(c.actor, id, *person);
  if (!code) return fail_response(code.error());
  return json_response({{"activation_code", *code}});
}

Response activate(App& app, const Request& request) {
  auto c = caller(app, request);
  if (!c) return fail_response(c.error());
  auto body = parse_json(request.body);
  if (!body) return fail_response(body.error());
  ObjectReader in(*body);
  auto code = in.string("code", kCodeReaderBytesMax);
  if (!code) return fail_response(code.error());
  if (auto done = in.finish(); !done) return fail_response(done.error());
  return answer(c->orgs->activate(c->actor.member_id, *code), person_json);
}

Response my_orgs(App& app, const Request& request) {
  auto c = caller(app, request);
  if (!c) return fail_response(c.error());
  return answer(c->orgs->memberships(c->actor.member_id), orgs_json);
}

Response my_settings(App& app, const Request& request) {
  auto c = caller(app, request);
  if (!c) return fail_response(c.error());
  auto body = parse_json(request.body);
  if (!body) return fail_response(body.error());
  ObjectReader in(*body);
  auto hidden = in.boolean("name_hidden");
  if (!hidden) return fail_response(hidden.error());
  if (auto done = in.finish(); !done) return fail_response(done.error());
  if (auto done = c->orgs->set_name_hidden(c->actor.member_id, *hidden); !done)
    return fail_response(done.error());
  return no_content();
}

// ── Activities ──────────────────────────────────────────────────────────────────────────────

// An activity's `methodology` ({"scenario"|"methodology", "region", "inputs", ["date"]}):
// quantified once, when the activity is created, for one member's part (a tree each); every
// check-in credits that reduction under that methodology version. The date defaults to the start.
Result<void> quantify_activity(App& app, const nlohmann::json& spec, orgs::ActivityInput& a) {
  namespace m = methodology;
  auto query = m::query_from_json(spec);
  if (!query) return fail(query.error());
  if (!query->date && !query->occurred_at_us) query->occurred_at_us = a.starts_at_us;
  auto evaluator = app.methodologies.acquire();
  auto q = m::quantify(*evaluator, *query);
  if (!q) return fail(q.error());
  const m::Outcome& o = q->outcome;
  if (!o.eligible())
    return fail(ErrorKind::invalid, "methodology_ineligible",
                "the methodology does not credit these inputs: " + std::string(o.ineligible_code()),
                "methodology");
  a.reduction_mg_per_checkin = o.reduction_mg;
  a.methodology = o.methodology->code + "@" + o.methodology->version;
  if (a.scenario == orgs::ActivityInput{}.scenario) a.scenario = o.methodology->scenario;
  return {};
}

Result<orgs::ActivityInput> read_activity(App& app, const Request& request, std::int64_t org_id) {
  auto body = parse_json(request.body);
  if (!body) return fail(body.error());
  ObjectReader in(*body);
  const nlohmann::json* spec = nullptr;
  if (body->is_object() && body->contains("methodology")) {
    auto m = in.object("methodology");
    if (!m) return fail(m.error());
    spec = *m;
  }
  orgs::ActivityInput a;
  a.org_id = org_id;
  auto title = in.string("title", kTitleReaderBytesMax);
  if (!title) return fail(title.error());
  auto place = in.opt_string("place", kPlaceReaderBytesMax);
  if (!place) return fail(place.error());
  auto starts = in.time("starts_at");
  if (!starts) return fail(starts.error());
  auto ends = in.time("ends_at");
  if (!ends) return fail(ends.error());
  auto capacity = in.int64("capacity");
  if (!capacity) return fail(capacity.error());
  auto points = in.int64("points_per_checkin");
  if (!points) return fail(points.error());
  auto reduction = in.opt_int64("reduction_mg_per_checkin");
  if (!reduction) return fail(reduction.error());
  auto scenario = in.opt_string("scenario", kScenarioReaderBytesMax);
  if (!scenario) return fail(scenario.error());
  if (auto done = in.finish(); !done) return fail(done.error());
  a.title = std::move(*title);
  a.place = place->value_or("");
  a.starts_at_us = *starts;
  a.ends_at_us = *ends;
  a.capacity = *capacity;
  a.points_per_checkin = *points;
  a.reduction_mg_per_checkin = reduction->value_or(0);
  if (*scenario) a.scenario = std::move(**scenario);
  if (spec != nullptr) {
    if (*reduction)
      return fail(ErrorKind::invalid, "reduction_and_methodology",
                  "give reduction_mg_per_checkin or a methodology, not both",
                  "reduction_mg_per_checkin");
    if (auto q = quantify_activity(app, *spec, a); !q) {
      Error e = q.error();
      e.field = e.field.empty() ? "methodology" : "methodology." + e.field;
      return fail(std::move(e));
    }
  }
  return a;
}

Response create_activity(App& app, Request& request) {
  auto t = caller_and_id(app, request, "org");
  if (!t) return fail_response(t.error());
  auto& [c, id] = *t;
  auto input = read_activity(app, request, id);
  if (!input) return fail_response(input.error());
  auto key = optional_key(request);
  if (!key) return fail_response(key.error());
  input->idempotency_key = std::move(*key);
  return created(c.orgs->create_activity(c.actor, *input), activity_json);
}

Response org_activities(App& app, Request& request) {
  auto t = caller_and_id(app, request, "org");
  if (!t) return fail_response(t.error());
  auto& [c, id] = *t;
  return answer(c.orgs->activities_of(c.actor, id), activities_json);
}

Response get_activity(App& app, Request& request) {
  auto t = caller_and_id(app, request, "activity");
  if (!t) return fail_response(t.error());
  auto& [c, id] = *t;
  return answer(c.orgs->get_activity(id), activity_json);
}

Response my_activities(App& app, const Request& request) {
  auto c = caller(app, request);
  if (!c) return fail_response(c.error());
  return answer(c->orgs->activities_for(c->actor.member_id), activities_json);
}

Response sign_up(App& app, Request& request) {
  auto t = caller_and_id(app, request, "activity");
  if (!t) return fail_response(t.error());
  auto& [c, id] = *t;
  if (auto ok = no_input(request); !ok) return fail_response(ok.error());
  return answer(c.orgs->sign_up(c.actor.member_id, id), activity_json);
}

Response checkin_code(App& app, Request& request) {
  auto t = caller_and_id(app, request, "activity");
  if (!t) return fail_response(t.error());
  auto& [c, id] = *t;
  auto code = c.orgs->checkin_code(c.actor, id);
  if (!code) return fail_response(code.error());
  // The code changes every 30 s: a cached copy would be refused.
  Response out = json_response({{"code", code->code},
                                {"qr_text", code->qr_text},
                                {"valid_until", format_iso8601(code->valid_until_us)}});
  out.headers.emplace_back("Cache-Control", "no-store");
  return out;
}

Response check_in(App& app, Request& request) {
  auto t = caller_and_id(app, request, "activity");
  if (!t) return fail_response(t.error());
  auto& [c, id] = *t;
  auto body = parse_json(request.body);
  if (!body) return fail_response(body.error());
  ObjectReader in(*body);
  auto code = in.string("code", kCodeReaderBytesMax);
  if (!code) return fail_response(code.error());
  if (auto done = in.finish(); !done) return fail_response(done.error());
  auto done = c.orgs->check_in(c.actor.member_id, id, *code);
  if (!done) return fail_response(done.error());
  return json_response({{"activity_id", done->activity_id},
                        {"member_id", done->member_id},
                        {"points", done->points},
                        {"reduction_mg", done->reduction_mg},
                        {"checked_in_at", format_iso8601(done->checked_in_at_us)}});
}

// ── Credit programmes ───────────────────────────────────────────────────────────────────────

Result<orgs::ProgrammeInput> read_programme(const Request& request, std::int64_t org_id) {
  auto body = parse_json(request.body);
  if (!body) return fail(body.error());
  ObjectReader in(*body);
  orgs::ProgrammeInput p;
  p.org_id = org_id;
  auto name = in.string("name", kNameReaderBytesMax);
  if (!name) return fail(name.error());
  auto per_credit = in.int64("points_per_credit");
  if (!per_credit) return fail(per_credit.error());
  auto credits_max = in.int64("credits_max");
  if (!credits_max) return fail(credits_max.error());
  auto starts = in.string("enrolment_starts", kDateReaderBytesMax);
  if (!starts) return fail(starts.error());
  auto years = in.int64("enrolment_years");
  if (!years) return fail(years.error());
  if (auto done = in.finish(); !done) return fail(done.error());
  const auto day = parse_date(*starts);
  if (!day) {
    return fail(ErrorKind::invalid, "invalid_date", "enrolment_starts is a date YYYY-MM-DD",
                "enrolment_starts");
  }
  auto y = narrow(*years, "invalid_enrolment_years", "enrolment_years");
  if (!y) return fail(y.error());
  p.name = std::move(*name);
  p.points_per_credit = *per_credit;
  p.credits_max = *credits_max;
  p.enrolment_starts = *day;
  p.enrolment_years = *y;
  return p;
}

Response create_programme(App& app, Request& request) {
  auto t = caller_and_id(app, request, "org");
  if (!t) return fail_response(t.error());
  auto& [c, id] = *t;
  auto input = read_programme(request, id);
  if (!input) return fail_response(input.error());
  auto key = optional_key(request);
  if (!key) return fail_response(key.error());
  input->idempotency_key = std::move(*key);
  return created(c.orgs->create_programme(c.actor, *input), programme_json);
}

Response org_programmes(App& app, Request& request) {
  auto t = caller_and_id(app, request, "org");
  if (!t) return fail_response(t.error());
  auto& [c, id] = *t;
  auto list = c.orgs->programmes(c.actor, id);
  if (!list) return fail_response(list.error());
  json out = json::array();
  for (const auto& p : *list) out.push_back(programme_json(p));
  return json_response({{"programmes", std::move(out)}});
}

json transcript_json(const orgs::Transcript& t) {
  json lines = json::array();
  for (const auto& l : t.lines) {
    lines.push_back({{"member_id", l.member_id},
                     {"member_number", l.member_number},
                     {"name", l.name},
                     {"org_path", l.org_path_names},
                     {"points_earned", l.points_earned},
                     {"credits", l.credits}});
  }
  return json{{"programme", programme_json(t.programme)}, {"lines", std::move(lines)}};
}

// The transcript as a spreadsheet: one row per member, the last two columns numbers.
Result<Response> transcript_file(const orgs::Transcript& t, bool xlsx) {
  static const std::vector<std::string> kHeader{"member_number", "name", "org_path",
                                                "points_earned", "credits"};
  static constexpr std::array<bool, 5> kNumeric{false, false, false, true, true};
  std::vector<std::vector<std::string>> rows;
  rows.reserve(t.lines.size());
  for (const auto& l : t.lines) {
    rows.push_back({l.member_number, l.name, l.org_path_names, std::to_string(l.points_earned),
                    std::to_string(l.credits)});
  }
  Response out;
  const std::string file = "transcript-" + std::to_string(t.programme.id);
  if (xlsx) {
    auto bytes = tabular::write_xlsx("Transcript", kHeader, rows, kNumeric);
    if (!bytes) return fail(bytes.error());
    out.content_type = std::string(kXlsxType);
    out.body.assign(bytes->begin(), bytes->end());
  } else {
    out.content_type = "text/csv; charset=utf-8";
    out.body = tabular::write_csv(kHeader, rows);
  }
  out.headers.emplace_back("Content-Disposition",
                           "attachment; filename=\"" + file + (xlsx ? ".xlsx\"" : ".csv\""));
  return out;
}

Response transcript(App& app, Request& request) {
  auto t = caller_and_id(app, request, "programme");
  if (!t) return fail_response(t.error());
  auto& [c, id] = *t;
  const std::string_view format = request.query_param("format");
  if (!format.empty() && format != "json" && format != "csv" && format != "xlsx") {
    return fail_response(
        {ErrorKind::invalid, "invalid_format", "format is json, csv or xlsx", "format"});
  }
  auto lines = c.orgs->transcript(c.actor, id);
  if (!lines) return fail_response(lines.error());
  if (format.empty() || format == "json") return json_response(transcript_json(*lines));
  auto file = transcript_file(*lines, format == "xlsx");
  if (!file) return fail_response(file.error());
  return std::move(*file);
}

Response my_credits(App& app, const Request& request) {
  auto c = caller(app, request);
  if (!c) return fail_response(c.error());
  auto list = c->orgs->my_credits(c->actor.member_id);
  if (!list) return fail_response(list.error());
  json out = json::array();
  for (const auto& [programme, line] : *list) {
    json one = programme_json(programme);
    one["org_path"] = line.org_path_names;
    one["points_earned"] = line.points_earned;
    one["credits"] = line.credits;
    out.push_back(std::move(one));
  }
  return json_response({{"programmes", std::move(out)}});
}

// ── Dashboards ──────────────────────────────────────────────────────────────────────────────

json dashboard_lists(const orgs::Dashboard& d) {
  json scenarios = json::array();
  for (const auto& s : d.scenarios) {
    scenarios.push_back({{"scenario", s.scenario},
                         {"records", s.records},
                         {"reduction_mg", s.reduction_mg},
                         {"reduction_display", format_mass_mg(s.reduction_mg)},
                         {"count_share", s.count_share},
                         {"volume_share", s.volume_share}});
  }
  json trend = json::array();
  for (const auto& p : d.trend) {
    trend.push_back({{"day", format_date(p.day)},
                     {"records", p.records},
                     {"reduction_mg", p.reduction_mg},
                     {"points", p.points}});
  }
  json children = json::array();
  for (const auto& r : d.children) {
    children.push_back({{"org_id", r.org_id},
                        {"name", r.name},
                        {"members", r.members},
                        {"records", r.records},
                        {"reduction_mg", r.reduction_mg},
                        {"reduction_display", format_mass_mg(r.reduction_mg)},
                        {"points", r.points}});
  }
  json top = json::array();
  for (const auto& m : d.top_members) {
    top.push_back({{"member_id", m.member_id},
                   {"name", m.name},
                   {"reduction_mg", m.reduction_mg},
                   {"reduction_display", format_mass_mg(m.reduction_mg)},
                   {"records", m.records},
                   {"level", m.level},
                   {"level_title", orgs::level_title(m.level)},
                   {"badges", m.badges}});
  }
  json levels = json::array();
  for (const auto& l : d.levels)
    levels.push_back({{"level", l.level}, {"title", l.title}, {"members", l.members}});
  return json{{"scenarios", std::move(scenarios)},
              {"trend", std::move(trend)},
              {"children", std::move(children)},
              {"top_members", std::move(top)},
              {"levels", std::move(levels)}};
}

json dashboard_json(const orgs::Dashboard& d) {
  json out{{"org", org_json(d.org)},
           {"today", format_date(d.today)},
           {"imported", d.imported},
           {"activated", d.activated},
           {"registration_rate", d.registration_rate},
           {"members", d.members},
           {"active_7d", d.active_7d},
           {"active_30d", d.active_30d},
           {"records", d.records},
           {"reduction_mg", d.reduction_mg},
           {"reduction_display", format_mass_mg(d.reduction_mg)},
           {"points", d.points}};
  out.update(dashboard_lists(d));
  return out;
}

Response dashboard(App& app, Request& request) {
  auto t = caller_and_id(app, request, "org");
  if (!t) return fail_response(t.error());
  auto& [c, id] = *t;
  return answer(c.orgs->dashboard(c.actor, id), dashboard_json);
}

}  // namespace

void add_org_routes(Router& router, App& app) {
  const auto route = [&router, &app](const char* method, const char* pattern,
                                     Response (*handler)(App&, Request&)) {
    router.add(method, pattern, [&app, handler](Request& r) { return handler(app, r); });
  };
  route("POST", "/v1/orgs", [](App& a, Request& r) { return create_org(a, r); });
  route("GET", "/v1/orgs", [](App& a, Request& r) { return list_roots(a, r); });
  route("GET", "/v1/orgs/{id}", get_org);
  route("PATCH", "/v1/orgs/{id}", rename_org);
  route("POST", "/v1/orgs/{id}/move", move_org);
  route("POST", "/v1/orgs/{id}/archive", archive_org);
  route("GET", "/v1/orgs/{id}/children", children);
  route("PUT", "/v1/orgs/{id}/roles/{member_id}/{role}",
        [](App& a, Request& r) { return change_role(a, r, true); });
  route("DELETE", "/v1/orgs/{id}/roles/{member_id}/{role}",
        [](App& a, Request& r) { return change_role(a, r, false); });
  // A roster file is larger than a JSON body: the route's own limit, the module's own code.
  router.add(
      "POST", "/v1/orgs/{id}/imports", [&app](Request& r) { return import_people(app, r); },
      BodyLimit{orgs::kImportBytesMax, "file_too_large"});
  route("GET", "/v1/orgs/{id}/people", people);
  route("POST", "/v1/orgs/{id}/people/{person_id}/activation-code", reissue_activation);
  route("POST", "/v1/me/activations", [](App& a, Request& r) { return activate(a, r); });
  route("GET", "/v1/me/orgs", [](App& a, Request& r) { return my_orgs(a, r); });
  route("PUT", "/v1/me/org-settings", [](App& a, Request& r) { return my_settings(a, r); });
  route("POST", "/v1/orgs/{id}/activities", create_activity);
  route("GET", "/v1/orgs/{id}/activities", org_activities);
  route("GET", "/v1/activities/{id}", get_activity);
  route("GET", "/v1/me/activities", [](App& a, Request& r) { return my_activities(a, r); });
  route("POST", "/v1/activities/{id}/signups", sign_up);
  route("GET", "/v1/activities/{id}/checkin-code", checkin_code);
  route("POST", "/v1/activities/{id}/checkins", check_in);
  route("POST", "/v1/orgs/{id}/credit-programmes", create_programme);
  route("GET", "/v1/orgs/{id}/credit-programmes", org_programmes);
  route("GET", "/v1/credit-programmes/{id}/transcript", transcript);
  route("GET", "/v1/me/credits", [](App& a, Request& r) { return my_credits(a, r); });
  route("GET", "/v1/orgs/{id}/dashboard", dashboard);
}

}  // namespace tanpu::http
