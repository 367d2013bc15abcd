// The process's own threads: a name each (top -H, perf and gdb show it), and a lower priority for
// the threads that must not take the CPU from a serial stage (docs/storage.md, "Which thread gets
// the CPU").
#pragma once

namespace tanpu {

// Names the calling thread. Linux keeps the first 15 bytes.
void name_this_thread(const char* name);

// Adds `steps` (0-19) to the calling thread's nice value, capped at 19: when both want a CPU, the
// process's other threads get it first. Linux keeps a nice value per thread, and a thread's new
// threads start with it. Returns false, changing nothing, when the system refuses.
bool lower_this_thread(int steps);

// The calling thread's nice value.
int this_thread_nice();

}  // namespace tanpu
