// Evidence claims and review on both engines: uploads and their checks, claims filed and refused,
// the one review queue (member claims and partner records), approval crediting through the
// pipeline (dedup, caps, ledger, rollups), rejection crediting nothing, and final decisions.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "core/crypto.h"
#include "ingest/claims.h"
#include "ingest/consents.h"
#include "ingest/ingest_fixture.h"
#include "ingest/member_data.h"
#include "ingest/pipeline.h"
#include "ingest/sources.h"
#include "members/members_fixture.h"
#include "support/test_catalog.h"

namespace tanpu::test {
namespace {

using nlohmann::json;

// Kept small: the magic numbers and a little padding.
const std::string kJpeg = std::string("\xFF\xD8\xFF\xE0", 4) + "jpeg-body-1";
const std::string kPng = std::string("\x89PNG\r\n\x1A\n", 8) + "png-body";
const std::string kWebp = std::string("RIFF\x10\x00\x00\x00WEBPVP8 ", 16) + "webp-body";
const std::string kPdf = "%PDF-1.7\n%body";

// kStartUs is 2026-11-18; the meal was the day before.
constexpr const char* kLunch = "2026-11-17T12:00:00+08:00";
constexpr const char* kDinner = "2026-11-16T18:30:00+08:00";
constexpr const char* kBreakfast = "2026-11-15T08:00:00+08:00";

class ClaimsTest : public IngestFixture {
 protected:
  void SetUp() override {
    IngestFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    pipeline_ = std::make_unique<ingest::Pipeline>(db_->store(), *ledger_, *members_, *pool_,
                                                   clock_, options_);
    claims_ = std::make_unique<ingest::Claims>(db_->store(), *pipeline_, clock_,
                                               options_.review_scenarios);
    alice_ = must_register(std::nullopt, "alice@example.com");
    bob_ = must_register(std::nullopt, "bob@example.com");
    reviewer_ = must_register(std::nullopt, "rev@example.com", members::Role::reviewer);
  }
  void TearDown() override {
    claims_.reset();
    pipeline_.reset();
    IngestFixture::TearDown();
  }

  std::string upload(std::int64_t member, const std::string& bytes,
                     const std::string& type = "image/jpeg") {
    auto up = claims_->upload_evidence(member, type, bytes);
    EXPECT_TRUE(up.has_value()) << (up ? "" : up.error().code);
    return up ? up->evidence.id : std::string();
  }

  static json claim(const std::string& id, const std::vector<std::string>& evidence,
                    const char* at = kLunch, int checkins = 1) {
    return json{
        {"claim_id", id},        {"scenario", "clean_plate"},          {"occurred_at", at},
        {"region", "CN-LN-SHE"}, {"inputs", {{"checkins", checkins}}}, {"evidence", evidence}};
  }

  ingest::ReviewDecision approve(const std::string& source, const std::string& external) {
    return {source, external, true, reviewer_.id, {}};
  }
  ingest::ReviewDecision reject(const std::string& source, const std::string& external,
                                const std::string& reason) {
    return {source, external, false, reviewer_.id, reason};
  }

  // A canteen partner with alice bound, and a pending clean-plate record of hers.
  ingest::Source canteen_with_pending(const std::string& external_id, const char* at = kLunch) {
    auto created = sources_->create("Canteen", std::vector<std::string>{"clean_plate"});
    EXPECT_TRUE(created.has_value());
    auto binding = consents_->create_binding(created->source.id, "c-alice");
    EXPECT_TRUE(binding.has_value());
    EXPECT_TRUE(consents_->grant(alice_.id, binding->code).has_value());
    auto out = pipeline_->ingest(created->source, partner_batch(external_id, at));
    EXPECT_TRUE(out.has_value());
    EXPECT_EQ(out->at(0).outcome, "pending_review");
    return created->source;
  }

  static std::string partner_batch(const std::string& external_id, const char* at = kLunch) {
    return json::array({{{"external_id", external_id},
                         {"user_ref", "c-alice"},
                         {"scenario", "clean_plate"},
                         {"occurred_at", at},
                         {"region", "CN-LN-SHE"},
                         {"inputs", {{"checkins", 1}}}}})
        .dump();
  }

  ingest::PipelineOptions options_;
  std::unique_ptr<ingest::Pipeline> pipeline_;
  std::unique_ptr<ingest::Claims> claims_;
  members::MemberView alice_, bob_, reviewer_;
};

// ingest::close_member, the ingestion part of closing an account (members::ClosureHook).
TEST_P(ClaimsTest, ClosingAnAccountWaitsForReviewsThenRevokesConsentsAndDropsEvidence) {
  const std::string approved_file = upload(alice_.id, kJpeg);
  const std::string pending_file = upload(alice_.id, kPng, "image/png");
  const std::string loose_file = upload(alice_.id, kPdf, "application/pdf");
  const std::string bobs_file = upload(bob_.id, kJpeg);
  auto approved = claims_->submit(alice_.id, claim("c-approved", {approved_file}), {});
  ASSERT_OK(approved);
  ASSERT_OK(claims_->decide(approve(approved->source_id, approved->external_id)));
  auto pending = claims_->submit(alice_.id, claim("c-pending", {pending_file}, kDinner), {});
  ASSERT_OK(pending);
  const auto source = canteen_with_pending("p-1", kBreakfast);  // alice's consent, and a record
  const auto close = [&]() -> Result<void> {
    return db_->store().write(
        [&](store::Connection& c) { return ingest::close_member(c, alice_.id, clock_.now_us()); });
  };
  const std::string evidence = "SELECT COUNT(*) FROM ingest_evidence";
  const std::string live_consents =
      "SELECT COUNT(*) FROM ingest_consents WHERE revoked_at_us IS NULL";
  // Two records wait for review: refused, nothing changed.
  auto refused = close();
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, "review_pending");
  EXPECT_NE(refused.error().message.find("2 of your"), std::string::npos);
  EXPECT_EQ(scalar(evidence), 4);
  EXPECT_EQ(scalar(live_consents), 1);
  ASSERT_OK(claims_->decide(reject(pending->source_id, pending->external_id, "blurry")));
  ASSERT_OK(claims_->decide(approve(source.id, "p-1")));
  ASSERT_OK(close());
  // The consent is revoked; the approved claim's evidence and bob's stay; the rest is gone.
  EXPECT_EQ(scalar(live_consents), 0);
  EXPECT_EQ(scalar(evidence), 2);
  EXPECT_TRUE(claims_->evidence_file(approved_file).has_value());
  EXPECT_FALSE(claims_->evidence_file(pending_file).has_value());
  const auto kept = [&](const std::string& id) {
    return scalar("SELECT COUNT(*) FROM ingest_evidence WHERE id = '" + id + "'");
  };
  EXPECT_EQ(kept(bobs_file), 1);  // an upload of bob's not yet in a claim
  EXPECT_EQ(kept(loose_file), 0);
  // The partner's next record for alice is refused for want of consent.
  auto after = pipeline_->ingest(source, partner_batch("p-2", kDinner));
  ASSERT_OK(after);
  EXPECT_EQ(after->at(0).outcome, "rejected");
  EXPECT_EQ(after->at(0).reason, "no_consent");
}

TEST(EvidenceSniff, KnowsTheFourTypesByTheirMagicNumbers) {
  EXPECT_EQ(ingest::sniff_media_type(kJpeg), "image/jpeg");
  EXPECT_EQ(ingest::sniff_media_type(kPng), "image/png");
  EXPECT_EQ(ingest::sniff_media_type(kWebp), "image/webp");
  EXPECT_EQ(ingest::sniff_media_type(kPdf), "application/pdf");
  EXPECT_FALSE(ingest::sniff_media_type("GIF89a....").has_value());
  EXPECT_FALSE(ingest::sniff_media_type("RIFF\x10\x00\x00\x00WAVE").has_value());
  EXPECT_FALSE(ingest::sniff_media_type("\xFF\xD8").has_value());  // cut short
  EXPECT_FALSE(ingest::sniff_media_type("").has_value());
}

TEST_P(ClaimsTest, UploadsAreCheckedByContentAndKeptOnce) {
  auto jpeg = claims_->upload_evidence(alice_.id, "image/jpeg", kJpeg);
  ASSERT_OK(jpeg);
  EXPECT_TRUE(jpeg->created);
  EXPECT_EQ(jpeg->evidence.size_bytes, static_cast<std::int64_t>(kJpeg.size()));
  EXPECT_EQ(jpeg->evidence.sha256, to_hex(sha256(kJpeg)));
  EXPECT_TRUE(jpeg->evidence.id.starts_with("evd_"));
  ASSERT_OK(claims_->upload_evidence(alice_.id, "Image/PNG; q=1", kPng));
  ASSERT_OK(claims_->upload_evidence(alice_.id, "image/webp", kWebp));
  ASSERT_OK(claims_->upload_evidence(alice_.id, "application/pdf", kPdf));
  // The same bytes again: the first upload, not a second row.
  auto again = claims_->upload_evidence(alice_.id, "image/jpeg", kJpeg);
  ASSERT_OK(again);
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->evidence.id, jpeg->evidence.id);
  EXPECT_EQ(count("ingest_evidence"), 4);
  // The bytes are stored as sent.
  auto lease = db_->store().acquire();
  auto rows = (*lease)->query("SELECT content FROM ingest_evidence WHERE id = ?",
                              {std::string_view(jpeg->evidence.id)});
  ASSERT_OK(rows);
  const auto blob = rows->blob(0, 0);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(blob.data()), blob.size()), kJpeg);

  const auto refused = [&](std::string_view type, const std::string& bytes) {
    auto r = claims_->upload_evidence(bob_.id, type, bytes);
    EXPECT_FALSE(r.has_value());
    return r ? std::string("accepted") : r.error().code;
  };
  EXPECT_EQ(refused("image/png", kJpeg), "evidence_type");  // the header lies
  EXPECT_EQ(refused("image/jpeg", "GIF89a-not-a-jpeg"), "evidence_type");
  EXPECT_EQ(refused("image/gif", "GIF89a...."), "evidence_type");
  EXPECT_EQ(refused("text/html", "<script>"), "evidence_type");
  EXPECT_EQ(refused("", kJpeg), "evidence_type");
  EXPECT_EQ(refused("image/jpeg", ""), "evidence_required");
  std::string big = kJpeg + std::string(ingest::kEvidenceBytesMax, 'x');
  EXPECT_EQ(refused("image/jpeg", big), "evidence_too_large");
  big.resize(ingest::kEvidenceBytesMax);  // exactly the limit is accepted
  ASSERT_OK(claims_->upload_evidence(bob_.id, "image/jpeg", big));
  EXPECT_EQ(count("ingest_evidence"), 5);
}

TEST_P(ClaimsTest, UploadsWaitingForAClaimAreBounded) {
  for (std::int64_t i = 0; i < ingest::kEvidenceUnattachedMax; ++i)
    upload(alice_.id, kJpeg + std::to_string(i));
  auto over = claims_->upload_evidence(alice_.id, "image/jpeg", kJpeg + "one-more");
  ASSERT_FALSE(over.has_value());
  EXPECT_EQ(over.error().code, "evidence_quota");
  EXPECT_EQ(over.error().kind, ErrorKind::rate_limited);
  EXPECT_EQ(count("ingest_evidence"), ingest::kEvidenceUnattachedMax);
  // Bob's quota is his own; and a claim frees Alice's.
  upload(bob_.id, kJpeg + "bob");
  ASSERT_OK(claims_->submit(alice_.id, claim("c1", {upload(alice_.id, kJpeg + "0")}), {}));
  upload(alice_.id, kJpeg + "one-more");
}

TEST_P(ClaimsTest, ApprovalCreditsThroughThePipelineOnce) {
  const std::string e1 = upload(alice_.id, kJpeg);
  const std::string e2 = upload(alice_.id, kPdf, "application/pdf");
  auto filed = claims_->submit(alice_.id, claim("lunch-1", {e1, e2}), {});
  ASSERT_OK(filed);
  EXPECT_EQ(filed->status, "pending");
  EXPECT_EQ(filed->outcome.outcome, "pending_review");
  EXPECT_EQ(filed->source_id, ingest::kClaimsSourceId);
  EXPECT_EQ(filed->claim_id, "lunch-1");
  EXPECT_EQ(filed->outcome.methodology, "tanpu-cn-clean-plate@2026.1");
  EXPECT_GT(filed->quantified_mg, 0);
  ASSERT_EQ(filed->evidence.size(), 2u);
  EXPECT_EQ(balance(alice_.co2e_account_id), 0);  // nothing before review

  auto queue = claims_->list_queue("pending", {}, 50);
  ASSERT_OK(queue);
  ASSERT_EQ(queue->items.size(), 1u);
  EXPECT_EQ(queue->items[0].external_id, filed->external_id);
  EXPECT_EQ(queue->items[0].member_id, alice_.id);

  auto decided = claims_->decide(approve(filed->source_id, filed->external_id));
  ASSERT_OK(decided);
  EXPECT_EQ(decided->status, "approved");
  EXPECT_EQ(decided->outcome.outcome, "credited");
  EXPECT_FALSE(decided->outcome.replay);
  EXPECT_EQ(decided->outcome.reduction_mg, filed->quantified_mg);
  EXPECT_EQ(decided->outcome.points, filed->quantified_points);
  EXPECT_EQ(decided->reviewer_id, reviewer_.id);
  EXPECT_EQ(decided->decided_at_us, kStartUs);
  EXPECT_EQ(balance(alice_.co2e_account_id), filed->quantified_mg);
  EXPECT_EQ(balance(alice_.points_account_id), filed->quantified_points);
  // Usage and rollups, as for a batch.
  EXPECT_EQ(scalar("SELECT reduction_mg FROM ingest_member_usage WHERE period = 'm:2026-11'"),
            filed->quantified_mg);
  EXPECT_EQ(scalar("SELECT records FROM ingest_rollup_day_scenario WHERE scenario = "
                   "'clean_plate'"),
            1);
  EXPECT_EQ(scalar("SELECT records FROM ingest_member_usage WHERE period = 'd:2026-11-17' AND "
                   "code = 'tanpu-cn-clean-plate'"),
            1);

  // The same decision again: answered, nothing more credited. The other one: refused.
  auto twice = claims_->decide(approve(filed->source_id, filed->external_id));
  ASSERT_OK(twice);
  EXPECT_TRUE(twice->outcome.replay);
  EXPECT_EQ(twice->outcome.outcome, "credited");
  auto contra = claims_->decide(reject(filed->source_id, filed->external_id, "blurry"));
  ASSERT_FALSE(contra.has_value());
  EXPECT_EQ(contra.error().code, "already_decided");
  EXPECT_EQ(contra.error().kind, ErrorKind::conflict);
  EXPECT_EQ(balance(alice_.co2e_account_id), filed->quantified_mg);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM ledger_transfers"), 2);  // co2e and points, once
  auto empty = claims_->list_queue("pending", {}, 50);
  ASSERT_OK(empty);
  EXPECT_TRUE(empty->items.empty());
  auto approved = claims_->list_queue("approved", {}, 50);
  ASSERT_OK(approved);
  EXPECT_EQ(approved->items.size(), 1u);
}

TEST_P(ClaimsTest, RejectionNeedsAReasonCreditsNothingAndIsFinal) {
  auto filed = claims_->submit(alice_.id, claim("lunch-1", {upload(alice_.id, kJpeg)}), {});
  ASSERT_OK(filed);
  for (const std::string blank : {"", "   "}) {
    auto r = claims_->decide(reject(filed->source_id, filed->external_id, blank));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, "reason_required");
  }
  auto long_reason = claims_->decide(reject(filed->source_id, filed->external_id,
                                            std::string(ingest::kReviewReasonBytesMax + 1, 'x')));
  ASSERT_FALSE(long_reason.has_value());
  EXPECT_EQ(long_reason.error().code, "reason_too_long");
  EXPECT_EQ(claims_->list_queue("pending", {}, 50)->items.size(), 1u);  // still waiting

  auto rejected = claims_->decide(reject(filed->source_id, filed->external_id, "plate not empty"));
  ASSERT_OK(rejected);
  EXPECT_EQ(rejected->status, "rejected");
  EXPECT_EQ(rejected->outcome.outcome, "rejected");
  EXPECT_EQ(rejected->outcome.reason, "review_rejected");
  EXPECT_EQ(rejected->outcome.message, "plate not empty");
  EXPECT_EQ(rejected->outcome.reduction_mg, 0);
  auto approve_after = claims_->decide(approve(filed->source_id, filed->external_id));
  ASSERT_FALSE(approve_after.has_value());
  EXPECT_EQ(approve_after.error().code, "already_decided");
  auto same = claims_->decide(reject(filed->source_id, filed->external_id, "another reason"));
  ASSERT_OK(same);
  EXPECT_TRUE(same->outcome.replay);
  EXPECT_EQ(same->outcome.message, "plate not empty");  // the first reason stays
  EXPECT_EQ(balance(alice_.co2e_account_id), 0);
  EXPECT_EQ(balance(alice_.points_account_id), 0);
  EXPECT_EQ(count("ingest_member_usage"), 0);
  // The member sees the decision.
  auto mine = claims_->list_member(alice_.id, {}, 10);
  ASSERT_OK(mine);
  ASSERT_EQ(mine->items.size(), 1u);
  EXPECT_EQ(mine->items[0].status, "rejected");
}

TEST_P(ClaimsTest, RefusedClaimsKeepNothing) {
  const std::string mine = upload(alice_.id, kJpeg);
  const std::string bobs = upload(bob_.id, kPng, "image/png");
  const auto refused = [&](const json& body, std::string_view key = {}) {
    auto r = claims_->submit(alice_.id, body, key);
    EXPECT_FALSE(r.has_value());
    return r ? std::string("accepted") : r.error().code + "@" + r.error().field;
  };
  json metro = claim("c1", {mine});
  metro["scenario"] = "metro";
  metro["inputs"] = {{"distance_km", 5}};
  EXPECT_EQ(refused(metro), "scenario_not_allowed@scenario");
  EXPECT_EQ(refused(claim("c1", {"evd_0000000000000000"})), "unknown_evidence@evidence[0]");
  EXPECT_EQ(refused(claim("c1", {mine, bobs})), "unknown_evidence@evidence[1]");
  EXPECT_EQ(refused(claim("c1", {mine, mine})), "duplicate_evidence@evidence[1]");
  EXPECT_EQ(refused(claim("c1", {})), "evidence_required@evidence");
  EXPECT_EQ(refused(claim("c1", std::vector<std::string>(9, mine))), "too_many_items@evidence");
  EXPECT_EQ(refused(claim("c1", {mine}, "2026-11-19T12:00:00+08:00")), "in_future@occurred_at");
  EXPECT_EQ(refused(claim("c1", {mine}, "2026-09-01T12:00:00+08:00")), "too_old@occurred_at");
  EXPECT_EQ(refused(claim("c1", {mine}, "yesterday")), "invalid_time@occurred_at");
  EXPECT_EQ(refused(claim("c1", {mine}, kLunch, 4)), "input_out_of_bounds@inputs.checkins");
  EXPECT_EQ(refused(claim("c1", {mine}, kLunch, 0)), "input_out_of_bounds@inputs.checkins");
  json no_id = claim("c1", {mine});
  no_id.erase("claim_id");
  EXPECT_EQ(refused(no_id), "claim_id_required@claim_id");
  EXPECT_EQ(refused(claim("bad id!", {mine})), "invalid_claim_id@claim_id");
  EXPECT_EQ(refused(claim("c1", {mine}), "other-key"), "claim_id_mismatch@claim_id");
  json extra = claim("c1", {mine});
  extra["methodology"] = "tanpu-cn-clean-plate";
  EXPECT_EQ(refused(extra), "unknown_field@methodology");
  json forged = claim("c1", {mine});
  forged["external_id"] = "m2:c1";
  EXPECT_EQ(refused(forged), "unknown_field@external_id");
  json no_region = claim("c1", {mine});
  no_region.erase("region");
  EXPECT_NE(refused(no_region), "accepted");
  EXPECT_EQ(count("ingest_records"), 0);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM ingest_evidence WHERE source_id IS NOT NULL"), 0);
  // With the header as the claim id it is accepted.
  json by_header = claim("c1", {mine});
  by_header.erase("claim_id");
  auto ok = claims_->submit(alice_.id, by_header, "c1");
  ASSERT_OK(ok);
  EXPECT_EQ(ok->claim_id, "c1");
  EXPECT_EQ(balance(alice_.co2e_account_id), 0);
}

TEST_P(ClaimsTest, AClaimIdFilesOnceAndEvidenceEvidencesOneClaim) {
  const std::string e1 = upload(alice_.id, kJpeg);
  auto first = claims_->submit(alice_.id, claim("c1", {e1}), {});
  ASSERT_OK(first);
  EXPECT_FALSE(first->outcome.replay);
  auto again = claims_->submit(alice_.id, claim("c1", {e1}), {});
  ASSERT_OK(again);
  EXPECT_TRUE(again->outcome.replay);
  EXPECT_EQ(again->external_id, first->external_id);
  auto changed = claims_->submit(alice_.id, claim("c1", {e1}, kLunch, 2), {});
  ASSERT_FALSE(changed.has_value());
  EXPECT_EQ(changed.error().code, "conflict");
  const std::string e2 = upload(alice_.id, kPng, "image/png");
  auto other_evidence = claims_->submit(alice_.id, claim("c1", {e2}), {});
  ASSERT_FALSE(other_evidence.has_value());
  EXPECT_EQ(other_evidence.error().code, "conflict");
  auto reused = claims_->submit(alice_.id, claim("c2", {e1}, "2026-11-17T19:00:00+08:00"), {});
  ASSERT_FALSE(reused.has_value());
  EXPECT_EQ(reused.error().code, "evidence_in_use");
  EXPECT_EQ(reused.error().kind, ErrorKind::conflict);
  // The same claim id of another member is another claim.
  auto bobs = claims_->submit(bob_.id, claim("c1", {upload(bob_.id, kPdf, "application/pdf")}), {});
  ASSERT_OK(bobs);
  EXPECT_NE(bobs->external_id, first->external_id);
  EXPECT_EQ(count("ingest_records"), 2);
}

TEST_P(ClaimsTest, PartnerRecordsShareTheQueueAndReplaysAnswerTheDecision) {
  const auto canteen = canteen_with_pending("meal-1");
  clock_.advance_us(1'000'000);  // the claim comes a second after the partner's record
  auto filed = claims_->submit(bob_.id, claim("c1", {upload(bob_.id, kJpeg)}), {});
  ASSERT_OK(filed);
  auto queue = claims_->list_queue("pending", {}, 1);  // one per page: oldest first
  ASSERT_OK(queue);
  ASSERT_EQ(queue->items.size(), 1u);
  EXPECT_EQ(queue->items[0].source_id, canteen.id);
  EXPECT_EQ(queue->items[0].source_name, "Canteen");
  EXPECT_TRUE(queue->items[0].evidence.empty());
  ASSERT_FALSE(queue->next_cursor.empty());
  auto next = claims_->list_queue("pending", queue->next_cursor, 1);
  ASSERT_OK(next);
  ASSERT_EQ(next->items.size(), 1u);
  EXPECT_EQ(next->items[0].source_id, ingest::kClaimsSourceId);
  EXPECT_TRUE(next->next_cursor.empty());
  auto bad = claims_->list_queue("pending", "zz", 1);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, "invalid_cursor");
  auto bad_status = claims_->list_queue("everything", {}, 1);
  ASSERT_FALSE(bad_status.has_value());
  EXPECT_EQ(bad_status.error().code, "invalid_status");

  auto approved = claims_->decide(approve(canteen.id, "meal-1"));
  ASSERT_OK(approved);
  EXPECT_EQ(approved->outcome.outcome, "credited");
  const std::int64_t credited = approved->outcome.reduction_mg;
  EXPECT_GT(credited, 0);
  EXPECT_EQ(balance(alice_.co2e_account_id), credited);
  // The partner sends the record again: the decided outcome, nothing more.
  auto replay = pipeline_->ingest(canteen, partner_batch("meal-1"));
  ASSERT_OK(replay);
  EXPECT_EQ(replay->at(0).outcome, "credited");
  EXPECT_TRUE(replay->at(0).replay);
  EXPECT_EQ(replay->at(0).reduction_mg, credited);
  EXPECT_EQ(balance(alice_.co2e_account_id), credited);

  // A rejected partner record answers rejected, with the reviewer's reason.
  auto second = pipeline_->ingest(canteen, partner_batch("meal-2", "2026-11-17T19:00:00+08:00"));
  ASSERT_OK(second);
  ASSERT_OK(claims_->decide(reject(canteen.id, "meal-2", "no photo from the canteen")));
  auto replay2 = pipeline_->ingest(canteen, partner_batch("meal-2", "2026-11-17T19:00:00+08:00"));
  ASSERT_OK(replay2);
  EXPECT_EQ(replay2->at(0).outcome, "rejected");
  EXPECT_EQ(replay2->at(0).reason, "review_rejected");
  EXPECT_EQ(replay2->at(0).message, "no photo from the canteen");
  EXPECT_EQ(balance(alice_.co2e_account_id), credited);
}

TEST_P(ClaimsTest, ApprovalAppliesCrossSourceDedupAndCaps) {
  // The canteen reported Alice's lunch, and Alice claims the same lunch: credited once.
  const auto canteen = canteen_with_pending("meal-1");
  ASSERT_OK(claims_->decide(approve(canteen.id, "meal-1")));
  const std::int64_t once = balance(alice_.co2e_account_id);
  EXPECT_GT(once, 0);
  auto filed = claims_->submit(
      alice_.id, claim("same-lunch", {upload(alice_.id, kJpeg)}, "2026-11-17T12:30:00+08:00"), {});
  ASSERT_OK(filed);
  auto dup = claims_->decide(approve(filed->source_id, filed->external_id));
  ASSERT_OK(dup);
  EXPECT_EQ(dup->status, "approved");
  EXPECT_EQ(dup->outcome.outcome, "duplicate");
  EXPECT_EQ(dup->outcome.duplicate_of, canteen.id + "/meal-1");
  EXPECT_EQ(balance(alice_.co2e_account_id), once);
  // Three meals a day at most (per_member_day_records): the fourth approved claim is capped at 0.
  const char* times[] = {"2026-11-17T07:00:00+08:00", "2026-11-17T18:00:00+08:00",
                         "2026-11-17T22:00:00+08:00"};
  std::vector<ingest::ReviewItem> later;
  for (int i = 0; i < 3; ++i) {
    auto c =
        claims_->submit(alice_.id,
                        claim("meal-" + std::to_string(i),
                              {upload(alice_.id, kPng + std::to_string(i), "image/png")}, times[i]),
                        {});
    ASSERT_OK(c);
    later.push_back(*c);
  }
  ASSERT_OK(claims_->decide(approve(later[0].source_id, later[0].external_id)));
  ASSERT_OK(claims_->decide(approve(later[1].source_id, later[1].external_id)));
  const std::int64_t three = balance(alice_.co2e_account_id);
  auto capped = claims_->decide(approve(later[2].source_id, later[2].external_id));
  ASSERT_OK(capped);
  EXPECT_EQ(capped->outcome.outcome, "capped");
  EXPECT_EQ(capped->outcome.reduction_mg, 0);
  EXPECT_EQ(balance(alice_.co2e_account_id), three);
}

TEST_P(ClaimsTest, DecisionsNeedAPendingRecordOfSomeoneElse) {
  auto filed = claims_->submit(reviewer_.id, claim("mine", {upload(reviewer_.id, kJpeg)}), {});
  ASSERT_OK(filed);
  auto own = claims_->decide(approve(filed->source_id, filed->external_id));
  ASSERT_FALSE(own.has_value());
  EXPECT_EQ(own.error().code, "own_record");
  EXPECT_EQ(own.error().kind, ErrorKind::forbidden);
  EXPECT_EQ(balance(reviewer_.co2e_account_id), 0);
  auto unknown = claims_->decide(approve(std::string(ingest::kClaimsSourceId), "m1:nope"));
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code, "not_found");
  // A credited partner record never waited for review.
  auto created = sources_->create("Metro", std::vector<std::string>{"metro"});
  ASSERT_OK(created);
  auto binding = consents_->create_binding(created->source.id, "u-alice");
  ASSERT_OK(binding);
  ASSERT_OK(consents_->grant(alice_.id, binding->code));
  auto ride =
      pipeline_->ingest(created->source, json::array({{{"external_id", "r1"},
                                                       {"user_ref", "u-alice"},
                                                       {"scenario", "metro"},
                                                       {"occurred_at", "2026-11-17T08:00:00+08:00"},
                                                       {"region", "CN-HB-WUH"},
                                                       {"inputs", {{"distance_km", 12.5}}}}})
                                             .dump());
  ASSERT_OK(ride);
  ASSERT_EQ(ride->at(0).outcome, "credited");
  auto not_pending = claims_->decide(reject(created->source.id, "r1", "no"));
  ASSERT_FALSE(not_pending.has_value());
  EXPECT_EQ(not_pending.error().code, "not_pending");
  EXPECT_EQ(balance(alice_.co2e_account_id), ride->at(0).reduction_mg);
}

TEST_P(ClaimsTest, TheReviewerRoleIsGrantedAndRevoked) {
  auto login = [&](const std::string& who) {
    auto s = members_->login(who, "s3cret-pass");
    EXPECT_TRUE(s.has_value());
    auto p = members_->authenticate(s->token);
    EXPECT_TRUE(p.has_value());
    return p->role;
  };
  EXPECT_EQ(login("rev@example.com"), members::Role::reviewer);
  EXPECT_EQ(members_->get(reviewer_.id)->role, members::Role::reviewer);
  EXPECT_EQ(login("bob@example.com"), members::Role::member);
  auto granted = members_->grant_reviewer(bob_.id, reviewer_.id);
  ASSERT_OK(granted);
  EXPECT_EQ(granted->role, members::Role::reviewer);
  ASSERT_OK(members_->grant_reviewer(bob_.id, reviewer_.id));  // again: a no-op
  EXPECT_EQ(login("bob@example.com"), members::Role::reviewer);
  auto revoked = members_->revoke_reviewer(bob_.id);
  ASSERT_OK(revoked);
  EXPECT_EQ(revoked->role, members::Role::member);
  EXPECT_EQ(login("bob@example.com"), members::Role::member);
  auto twice = members_->revoke_reviewer(bob_.id);
  ASSERT_FALSE(twice.has_value());
  EXPECT_EQ(twice.error().code, "not_found");
  auto nobody = members_->grant_reviewer(999'999, reviewer_.id);
  ASSERT_FALSE(nobody.has_value());
  EXPECT_EQ(nobody.error().code, "not_found");
  EXPECT_EQ(members::to_string(members::Role::reviewer), "reviewer");
}

TANPU_INSTANTIATE_ENGINES(ClaimsTest);

}  // namespace
}  // namespace tanpu::test
