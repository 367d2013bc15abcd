// Errors as values: every fallible function returns Result<T>; nothing throws across a module
// boundary.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <utility>

namespace tanpu {

// What kind of failure this is. The HTTP layer maps a kind to a status code; modules never see
// HTTP.
enum class ErrorKind : std::uint8_t {
  invalid,          // the caller sent something wrong (400 / 422)
  unauthenticated,  // no or bad credentials (401)
  forbidden,        // authenticated, not allowed (403)
  not_found,        // no such thing, or not visible to the caller (404)
  conflict,         // clashes with what exists, e.g. a reused id with other content (409)
  too_large,        // over a stated limit on size (413)
  rate_limited,     // too many requests (429)
  unavailable,      // a dependency is down or busy; retrying may help (503)
  timeout,          // took longer than allowed (504 / 408)
  internal,         // a bug or an unexpected state (500)
};

// One error: a stable machine-readable code, a message for people, and the offending field if any.
struct Error {
  ErrorKind kind = ErrorKind::internal;
  std::string code;     // snake_case and stable, e.g. "amount_must_be_positive"
  std::string message;  // one sentence for a person
  std::string field;    // JSON path of the offending input ("transfers[3].amount"), empty if none
};

template <class T>
using Result = std::expected<T, Error>;

// Builds the unexpected value of a Result: `return fail(ErrorKind::invalid, "x", "…");`
inline std::unexpected<Error> fail(ErrorKind kind, std::string code, std::string message,
                                   std::string field = {}) {
  return std::unexpected<Error>(Error{kind, std::move(code), std::move(message), std::move(field)});
}

inline std::unexpected<Error> fail(Error error) {
  return std::unexpected<Error>(std::move(error));
}

std::string_view to_string(ErrorKind kind);

}  // namespace tanpu
