#include "http/auth.h"

#include <cctype>
#include <string_view>

namespace tanpu::http {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string_view bearer_token(const Request& request) {
  const std::string_view authorization = request.header("authorization");
  constexpr std::string_view scheme = "Bearer";
  if (authorization.size() <= scheme.size() ||
      !iequals(authorization.substr(0, scheme.size()), scheme) ||
      authorization[scheme.size()] != ' ') {
    return {};
  }
  std::string_view token = authorization.substr(scheme.size() + 1);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

Result<members::Principal> authenticate(const Request& request, members::Members& members) {
  const std::string_view token = bearer_token(request);
  if (token.empty()) {
    return fail(ErrorKind::unauthenticated, "missing_token",
                "send the session token as 'Authorization: Bearer <token>'");
  }
  return members.authenticate(token);
}

Result<members::Principal> require_operator(const Request& request, members::Members& members) {
  auto principal = authenticate(request, members);
  if (!principal) return principal;
  if (principal->role != members::Role::operator_) {
    return fail(ErrorKind::forbidden, "operator_only", "only an operator may do this");
  }
  return principal;
}

Result<members::Principal> require_reviewer(const Request& request, members::Members& members) {
  auto principal = authenticate(request, members);
  if (!principal) return principal;
  if (principal->role != members::Role::reviewer && principal->role != members::Role::operator_) {
    return fail(ErrorKind::forbidden, "reviewer_only",
                "only a reviewer or an operator may do this");
  }
  return principal;
}

Response fail_response(const Error& error, std::string_view scheme) {
  Response response = error_response(error);
  if (error.kind == ErrorKind::unauthenticated) {
    response.headers.emplace_back("WWW-Authenticate", std::string(scheme));
  }
  return response;
}

}  // namespace tanpu::http
