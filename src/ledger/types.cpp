#include "ledger/types.h"

namespace tanpu::ledger {

std::string_view to_string(Currency c) {
  switch (c) {
    case Currency::points:
      return "points";
    case Currency::co2e_mg:
      return "co2e_mg";
  }
  return "points";
}

std::optional<Currency> parse_currency(std::string_view text) {
  if (text == "points") return Currency::points;
  if (text == "co2e_mg") return Currency::co2e_mg;
  return std::nullopt;
}

std::string_view to_string(TransferStatus s) {
  switch (s) {
    case TransferStatus::ok:
      return "ok";
    case TransferStatus::exists:
      return "exists";
    case TransferStatus::conflict:
      return "conflict";
    case TransferStatus::linked_event_failed:
      return "linked_event_failed";
    case TransferStatus::linked_chain_open:
      return "linked_chain_open";
    case TransferStatus::invalid_id:
      return "invalid_id";
    case TransferStatus::invalid_flags:
      return "invalid_flags";
    case TransferStatus::invalid_code:
      return "invalid_code";
    case TransferStatus::amount_must_be_positive:
      return "amount_must_be_positive";
    case TransferStatus::reference_too_long:
      return "reference_too_long";
    case TransferStatus::accounts_must_differ:
      return "accounts_must_differ";
    case TransferStatus::debit_account_not_found:
      return "debit_account_not_found";
    case TransferStatus::credit_account_not_found:
      return "credit_account_not_found";
    case TransferStatus::currency_mismatch:
      return "currency_mismatch";
    case TransferStatus::exceeds_credits:
      return "exceeds_credits";
    case TransferStatus::debit_account_credit_only:
      return "debit_account_credit_only";
    case TransferStatus::overflow:
      return "overflow";
    case TransferStatus::timeout_out_of_range:
      return "timeout_out_of_range";
    case TransferStatus::timeout_without_pending:
      return "timeout_without_pending";
    case TransferStatus::pending_not_found:
      return "pending_not_found";
    case TransferStatus::pending_not_pending:
      return "pending_not_pending";
    case TransferStatus::pending_already_posted:
      return "pending_already_posted";
    case TransferStatus::pending_already_voided:
      return "pending_already_voided";
    case TransferStatus::pending_expired:
      return "pending_expired";
    case TransferStatus::post_amount_exceeds_pending:
      return "post_amount_exceeds_pending";
    case TransferStatus::pending_accounts_mismatch:
      return "pending_accounts_mismatch";
    case TransferStatus::pending_id_must_be_zero:
      return "pending_id_must_be_zero";
    case TransferStatus::pending_id_required:
      return "pending_id_required";
    case TransferStatus::amount_must_match_pending:
      return "amount_must_match_pending";
  }
  return "invalid_flags";
}

std::span<const FlagName> transfer_flag_names() {
  static constexpr FlagName names[] = {{transfer_flags::linked, "linked"},
                                       {transfer_flags::pending, "pending"},
                                       {transfer_flags::post_pending, "post_pending"},
                                       {transfer_flags::void_pending, "void_pending"},
                                       {transfer_flags::expired, "expired"}};
  return names;
}

std::span<const FlagName> account_flag_names() {
  static constexpr FlagName names[] = {
      {account_flags::debits_must_not_exceed_credits, "debits_must_not_exceed_credits"},
      {account_flags::credit_only, "credit_only"},
      {account_flags::hot, "hot"}};
  return names;
}

}  // namespace tanpu::ledger
