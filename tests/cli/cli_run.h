// Running the built tanpu binary from a test: one command to completion, or `tanpu serve` in the
// background on a free port.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/serve_process.h"
#include "http/client.h"

namespace tanpu::test {

struct CmdResult {
  int exit_code = -1;
  std::string out;
};

// Runs the built binary with args (a shell fragment); captures stdout and stderr.
inline CmdResult tanpu(const std::string& args, const std::string& stdin_text = "",
                       const std::string& env = "") {
  const std::string cmd = (stdin_text.empty() ? "" : "printf '%s\\n' '" + stdin_text + "' | ") +
                          env + " " + std::string(TANPU_BINARY) + " " + args + " 2>&1";
  CmdResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), p) != nullptr) r.out += buf.data();
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// The last non-empty line of a command's output: where `--json` commands print their result.
inline std::string last_output_line(const std::string& out) {
  const auto end = out.find_last_not_of('\n');
  if (end == std::string::npos) return "";
  const auto newline = out.rfind('\n', end);
  const auto start = newline == std::string::npos ? 0 : newline + 1;
  return out.substr(start, end + 1 - start);
}

inline std::uint16_t free_port() {
  return cli::free_loopback_port();
}

// `tanpu serve ARGS --listen 127.0.0.1:PORT` of the built binary, stopped on destruction.
class ServeProcess : public cli::ServeProcess {
 public:
  explicit ServeProcess(std::vector<std::string> args)
      : cli::ServeProcess(TANPU_BINARY, std::move(args)) {}
};

}  // namespace tanpu::test
