// `tanpu serve` in a child process on a free loopback port: for `tanpu bench flash-sale` (several
// servers on one database) and the command-line tests.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tanpu::cli {

// A loopback port the kernel just gave out (and took back): free unless someone races for it.
std::uint16_t free_loopback_port();

class ServeProcess {
 public:
  // Runs `binary serve ARGS --listen 127.0.0.1:PORT`; stdout and stderr go to log_file (appended)
  // or, when it is empty, stay the parent's.
  ServeProcess(const std::string& binary, std::vector<std::string> args,
               const std::string& log_file = {});
  // Stops it (SIGTERM) and waits.
  ~ServeProcess();
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  // Waits until /healthz answers 200 (at most timeout_s); false if it did not, or did not start.
  bool ready(int timeout_s = 30) const;
  void stop();
  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  std::uint16_t port_;
  pid_t pid_ = -1;
};

}  // namespace tanpu::cli
