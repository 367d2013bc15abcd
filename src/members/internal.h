// Helpers shared by the members module's source files (members.cpp, security.cpp); not an API.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace tanpu::members::detail {

// A token of the shape new sessions get ("tps_" + 43 base64url characters).
bool well_formed_token(std::string_view token);

// 401 invalid_session with the reason.
std::unexpected<Error> invalid_session(std::string why);

// password_too_short / password_too_long, naming `field`.
Result<void> validate_password(std::string_view password, std::string_view field = "password");

}  // namespace tanpu::members::detail
