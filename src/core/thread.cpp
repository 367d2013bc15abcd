#include "core/thread.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <string>

namespace tanpu {
namespace {

constexpr int kNiceMax = 19;

// setpriority(PRIO_PROCESS, tid) reaches one thread on Linux, where nice values are per thread.
id_t this_tid() {
  return static_cast<id_t>(gettid());
}

}  // namespace

void name_this_thread(const char* name) {
  const std::string kept = std::string(name).substr(0, 15);
  (void)pthread_setname_np(pthread_self(), kept.c_str());
}

int this_thread_nice() {
  // Cannot fail for the calling thread (-1 is a nice value, not an error, here).
  return getpriority(PRIO_PROCESS, this_tid());
}

bool lower_this_thread(int steps) {
  if (steps < 0 || steps > kNiceMax) return false;
  if (steps == 0) return true;
  const int nice = std::min(this_thread_nice() + steps, kNiceMax);
  return setpriority(PRIO_PROCESS, this_tid(), nice) == 0;
}

}  // namespace tanpu
