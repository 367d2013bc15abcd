// A member's data export (Members::export_data): the members module's own sections, the ledger's,
// then every module's export hook.
#include <array>
#include <string>

#include "core/crypto.h"
#include "core/limits.h"
#include "core/time.h"
#include "ledger/ledger.h"
#include "members/members.h"
#include "members/pii.h"
#include "store/rows_json.h"

namespace tanpu::members {
namespace {

constexpr std::string_view kExportFormat = "tanpu-member-export/1";

Result<std::optional<std::string>> clear_field(const Keys& keys, PiiField field,
                                               const store::Rows& rows, std::size_t col) {
  if (rows.is_null(0, col)) return std::optional<std::string>{};
  auto value = decrypt_pii(keys, field, rows.blob(0, col));
  if (!value) return std::unexpected(value.error());
  return std::optional<std::string>(std::move(*value));
}

nlohmann::json account_json(const ledger::Account& a) {
  return {{"account_id", a.id},
          {"currency", ledger::to_string(a.currency)},
          {"balance", a.balance()},
          {"pending_debits", a.debits_pending},
          {"credits_posted", a.credits_posted},
          {"debits_posted", a.debits_posted}};
}

nlohmann::json transfer_json(const ledger::Transfer& t) {
  return {{"id", t.id.to_hex()},
          {"debit_account_id", t.debit_account_id},
          {"credit_account_id", t.credit_account_id},
          {"amount", t.amount},
          {"code", t.code},
          {"flags", t.flags},
          {"reference", t.reference},
          {"pending_id", t.pending_id.is_zero() ? nlohmann::json(nullptr)
                                                : nlohmann::json(t.pending_id.to_hex())},
          {"timestamp", format_iso8601(t.timestamp_us)}};
}

}  // namespace

Result<nlohmann::json> Members::export_data(std::int64_t member_id) {
  nlohmann::json out = {{"format", kExportFormat},
                        {"exported_at", format_iso8601(clock_.now_us())},
                        {"truncated", nlohmann::json::array()}};
  std::int64_t points_account = 0;
  std::int64_t co2e_account = 0;
  {
    auto lease = store_.acquire();
    if (!lease) return fail(lease.error());
    store::Connection& c = **lease;
    auto rows = c.query(
        "SELECT id, display_name, phone_enc, email_enc, role, created_at_us, closed_at_us, "
        "points_account_id, co2e_account_id FROM members WHERE id = ?",
        {member_id});
    if (!rows) return fail(rows.error());
    if (rows->empty()) return fail(ErrorKind::not_found, "not_found", "no such member");
    auto phone = clear_field(keys_, PiiField::phone, *rows, 2);
    if (!phone) return fail(phone.error());
    auto email = clear_field(keys_, PiiField::email, *rows, 3);
    if (!email) return fail(email.error());
    points_account = rows->i64(0, 7);
    co2e_account = rows->i64(0, 8);
    out["member"] = {
        {"id", rows->i64(0, 0)},
        {"display_name", std::string(rows->text(0, 1))},
        {"phone", *phone ? nlohmann::json(**phone) : nlohmann::json(nullptr)},
        {"email", *email ? nlohmann::json(**email) : nlohmann::json(nullptr)},
        {"role", std::string(rows->text(0, 4))},
        {"created_at", format_iso8601(rows->i64(0, 5))},
        {"closed_at", rows->is_null(0, 6) ? nlohmann::json(nullptr)
                                          : nlohmann::json(format_iso8601(rows->i64(0, 6)))}};
    // A session by its id (the first 8 bytes of the token's hash), never the hash itself.
    auto sessions = c.query(
        "SELECT token_hash, created_at_us, expires_at_us, revoked_at_us FROM member_sessions "
        "WHERE member_id = ? ORDER BY created_at_us DESC LIMIT ?",
        {member_id, store::kExportRowsMax});
    if (!sessions) return fail(sessions.error());
    nlohmann::json list = nlohmann::json::array();
    for (std::size_t r = 0; r < sessions->size(); ++r) {
      list.push_back({{"id", to_hex(sessions->blob(r, 0).first(8))},
                      {"created_at", format_iso8601(sessions->i64(r, 1))},
                      {"expires_at", format_iso8601(sessions->i64(r, 2))},
                      {"ended_at", sessions->is_null(r, 3)
                                       ? nlohmann::json(nullptr)
                                       : nlohmann::json(format_iso8601(sessions->i64(r, 3)))}});
    }
    out["sessions"] = std::move(list);
    for (const ExportHook& hook : export_hooks_) {
      if (auto r = hook(c, member_id, out); !r) return fail(r.error());
    }
  }
  // The ledger: both accounts and every transfer that moved them, newest first.
  nlohmann::json accounts = nlohmann::json::array();
  for (std::int64_t id : {points_account, co2e_account}) {
    auto a = ledger_.lookup_account(id);
    if (!a) return fail(a.error());
    accounts.push_back(account_json(*a));
  }
  out["accounts"] = std::move(accounts);
  nlohmann::json transfers = nlohmann::json::array();
  const std::array<std::int64_t, 2> ids{points_account, co2e_account};
  std::string cursor;
  for (;;) {
    auto page = ledger_.list_transfers(ids, cursor, limits::page_size_max);
    if (!page) return fail(page.error());
    for (const ledger::Transfer& t : page->transfers) {
      if (static_cast<std::int64_t>(transfers.size()) == store::kExportRowsMax) {
        out["truncated"].push_back("transfers");
        page->next_cursor.clear();
        break;
      }
      transfers.push_back(transfer_json(t));
    }
    if (page->next_cursor.empty()) break;
    cursor = std::move(page->next_cursor);
  }
  out["transfers"] = std::move(transfers);
  return out;
}

}  // namespace tanpu::members
