// A fixed-size thread pool for data-parallel loops.
//
// The JS thread calls into the addon synchronously, so at most one job runs at
// a time. Work is split into contiguous ranges by a fixed rule (range count
// depends only on the problem size and the thread count), and no result is
// ever combined across threads with atomics, so every kernel gives the same
// bits on every run.
#pragma once

#include <cstdint>
#include <functional>

namespace lora {

// Total threads that run a job, the calling thread included.
int pool_threads();
// Resizes the pool; n < 1 means "hardware concurrency".
void pool_set_threads(int n);

// Runs fn(task) for task in [0, tasks), spread over the pool. Each task runs
// on exactly one thread; the call returns when all have finished. Exceptions
// must not escape fn.
void pool_run(int64_t tasks, const std::function<void(int64_t task)>& fn);

// Splits [0, n) into contiguous chunks of at least `grain` items, at most one
// chunk per thread, and runs fn(begin, end) for each chunk.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn);

}  // namespace lora
