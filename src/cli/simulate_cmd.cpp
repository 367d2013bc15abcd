// `tanpu simulate`: partners and members driven against a running server, through the public API
// only (docs/simulator.md). It registers a profile's data sources and members, binds every member
// to every source by consent, then streams the behaviour of the last D days as the partners would
// send it (signed batches, day by day, in a daily rhythm), injecting faults at the given rate, and
// finally checks that what the answers credited is what the members' accounts hold.
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/crypto.h"
#include "http/client.h"
#include "ingest/signature.h"
#include "tabular/tabular.h"

namespace tanpu::cli {
namespace {

using nlohmann::json;
using Rng = std::mt19937_64;

constexpr std::size_t kBatchRecords = 1000;  // per signed request (the intake takes up to 10,000)
constexpr int kSetupThreads = 4;

// When in the day a behaviour happens: weights per local hour (0-23).
using Rhythm = std::array<double, 24>;
constexpr Rhythm kCommute{0, 0, 0, 0, 0, 1, 4,  10, 10, 5, 3, 3,
                          3, 3, 3, 3, 4, 9, 10, 6,  4,  3, 2, 1};
constexpr Rhythm kMeals{0, 0, 0, 0, 0, 0, 2, 6, 2, 0, 1, 8, 10, 2, 0, 0, 1, 6, 8, 2, 0, 0, 0, 0};
constexpr Rhythm kDaytime{0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 5, 5, 4, 5, 5, 5, 5, 4, 3, 3, 2, 1, 0, 0};
constexpr Rhythm kEvening{1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 1, 1, 1, 2, 3, 5, 6, 6, 5, 4, 2};
constexpr Rhythm kNight{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 4, 2};

double uniform(Rng& rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}
double round1(double v) {
  return std::round(v * 10) / 10;
}

// One scenario of a profile: its share of the reports, when they happen, which partner reports it
// (and which other partner may report the same behaviour: a cross-source duplicate), its inputs.
struct ScenarioMix {
  const char* scenario;
  double share;
  const Rhythm* rhythm;
  int partner;
  int also_partner;  // -1: nobody else reports it
  json (*inputs)(Rng&);
};

json trip(Rng& rng, double lo_km, double hi_km, double kmh) {
  const double km = round1(uniform(rng, lo_km, hi_km));
  return {{"distance_km", km}, {"duration_min", std::round(km / kmh * 60 + 4)}};
}
json metro_inputs(Rng& rng) {
  return trip(rng, 2, 25, 35);
}
json bus_inputs(Rng& rng) {
  return trip(rng, 1, 15, 18);
}
json rides_inputs(Rng&) {  // Wuhan's bus methodology credits per ride
  return {{"rides", 1}};
}
json shenzhen_bus_inputs(Rng& rng) {  // Shenzhen's buses are all electric
  json in = bus_inputs(rng);
  in["electric_bus"] = true;
  return in;
}
json bike_inputs(Rng& rng) {
  return trip(rng, 0.5, 6, 12);
}
json car_inputs(Rng& rng) {
  return trip(rng, 3, 30, 30);
}
json walk_inputs(Rng& rng) {
  return {{"steps", std::uniform_int_distribution<int>(2000, 16000)(rng)}};
}
json plate_inputs(Rng&) {
  return {{"checkins", 1}};
}
json sorting_inputs(Rng& rng) {
  return {{"kitchen_waste_kg", round1(uniform(rng, 0.3, 3))}};
}
json second_hand_inputs(Rng& rng) {
  return {{"item_mass_kg", round1(uniform(rng, 0.2, 15))},
          {"price_yuan", std::round(uniform(rng, 5, 800))}};
}
json checkin_inputs(Rng& rng) {
  return {{"duration_min", std::uniform_int_distribution<int>(30, 150)(rng)}};
}
json charging_inputs(Rng& rng) {
  return {{"energy_kwh", round1(uniform(rng, 10, 60))}};
}
json saving_inputs(Rng& rng) {
  return {{"saved_kwh", round1(uniform(rng, 0.5, 5))}};
}
json bag_inputs(Rng&) {
  return {{"uses", 1}};
}

struct PartnerSpec {
  const char* name;
  std::vector<std::string> scenarios;
};

// A profile: where, who reports what, how often. Figures from ../shared/reference (factors.md and
// the notes), as docs/simulator.md cites them.
struct Profile {
  const char* name;
  const char* region;
  double reports_per_member_day;
  double weekend_factor;
  std::vector<PartnerSpec> partners;
  std::vector<ScenarioMix> mix;
};

Profile campus_profile() {
  // Seed 000, Shenyang Institute of Engineering: 38,000 registered, more than 15,000 reports a day
  // (≈ 0.39 per member), green travel, energy saving and clean plates; shares are ours.
  return {"campus",
          "CN-LN-SHE",
          0.39,
          0.6,
          {{"Campus app", {"walk", "activity_checkin", "garbage_sorting", "bike"}},
           {"Campus bike share", {"bike"}},
           {"City bus card", {"bus"}},
           {"Canteen", {"clean_plate"}},
           {"Campus flea market", {"second_hand"}}},
          {{"walk", 0.25, &kNight, 0, -1, walk_inputs},
           {"bike", 0.20, &kDaytime, 1, 0, bike_inputs},
           {"clean_plate", 0.20, &kMeals, 3, -1, plate_inputs},
           {"bus", 0.15, &kCommute, 2, -1, bus_inputs},
           {"garbage_sorting", 0.10, &kEvening, 0, -1, sorting_inputs},
           {"activity_checkin", 0.05, &kDaytime, 0, -1, checkin_inputs},
           {"second_hand", 0.05, &kDaytime, 4, -1, second_hand_inputs}}};
}

Profile metro_profile() {
  // Shenzhen/Shenyang-like metro: commuters ride about twice a working day; the metro operator
  // reports every ride and the payment app's QR code reports the rides paid with it again.
  return {"metro",
          "CN-GD-SZX",
          1.6,
          0.5,
          {{"Metro operator", {"metro"}}, {"Payment app (transit QR code)", {"metro", "bus"}}},
          {{"metro", 0.8, &kCommute, 0, 1, metro_inputs},
           {"bus", 0.2, &kCommute, 1, -1, shenzhen_bus_inputs}}};
}

Profile city_profile() {
  // Wuhan (武碳江湖), share of participation by scenario (white paper 2024 L499): metro 26 %, NEV
  // travel 19 %, NEV charging 15 %, bus, cycling and household electricity ≈ 10 % each, own
  // shopping bag with garbage sorting < 5 %.
  return {"city",
          "CN-HB-WUH",
          1.0,
          0.8,
          {{"Transit QR code", {"metro", "bus"}},
           {"Ride-hailing (NEV)", {"ride_hailing_nev"}},
           {"Charging operator", {"ev_charging"}},
           {"Bike share", {"bike"}},
           {"Grid utility", {"electricity_saving"}},
           {"Convenience stores", {"own_bag", "garbage_sorting"}},
           {"Metro operator", {"metro"}}},
          {{"metro", 0.26, &kCommute, 6, 0, metro_inputs},
           {"ride_hailing_nev", 0.19, &kDaytime, 1, -1, car_inputs},
           {"ev_charging", 0.15, &kEvening, 2, -1, charging_inputs},
           {"bus", 0.10, &kCommute, 0, -1, rides_inputs},
           {"bike", 0.10, &kCommute, 3, -1, bike_inputs},
           {"electricity_saving", 0.10, &kNight, 4, -1, saving_inputs},
           {"own_bag", 0.05, &kDaytime, 5, -1, bag_inputs},
           {"garbage_sorting", 0.05, &kEvening, 5, -1, sorting_inputs}}};
}

struct Partner {
  std::string id;
  std::string key_id;
  std::string secret;
};

struct Member {
  std::string email;
  std::string token;
  std::string activation_code;  // campus: from the roster import
  std::string ref;  // the partners' pseudonymous reference (the same for every partner here)
  std::int64_t reduction_mg = 0;
  std::int64_t points = 0;
};

enum class Fault { none, cross_source, replay, out_of_bounds, bad_signature, revoked_consent };
constexpr std::array kFaultNames{"none",          "cross_source_duplicate", "replay",
                                 "out_of_bounds", "bad_signature",          "revoked_consent"};

struct Target {
  std::string host;
  std::uint16_t port = 0;
};

Result<Target> parse_target(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) {
    return fail(ErrorKind::invalid, "invalid_target",
                "--target must be http://HOST:PORT (put TLS in front of tanpu, not in it)");
  }
  std::string rest = url.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  const auto colon = rest.rfind(':');
  Target t{rest, 80};
  if (colon != std::string::npos) {
    t.host = rest.substr(0, colon);
    const std::string port = rest.substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535) {
      return fail(ErrorKind::invalid, "invalid_target", "--target: the port must be 1-65535");
    }
    t.port = static_cast<std::uint16_t>(std::stoi(port));
  }
  if (t.host.empty()) return fail(ErrorKind::invalid, "invalid_target", "--target: no host");
  return t;
}

std::int64_t unix_now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string iso_local(std::int64_t epoch_s) {
  // The three profiles' cities are all UTC+8.
  const auto t = static_cast<std::time_t>(epoch_s + 8 * 3600);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 40> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%S+08:00", &tm);
  return buf.data();
}

// One client's calls to the API.
class Api {
 public:
  explicit Api(const Target& t) : client_(http::ClientOptions{t.host, t.port}) {}

  Result<http::ClientResponse> raw(std::string_view method, const std::string& target,
                                   const std::string& body, const http::Headers& headers) {
    return client_.request(method, target, body, headers);
  }

  Result<json> call(std::string_view method, const std::string& target, const json& body,
                    const std::string& token, int expect) {
    http::Headers headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    auto r = raw(method, target, body.is_null() ? std::string() : body.dump(), headers);
    return expect_status(std::move(r), method, target, expect);
  }

  // A request signed as the partner signs it (docs/ingestion.md); `forge` signs with a wrong key.
  Result<http::ClientResponse> signed_raw(const Partner& p, std::string_view method,
                                          const std::string& path, const std::string& body,
                                          bool forge = false) {
    const std::string secret = forge ? p.secret + "-forged" : p.secret;
    return raw(method, path, body,
               ingest::signed_headers(p.key_id, secret, method, path, body, unix_now_s()));
  }

  Result<json> signed_call(const Partner& p, std::string_view method, const std::string& path,
                           const std::string& body, int expect) {
    return expect_status(signed_raw(p, method, path, body), method, path, expect);
  }

 private:
  static Result<json> expect_status(Result<http::ClientResponse> r, std::string_view method,
                                    const std::string& target, int expect) {
    if (!r) return fail(r.error());
    if (r->status != expect) {
      return fail(ErrorKind::unavailable, "unexpected_status",
                  std::string(method) + " " + target + " answered " + std::to_string(r->status) +
                      ": " + r->body);
    }
    if (r->body.empty()) return json();
    return r->json();
  }
  http::Client client_;
};

// Runs fn(i, api) for i in [0, n) on a few threads, each with its own connection. The first
// error stops the others and is returned.
Result<void> parallel(const Target& target, std::size_t n,
                      const std::function<Result<void>(std::size_t, Api&)>& fn) {
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  std::optional<Error> first_error;
  std::vector<std::thread> threads;
  for (int t = 0; t < kSetupThreads; ++t) {
    threads.emplace_back([&] {
      Api api(target);
      for (std::size_t i = next++; i < n; i = next++) {
        if (auto r = fn(i, api); !r) {
          std::lock_guard lock(mu);
          if (!first_error) first_error = r.error();
          next = n;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  if (first_error) return fail(*first_error);
  return {};
}

// What the simulator saw, for the summary.
struct Tally {
  std::int64_t records_sent = 0;  // records in accepted requests, replays and duplicates included
  std::map<std::string, std::int64_t> outcomes;
  std::map<std::string, std::int64_t> rejected_by_reason;
  std::map<std::string, std::int64_t> faults;
  std::int64_t replays_answered = 0;
  std::int64_t refused_requests = 0;  // 401: the forged signatures
  std::int64_t reduction_mg = 0;      // credited, replays not counted twice
  std::int64_t points = 0;
};

struct Pending {
  json record;
  Fault fault = Fault::none;
  std::size_t member = 0;
};

class Simulation {
 public:
  Simulation(const SimulateArgs& args, Profile profile, Target target)
      : args_(args), profile_(std::move(profile)), target_(std::move(target)), api_(target_) {
    rng_.seed(args.seed != 0 ? args.seed : std::random_device{}());
  }

  Result<json> run() {
    if (auto r = setup(); !r) return fail(r.error());
    if (std::string_view(profile_.name) == "campus")
      if (auto r = build_campus(); !r) return fail(r.error());
    const std::int64_t now_s = unix_now_s();
    for (int d = args_.days; d >= 1; --d) {
      if (auto r = simulate_day(now_s - std::int64_t{d} * 86400); !r) return fail(r.error());
    }
    for (std::size_t p = 0; p < partners_.size(); ++p) {  // replays still owed
      if (auto r = flush(p); !r) return fail(r.error());
    }
    return report();
  }

 private:
  Result<void> setup() {
    auto session = api_.call(
        "POST", "/v1/sessions",
        {{"login", args_.operator_login}, {"password", args_.operator_password}}, "", 201);
    if (!session) return fail(session.error());
    const std::string op = (*session)["token"];
    std::array<std::uint8_t, 4> tag_raw{};
    random_bytes(tag_raw);
    tag_ = to_hex(tag_raw);
    for (const auto& spec : profile_.partners) {
      auto created = api_.call("POST", "/v1/sources",
                               {{"name", std::string(spec.name) + " (simulated " + tag_ + ")"},
                                {"scenarios", spec.scenarios}},
                               op, 201);
      if (!created) return fail(created.error());
      partners_.push_back(
          {(*created)["id"], (*created)["key"]["key_id"], (*created)["key"]["secret"]});
    }
    queues_.resize(partners_.size());
    carry_.resize(partners_.size());
    members_.resize(static_cast<std::size_t>(args_.members));
    revoked_.assign(members_.size() * partners_.size(), false);
    // Each member registers, logs in, and binds every partner: the partner asks for a code, the
    // member redeems it (docs/ingestion.md, consent).
    return parallel(target_, members_.size(), [&](std::size_t i, Api& api) -> Result<void> {
      Member& m = members_[i];
      m.email = "sim" + std::to_string(i) + "-" + tag_ + "@demo.tanpu.invalid";
      m.ref = "u" + tag_ + "-" + std::to_string(i);
      const std::string password = "simulated-" + tag_;
      auto reg = api.call("POST", "/v1/members",
                          {{"email", m.email},
                           {"display_name", "Member " + std::to_string(i + 1)},
                           {"password", password}},
                          "", 201);
      if (!reg) return fail(reg.error());
      auto login =
          api.call("POST", "/v1/sessions", {{"login", m.email}, {"password", password}}, "", 201);
      if (!login) return fail(login.error());
      m.token = (*login)["token"];
      for (const Partner& p : partners_) {
        auto code = api.signed_call(p, "POST", "/v1/sources/" + p.id + "/bindings",
                                    json{{"partner_user_ref", m.ref}}.dump(), 201);
        if (!code) return fail(code.error());
        auto grant = api.call("POST", "/v1/me/consents", {{"code", (*code)["code"]}}, m.token, 201);
        if (!grant) return fail(grant.error());
      }
      return {};
    });
  }

  // The campus profile's university (seed 000): three tiers, the roster imported with one click
  // and every simulated member activated with their code, a credit programme and an activity
  // with a check-in, all through the API as an organisation's admin would use it.
  Result<void> build_campus() {
    static constexpr std::array<const char*, 6> kColleges{
        "College of Energy and Power", "College of Electrical Engineering",
        "College of Automation",       "College of Information",
        "College of Management",       "College of Humanities"};
    auto session = api_.call(
        "POST", "/v1/sessions",
        {{"login", args_.operator_login}, {"password", args_.operator_password}}, "", 201);
    if (!session) return fail(session.error());
    const std::string op = (*session)["token"];
    auto uni = api_.call("POST", "/v1/orgs",
                         {{"type", "university"},
                          {"name", "Shenyang Institute of Engineering (simulated " + tag_ + ")"},
                          {"region", "CN-LN-SHE"},
                          {"depth_max", 3}},
                         op, 201);
    if (!uni) return fail(uni.error());
    org_id_ = (*uni)["id"];
    // About 30 students a class, at least one class per college.
    const std::size_t classes = std::max<std::size_t>(
        1, (members_.size() + 30 * kColleges.size() - 1) / (30 * kColleges.size()));
    std::vector<std::string> paths;
    for (const char* college : kColleges) {
      auto c = api_.call("POST", "/v1/orgs",
                         {{"parent_id", org_id_}, {"type", "college"}, {"name", college}}, op, 201);
      if (!c) return fail(c.error());
      for (std::size_t k = 1; k <= classes; ++k) {
        const std::string name = "Class 2026-" + std::to_string(k);
        auto cls =
            api_.call("POST", "/v1/orgs",
                      {{"parent_id", (*c)["id"]}, {"type", "class"}, {"name", name}}, op, 201);
        if (!cls) return fail(cls.error());
        paths.push_back(std::string(college) + "/" + name);
      }
    }
    const std::vector<std::string> header{"name", "member_number", "email", "org_path"};
    std::vector<std::vector<std::string>> rows;
    for (std::size_t i = 0; i < members_.size(); ++i)
      rows.push_back({"Student " + std::to_string(i + 1), "S2026" + std::to_string(100000 + i),
                      members_[i].email, paths[i % paths.size()]});
    const std::string csv = tabular::write_csv(header, rows);
    http::Headers headers{{"Authorization", "Bearer " + op}, {"Content-Type", "text/csv"}};
    const std::string imports = "/v1/orgs/" + std::to_string(org_id_) + "/imports?dry_run=false";
    auto imported = api_.raw("POST", imports, csv, headers);
    if (!imported) return fail(imported.error());
    if (imported->status != 200)
      return fail(ErrorKind::unavailable, "unexpected_status",
                  "POST " + imports + " answered " + std::to_string(imported->status) + ": " +
                      imported->body);
    auto report = imported->json();
    if (!report) return fail(report.error());
    for (std::size_t i = 0; i < members_.size() && i < (*report)["results"].size(); ++i)
      members_[i].activation_code = (*report)["results"][i].value("activation_code", "");
    auto activated =
        parallel(target_, members_.size(), [&](std::size_t i, Api& api) -> Result<void> {
          auto a = api.call("POST", "/v1/me/activations", {{"code", members_[i].activation_code}},
                            members_[i].token, 200);
          return a ? Result<void>{} : fail(a.error());
        });
    if (!activated) return fail(activated.error());
    auto programme = api_.call("POST", "/v1/orgs/" + std::to_string(org_id_) + "/credit-programmes",
                               {{"name", "Undergraduate 2026"},
                                {"points_per_credit", 500},
                                {"credits_max", 4},
                                {"enrolment_starts", "2026-09-01"},
                                {"enrolment_years", 4}},
                               op, 201);
    if (!programme) return fail(programme.error());
    return campus_activity(op);
  }

  // A tree-planting day: a third of the members sign up and check in with the screen's code.
  Result<void> campus_activity(const std::string& op) {
    const std::int64_t now_s = unix_now_s();
    auto activity = api_.call("POST", "/v1/orgs/" + std::to_string(org_id_) + "/activities",
                              {{"title", "Campus tree planting"},
                               {"place", "North lawn"},
                               {"starts_at", iso_local(now_s - 3600)},
                               {"ends_at", iso_local(now_s + 6 * 3600)},
                               {"capacity", std::max<std::size_t>(1, members_.size() / 3)},
                               {"points_per_checkin", 20},
                               // One tree each, quantified by the tree-planting methodology.
                               {"methodology",
                                {{"scenario", "tree_planting"},
                                 {"region", profile_.region},
                                 {"inputs", {{"trees", 1}}}}}},
                              op, 201);
    if (!activity) return fail(activity.error());
    const std::string base =
        "/v1/activities/" + std::to_string((*activity)["id"].get<std::int64_t>());
    const std::size_t joining = std::max<std::size_t>(1, members_.size() / 3);
    return parallel(target_, joining, [&](std::size_t i, Api& api) -> Result<void> {
      if (auto s = api.call("POST", base + "/signups", nullptr, members_[i].token, 200); !s)
        return fail(s.error());
      auto code = api.call("GET", base + "/checkin-code", nullptr, op, 200);
      if (!code) return fail(code.error());
      auto in =
          api.call("POST", base + "/checkins", {{"code", (*code)["code"]}}, members_[i].token, 200);
      if (!in) return fail(in.error());
      std::lock_guard lock(tally_mu_);
      ++checked_in_;
      activity_mg_ += (*in)["reduction_mg"].get<std::int64_t>();
      activity_points_ += (*in)["points"].get<std::int64_t>();
      return {};
    });
  }

  Fault draw_fault() {
    if (args_.faults <= 0 || uniform(rng_, 0, 1) >= args_.faults) return Fault::none;
    return static_cast<Fault>(std::uniform_int_distribution<int>(1, 5)(rng_));
  }

  std::string next_id() { return "sim-" + tag_ + "-" + std::to_string(++ids_); }

  // One day of behaviour: every member's reports of the day, in time order, partner by partner.
  Result<void> simulate_day(std::int64_t day_s) {
    const std::int64_t local = day_s + 8 * 3600;
    const std::int64_t midnight = day_s - local % 86400;  // local midnight, as UTC seconds
    const int weekday = static_cast<int>((local / 86400 + 4) % 7);  // 0 = Sunday
    const double rate = profile_.reports_per_member_day *
                        (weekday == 0 || weekday == 6 ? profile_.weekend_factor : 1);
    std::vector<double> shares;
    for (const auto& s : profile_.mix) shares.push_back(s.share);
    std::discrete_distribution<std::size_t> pick(shares.begin(), shares.end());
    std::poisson_distribution<int> count(rate);
    std::vector<std::pair<std::int64_t, Pending>> today;  // (when, the record)
    std::vector<int> to_partner;                          // who reports it
    for (std::size_t i = 0; i < members_.size(); ++i) {
      for (int n = count(rng_); n > 0; --n) {
        const ScenarioMix& s = profile_.mix[pick(rng_)];
        std::discrete_distribution<int> hour(s.rhythm->begin(), s.rhythm->end());
        const std::int64_t at =
            midnight + hour(rng_) * 3600 + std::uniform_int_distribution<int>(0, 3599)(rng_);
        Pending p;
        p.member = i;
        p.fault = draw_fault();
        p.record = {{"external_id", next_id()},  {"user_ref", members_[i].ref},
                    {"scenario", s.scenario},    {"occurred_at", iso_local(at)},
                    {"region", profile_.region}, {"inputs", s.inputs(rng_)}};
        if (p.fault == Fault::cross_source && s.also_partner < 0) p.fault = Fault::replay;
        if (p.fault == Fault::out_of_bounds) p.record["inputs"].begin().value() = 1'000'000;
        if (p.fault == Fault::cross_source) {
          json twin = p.record;  // the same behaviour, reported by the other partner minutes later
          twin["external_id"] = next_id();
          twin["occurred_at"] = iso_local(at + 180);
          today.push_back({at + 180, Pending{std::move(twin), Fault::none, i}});
          to_partner.push_back(s.also_partner);
        }
        today.push_back({at, std::move(p)});
        to_partner.push_back(s.partner);
      }
    }
    // Time order within the day, then each partner's share in batches.
    std::vector<std::size_t> order(today.size());
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return today[a].first < today[b].first; });
    for (std::size_t k : order) {
      auto& q = queues_[static_cast<std::size_t>(to_partner[k])];
      q.push_back(std::move(today[k].second));
      if (q.size() >= kBatchRecords) {
        if (auto r = flush(static_cast<std::size_t>(to_partner[k])); !r) return r;
      }
    }
    for (std::size_t p = 0; p < partners_.size(); ++p) {
      if (auto r = flush(p); !r) return r;
    }
    return {};
  }

  // Sends partner p's queued records (and the replays it owes) as one signed batch.
  Result<void> flush(std::size_t p) {
    std::vector<Pending> batch = std::move(carry_[p]);
    carry_[p].clear();
    for (auto& pending : queues_[p]) batch.push_back(std::move(pending));
    queues_[p].clear();
    if (batch.empty()) return {};
    bool forge_first = false;
    json body = json::array();
    for (const auto& r : batch) {
      if (r.fault != Fault::none) ++tally_.faults[kFaultNames[static_cast<std::size_t>(r.fault)]];
      if (r.fault == Fault::bad_signature) forge_first = true;
      if (r.fault == Fault::replay) carry_[p].push_back(Pending{r.record, Fault::none, r.member});
      if (r.fault == Fault::revoked_consent) {
        // The member withdraws consent for this partner just before the partner's next batch.
        const std::size_t slot = r.member * partners_.size() + p;
        if (!revoked_[slot]) {
          revoked_[slot] = true;
          auto gone = api_.call("DELETE", "/v1/me/consents/" + partners_[p].id, nullptr,
                                members_[r.member].token, 200);
          if (!gone) return fail(gone.error());
        }
      }
      body.push_back(r.record);
    }
    const std::string path = "/v1/sources/" + partners_[p].id + "/behaviours";
    const std::string text = body.dump();
    if (forge_first) {
      auto refused = api_.signed_raw(partners_[p], "POST", path, text, true);
      if (!refused) return fail(refused.error());
      if (refused->status != 401) {
        return fail(ErrorKind::internal, "forgery_accepted",
                    "a batch signed with a wrong key answered " + std::to_string(refused->status));
      }
      ++tally_.refused_requests;
    }
    auto answer = api_.signed_call(partners_[p], "POST", path, text, 200);
    if (!answer) return fail(answer.error());
    tally_.records_sent += static_cast<std::int64_t>(batch.size());
    for (const auto& r : (*answer)["results"]) {
      const std::string outcome = r["outcome"];
      ++tally_.outcomes[outcome];
      if (outcome == "rejected") ++tally_.rejected_by_reason[r.value("reason", "")];
      if (r.value("replay", false)) {
        ++tally_.replays_answered;
        continue;
      }
      tally_.reduction_mg += r.value("reduction_mg", std::int64_t{0});
      tally_.points += r.value("points", std::int64_t{0});
    }
    return {};
  }

  Result<json> report() {
    auto read = parallel(target_, members_.size(), [&](std::size_t i, Api& api) -> Result<void> {
      auto me = api.call("GET", "/v1/me", nullptr, members_[i].token, 200);
      if (!me) return fail(me.error());
      members_[i].reduction_mg = (*me)["reductions"]["reduction_mg"];
      members_[i].points = (*me)["points"]["balance_points"];
      return {};
    });
    if (!read) return fail(read.error());
    std::int64_t member_mg = 0, member_points = 0;
    for (const auto& m : members_) {
      member_mg += m.reduction_mg;
      member_points += m.points;
    }
    json top = json::array();
    std::vector<const Member*> ranked;
    for (const auto& m : members_) ranked.push_back(&m);
    std::sort(ranked.begin(), ranked.end(),
              [](const Member* a, const Member* b) { return a->reduction_mg > b->reduction_mg; });
    for (std::size_t i = 0; i < ranked.size() && i < 5; ++i) {
      top.push_back({{"member", ranked[i]->email},
                     {"reduction_mg", ranked[i]->reduction_mg},
                     {"points", ranked[i]->points}});
    }
    json organisation = nullptr;
    if (org_id_ != 0) {
      auto session = api_.call(
          "POST", "/v1/sessions",
          {{"login", args_.operator_login}, {"password", args_.operator_password}}, "", 201);
      if (!session) return fail(session.error());
      auto dash = api_.call("GET", "/v1/orgs/" + std::to_string(org_id_) + "/dashboard", nullptr,
                            (*session)["token"], 200);
      if (!dash) return fail(dash.error());
      organisation = {{"org_id", org_id_},
                      {"name", (*dash)["org"]["name"]},
                      {"colleges", (*dash)["children"].size()},
                      {"imported", (*dash)["imported"]},
                      {"activated", (*dash)["activated"]},
                      {"registration_rate", (*dash)["registration_rate"]},
                      {"checked_in", checked_in_},
                      {"records", (*dash)["records"]},
                      {"reduction_mg", (*dash)["reduction_mg"]}};
    }
    return json{{"profile", profile_.name},
                {"organisation", std::move(organisation)},
                {"members", members_.size()},
                {"partners", partners_.size()},
                {"days", args_.days},
                {"fault_rate", args_.faults},
                {"records_sent", tally_.records_sent},
                {"outcomes", tally_.outcomes},
                {"rejected_by_reason", tally_.rejected_by_reason},
                {"faults_injected", tally_.faults},
                {"replays_answered", tally_.replays_answered},
                {"requests_refused_401", tally_.refused_requests},
                {"credited_reduction_mg", tally_.reduction_mg},
                {"credited_t", static_cast<double>(tally_.reduction_mg) / 1e9},
                {"credited_points", tally_.points},
                {"members_reduction_mg", member_mg},
                {"members_points", member_points},
                // What the answers credited is exactly what the members' accounts hold.
                // (plus what the campus activity's check-ins credited).
                {"activity_reduction_mg", activity_mg_},
                {"activity_points", activity_points_},
                {"consistent", member_mg == tally_.reduction_mg + activity_mg_ &&
                                   member_points == tally_.points + activity_points_},
                {"top_members", std::move(top)}};
  }

  const SimulateArgs& args_;
  Profile profile_;
  Target target_;
  Api api_;
  Rng rng_;
  std::string tag_;
  std::int64_t ids_ = 0;
  std::vector<Partner> partners_;
  std::vector<Member> members_;
  std::vector<bool> revoked_;                 // member × partner
  std::vector<std::vector<Pending>> queues_;  // per partner: records to send
  std::vector<std::vector<Pending>> carry_;   // per partner: replays for the next batch
  Tally tally_;
  std::int64_t org_id_ = 0;  // campus: the simulated university
  std::mutex tally_mu_;
  std::int64_t checked_in_ = 0;
  std::int64_t activity_mg_ = 0;  // credited by the check-ins
  std::int64_t activity_points_ = 0;
};

void print_human(const json& r) {
  std::printf("simulated %s: %lld members, %lld partners, %d days, fault rate %.2f\n",
              r["profile"].get<std::string>().c_str(), r["members"].get<long long>(),
              r["partners"].get<long long>(), r["days"].get<int>(), r["fault_rate"].get<double>());
  std::printf("  records sent   %lld\n", r["records_sent"].get<long long>());
  for (const auto& [outcome, n] : r["outcomes"].items())
    std::printf("  %-14s %lld\n", outcome.c_str(), n.get<long long>());
  for (const auto& [reason, n] : r["rejected_by_reason"].items())
    std::printf("    rejected %-22s %lld\n", reason.c_str(), n.get<long long>());
  std::printf("  401 (forged)   %lld\n", r["requests_refused_401"].get<long long>());
  std::printf("  credited       %.6f t CO2e, %lld points\n", r["credited_t"].get<double>(),
              r["credited_points"].get<long long>());
  std::printf("  accounts agree %s\n", r["consistent"].get<bool>() ? "yes" : "NO");
  if (const auto& o = r["organisation"]; o.is_object()) {
    std::printf(
        "  organisation   %s (id %lld): %zu colleges, %lld imported, %lld activated "
        "(%.0f %%), %lld checked in at an activity\n",
        o["name"].get<std::string>().c_str(), o["org_id"].get<long long>(),
        o["colleges"].get<std::size_t>(), o["imported"].get<long long>(),
        o["activated"].get<long long>(), 100 * o["registration_rate"].get<double>(),
        o["checked_in"].get<long long>());
  }
  std::printf("  top members:\n");
  for (const auto& m : r["top_members"]) {
    std::printf("    %-40s %9.3f kg CO2e %8lld points\n", m["member"].get<std::string>().c_str(),
                static_cast<double>(m["reduction_mg"].get<std::int64_t>()) / 1e6,
                m["points"].get<long long>());
  }
}

}  // namespace

int run_simulate(const Config&, const SimulateArgs& args) {
  const auto die = [](const Error& e) {
    std::fprintf(stderr, "tanpu simulate: %s\n", e.message.c_str());
    return 1;
  };
  auto target = parse_target(args.target);
  if (!target) return die(target.error());
  Profile profile = args.profile == "metro"  ? metro_profile()
                    : args.profile == "city" ? city_profile()
                                             : campus_profile();
  Simulation sim(args, std::move(profile), *target);
  auto report = sim.run();
  if (!report) return die(report.error());
  if (!args.json) print_human(*report);
  std::printf("%s\n", report->dump().c_str());
  return (*report)["consistent"].get<bool>() ? 0 : 3;
}

}  // namespace tanpu::cli
