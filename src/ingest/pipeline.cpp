#include "ingest/pipeline.h"

#include <algorithm>
#include <array>
#include <bit>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "core/assert.h"
#include "core/crypto.h"
#include "core/id.h"
#include "core/limits.h"
#include "methodology/quantify.h"
#include "methodology/query_json.h"
#include "points/points.h"
#include "store/key_rows.h"
#include "store/sql_text.h"

namespace tanpu::ingest {
namespace {

using nlohmann::json;
namespace m = methodology;

// One record on its way through the pipeline.
struct Item {
  json record;
  std::string external_id;
  std::string user_ref;
  std::string scenario;
  std::string content_hash;  // hex SHA-256 of the record as parsed
  std::int64_t occurred_us = 0;
  Day day = 0;
  std::string date;  // day as YYYY-MM-DD: the usage periods and rollups, formatted once
  std::int64_t member_id = 0;
  std::optional<m::Query> query;  // as validate() read it
  std::optional<m::Quantification> q;
  std::optional<Error> q_error;
  std::string provenance;  // of q, as stored with the record: serialised before the write job
  std::optional<std::array<Id128, 2>> credit_hashes;  // co2e_mg, points (hash_credits)
  RecordOutcome out;
  bool decided = false;                // outcome final, nothing more to do
  bool decided_before_write = false;   // by validate(): kept if the store retries the write job
  bool store_row = false;              // a new final outcome to keep in ingest_records
  std::size_t first_of_id = SIZE_MAX;  // a repeat of an external id earlier in the batch
};

std::string provenance(const m::Catalog& catalog, const Item& it);
constexpr std::string_view kNoProvenance = "{}";  // a record that did not quantify

// The result of quantifying `it`, and its provenance text. Pure: done before the write job, so
// the store's writer is not held for it.
void quantify_item(Item& it, m::Evaluator& evaluator, const m::Catalog& catalog) {
  TANPU_ASSERT(it.query.has_value());
  auto result = m::quantify(evaluator, *it.query);
  if (result) {
    it.day = result->outcome.date;
    it.date = format_date(it.day);
    it.q = std::move(*result);
    it.provenance = provenance(catalog, it);
  } else {
    it.q_error = result.error();
  }
}

void reject(Item& it, const std::string& code, const std::string& message,
            const std::string& field = {}) {
  it.out.outcome = "rejected";
  it.out.reason = code;
  it.out.message = message;
  it.out.field = field;
  it.decided = true;
}

bool external_id_ok(std::string_view id) {
  if (id.empty() || id.size() > kExternalIdBytesMax) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == ':';
  });
}

// The records of the body: a JSON array, or one JSON object per line. A line that does not parse
// becomes a record that is rejected alone.
Result<std::vector<Item>> parse_body(std::string_view body) {
  const auto first = body.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos)
    return fail(ErrorKind::invalid, "body_required", "send a JSON array or NDJSON of records");
  std::vector<Item> items;
  if (body[first] == '[') {
    json all = json::parse(body, nullptr, false);
    if (all.is_discarded() || !all.is_array())
      return fail(ErrorKind::invalid, "invalid_json", "the body is not a JSON array");
    if (all.size() > kBatchRecordsMax)
      return fail(ErrorKind::too_large, "too_many_records", "at most 10000 records per batch");
    items.resize(all.size());
    for (std::size_t i = 0; i < all.size(); ++i) items[i].record = std::move(all[i]);
    return items;
  }
  std::size_t at = 0;
  while (at < body.size()) {
    auto end = body.find('\n', at);
    if (end == std::string_view::npos) end = body.size();
    const std::string_view line = body.substr(at, end - at);
    at = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    if (items.size() == kBatchRecordsMax)
      return fail(ErrorKind::too_large, "too_many_records", "at most 10000 records per batch");
    Item it;
    it.record = json::parse(line, nullptr, false);
    if (it.record.is_discarded()) {
      it.record = json();
      reject(it, "invalid_json", "this line is not JSON");
    }
    items.push_back(std::move(it));
  }
  return items;
}

// Shape, scenario and time checks that need no database.
void validate(Item& it, const Source& source, std::int64_t now_us, const PipelineOptions& o) {
  if (it.decided) return;
  if (!it.record.is_object()) return reject(it, "invalid_record", "a record is a JSON object");
  const auto text = [&](const char* key) -> std::string {
    const auto f = it.record.find(key);
    return f != it.record.end() && f->is_string() ? f->get<std::string>() : std::string();
  };
  it.external_id = text("external_id");
  it.out.external_id = it.external_id;
  if (!external_id_ok(it.external_id))
    return reject(it, "invalid_external_id", "external_id: 1-96 of [A-Za-z0-9._:-]", "external_id");
  it.user_ref = text("user_ref");
  if (it.user_ref.empty() || it.user_ref.size() > kPartnerUserRefBytesMax)
    return reject(it, "invalid_user_ref", "user_ref: the partner's user reference, 1-128 bytes",
                  "user_ref");
  for (const char* forbidden : {"methodology", "version", "date"})
    if (it.record.contains(forbidden))
      return reject(it, "unknown_field",
                    std::string(forbidden) + " is chosen by tanpu, not by the source", forbidden);
  if (text("occurred_at").empty())
    return reject(it, "missing_field", "occurred_at is required", "occurred_at");
  it.scenario = text("scenario");
  if (std::find(source.scenarios.begin(), source.scenarios.end(), it.scenario) ==
      source.scenarios.end()) {
    std::string allowed;
    for (const auto& sc : source.scenarios) allowed += (allowed.empty() ? "" : ", ") + sc;
    return reject(it, "scenario_not_allowed",
                  "scenario '" + it.scenario + "' is not among this source's (" + allowed + ")",
                  "scenario");
  }
  it.content_hash = to_hex(sha256(it.record.dump()));
  auto query = m::query_from_json(it.record, {"external_id", "user_ref"});
  if (!query) return reject(it, query.error().code, query.error().message, query.error().field);
  it.occurred_us = query->occurred_at_us.value_or(0);
  it.query = std::move(*query);
  if (it.occurred_us > now_us + o.future_skew_s * 1'000'000)
    return reject(it, "in_future", "occurred_at is in the future", "occurred_at");
  if (it.occurred_us < now_us - o.record_age_max_days * 86'400'000'000)
    return reject(it, "too_old",
                  "occurred_at is more than " + std::to_string(o.record_age_max_days) + " days ago",
                  "occurred_at");
}

// The usage periods of a record's day (load_usage).
std::string day_period(const Item& it) {
  return "d:" + it.date;
}
std::string month_period(const Item& it) {
  return "m:" + it.date.substr(0, 7);
}

// A behaviour credit's transfer id, in the UUIDv7 layout: the crediting batch's millisecond in the
// top 48 bits, so the ledger's id index grows at its end instead of taking random keys (random
// keys rewrite nearly every index page at each commit); the rest from a hash of what is credited
// (credit_hash), so a job the store runs again produces the same ids. Crediting once is kept by
// ingest_records' primary key in the same transaction, not by these ids.
Id128 credit_hash(const std::string& source_id, const std::string& external_id,
                  std::string_view currency) {
  const auto digest =
      sha256("tanpu-ingest\n" + source_id + "\n" + external_id + "\n" + std::string(currency));
  Id128 hash;
  for (std::size_t i = 0; i < 8; ++i) hash.hi = (hash.hi << 8) | digest[i];
  for (std::size_t i = 8; i < 16; ++i) hash.lo = (hash.lo << 8) | digest[i];
  return hash;
}

Id128 transfer_id(std::int64_t now_us, const Id128& hash) {
  const auto ms = static_cast<std::uint64_t>(now_us / 1000);
  Id128 id;
  id.hi = (ms << 16) | 0x7000ULL | (hash.hi & 0xFFFULL);
  id.lo = (hash.lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
  return id;
}

// The hashes of a quantified record's two possible credits, before the write job: hashing is then
// done on the HTTP worker, not on the store's writer (two SHA-256 per record).
void hash_credits(Item& it, const std::string& source_id) {
  if (!it.q) return;
  it.credit_hashes = {credit_hash(source_id, it.external_id, "co2e_mg"),
                      credit_hash(source_id, it.external_id, "points")};
}

}  // namespace

namespace {

using Grants = std::unordered_map<std::string, Consents::LiveGrant>;
using Accounts = std::unordered_map<std::int64_t, members::Members::LedgerAccounts>;

// Read before the write job on SQLite (Pipeline::ingest, on the HTTP worker), so that the store's
// one writer, which every write waits for, does not read them: the live grants of the batch's open
// records, with the source's consents version they were read at (read first: a change after it
// moves the version), and their members' ledger accounts, which never change. The job uses the
// grants only if it reads the same version; otherwise, and without them, it reads its own.
//
// And the external ids of the batch's open records that were already stored. The job looks up the
// stored outcomes of those alone: an id stored since then either fails the job's insert of its
// record (unique), or, if the job decided the record without keeping it (a refusal), is found by
// a look-up of those few ids at the end (replays_missed). Either way the job runs again reading
// every id (replays_known false), and answers the replay.
struct Prefetched {
  std::int64_t consents_version = 0;
  Grants grants;
  Accounts accounts;
  std::unordered_set<std::string> stored_ids;
  bool replays_known = true;
};
Result<std::optional<Prefetched>> prefetch(store::Store& store, members::Members& members,
                                           const Source& source, const std::vector<Item>& items);

}  // namespace

struct Pipeline::Work {
  const Source& source;
  std::vector<Item> items;
  std::int64_t now_us = 0;
  const m::Catalog& catalog;
  std::optional<Prefetched> prefetched;
};

Pipeline::Pipeline(store::Store& store, ledger::Ledger& ledger, members::Members& members,
                   methodology::EvaluatorPool& methodologies, const Clock& clock,
                   PipelineOptions options)
    : store_(store),
      ledger_(ledger),
      members_(members),
      methodologies_(methodologies),
      clock_(clock),
      options_(std::move(options)) {}

BatchSummary Pipeline::summarise(const std::vector<RecordOutcome>& outcomes) {
  BatchSummary s;
  for (const auto& o : outcomes) {
    if (o.outcome == "credited") ++s.credited;
    if (o.outcome == "duplicate") ++s.duplicate;
    if (o.outcome == "capped") ++s.capped;
    if (o.outcome == "pending_review") ++s.pending_review;
    if (o.outcome == "rejected") ++s.rejected;
    if (!o.replay) {
      s.reduction_mg += o.reduction_mg;
      s.points += o.points;
    }
  }
  return s;
}

namespace {

// The store's scheduling keys of a batch (Store::write_keyed): its partner user references, each
// standing for the member it is bound to, hashed. The batch locks its members' rows on PostgreSQL
// (lock_members), so two batches of the same members run one after the other whatever the store
// does; with these keys the store does not start them side by side, where one would only wait.
// A collision only schedules two batches apart that could have run together. Repeats are dropped:
// the store checks every key with its queue locked. SQLite has one writer: no keys.
std::vector<std::int64_t> member_keys(const Source& source, const std::vector<Item>& items,
                                      store::Dialect dialect) {
  std::vector<std::int64_t> keys;
  if (dialect != store::Dialect::postgres) return keys;
  keys.reserve(items.size());
  std::string key = source.id + '\x1f';
  const std::size_t prefix = key.size();
  for (const Item& it : items) {
    if (it.decided || it.user_ref.empty()) continue;
    key.resize(prefix);
    key += it.user_ref;
    keys.push_back(static_cast<std::int64_t>(std::hash<std::string>{}(key)));
  }
  std::ranges::sort(keys);
  const auto [end, last] = std::ranges::unique(keys);
  keys.erase(end, last);
  return keys;
}

}  // namespace

Result<std::vector<RecordOutcome>> Pipeline::ingest(const Source& source, std::string_view body,
                                                    const store::WriteJob& before) {
  auto items = parse_body(body);
  if (!items) {
    // The request is still spent (its nonce recorded) even though the batch is refused whole.
    if (before) {
      if (auto r = store_.write(before); !r) return fail(r.error());
    }
    return fail(items.error());
  }
  Work w{.source = source,
         .items = std::move(*items),
         .now_us = clock_.now_us(),
         .catalog = methodologies_.catalog(),
         .prefetched = {}};
  {
    // Quantification is pure: done before the write transaction, so the writer is not held for it.
    auto evaluator = methodologies_.acquire();
    for (auto& it : w.items) {
      validate(it, source, w.now_us, options_);
      if (it.decided) continue;
      quantify_item(it, *evaluator, w.catalog);  // validate() accepted the record
      hash_credits(it, source.id);
    }
  }
  std::map<std::string, std::size_t> first;
  for (std::size_t i = 0; i < w.items.size(); ++i) {
    Item& it = w.items[i];
    if (it.external_id.empty() || !external_id_ok(it.external_id)) continue;
    auto [at, inserted] = first.emplace(it.external_id, i);
    if (!inserted) it.first_of_id = at->second;
  }
  for (auto& it : w.items) it.decided_before_write = it.decided;
  // On SQLite, where every write waits for the one writer (on PostgreSQL the write connections run
  // side by side, and these reads would only add round trips to the request). A failed read here
  // only leaves the reads to the job.
  if (store_.dialect() == store::Dialect::sqlite) {
    if (auto pre = prefetch(store_, members_, source, w.items); pre) w.prefetched = std::move(*pre);
  }
  const std::vector<std::int64_t> keys = member_keys(source, w.items, store_.dialect());
  auto written = store_.write_keyed(
      [&](store::Connection& c) -> Result<void> {
        if (before) {
          if (auto r = before(c); !r) return r;
        }
        return run(c, w);
      },
      keys);
  if (!written) return fail(written.error());
  std::vector<RecordOutcome> out;
  out.reserve(w.items.size());
  for (auto& it : w.items) out.push_back(std::move(it.out));
  return out;
}

namespace {

// A record the transaction still has to decide: not decided before it, nor a repeat of an id
// earlier in the batch (which answers like its first occurrence).
bool is_open(const Item& it) {
  return !it.decided && it.first_of_id == SIZE_MAX;
}

// The keys of the source's records with these external ids, to join with ingest_records. The
// source is a key column, not a parameter: on SQLite a parameter compared with source_id makes
// every run of the statement re-plan it (the claims' partial index is on source_id), which for a
// VALUES list of a thousand keys cost more than the look-up itself.
template <typename Ids>
store::KeyRows record_keys(store::Dialect dialect, const Source& source, const Ids& ids) {
  store::KeyRows keys(dialect, {{.name = "source_id", .type = store::KeyType::text},
                                {.name = "external_id", .type = store::KeyType::text}});
  for (const auto& id : ids) keys.add({std::string_view(source.id), std::string_view(id)});
  return keys;
}

// Earlier outcomes of the batch's external ids: a replay answers its original outcome, the same id
// with other content is refused.
//
// only: when set, just the ids in it are looked up (Prefetched::stored_ids).
Result<void> apply_replays(store::Connection& c, const Source& source, std::vector<Item>& items,
                           const std::unordered_set<std::string>* only = nullptr) {
  std::unordered_map<std::string, std::size_t> by_id;
  std::vector<std::string_view> ids;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (!is_open(items[i]) || (only != nullptr && !only->contains(items[i].external_id))) continue;
    by_id[items[i].external_id] = i;
    ids.emplace_back(items[i].external_id);
  }
  if (ids.empty()) return {};
  return record_keys(c.dialect(), source, ids)
      .join(c,
            "r.external_id, r.content_hash, r.outcome, r.reason, r.reduction_mg, r.points, "
            "r.methodology, r.duplicate_of, r.provisional, r.review_reason",
            "ingest_records", "r", "r.source_id = k.source_id AND r.external_id = k.external_id",
            {}, [&](const store::Rows& rows) {
              for (std::size_t r = 0; r < rows.size(); ++r) {
                Item& it = items[by_id.at(std::string(rows.text(r, 0)))];
                if (it.decided) continue;  // the padding of a VALUES list finds its last row again
                if (rows.text(r, 1) != it.content_hash) {
                  reject(it, "conflict", "this external_id was sent before with other content",
                         "external_id");
                  continue;
                }
                it.out.outcome = std::string(rows.text(r, 2));
                it.out.reason = std::string(rows.text(r, 3));
                it.out.reduction_mg = rows.i64(r, 4);
                it.out.points = rows.i64(r, 5);
                it.out.methodology = std::string(rows.text(r, 6));
                it.out.duplicate_of = std::string(rows.text(r, 7));
                it.out.provisional = rows.i64(r, 8) != 0;
                it.out.message =
                    std::string(rows.text(r, 9));  // a reviewer's reason for a rejection
                it.out.replay = true;
                it.decided = true;
              }
            });
}

// The external ids among `ids` that the source has stored.
Result<std::unordered_set<std::string>> stored_ids(store::Connection& c, const Source& source,
                                                   const std::vector<std::string_view>& ids) {
  std::unordered_set<std::string> out;
  if (ids.empty()) return out;
  auto found = record_keys(c.dialect(), source, ids)
                   .join(c, "r.external_id", "ingest_records", "r",
                         "r.source_id = k.source_id AND r.external_id = k.external_id", {},
                         [&](const store::Rows& rows) {
                           for (std::size_t r = 0; r < rows.size(); ++r)
                             out.emplace(rows.text(r, 0));
                         });
  if (!found) return fail(found.error());
  return out;
}

// With the replays read ahead: whether a record the job refused without keeping it (no consent,
// not quantified) was stored since the read, so that the job must run again to answer the replay.
// Records it keeps need no look-up: their insert fails instead.
Result<bool> replays_missed(store::Connection& c, const Source& source,
                            const std::vector<Item>& items, const std::vector<bool>& was_open,
                            const std::unordered_set<std::string>& looked_up) {
  std::vector<std::string_view> ids;
  for (std::size_t i = 0; i < items.size(); ++i)
    if (was_open[i] && items[i].decided && !items[i].store_row &&
        !looked_up.contains(items[i].external_id))
      ids.push_back(items[i].external_id);
  auto found = stored_ids(c, source, ids);
  if (!found) return fail(found.error());
  return !found->empty();
}

// Live consents of the batch's partner users: the member, and the scenarios granted. Read for
// every record not decided before the transaction, replays included, so that the members can be
// locked before anything else is read.
std::vector<std::string> open_refs(const std::vector<Item>& items) {
  std::vector<std::string> refs;
  for (const auto& it : items)
    if (is_open(it)) refs.push_back(it.user_ref);
  std::ranges::sort(refs);
  refs.erase(std::ranges::unique(refs).begin(), refs.end());
  return refs;
}

// The grants read before the job if the source's consents are still at their version; otherwise
// (and without them) nullptr and `read` holds the grants read here.
Result<const Grants*> load_grants(store::Connection& c, const Source& source,
                                  const std::vector<Item>& items,
                                  const std::optional<Prefetched>& prefetched, Grants& read) {
  if (prefetched) {
    auto version = Consents::consents_version(c, source.id);
    if (!version) return fail(version.error());
    if (*version == prefetched->consents_version) return &prefetched->grants;
  }
  auto grants = Consents::live_grants(c, source.id, open_refs(items));
  if (!grants) return fail(grants.error());
  read = std::move(*grants);
  return &read;
}

// Prefetched, read on a pooled connection; nullopt when the batch has no open record.
Result<std::optional<Prefetched>> prefetch(store::Store& store, members::Members& members,
                                           const Source& source, const std::vector<Item>& items) {
  const std::vector<std::string> refs = open_refs(items);
  if (refs.empty()) return std::nullopt;
  auto lease = store.acquire();
  if (!lease) return fail(lease.error());
  Prefetched p;
  auto version = Consents::consents_version(**lease, source.id);
  if (!version) return fail(version.error());
  p.consents_version = *version;
  auto grants = Consents::live_grants(**lease, source.id, refs);
  if (!grants) return fail(grants.error());
  p.grants = std::move(*grants);
  std::vector<std::int64_t> ids;
  ids.reserve(p.grants.size());
  for (const auto& [ref, grant] : p.grants) ids.push_back(grant.member_id);
  std::ranges::sort(ids);
  ids.erase(std::ranges::unique(ids).begin(), ids.end());
  auto accounts = members.ledger_accounts(**lease, ids);
  if (!accounts) return fail(accounts.error());
  p.accounts = std::move(*accounts);
  std::vector<std::string_view> open_ids;
  for (const auto& it : items)
    if (is_open(it)) open_ids.emplace_back(it.external_id);
  auto stored = stored_ids(**lease, source, open_ids);
  if (!stored) return fail(stored.error());
  p.stored_ids = std::move(*stored);
  return p;
}

// The member and consent of each record still open; refused without a live grant for its
// scenario.
void apply_consent(const Grants& live, std::vector<Item>& items) {
  for (auto& it : items) {
    if (!is_open(it)) continue;
    const auto found = live.find(it.user_ref);
    if (found == live.end()) {
      reject(it, "no_consent", "this user has no live grant for the source", "user_ref");
      continue;
    }
    const auto& granted = found->second.scenarios;
    if (std::find(granted.begin(), granted.end(), it.scenario) == granted.end()) {
      reject(it, "consent_scope", "the member's grant does not cover " + it.scenario, "scenario");
      continue;
    }
    it.member_id = found->second.member_id;
  }
}

// The member locks that the jobs of one transaction took so far (a group commit runs several
// jobs in one transaction). Nothing to do at COMMIT; a job rolled back drops its entry.
struct MemberLocksTaken final : store::TransactionTail {
  Result<void> finish(store::Connection& /*conn*/) override { return {}; }
  std::size_t size() const override { return calls; }
  void truncate(std::size_t entries) override { calls = entries; }
  std::size_t calls = 0;
};
constexpr char kMemberLocksKey = 0;  // its address keys the tail

// Replays, dedup and caps read what earlier intake of the same members wrote, then write, so two
// transactions that touch a member must not interleave. SQLite has one writer. On PostgreSQL each
// intake job locks its members' rows of ingest_member_locks (inserted on first use) in ascending
// member order, held until the transaction ends: transactions of other members run beside it, and
// row locks, unlike advisory locks, do not fill PostgreSQL's lock table however many members a
// batch has.
//
// A transaction that already holds the members of an earlier job of its group must not wait for
// another's (each could hold what the other waits for: a deadlock, which PostgreSQL finds only
// after deadlock_timeout, a second by default). Its later jobs wait at most kMemberLockWaitMs and
// then fail as retryable; the store runs them again after the group, each in a transaction of its
// own, where waiting is safe.
constexpr int kMemberLockWaitMs = 10;

Result<void> lock_members(store::Connection& c, std::vector<std::int64_t> ids) {
  if (c.dialect() != store::Dialect::postgres) return {};
  std::ranges::sort(ids);
  ids.erase(std::ranges::unique(ids).begin(), ids.end());
  if (ids.empty()) return {};
  auto* taken = static_cast<MemberLocksTaken*>(c.tail(&kMemberLocksKey));
  if (taken == nullptr)
    taken = static_cast<MemberLocksTaken*>(
        &c.add_tail(&kMemberLocksKey, std::make_unique<MemberLocksTaken>()));
  const bool wait_briefly = taken->calls > 0;
  if (wait_briefly) {
    auto r = c.exec("SET LOCAL lock_timeout = '" + std::to_string(kMemberLockWaitMs) + "ms'");
    if (!r) return fail(r.error());
  }
  std::vector<store::Param> values(ids.begin(), ids.end());
  if (auto r = store::upsert_rows(c, "ingest_member_locks", "member_id", 1, "member_id",
                                  "member_id = excluded.member_id", values);
      !r)
    return r;
  if (wait_briefly) {
    auto r = c.exec("SET LOCAL lock_timeout = DEFAULT");
    if (!r) return fail(r.error());
  }
  ++taken->calls;
  return {};
}

// Quantification results: refusals and ineligible records are rejected; review scenarios wait.
void apply_quantification(std::vector<Item>& items, const PipelineOptions& o) {
  for (auto& it : items) {
    if (!is_open(it)) continue;
    if (it.q_error) {
      reject(it, it.q_error->code, it.q_error->message, it.q_error->field);
      continue;
    }
    const m::Outcome& q = it.q->outcome;
    it.out.methodology = q.methodology->key();
    it.out.provisional = q.provisional;
    if (!q.eligible()) {
      reject(it, "ineligible",
             "not eligible under " + it.out.methodology + " (rule " +
                 std::string(q.ineligible_code()) + ")");
      continue;
    }
    if (std::find(o.review_scenarios.begin(), o.review_scenarios.end(), it.scenario) !=
        o.review_scenarios.end()) {
      it.out.outcome = "pending_review";
      it.decided = true;
      it.store_row = true;
    }
  }
}

// The same member's behaviour of the same scenario reported by another source within the
// methodology's dedup window is credited once: the later report is a duplicate.
Result<void> apply_dedup(store::Connection& c, const Source& source, std::vector<Item>& items) {
  // One window per record, [occurred - w, occurred + w], searched on (member, time): a single
  // window spanning the whole batch would read every record of its members in those days.
  std::vector<std::array<std::int64_t, 3>> windows;  // member, from, to
  for (const auto& it : items) {
    if (!is_open(it) || !it.q) continue;
    const std::int64_t w = it.q->outcome.methodology->dedup_window_s * 1'000'000;
    if (w == 0) continue;
    windows.push_back({it.member_id, it.occurred_us - w, it.occurred_us + w});
  }
  if (windows.empty()) return {};
  std::sort(windows.begin(), windows.end());
  windows.erase(std::unique(windows.begin(), windows.end()), windows.end());
  struct Seen {
    std::string scenario;
    std::int64_t at_us;
    std::string key;
  };
  std::unordered_map<std::int64_t, std::vector<Seen>> seen;
  std::set<std::pair<std::string, std::string>> found_keys;  // overlapping windows find a row twice
  store::KeyRows keys(c.dialect(), {{"member_id", store::KeyType::bigint},
                                    {"from_us", store::KeyType::bigint},
                                    {"to_us", store::KeyType::bigint}});
  for (const auto& w : windows) keys.add({w[0], w[1], w[2]});
  const store::Param source_id{std::string_view(source.id)};
  auto searched =
      keys.join(c, "r.member_id, r.scenario, r.occurred_at_us, r.source_id, r.external_id",
                "ingest_records", "r",
                "r.member_id = k.member_id AND r.occurred_at_us BETWEEN k.from_us AND k.to_us AND "
                "r.source_id <> ? AND r.outcome IN ('credited', 'capped', 'pending_review')",
                {&source_id, 1}, [&](const store::Rows& rows) {
                  for (std::size_t r = 0; r < rows.size(); ++r) {
                    if (!found_keys.emplace(rows.text(r, 3), rows.text(r, 4)).second) continue;
                    seen[rows.i64(r, 0)].push_back(
                        {std::string(rows.text(r, 1)), rows.i64(r, 2),
                         std::string(rows.text(r, 3)) + "/" + std::string(rows.text(r, 4))});
                  }
                });
  if (!searched) return searched;
  for (auto& it : items) {
    if (!is_open(it) || !it.q) continue;
    const std::int64_t w = it.q->outcome.methodology->dedup_window_s * 1'000'000;
    const auto found = seen.find(it.member_id);
    if (w == 0 || found == seen.end()) continue;
    for (const Seen& s : found->second) {
      if (s.scenario != it.scenario || std::llabs(s.at_us - it.occurred_us) > w) continue;
      it.out.outcome = "duplicate";
      it.out.duplicate_of = s.key;
      it.decided = true;
      it.store_row = true;
      break;
    }
  }
  return {};
}

struct Usage {
  std::int64_t reduction_mg = 0, records = 0, points = 0;
  Usage& operator+=(const Usage& other) {
    reduction_mg += other.reduction_mg;
    records += other.records;
    points += other.points;
    return *this;
  }
};
using UsageKey = std::tuple<std::int64_t, std::string, std::string>;  // member, period, code
// A usage row as the batch sees it: the stored totals with what the batch added, and the part the
// batch added, which is written as the row's increment.
struct UsageRow {
  Usage total;
  Usage added;
};
using UsageRows = std::map<UsageKey, UsageRow>;

// Caps per member: per methodology per day and month (reduction and record count), and the
// platform's daily points cap. A record over a cap is credited what is left (outcome capped).
//
// One row per (member, period, methodology code) for the day "d:YYYY-MM-DD" and the month
// "m:YYYY-MM" of each credited record, carrying its reduction, records and points. A member's
// points of a day, which the daily points cap counts, are the sum of that day's rows over every
// code; the month rows are the member's rollup (records, reduction and points per month and
// methodology). Databases from before ingest migration 5 also have code "*" rows holding points
// alone; they are summed like the others and no longer written.
Result<UsageRows> load_usage(store::Connection& c, const std::vector<Item>& items) {
  // The (member, period) pairs the batch touches, every code of each: by primary-key prefix. A
  // member × period cross product would probe up to 27 times as many keys.
  std::set<std::pair<std::int64_t, std::string>> keys;
  for (const auto& it : items) {
    if (!is_open(it) || !it.q) continue;
    keys.emplace(it.member_id, day_period(it));
    keys.emplace(it.member_id, month_period(it));
  }
  UsageRows usage;
  store::KeyRows rows_of(c.dialect(),
                         {{"member_id", store::KeyType::bigint}, {"period", store::KeyType::text}});
  for (const auto& key : keys) rows_of.add({key.first, std::string_view(key.second)});
  auto loaded = rows_of.join(
      c, "u.member_id, u.period, u.code, u.reduction_mg, u.records, u.points",
      "ingest_member_usage", "u", "u.member_id = k.member_id AND u.period = k.period", {},
      [&](const store::Rows& rows) {
        for (std::size_t r = 0; r < rows.size(); ++r)
          usage[{rows.i64(r, 0), std::string(rows.text(r, 1)), std::string(rows.text(r, 2))}] =
              UsageRow{.total = {.reduction_mg = rows.i64(r, 3),
                                 .records = rows.i64(r, 4),
                                 .points = rows.i64(r, 5)},
                       .added = {}};
      });
  if (!loaded) return fail(loaded.error());
  return usage;
}

// A member's points of one day so far: the sum of the day's usage rows over every code.
std::int64_t day_points(const UsageRows& usage, std::int64_t member_id, const std::string& period) {
  std::int64_t points = 0;
  for (auto at = usage.lower_bound({member_id, period, std::string()});
       at != usage.end() && std::get<0>(at->first) == member_id && std::get<1>(at->first) == period;
       ++at)
    points += at->second.total.points;
  return points;
}

void apply_caps(std::vector<Item>& items, UsageRows& usage, const PipelineOptions& o) {
  // Per (member, day period): the points of that day, summed from the loaded rows at the first
  // record of the member-day, before this batch adds to them.
  std::map<std::pair<std::int64_t, std::string>, std::int64_t> points_of_day;
  for (auto& it : items) {
    if (!is_open(it) || !it.q) continue;
    const m::Methodology& meth = *it.q->outcome.methodology;
    const std::int64_t full_mg = it.q->outcome.reduction_mg;
    const std::int64_t full_points = it.q->outcome.points;
    const std::string period = day_period(it);
    auto [points_day, first] = points_of_day.try_emplace({it.member_id, period}, 0);
    if (first) points_day->second = day_points(usage, it.member_id, period);
    UsageRow& day_row = usage[{it.member_id, period, meth.code}];
    UsageRow& month_row = usage[{it.member_id, month_period(it), meth.code}];
    const Usage& day = day_row.total;
    const Usage& month = month_row.total;
    std::int64_t mg = full_mg;
    std::string cap;
    const auto limit = [&](std::int64_t max, std::int64_t used, const char* name) {
      if (max <= 0) return;
      const std::int64_t left = std::max<std::int64_t>(0, max - used);
      if (mg > left) {
        mg = left;
        cap = name;
      }
    };
    if (meth.caps.per_member_day_records > 0 && day.records >= meth.caps.per_member_day_records) {
      mg = 0;
      cap = "per_member_day_records";
    }
    limit(meth.caps.per_member_day_mg, day.reduction_mg, "per_member_day_mg");
    limit(meth.caps.per_member_month_mg, month.reduction_mg, "per_member_month_mg");
    // The methodology's formula points follow the part of the reduction credited (points-only
    // records keep theirs unless a record cap zeroed them); an operator's rate replaces them.
    const std::int64_t formula_points =
        full_mg > 0
            ? static_cast<std::int64_t>(static_cast<long double>(full_points) * mg / full_mg)
            : (cap.empty() ? full_points : 0);
    std::int64_t points = o.points.points_for(meth.code, mg, formula_points);
    const std::int64_t day_max = o.points.day_max;
    if (day_max > 0 && points_day->second + points > day_max) {
      points = std::max<std::int64_t>(0, day_max - points_day->second);
      cap = cap.empty() ? "points_per_member_day" : cap;
    }
    it.out.reduction_mg = mg;
    it.out.points = points;
    it.out.outcome = cap.empty() ? "credited" : "capped";
    if (!cap.empty()) {
      it.out.reason = cap;
      it.out.message = "a cap applied (" + cap + "): credited " + std::to_string(mg) + " of " +
                       std::to_string(full_mg) + " mg";
    }
    it.decided = true;
    it.store_row = true;
    const Usage credited{.reduction_mg = mg, .records = 1, .points = points};
    for (UsageRow* row : {&day_row, &month_row}) {
      row->total += credited;
      row->added += credited;
    }
    points_day->second += points;
  }
}

// A JSON string: identifiers and dates as they are, anything that would need escaping through the
// JSON library.
void append_json_string(std::string& out, std::string_view text) {
  const bool plain = std::ranges::all_of(text, [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x80 && c != '"' && c != '\\';
  });
  if (!plain) {
    out += json(text).dump();
    return;
  }
  out += '"';
  out += text;
  out += '"';
}

// The provenance of a quantified record, written as nlohmann's dump() of the object would write
// it (keys in order, no spaces, its number format), without building the object: that took a
// fifth of the HTTP workers' time in `tanpu bench ingest`.
std::string provenance(const m::Catalog& catalog, const Item& it) {
  if (!it.q) return std::string(kNoProvenance);
  const m::Outcome& o = it.q->outcome;
  const auto number = [](double v) { return json(v).dump(); };
  std::string out;
  out.reserve(384);
  out += "{\"baseline_mg\":";
  out += number(o.baseline_g * 1000);
  out += ",\"date\":";
  append_json_string(out, format_date(o.date));
  out += ",\"factors\":[";
  for (std::size_t i = 0; i < o.factor_count; ++i) {
    if (i > 0) out += ',';
    const m::Factor& factor = *o.factors.at(i);
    append_json_string(out, factor.id + "@" + factor.data_version);
  }
  out += "],\"inputs\":{";
  // An object's keys in order; a name given twice keeps its last value, as an object would.
  const auto& specs = o.methodology->inputs;
  std::map<std::string_view, double> inputs;
  for (std::size_t i = 0; i < specs.size(); ++i) inputs[specs[i].name] = it.q->inputs[i];
  bool first = true;
  for (const auto& [name, value] : inputs) {
    if (!first) out += ',';
    first = false;
    append_json_string(out, name);
    out += ':';
    out += number(value);
  }
  out += "},\"methodology\":";
  append_json_string(out, o.methodology->key());
  out += ",\"project_mg\":";
  out += number(o.project_g * 1000);
  out += ",\"provisional\":";
  out += o.provisional ? "true" : "false";
  out += ",\"quantified_mg\":";
  out += std::to_string(o.reduction_mg);
  out += ",\"quantified_points\":";
  out += std::to_string(o.points);
  out += ",\"region\":";
  append_json_string(out, catalog.region(o.region).code);
  out += R"(,"rounding":"half_to_even_mg"})";
  return out;
}

// A record repeated inside the batch answers like its first occurrence (or is a conflict).
void resolve_repeats(std::vector<Item>& items) {
  for (auto& it : items) {
    if (it.first_of_id == SIZE_MAX || it.decided) continue;
    const Item& first = items[it.first_of_id];
    if (first.content_hash != it.content_hash) {
      reject(it, "conflict", "this external_id appears earlier in the batch with other content",
             "external_id");
      continue;
    }
    it.out = first.out;
    it.out.replay = true;
    it.decided = true;
  }
}

bool credits(const Item& it) {
  return it.store_row && (it.out.outcome == "credited" || it.out.outcome == "capped");
}

// A behaviour credit moves units from the platform's issuing accounts, which have no limit, to a
// member's own: the ledger refuses one only if the store is inconsistent.
Error credit_refused(ledger::TransferStatus status) {
  return Error{ErrorKind::internal,
               "credit_refused",
               "the ledger refused a behaviour credit: " + std::string(ledger::to_string(status)),
               {}};
}

// Ledger credits of the credited records at now_us, and the points they earn recorded for expiry
// in the policy's local year of now_us.

Result<void> post_credits(store::Connection& c, const Source& source, std::vector<Item>& items,
                          ledger::Ledger& ledger, members::Members& members, std::int64_t now_us,
                          const points::Policy& policy, const Accounts* known = nullptr) {
  if (std::ranges::none_of(items, credits)) return {};
  std::vector<std::int64_t> ids;
  for (const auto& it : items)
    if (credits(it) && (known == nullptr || !known->contains(it.member_id)))
      ids.push_back(it.member_id);
  std::ranges::sort(ids);
  ids.erase(std::ranges::unique(ids).begin(), ids.end());
  Accounts read;
  if (!ids.empty()) {
    auto accounts = members.ledger_accounts(c, ids);
    if (!accounts) return fail(accounts.error());
    read = std::move(*accounts);
  }
  const auto account_of = [&](std::int64_t member_id) -> const members::Members::LedgerAccounts* {
    if (known != nullptr)
      if (const auto at = known->find(member_id); at != known->end()) return &at->second;
    const auto at = read.find(member_id);
    return at == read.end() ? nullptr : &at->second;
  };
  std::vector<ledger::Transfer> transfers;
  std::map<std::int64_t, std::int64_t> earned;  // points account → points
  for (auto& it : items) {
    if (!credits(it)) continue;
    const auto* acc = account_of(it.member_id);
    if (acc == nullptr)
      return fail(ErrorKind::internal, "member_without_accounts",
                  "a consented member has no ledger accounts");
    const std::string reference = "behaviour:" + source.id + "/" + it.external_id;
    if (!it.credit_hashes) hash_credits(it, source.id);  // a claim or a review: one record
    TANPU_ASSERT(it.credit_hashes.has_value());          // a credited record was quantified
    const auto add = [&](const Id128& hash, std::int64_t debit, std::int64_t credit,
                         std::int64_t amount) {
      if (amount <= 0) return;
      ledger::Transfer t;
      t.id = transfer_id(now_us, hash);
      t.debit_account_id = debit;
      t.credit_account_id = credit;
      t.amount = amount;
      t.code = ledger::codes::behaviour_credit;
      t.reference = reference;
      transfers.push_back(std::move(t));
    };
    const auto& [co2e_hash, points_hash] = *it.credit_hashes;
    add(co2e_hash, ledger::kPlatformCo2eAccount, acc->co2e_account_id, it.out.reduction_mg);
    add(points_hash, ledger::kPlatformPointsAccount, acc->points_account_id, it.out.points);
    if (it.out.points > 0) earned[acc->points_account_id] += it.out.points;
  }
  // Written at COMMIT with every other deferred transfer of the transaction (Ledger::
  // defer_transfers): the ledger's chain head, which every writer takes in turn, is then held from
  // that one batch to COMMIT instead of from here through the rest of the batch's writes.
  for (std::size_t at = 0; at < transfers.size(); at += limits::transfers_per_batch_max) {
    const std::size_t n = std::min(limits::transfers_per_batch_max, transfers.size() - at);
    ledger.defer_transfers(c, std::span(transfers.data() + at, n), credit_refused);
  }
  std::vector<points::Earned> by_account;
  by_account.reserve(earned.size());
  for (const auto& [account, points] : earned) by_account.push_back({account, points});
  return points::Points::record_earned(c, policy.year_of(now_us), by_account);
}

Result<void> write_records(store::Connection& c, const Source& source,
                           const std::vector<Item>& items, std::int64_t now_us) {
  static constexpr std::array<std::string_view, 15> kColumns{
      "source_id",      "external_id",  "content_hash", "member_id",    "scenario",
      "occurred_at_us", "outcome",      "reason",       "reduction_mg", "points",
      "methodology",    "duplicate_of", "provisional",  "provenance",   "received_at_us"};
  std::vector<const Item*> rows;
  for (const auto& it : items)
    if (it.store_row) rows.push_back(&it);
  std::vector<store::Param> values;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Item& it = *rows[i];
    values.insert(
        values.end(),
        {std::string_view(source.id), std::string_view(it.external_id),
         std::string_view(it.content_hash), it.member_id, std::string_view(it.scenario),
         it.occurred_us, std::string_view(it.out.outcome), std::string_view(it.out.reason),
         it.out.reduction_mg, it.out.points, std::string_view(it.out.methodology),
         std::string_view(it.out.duplicate_of), std::int64_t{it.out.provisional ? 1 : 0},
         std::string_view(it.q ? it.provenance : kNoProvenance), now_us});
  }
  if (rows.empty()) return {};
  return c.bulk_insert("ingest_records", kColumns, values);
}

Result<void> write_usage(store::Connection& c, const UsageRows& usage) {
  std::vector<store::Param> values;
  for (const auto& [key, row] : usage) {
    const Usage& d = row.added;
    if (d.reduction_mg == 0 && d.records == 0 && d.points == 0) continue;
    values.insert(values.end(),
                  {std::get<0>(key), std::string_view(std::get<1>(key)),
                   std::string_view(std::get<2>(key)), d.reduction_mg, d.records, d.points});
  }
  return store::upsert_rows(
      c, "ingest_member_usage", "member_id, period, code, reduction_mg, records, points", 6,
      "member_id, period, code",
      "reduction_mg = ingest_member_usage.reduction_mg + excluded.reduction_mg, "
      "records = ingest_member_usage.records + excluded.records, "
      "points = ingest_member_usage.points + excluded.points",
      values);
}

// The day × scenario rollup of a transaction's batches, written once at its end
// (store::TransactionTail). Every batch adds to the same few rows, one per day and scenario.
// Upserted in the job, those rows stayed locked from there to COMMIT, and on PostgreSQL batches of
// other members on the other write connections waited for them. At the end, after the ledger's
// batch (rank 1: the ledger's tail locks the chain head first in every transaction), they are held
// only as long as the chain head, which every writer takes in turn anyway.
using DayScenario = std::pair<std::string, std::string>;  // day, scenario
struct DayRollups final : store::TransactionTail {
  Result<void> finish(store::Connection& c) override {
    std::map<DayScenario, Usage> total;
    for (const auto& batch : batches) {
      for (const auto& [key, u] : batch) total[key] += u;
    }
    std::vector<store::Param> rows;
    rows.reserve(total.size() * 5);
    for (const auto& [key, u] : total)
      rows.insert(rows.end(), {std::string_view(key.first), std::string_view(key.second), u.records,
                               u.reduction_mg, u.points});
    return store::upsert_rows(c, "ingest_rollup_day_scenario",
                              "day, scenario, records, reduction_mg, points", 5, "day, scenario",
                              "records = ingest_rollup_day_scenario.records + excluded.records, "
                              "reduction_mg = ingest_rollup_day_scenario.reduction_mg + "
                              "excluded.reduction_mg, points = ingest_rollup_day_scenario.points + "
                              "excluded.points",
                              rows);
  }
  std::size_t size() const override { return batches.size(); }
  void truncate(std::size_t entries) override { batches.resize(entries); }
  int rank() const override { return 1; }
  std::vector<std::map<DayScenario, Usage>> batches;  // one entry per job
};
constexpr char kDayRollupsKey = 0;  // its address keys the tail

// The day × scenario rollup (at the transaction's end: DayRollups), and the modules told of
// credited records (the organisations' rollups). The per-member rollup is the members' month usage
// rows, written with the caps.
Result<void> write_rollups(store::Connection& c, const std::vector<Item>& items,
                           const CreditHook& on_credited) {
  std::map<DayScenario, Usage> by_day;
  for (const auto& it : items) {
    if (!credits(it)) continue;
    by_day[{it.date, it.scenario}] +=
        Usage{.reduction_mg = it.out.reduction_mg, .records = 1, .points = it.out.points};
  }
  if (on_credited) {
    std::vector<CreditedBehaviour> credited;
    for (const auto& it : items)
      if (credits(it))
        credited.push_back({it.member_id, it.day, it.scenario, it.out.reduction_mg, it.out.points});
    if (!credited.empty())
      if (auto r = on_credited(c, credited); !r) return r;
  }
  if (by_day.empty()) return {};
  auto* rollups = static_cast<DayRollups*>(c.tail(&kDayRollupsKey));
  if (rollups == nullptr)
    rollups =
        static_cast<DayRollups*>(&c.add_tail(&kDayRollupsKey, std::make_unique<DayRollups>()));
  rollups->batches.push_back(std::move(by_day));
  return {};
}

}  // namespace

Result<void> Pipeline::run(store::Connection& c, Work& w) {
  for (auto& it : w.items) {  // the store may run a job again after a retryable failure
    if (it.decided_before_write) continue;
    it.decided = false;
    it.store_row = false;
    it.out = RecordOutcome{};
    it.out.external_id = it.external_id;
    it.member_id = 0;
  }
  Grants read;
  auto grants = load_grants(c, w.source, w.items, w.prefetched, read);
  if (!grants) return fail(grants.error());
  std::vector<std::int64_t> members;
  members.reserve((*grants)->size());
  for (const auto& [ref, grant] : **grants) members.push_back(grant.member_id);
  if (auto r = lock_members(c, std::move(members)); !r) return r;
  const bool replays_known = w.prefetched && w.prefetched->replays_known;
  if (auto r =
          apply_replays(c, w.source, w.items, replays_known ? &w.prefetched->stored_ids : nullptr);
      !r)
    return r;
  std::vector<bool> was_open(w.items.size());
  for (std::size_t i = 0; i < w.items.size(); ++i) was_open[i] = is_open(w.items[i]);
  apply_consent(**grants, w.items);
  apply_quantification(w.items, options_);
  if (replays_known) {
    auto missed = replays_missed(c, w.source, w.items, was_open, w.prefetched->stored_ids);
    if (!missed) return fail(missed.error());
    if (*missed) {
      w.prefetched->replays_known = false;
      return fail(ErrorKind::unavailable, std::string(store::kRetryable),
                  "an external_id of the batch was stored since it was read ahead");
    }
  }
  if (auto r = apply_dedup(c, w.source, w.items); !r) return r;
  auto usage = load_usage(c, w.items);
  if (!usage) return fail(usage.error());
  apply_caps(w.items, *usage, options_);
  resolve_repeats(w.items);
  const Accounts* known = w.prefetched ? &w.prefetched->accounts : nullptr;
  if (auto r =
          post_credits(c, w.source, w.items, ledger_, members_, w.now_us, options_.points, known);
      !r)
    return r;
  if (auto r = write_records(c, w.source, w.items, w.now_us); !r) {
    // Another transaction stored one of these external ids meanwhile (the same id for another
    // member, so another member's lock): run the batch again, which then finds it.
    if (r.error().code == store::kUniqueViolation) {
      if (w.prefetched) w.prefetched->replays_known = false;
      return fail(ErrorKind::unavailable, std::string(store::kRetryable), r.error().message);
    }
    return r;
  }
  if (auto r = write_usage(c, *usage); !r) return r;
  return write_rollups(c, w.items, options_.on_credited);
}

// Evidence claims and review (docs/ingestion.md, "Evidence claims and review"): a member's own
// record, and a reviewer's decision on a pending one, through the steps above.
namespace {

// A stored record as a review reads it.
struct StoredRecord {
  std::int64_t member_id = 0;
  std::string scenario, content_hash, outcome, reason, methodology, duplicate_of, provenance;
  std::string decision, review_reason;
  std::int64_t occurred_us = 0, reduction_mg = 0, points = 0;
  bool provisional = false;
};

Result<std::optional<StoredRecord>> load_record(store::Connection& c, std::string_view source_id,
                                                std::string_view external_id) {
  auto rows = c.query(
      "SELECT member_id, scenario, content_hash, outcome, reason, methodology, duplicate_of, "
      "provenance, review_decision, review_reason, occurred_at_us, reduction_mg, points, "
      "provisional FROM ingest_records WHERE source_id = ? AND external_id = ?",
      {source_id, external_id});
  if (!rows) return fail(rows.error());
  if (rows->empty()) return std::optional<StoredRecord>();
  StoredRecord r;
  r.member_id = rows->i64(0, 0);
  r.scenario = rows->text(0, 1);
  r.content_hash = rows->text(0, 2);
  r.outcome = rows->text(0, 3);
  r.reason = rows->text(0, 4);
  r.methodology = rows->text(0, 5);
  r.duplicate_of = rows->text(0, 6);
  r.provenance = rows->text(0, 7);
  r.decision = rows->text(0, 8);
  r.review_reason = rows->text(0, 9);
  r.occurred_us = rows->i64(0, 10);
  r.reduction_mg = rows->i64(0, 11);
  r.points = rows->i64(0, 12);
  r.provisional = rows->i64(0, 13) != 0;
  return std::optional<StoredRecord>(std::move(r));
}

// The answer for a record decided already: the same decision again is answered as taken (replay),
// the other one, or a record that never waited for review, is a conflict.
Result<RecordOutcome> decided_answer(const ReviewDecision& d, const StoredRecord& r) {
  if (r.decision.empty())
    return fail(ErrorKind::conflict, "not_pending",
                "this record is " + r.outcome + ": it never waited for review");
  if (r.decision != (d.approve ? "approved" : "rejected"))
    return fail(ErrorKind::conflict, "already_decided",
                "this record was " + r.decision + " already; a decision is final");
  RecordOutcome o;
  o.external_id = d.external_id;
  o.outcome = r.outcome;
  o.reason = r.reason;
  o.message = r.review_reason;
  o.reduction_mg = r.reduction_mg;
  o.points = r.points;
  o.methodology = r.methodology;
  o.provisional = r.provisional;
  o.duplicate_of = r.duplicate_of;
  o.replay = true;
  return o;
}

// The query that quantified a stored record, from its provenance: the methodology version pinned,
// the region, the instant and the inputs (in the methodology's units) as they were.
Result<m::Query> query_of(const StoredRecord& r) {
  const json p = json::parse(r.provenance, nullptr, false);
  const auto bad = [] {
    return fail(ErrorKind::internal, "bad_provenance",
                "a pending record's provenance is unreadable");
  };
  if (!p.is_object() || !p.contains("methodology") || !p["methodology"].is_string() ||
      !p.contains("region") || !p["region"].is_string() || !p.contains("inputs") ||
      !p["inputs"].is_object())
    return bad();
  const std::string key = p["methodology"].get<std::string>();
  const auto at = key.rfind('@');
  if (at == std::string::npos) return bad();
  m::Query q;
  q.code = key.substr(0, at);
  q.version = key.substr(at + 1);
  q.region = p["region"].get<std::string>();
  q.occurred_at_us = r.occurred_us;
  for (const auto& [name, value] : p["inputs"].items()) {
    if (!value.is_number()) return bad();
    q.inputs.push_back(m::InputValue{name, value.get<double>(), {}});
  }
  return q;
}

// Keeps a decision on the (pending) record: its new outcome, provenance, the reviewer and the time.
Result<void> write_review(store::Connection& c, const std::string& source_id, const Item& it,
                          std::string_view provenance_text, const ReviewDecision& d,
                          std::int64_t now_us) {
  auto n = c.exec(
      "UPDATE ingest_records SET outcome = ?, reason = ?, reduction_mg = ?, points = ?, "
      "duplicate_of = ?, provisional = ?, provenance = ?, review_decision = ?, reviewer_id = ?, "
      "decided_at_us = ?, review_reason = ? WHERE source_id = ? AND external_id = ? AND "
      "outcome = 'pending_review'",
      {std::string_view(it.out.outcome), std::string_view(it.out.reason), it.out.reduction_mg,
       it.out.points, std::string_view(it.out.duplicate_of),
       std::int64_t{it.out.provisional ? 1 : 0}, provenance_text,
       std::string_view(d.approve ? "approved" : "rejected"), d.reviewer_id, now_us,
       std::string_view(d.approve ? std::string_view{} : std::string_view(d.reason)),
       std::string_view(source_id), std::string_view(it.external_id)});
  if (!n) return fail(n.error());
  TANPU_ASSERT(*n == 1);  // read as pending under the intake lock, in this transaction
  return {};
}

Result<void> check_reason(const ReviewDecision& d) {
  if (d.approve) return {};
  if (d.reason.find_first_not_of(" \t\r\n") == std::string::npos)
    return fail(ErrorKind::invalid, "reason_required",
                "a rejection tells the member why: give a reason", "reason");
  if (d.reason.size() > kReviewReasonBytesMax)
    return fail(ErrorKind::invalid, "reason_too_long",
                "reason: at most " + std::to_string(kReviewReasonBytesMax) + " bytes", "reason");
  return {};
}

}  // namespace

Result<RecordOutcome> Pipeline::file(const Source& source, std::int64_t member_id,
                                     const json& record, const FiledHook& on_new) {
  TANPU_ASSERT(member_id > 0);
  const std::int64_t now_us = clock_.now_us();
  Item base;
  base.record = record;
  validate(base, source, now_us, options_);
  if (base.decided) return base.out;  // refused before the database: nothing is written
  {
    auto evaluator = methodologies_.acquire();
    quantify_item(base, *evaluator, methodologies_.catalog());
  }
  std::vector<Item> items;
  auto written = store_.write([&](store::Connection& c) -> Result<void> {
    if (auto r = lock_members(c, {member_id}); !r) return r;  // claims read, then write
    items.assign(1, base);  // the store may run a job again after a retryable failure
    Item& it = items.front();
    if (auto r = apply_replays(c, source, items); !r) return r;
    if (!it.decided) it.member_id = member_id;
    apply_quantification(items, options_);
    if (!it.decided)
      reject(it, "scenario_not_allowed", "members file evidence-based scenarios only", "scenario");
    if (!it.store_row) return {};
    if (auto r = write_records(c, source, items, now_us); !r) return r;
    return on_new ? on_new(c, it.out) : Result<void>{};
  });
  if (!written) return fail(written.error());
  return items.front().out;
}

Result<RecordOutcome> Pipeline::review(const ReviewDecision& d) {
  TANPU_ASSERT(d.reviewer_id > 0);
  if (auto ok = check_reason(d); !ok) return fail(ok.error());
  std::optional<StoredRecord> seen;
  {
    auto lease = store_.acquire();
    if (!lease) return fail(lease.error());
    auto loaded = load_record(**lease, d.source_id, d.external_id);
    if (!loaded) return fail(loaded.error());
    seen = std::move(*loaded);
  }
  if (!seen) return fail(ErrorKind::not_found, "not_found", "no such record");
  if (seen->member_id == d.reviewer_id)
    return fail(ErrorKind::forbidden, "own_record", "a reviewer does not decide their own records");
  if (seen->outcome != "pending_review") return decided_answer(d, *seen);
  Item base;
  base.external_id = d.external_id;
  base.out.external_id = d.external_id;
  base.scenario = seen->scenario;
  base.content_hash = seen->content_hash;
  base.occurred_us = seen->occurred_us;
  base.member_id = seen->member_id;
  base.out.methodology = seen->methodology;
  base.out.provisional = seen->provisional;
  if (d.approve) {
    // Quantified again (pure, so before the write transaction) under the version it was filed with.
    auto query = query_of(*seen);
    if (!query) return fail(query.error());
    base.query = std::move(*query);
    auto evaluator = methodologies_.acquire();
    quantify_item(base, *evaluator, methodologies_.catalog());
    if (base.q_error)
      return fail(ErrorKind::conflict, "quantification_changed",
                  "the record no longer quantifies under " + seen->methodology + ": " +
                      base.q_error->message);
  }
  const Source source{d.source_id, {}, {}, 0, {}};
  const std::int64_t now_us = clock_.now_us();
  std::vector<Item> items;
  std::optional<RecordOutcome> answer;
  auto written = store_.write([&](store::Connection& c) -> Result<void> {
    if (auto r = lock_members(c, {base.member_id}); !r) return r;  // reviews read, then write
    answer.reset();
    auto now = load_record(c, d.source_id, d.external_id);
    if (!now) return fail(now.error());
    TANPU_ASSERT(now->has_value());             // records are never deleted
    if ((*now)->outcome != "pending_review") {  // another reviewer was quicker
      auto decided = decided_answer(d, **now);
      if (!decided) return fail(decided.error());
      answer = std::move(*decided);
      return {};
    }
    items.assign(1, base);
    Item& it = items.front();
    if (!d.approve) {
      reject(it, "review_rejected", d.reason);
      it.out.field.clear();
      if (auto r = write_review(c, d.source_id, it, (*now)->provenance, d, now_us); !r) return r;
      answer = it.out;
      return {};
    }
    if (auto r = apply_dedup(c, source, items); !r) return r;
    auto usage = load_usage(c, items);
    if (!usage) return fail(usage.error());
    apply_caps(items, *usage, options_);
    TANPU_ASSERT(it.decided && it.store_row);  // duplicate, credited or capped
    if (auto r = post_credits(c, source, items, ledger_, members_, now_us, options_.points); !r)
      return r;
    const std::string prov = it.q ? it.provenance : std::string(kNoProvenance);
    if (auto r = write_review(c, d.source_id, it, prov, d, now_us); !r) return r;
    if (auto r = write_usage(c, *usage); !r) return r;
    if (auto r = write_rollups(c, items, options_.on_credited); !r) return r;
    answer = it.out;
    return {};
  });
  if (!written) return fail(written.error());
  TANPU_ASSERT(answer.has_value());
  return *answer;
}

}  // namespace tanpu::ingest
