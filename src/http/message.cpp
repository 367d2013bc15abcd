#include "http/message.h"

#include "core/time.h"

#include <algorithm>
#include <array>

namespace tanpu::http {
namespace {

// Codes of ErrorKind::invalid that refuse well-formed input because of the state it meets (a
// balance, a currency, a pending transfer's phase) rather than its shape: 422, not 400. Kept
// sorted for binary search; docs/api.md lists the same codes.
constexpr std::array<std::string_view, 24> kSemanticCodes = {
    "amount_must_match_pending",
    "credit_account_not_found",
    "currency_mismatch",
    "debit_account_credit_only",
    "debit_account_not_found",
    "exceeds_credits",
    "input_not_boolean",
    "input_not_integer",
    "input_out_of_bounds",
    "linked_event_failed",
    "no_factor",
    "no_methodology_for_region",
    "no_methodology_on_date",
    "not_effective",
    "overflow",
    "pending_accounts_mismatch",
    "pending_already_posted",
    "pending_already_voided",
    "pending_expired",
    "pending_not_found",
    "pending_not_pending",
    "post_amount_exceeds_pending",
    "region_not_covered",
    "result_not_finite",
};
static_assert(std::is_sorted(kSemanticCodes.begin(), kSemanticCodes.end()));

// Protocol-level codes whose status has no ErrorKind of its own.
int status_for_code(std::string_view code) {
  if (code == "method_not_allowed") return 405;
  if (code == "request_timeout") return 408;
  if (code == "headers_too_large") return 431;
  if (code == "evidence_type") return 415;  // an evidence upload of a type not accepted
  return 0;
}

// Dumping must not throw: messages may quote client input that is not valid UTF-8 (a path
// segment), so invalid bytes become U+FFFD instead of failing the response.
std::string dump(const nlohmann::json& body) {
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string_view Request::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return {};
}

std::string_view Request::query_param(std::string_view name) const {
  const auto it = query.find(std::string(name));
  return it == query.end() ? std::string_view{} : std::string_view{it->second};
}

Response json_response(const nlohmann::json& body, int status) {
  Response response;
  response.status = status;
  response.body = dump(body);
  return response;
}

Response no_content() {
  Response response;
  response.status = 204;
  return response;
}

Response error_response(const Error& error) {
  nlohmann::json inner = {{"code", error.code}, {"message", error.message}};
  if (!error.field.empty()) inner["field"] = error.field;
  return json_response(nlohmann::json{{"error", std::move(inner)}}, status_for(error));
}

int status_for(const Error& error) {
  if (const int by_code = status_for_code(error.code); by_code != 0) return by_code;
  switch (error.kind) {
    case ErrorKind::invalid:
      return std::binary_search(kSemanticCodes.begin(), kSemanticCodes.end(),
                                std::string_view{error.code})
                 ? 422
                 : 400;
    case ErrorKind::unauthenticated:
      return 401;
    case ErrorKind::forbidden:
      return 403;
    case ErrorKind::not_found:
      return 404;
    case ErrorKind::conflict:
      return 409;
    case ErrorKind::too_large:
      return 413;
    case ErrorKind::rate_limited:
      return 429;
    case ErrorKind::unavailable:
      return 503;
    case ErrorKind::timeout:
      return 504;
    case ErrorKind::internal:
      return 500;
  }
  return 500;
}

std::optional<std::string> percent_decode(std::string_view text, bool plus_as_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+' && plus_as_space) {
      out.push_back(' ');
    } else if (c != '%') {
      out.push_back(c);
    } else {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = hex_digit(text[i + 1]);
      const int lo = hex_digit(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    }
  }
  return out;
}

nlohmann::json optional_time(const std::optional<std::int64_t>& time_us) {
  return time_us ? nlohmann::json(format_iso8601(*time_us)) : nlohmann::json(nullptr);
}

}  // namespace tanpu::http
