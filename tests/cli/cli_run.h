// Running the built tanpu binary from a test: one command to completion, or `tanpu serve` in the
// background on a free port.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

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

// A port the kernel just gave out (and took back): free unless someone races for it.
inline std::uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  std::uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

// `tanpu serve ARGS --listen 127.0.0.1:PORT` in a child process, stopped (SIGTERM) on destruction.
class ServeProcess {
 public:
  explicit ServeProcess(std::vector<std::string> args) : port_(free_port()) {
    args.insert(args.begin(), {TANPU_BINARY, "serve"});
    args.push_back("--listen");
    args.push_back("127.0.0.1:" + std::to_string(port_));
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  // Waits until /healthz answers 200 (at most timeout_s).
  bool ready(int timeout_s = 30) const {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (std::chrono::steady_clock::now() < until) {
      http::Client client(http::ClientOptions{"127.0.0.1", port_, 2});
      auto r = client.request("GET", "/healthz");
      if (r && r->status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  std::uint16_t port_;
  pid_t pid_ = -1;
};

}  // namespace tanpu::test
