#include "cli/serve_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "http/client.h"

extern char** environ;

namespace tanpu::cli {

std::uint16_t free_loopback_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  std::uint16_t port = 0;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
  auto* sa = reinterpret_cast<sockaddr*>(&a);
  if (bind(fd, sa, sizeof a) == 0 && getsockname(fd, sa, &len) == 0) port = ntohs(a.sin_port);
  close(fd);
  return port;
}

ServeProcess::ServeProcess(const std::string& binary, std::vector<std::string> args,
                           const std::string& log_file)
    : port_(free_loopback_port()) {
  args.insert(args.begin(), {binary, "serve"});
  args.emplace_back("--listen");
  args.push_back("127.0.0.1:" + std::to_string(port_));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!log_file.empty()) {
    posix_spawn_file_actions_addopen(&actions, 1, log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
  }
  if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&actions);
}

ServeProcess::~ServeProcess() {
  stop();
}

bool ServeProcess::ready(int timeout_s) const {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (pid_ > 0 && std::chrono::steady_clock::now() < until) {
    http::Client client(http::ClientOptions{"127.0.0.1", port_, 2});
    auto r = client.request("GET", "/healthz");
    if (r && r->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

void ServeProcess::stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

}  // namespace tanpu::cli
