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

}  // namespace tanpu::http
