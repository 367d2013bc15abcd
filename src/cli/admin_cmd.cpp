#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/runtime.h"

namespace tanpu::cli {

int run_create_operator(const Config& config, CreateOperatorArgs args) {
  if (args.password_stdin) {
    if (!std::getline(std::cin, args.password)) {
      std::fprintf(stderr, "tanpu admin create-operator: no password on standard input\n");
      return 1;
    }
  }
  if (args.password.empty()) {
    std::fprintf(stderr, "tanpu admin create-operator: give --password-stdin or --password\n");
    return 1;
  }
  auto rt = open_runtime(config);
  if (!rt) {
    std::fprintf(stderr, "tanpu admin create-operator: %s\n", rt.error().message.c_str());
    return 1;
  }
  members::RegisterInput input;
  if (args.login.find('@') != std::string::npos) {
    input.email = args.login;
  } else {
    input.phone = args.login;
  }
  input.password = args.password;
  input.display_name = args.name;
  auto created = (*rt)->members->register_member(input, members::Role::operator_);
  if (!created) {
    const Error& e = created.error();
    std::fprintf(stderr, "tanpu admin create-operator: %s (%s%s%s)\n", e.message.c_str(),
                 e.code.c_str(), e.field.empty() ? "" : ", field ", e.field.c_str());
    return e.code == "already_registered" ? 3 : 1;
  }
  std::printf("%s\n", nlohmann::json({{"id", created->id}, {"role", "operator"}}).dump().c_str());
  return 0;
}

}  // namespace tanpu::cli
