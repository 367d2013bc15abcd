// Who is calling: the session token of `Authorization: Bearer <token>` checked against members.
#pragma once

#include "core/result.h"
#include "http/message.h"
#include "members/members.h"

namespace tanpu::http {

// The token of the request's `Authorization: Bearer <token>` header (scheme case-insensitive,
// RFC 7235), or empty if there is none.
std::string_view bearer_token(const Request& request);

// The principal of the request's bearer token. Errors (unauthenticated, 401): missing_token when
// there is no Authorization header with the Bearer scheme and a token; invalid_session when the
// token is malformed, unknown, expired or revoked.
Result<members::Principal> authenticate(const Request& request, members::Members& members);

// As authenticate, and the caller must be an operator. Errors: those of authenticate, or
// operator_only (forbidden, 403).
Result<members::Principal> require_operator(const Request& request, members::Members& members);

// As authenticate, and the caller must be a reviewer or an operator. Errors: those of
// authenticate, or reviewer_only (forbidden, 403).
Result<members::Principal> require_reviewer(const Request& request, members::Members& members);

// The error shape for a refusal; a 401 also names the scheme the client should use
// (RFC 6750 §3): Bearer for sessions, TANPU-HMAC-SHA256 for signed partner requests.
Response fail_response(const Error& error, std::string_view scheme = "Bearer");

}  // namespace tanpu::http
