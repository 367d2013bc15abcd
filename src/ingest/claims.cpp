#include "ingest/claims.h"

#include <algorithm>
#include <array>
#include <map>
#include <set>

#include "core/assert.h"
#include "core/crypto.h"

namespace tanpu::ingest {
namespace {

using nlohmann::json;

constexpr std::string_view kClaimsSourceName = "Member claims";
// The fields of a claim's body; the rest is refused (unknown_field), as for a partner record.
constexpr std::array<std::string_view, 6> kClaimFields{"scenario", "region",   "occurred_at",
                                                       "inputs",   "evidence", "claim_id"};

bool starts_with_bytes(std::string_view bytes, std::string_view magic, std::size_t at = 0) {
  return bytes.size() >= at + magic.size() && bytes.substr(at, magic.size()) == magic;
}

// "Image/PNG; charset=x" → "image/png".
std::string media_type_of(std::string_view header) {
  std::string_view t = header.substr(0, header.find(';'));
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  std::string out(t);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool claim_id_ok(std::string_view id) {
  if (id.empty() || id.size() > kClaimIdBytesMax) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

// A claim's external id: unique within the claims source, whoever files it.
std::string claim_external_id(std::int64_t member_id, std::string_view claim_id) {
  return "m" + std::to_string(member_id) + ":" + std::string(claim_id);
}

std::string claim_id_of(std::string_view source_id, std::string_view external_id) {
  if (source_id != kClaimsSourceId) return {};
  const auto colon = external_id.find(':');
  return colon == std::string_view::npos ? std::string()
                                         : std::string(external_id.substr(colon + 1));
}

std::string new_evidence_id() {
  std::array<std::uint8_t, 8> raw{};
  random_bytes(raw);
  return "evd_" + to_hex(raw);
}

std::unexpected<Error> invalid(std::string code, std::string message, std::string field = {}) {
  return fail(ErrorKind::invalid, std::move(code), std::move(message), std::move(field));
}

// The claim id: the body's claim_id or the Idempotency-Key header (equal if both are given).
Result<std::string> read_claim_id(const json& body, std::string_view idempotency_key) {
  std::string id(idempotency_key);
  const auto f = body.find("claim_id");
  if (f != body.end() && !f->is_null()) {
    if (!f->is_string()) return invalid("wrong_type", "claim_id is a string", "claim_id");
    const std::string given = f->get<std::string>();
    if (!id.empty() && id != given)
      return invalid("claim_id_mismatch", "claim_id and the Idempotency-Key header differ",
                     "claim_id");
    id = given;
  }
  if (id.empty())
    return invalid("claim_id_required",
                   "give claim_id or an Idempotency-Key header, so that a retry files once",
                   "claim_id");
  if (!claim_id_ok(id))
    return invalid("invalid_claim_id", "claim_id: 1-64 of [A-Za-z0-9._-]", "claim_id");
  return id;
}

Result<std::vector<std::string>> read_evidence_ids(const json& body) {
  const auto f = body.find("evidence");
  if (f == body.end() || f->is_null() || (f->is_array() && f->empty()))
    return invalid("evidence_required",
                   "a claim carries 1 to 8 evidence ids (POST /v1/me/evidence)", "evidence");
  if (!f->is_array()) return invalid("wrong_type", "evidence is an array of ids", "evidence");
  if (f->size() > kClaimEvidenceMax)
    return invalid("too_many_items", "at most 8 evidence files per claim", "evidence");
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < f->size(); ++i) {
    const std::string field = "evidence[" + std::to_string(i) + "]";
    if (!(*f)[i].is_string()) return invalid("wrong_type", "an evidence id is a string", field);
    std::string id = (*f)[i].get<std::string>();
    if (std::find(ids.begin(), ids.end(), id) != ids.end())
      return invalid("duplicate_evidence", "this evidence id is listed twice", field);
    ids.push_back(std::move(id));
  }
  return ids;
}

// Attaches the claim's evidence, in the transaction that files it: each id must be an unattached
// upload of the member.
Result<void> attach_evidence(store::Connection& c, std::int64_t member_id,
                             const std::vector<std::string>& ids, std::string_view external_id) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::string field = "evidence[" + std::to_string(i) + "]";
    auto rows = c.query("SELECT member_id, source_id FROM ingest_evidence WHERE id = ?",
                        {std::string_view(ids[i])});
    if (!rows) return fail(rows.error());
    // Another member's evidence is answered like an unknown id: ids cannot be probed.
    if (rows->empty() || rows->i64(0, 0) != member_id)
      return invalid("unknown_evidence", "no evidence of yours has this id", field);
    if (!rows->is_null(0, 1))
      return fail(ErrorKind::conflict, "evidence_in_use", "this evidence belongs to another claim",
                  field);
    auto n = c.exec(
        "UPDATE ingest_evidence SET source_id = ?, external_id = ? WHERE id = ? AND source_id IS "
        "NULL",
        {kClaimsSourceId, external_id, std::string_view(ids[i])});
    if (!n) return fail(n.error());
    TANPU_ASSERT(*n == 1);
  }
  auto pending = c.query(
      "SELECT COUNT(*) FROM ingest_records WHERE source_id = ? AND member_id = ? AND outcome = "
      "'pending_review'",
      {kClaimsSourceId, member_id});
  if (!pending) return fail(pending.error());
  if (pending->i64(0, 0) > kClaimsPendingMax)  // the new claim counts
    return fail(ErrorKind::rate_limited, "too_many_pending_claims",
                "at most " + std::to_string(kClaimsPendingMax) +
                    " claims wait for review at once; wait for decisions first");
  return {};
}

// A refused claim as an error: the record's reason is the code.
Error refusal(const RecordOutcome& o) {
  const ErrorKind kind = o.reason == "conflict" ? ErrorKind::conflict : ErrorKind::invalid;
  return Error{kind, o.reason, o.message, o.field};
}

std::span<const std::uint8_t> as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

std::string encode_cursor(const ReviewItem& last) {
  return to_hex(
      as_bytes(json::array({last.received_at_us, last.source_id, last.external_id}).dump()));
}

struct Cursor {
  std::int64_t received_at_us = 0;
  std::string source_id, external_id;
};

Result<Cursor> decode_cursor(std::string_view text) {
  const auto bad = [] {
    return invalid("invalid_cursor", "cursor is not one this API gave", "cursor");
  };
  auto bytes = from_hex(text);
  if (!bytes) return bad();
  const json j = json::parse(bytes->begin(), bytes->end(), nullptr, false);
  if (!j.is_array() || j.size() != 3 || !j[0].is_number_integer() || !j[1].is_string() ||
      !j[2].is_string())
    return bad();
  return Cursor{j[0].get<std::int64_t>(), j[1].get<std::string>(), j[2].get<std::string>()};
}

constexpr std::string_view kItemColumns =
    "r.source_id, coalesce(s.name, ''), r.external_id, r.member_id, r.scenario, r.occurred_at_us, "
    "r.received_at_us, r.outcome, r.reason, r.reduction_mg, r.points, r.methodology, "
    "r.duplicate_of, r.provisional, r.provenance, r.review_decision, r.review_reason, "
    "r.reviewer_id, r.decided_at_us";

ReviewItem item_of(const store::Rows& rows, std::size_t r) {
  ReviewItem it;
  it.source_id = rows.text(r, 0);
  it.source_name = rows.text(r, 1);
  if (it.source_id == kClaimsSourceId) it.source_name = kClaimsSourceName;
  it.external_id = rows.text(r, 2);
  it.claim_id = claim_id_of(it.source_id, it.external_id);
  it.member_id = rows.i64(r, 3);
  it.scenario = rows.text(r, 4);
  it.occurred_at_us = rows.i64(r, 5);
  it.received_at_us = rows.i64(r, 6);
  RecordOutcome& o = it.outcome;
  o.external_id = it.external_id;
  o.outcome = rows.text(r, 7);
  o.reason = rows.text(r, 8);
  o.reduction_mg = rows.i64(r, 9);
  o.points = rows.i64(r, 10);
  o.methodology = rows.text(r, 11);
  o.duplicate_of = rows.text(r, 12);
  o.provisional = rows.i64(r, 13) != 0;
  const json p = json::parse(rows.text(r, 14), nullptr, false);
  if (p.is_object()) {
    it.quantified_mg = p.value("quantified_mg", std::int64_t{0});
    it.quantified_points = p.value("quantified_points", std::int64_t{0});
    it.region = p.value("region", std::string());
    if (p.contains("inputs") && p["inputs"].is_object()) it.inputs = p["inputs"];
  }
  const std::string decision(rows.text(r, 15));
  it.status = o.outcome == "pending_review" ? "pending" : decision;
  o.message = rows.text(r, 16);
  if (!rows.is_null(r, 17)) it.reviewer_id = rows.i64(r, 17);
  if (!rows.is_null(r, 18)) it.decided_at_us = rows.i64(r, 18);
  return it;
}

// The evidence of the items (one query per page).
Result<void> load_evidence(store::Connection& c, std::vector<ReviewItem>& items) {
  if (items.empty()) return {};
  std::string sql =
      "SELECT id, member_id, media_type, size_bytes, sha256, uploaded_at_us, source_id, "
      "external_id FROM ingest_evidence WHERE external_id IN (";
  std::vector<store::Param> params;
  for (std::size_t i = 0; i < items.size(); ++i) {
    sql += i == 0 ? "?" : ", ?";
    params.emplace_back(std::string_view(items[i].external_id));
  }
  sql += ") ORDER BY uploaded_at_us, id";
  auto rows = c.query(sql, params);
  if (!rows) return fail(rows.error());
  std::map<std::pair<std::string, std::string>, std::vector<Evidence>> by_record;
  for (std::size_t r = 0; r < rows->size(); ++r) {
    Evidence e{std::string(rows->text(r, 0)), rows->i64(r, 1),
               std::string(rows->text(r, 2)), rows->i64(r, 3),
               std::string(rows->text(r, 4)), rows->i64(r, 5),
               std::string(rows->text(r, 6)), std::string(rows->text(r, 7))};
    by_record[{e.source_id, e.external_id}].push_back(std::move(e));
  }
  for (auto& it : items) {
    const auto found = by_record.find({it.source_id, it.external_id});
    if (found != by_record.end()) it.evidence = found->second;
  }
  return {};
}

}  // namespace

std::optional<std::string_view> sniff_media_type(std::string_view bytes) {
  if (starts_with_bytes(bytes, "\xFF\xD8\xFF")) return kEvidenceMediaTypes[0];
  if (starts_with_bytes(bytes, "\x89PNG\r\n\x1A\n")) return kEvidenceMediaTypes[1];
  if (starts_with_bytes(bytes, "RIFF") && starts_with_bytes(bytes, "WEBP", 8))
    return kEvidenceMediaTypes[2];
  if (starts_with_bytes(bytes, "%PDF-")) return kEvidenceMediaTypes[3];
  return std::nullopt;
}

Claims::Claims(store::Store& store, Pipeline& pipeline, const Clock& clock,
               std::vector<std::string> review_scenarios)
    : store_(store),
      pipeline_(pipeline),
      clock_(clock),
      claims_source_{std::string(kClaimsSourceId),
                     std::string(kClaimsSourceName),
                     std::move(review_scenarios),
                     0,
                     {}} {}

Result<EvidenceUpload> Claims::upload_evidence(std::int64_t member_id,
                                               std::string_view declared_type,
                                               std::string_view bytes) {
  TANPU_ASSERT(member_id > 0);
  if (bytes.empty()) return invalid("evidence_required", "send the file as the body", "body");
  if (bytes.size() > kEvidenceBytesMax)
    return fail(ErrorKind::too_large, "evidence_too_large",
                "an evidence file is at most " + std::to_string(kEvidenceBytesMax) + " bytes");
  const std::string declared = media_type_of(declared_type);
  const bool accepted = std::find(std::begin(kEvidenceMediaTypes), std::end(kEvidenceMediaTypes),
                                  declared) != std::end(kEvidenceMediaTypes);
  if (!accepted)
    return invalid("evidence_type",
                   "Content-Type must be image/jpeg, image/png, image/webp or application/pdf",
                   "Content-Type");
  const auto sniffed = sniff_media_type(bytes);
  if (!sniffed || *sniffed != declared)
    return invalid("evidence_type", "the file's content is not " + declared, "body");
  EvidenceUpload out;
  out.evidence = Evidence{
      new_evidence_id(),     member_id,       declared, static_cast<std::int64_t>(bytes.size()),
      to_hex(sha256(bytes)), clock_.now_us(), {},       {}};
  const auto raw = as_bytes(bytes);
  auto written = store_.write([&](store::Connection& c) -> Result<void> {
    out.created = false;
    auto same = c.query(
        "SELECT id, uploaded_at_us, source_id, external_id FROM ingest_evidence WHERE member_id = "
        "? AND sha256 = ?",
        {member_id, std::string_view(out.evidence.sha256)});
    if (!same) return fail(same.error());
    if (!same->empty()) {  // the same bytes again: the first upload
      out.evidence.id = same->text(0, 0);
      out.evidence.uploaded_at_us = same->i64(0, 1);
      out.evidence.source_id = same->text(0, 2);
      out.evidence.external_id = same->text(0, 3);
      return {};
    }
    auto waiting =
        c.query("SELECT COUNT(*) FROM ingest_evidence WHERE member_id = ? AND source_id IS NULL",
                {member_id});
    if (!waiting) return fail(waiting.error());
    if (waiting->i64(0, 0) >= kEvidenceUnattachedMax)
      return fail(ErrorKind::rate_limited, "evidence_quota",
                  std::to_string(kEvidenceUnattachedMax) +
                      " uploads wait for a claim already; file claims with them first");
    auto n = c.exec(
        "INSERT INTO ingest_evidence (id, member_id, media_type, size_bytes, sha256, content, "
        "uploaded_at_us) VALUES (?, ?, ?, ?, ?, ?, ?)",
        {std::string_view(out.evidence.id), member_id, std::string_view(declared),
         out.evidence.size_bytes, std::string_view(out.evidence.sha256), raw,
         out.evidence.uploaded_at_us});
    if (!n) return fail(n.error());
    out.created = true;
    return {};
  });
  if (!written) return fail(written.error());
  return out;
}

Result<ReviewItem> Claims::submit(std::int64_t member_id, const json& body,
                                  std::string_view idempotency_key) {
  TANPU_ASSERT(member_id > 0);
  if (!body.is_object()) return invalid("wrong_type", "the body is a JSON object");
  for (const auto& [key, value] : body.items())
    if (std::find(kClaimFields.begin(), kClaimFields.end(), key) == kClaimFields.end())
      return invalid("unknown_field", "a claim has no field '" + key + "'", key);
  auto claim_id = read_claim_id(body, idempotency_key);
  if (!claim_id) return fail(claim_id.error());
  auto evidence = read_evidence_ids(body);
  if (!evidence) return fail(evidence.error());
  const std::string external_id = claim_external_id(member_id, *claim_id);
  json record = json::object();
  for (const char* key : {"scenario", "region", "occurred_at", "inputs"})
    if (body.contains(key)) record[key] = body[key];
  record["external_id"] = external_id;
  record["user_ref"] = "member:" + std::to_string(member_id);
  auto filed = pipeline_.file(claims_source_, member_id, record,
                              [&](store::Connection& c, const RecordOutcome&) -> Result<void> {
                                return attach_evidence(c, member_id, *evidence, external_id);
                              });
  if (!filed) return fail(filed.error());
  if (filed->outcome == "rejected" && !filed->replay) return fail(refusal(*filed));
  auto item = get(kClaimsSourceId, external_id);
  if (!item) return fail(item.error());
  if (filed->replay) {  // the same claim again: with the same evidence, or it is another claim
    std::set<std::string> had, asked(evidence->begin(), evidence->end());
    for (const auto& e : item->evidence) had.insert(e.id);
    if (had != asked)
      return fail(ErrorKind::conflict, "conflict",
                  "this claim_id was used before with other evidence", "evidence");
  }
  item->outcome.replay = filed->replay;
  return item;
}

Result<ReviewPage> Claims::list(std::string_view where, std::vector<store::Param> params,
                                bool newest, std::string_view cursor, std::size_t limit) {
  TANPU_ASSERT(limit > 0);
  std::optional<Cursor> after;
  if (!cursor.empty()) {
    auto decoded = decode_cursor(cursor);
    if (!decoded) return fail(decoded.error());
    after = std::move(*decoded);
  }
  std::string sql = "SELECT " + std::string(kItemColumns) +
                    " FROM ingest_records r LEFT JOIN ingest_sources s ON s.id = r.source_id "
                    "WHERE " +
                    std::string(where);
  if (after) {
    sql += newest ? " AND (r.received_at_us, r.source_id, r.external_id) < (?, ?, ?)"
                  : " AND (r.received_at_us, r.source_id, r.external_id) > (?, ?, ?)";
    params.emplace_back(after->received_at_us);
    params.emplace_back(std::string_view(after->source_id));
    params.emplace_back(std::string_view(after->external_id));
  }
  sql += newest ? " ORDER BY r.received_at_us DESC, r.source_id DESC, r.external_id DESC"
                : " ORDER BY r.received_at_us, r.source_id, r.external_id";
  sql += " LIMIT " + std::to_string(limit + 1);
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto rows = (*lease)->query(sql, params);
  if (!rows) return fail(rows.error());
  ReviewPage page;
  for (std::size_t r = 0; r < rows->size() && r < limit; ++r)
    page.items.push_back(item_of(*rows, r));
  if (rows->size() > limit) page.next_cursor = encode_cursor(page.items.back());
  if (auto ok = load_evidence(**lease, page.items); !ok) return fail(ok.error());
  return page;
}

Result<ReviewPage> Claims::list_member(std::int64_t member_id, std::string_view cursor,
                                       std::size_t limit) {
  return list("r.source_id = ? AND r.member_id = ?", {kClaimsSourceId, member_id}, true, cursor,
              limit);
}

Result<ReviewPage> Claims::list_queue(std::string_view status, std::string_view cursor,
                                      std::size_t limit) {
  if (status == "pending") return list("r.outcome = 'pending_review'", {}, false, cursor, limit);
  if (status == "approved" || status == "rejected")
    return list("r.review_decision = ?", {status}, false, cursor, limit);
  return invalid("invalid_status", "status is pending, approved or rejected", "status");
}

Result<ReviewItem> Claims::get(std::string_view source_id, std::string_view external_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto rows = (*lease)->query("SELECT " + std::string(kItemColumns) +
                                  " FROM ingest_records r LEFT JOIN ingest_sources s ON s.id = "
                                  "r.source_id WHERE r.source_id = ? AND r.external_id = ?",
                              {source_id, external_id});
  if (!rows) return fail(rows.error());
  if (rows->empty()) return fail(ErrorKind::not_found, "not_found", "no such record");
  std::vector<ReviewItem> items{item_of(*rows, 0)};
  if (auto ok = load_evidence(**lease, items); !ok) return fail(ok.error());
  return std::move(items.front());
}

Result<EvidenceFile> Claims::evidence_file(std::string_view evidence_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  // Only evidence of a record: an upload no claim uses is its member's alone.
  auto rows = (*lease)->query(
      "SELECT media_type, content FROM ingest_evidence WHERE id = ? AND source_id IS NOT NULL",
      {evidence_id});
  if (!rows) return fail(rows.error());
  if (rows->empty()) return fail(ErrorKind::not_found, "not_found", "no such evidence");
  const auto content = rows->blob(0, 1);
  return EvidenceFile{std::string(rows->text(0, 0)),
                      std::string(reinterpret_cast<const char*>(content.data()), content.size())};
}

Result<ReviewItem> Claims::decide(const ReviewDecision& decision) {
  auto outcome = pipeline_.review(decision);
  if (!outcome) return fail(outcome.error());
  auto item = get(decision.source_id, decision.external_id);
  if (!item) return fail(item.error());
  item->outcome.replay = outcome->replay;
  return item;
}

}  // namespace tanpu::ingest
