// `tanpu simulate`: a living demo against a running server, through the public API only. It
// registers data sources (a metro operator, a payment app that also reports metro rides, a campus
// canteen), members who bind those sources by consent, and then sends the signed behaviour
// batches those partners would send: rides reported twice (credited once), buses, bikes, clean
// plates (which wait for review) and a few bad records (refused alone).
#include <array>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/crypto.h"
#include "http/client.h"
#include "ingest/signature.h"

namespace tanpu::cli {
namespace {

using nlohmann::json;

struct Partner {
  std::string id;
  std::string key_id;
  std::string secret;
};

class Sim {
 public:
  Sim(const SimulateArgs& args, http::Client& client) : args_(args), client_(client) {}

  Result<json> call(std::string_view method, const std::string& target, const json& body,
                    const std::string& token, int expect) {
    http::Headers headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    const std::string text = body.is_null() ? std::string() : body.dump();
    auto r = client_.request(method, target, text, headers);
    if (!r) return fail(r.error());
    if (r->status != expect)
      return fail(ErrorKind::unavailable, "unexpected_status",
                  std::string(method) + " " + target + " answered " + std::to_string(r->status) +
                      ": " + r->body);
    return r->json();
  }

  // A request signed as the partner would sign it (docs/ingestion.md).
  Result<json> signed_call(const Partner& p, std::string_view method, const std::string& path,
                           const std::string& body, int expect) {
    const auto headers =
        ingest::signed_headers(p.key_id, p.secret, method, path, body,
                               std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
    auto r = client_.request(method, path, body, headers);
    if (!r) return fail(r.error());
    if (r->status != expect)
      return fail(ErrorKind::unavailable, "unexpected_status",
                  std::string(method) + " " + path + " answered " + std::to_string(r->status) +
                      ": " + r->body);
    return r->json();
  }

  Result<Partner> create_source(const std::string& token, const std::string& name,
                                const json& scenarios) {
    auto created =
        call("POST", "/v1/sources", {{"name", name}, {"scenarios", scenarios}}, token, 201);
    if (!created) return fail(created.error());
    return Partner{(*created)["id"], (*created)["key"]["key_id"], (*created)["key"]["secret"]};
  }

  const SimulateArgs& args_;
  http::Client& client_;
};

std::string iso_local(std::int64_t epoch_s) {
  // Wuhan and Shenyang are UTC+8.
  const std::time_t t = static_cast<std::time_t>(epoch_s + 8 * 3600);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+08:00", &tm);
  return buf;
}

}  // namespace

int run_simulate(const Config&, const SimulateArgs& args) {
  http::Client client(http::ClientOptions{args.host, args.port});
  Sim sim(args, client);
  const auto die = [](const Error& e) {
    std::fprintf(stderr, "tanpu simulate: %s\n", e.message.c_str());
    return 1;
  };
  auto session =
      sim.call("POST", "/v1/sessions",
               {{"login", args.operator_login}, {"password", args.operator_password}}, "", 201);
  if (!session) return die(session.error());
  const std::string op = (*session)["token"];
  std::array<std::uint8_t, 4> tag_raw{};
  random_bytes(tag_raw);
  const std::string tag = to_hex(tag_raw);
  auto metro = sim.create_source(op, "Metro operator (simulated " + tag + ")", {"metro"});
  auto pay = sim.create_source(op, "Payment app (simulated " + tag + ")", {"metro", "bus", "bike"});
  auto canteen = sim.create_source(op, "Campus canteen (simulated " + tag + ")", {"clean_plate"});
  for (auto* p : {&metro, &pay, &canteen})
    if (!*p) return die(p->error());
  const std::array<const Partner*, 3> partners{&*metro, &*pay, &*canteen};

  struct Member {
    std::string name, token, ref;
  };
  std::vector<Member> members;
  static constexpr std::array kNames{"Li Wei",   "Wang Fang", "Zhang Min", "Liu Yang", "Chen Jing",
                                     "Yang Lei", "Zhao Li",   "Huang Tao", "Zhou Xin", "Wu Hui"};
  for (int i = 0; i < args.members; ++i) {
    Member m{std::string(kNames[static_cast<std::size_t>(i) % kNames.size()]) + " " +
                 std::to_string(i + 1),
             "", "u" + tag + "-" + std::to_string(i)};
    const std::string email = "sim" + std::to_string(i) + "-" + tag + "@demo.tanpu.invalid";
    const std::string password = "simulated-" + tag;
    auto reg =
        sim.call("POST", "/v1/members",
                 {{"email", email}, {"display_name", m.name}, {"password", password}}, "", 201);
    if (!reg) return die(reg.error());
    auto login =
        sim.call("POST", "/v1/sessions", {{"login", email}, {"password", password}}, "", 201);
    if (!login) return die(login.error());
    m.token = (*login)["token"];
    for (const Partner* p : partners) {  // the partner asks for a code; the member redeems it
      auto code = sim.signed_call(*p, "POST", "/v1/sources/" + p->id + "/bindings",
                                  json{{"partner_user_ref", m.ref}}.dump(), 201);
      if (!code) return die(code.error());
      auto grant = sim.call("POST", "/v1/me/consents", {{"code", (*code)["code"]}}, m.token, 201);
      if (!grant) return die(grant.error());
    }
    members.push_back(std::move(m));
  }

  // Behaviour of the last days, per partner.
  std::mt19937_64 rng(static_cast<std::uint64_t>(std::random_device{}()));
  std::map<const Partner*, json> batches;
  for (const Partner* p : partners) batches[p] = json::array();
  const std::int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  int n = 0;
  const auto id = [&] { return "sim-" + tag + "-" + std::to_string(++n); };
  for (std::size_t i = 0; i < members.size(); ++i) {
    const std::string region = i % 2 == 0 ? "CN-HB-WUH" : "CN-LN-SHE";
    for (int d = 1; d <= args.days; ++d) {
      const std::int64_t morning = now_s - d * 86400 - static_cast<std::int64_t>(rng() % 3600);
      const double km = 3.0 + static_cast<double>(rng() % 200) / 10.0;
      json ride{{"scenario", "metro"},
                {"occurred_at", iso_local(morning)},
                {"region", region},
                {"inputs", {{"distance_km", km}}}};
      json a = ride;
      a["external_id"] = id();
      a["user_ref"] = members[i].ref;
      batches[&*metro].push_back(a);
      json b = ride;  // the same ride, paid with the app, reported a few minutes later
      b["occurred_at"] = iso_local(morning + 240);
      b["external_id"] = id();
      b["user_ref"] = members[i].ref;
      batches[&*pay].push_back(b);
      json bike{{"external_id", id()},
                {"user_ref", members[i].ref},
                {"scenario", "bike"},
                {"occurred_at", iso_local(morning + 9 * 3600)},
                {"region", region},
                {"inputs", {{"distance_km", 1.0 + static_cast<double>(rng() % 60) / 10.0}}}};
      batches[&*pay].push_back(bike);
      json plate{{"external_id", id()},       {"user_ref", members[i].ref},
                 {"scenario", "clean_plate"}, {"occurred_at", iso_local(morning + 4 * 3600)},
                 {"region", region},          {"inputs", {{"checkins", 1}}}};
      batches[&*canteen].push_back(plate);
    }
  }
  batches[&*pay].push_back({{"external_id", id()},
                            {"user_ref", members[0].ref},
                            {"scenario", "metro"},
                            {"occurred_at", iso_local(now_s - 3600)},
                            {"region", "CN-HB-WUH"},
                            {"inputs", {{"distance_km", 0}}}});
  std::map<std::string, int> tally;
  for (const Partner* p : partners) {
    auto out =
        sim.signed_call(*p, "POST", "/v1/sources/" + p->id + "/behaviours", batches[p].dump(), 200);
    if (!out) return die(out.error());
    for (const auto& r : (*out)["results"])
      tally[r["outcome"].get<std::string>() +
            (r.contains("reason") ? " (" + r["reason"].get<std::string>() + ")" : "")] += 1;
  }
  json report{{"members", json::array()}, {"outcomes", tally}};
  for (const auto& m : members) {
    auto me = sim.call("GET", "/v1/me", nullptr, m.token, 200);
    if (!me) return die(me.error());
    report["members"].push_back({{"name", m.name},
                                 {"points", (*me)["points"]["balance_points"]},
                                 {"reduction", (*me)["reductions"]["display"]}});
  }
  if (!args.json) {
    std::printf("simulated %zu members, 3 partners, %d days:\n", members.size(), args.days);
    for (const auto& [what, count] : tally) std::printf("  %5d  %s\n", count, what.c_str());
    for (const auto& m : report["members"])
      std::printf("  %-14s %8lld points  %s\n", m["name"].get<std::string>().c_str(),
                  static_cast<long long>(m["points"].get<std::int64_t>()),
                  m["reduction"].get<std::string>().c_str());
  }
  std::printf("%s\n", report.dump().c_str());
  return 0;
}

}  // namespace tanpu::cli
