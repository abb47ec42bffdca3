// Thread pool: workers sleep on a condition variable between jobs (after a
// short spin, since kernels are called back to back), so they never compete
// with BLAS for the cores while idle.
#include "pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LORA_CPU_RELAX() _mm_pause()
#else
#define LORA_CPU_RELAX() std::this_thread::yield()
#endif

namespace lora {
namespace {

class Pool {
 public:
  explicit Pool(int threads) { start(threads); }
  ~Pool() { stop(); }

  int threads() const { return threads_; }

  void resize(int threads) {
    std::lock_guard<std::mutex> busy(busy_);
    if (threads == threads_) return;
    stop();
    start(threads);
  }

  void run(int64_t tasks, const std::function<void(int64_t)>& fn) {
    if (tasks <= 0) return;
    // One job at a time: a second caller (another JS thread, a nested call)
    // runs its tasks itself rather than wait.
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (threads_ == 1 || tasks == 1 || !busy.owns_lock()) {
      for (int64_t t = 0; t < tasks; ++t) fn(t);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &fn;
      tasks_ = tasks;
      next_.store(0, std::memory_order_relaxed);
      remaining_workers_ = static_cast<int>(workers_.size());
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    work();
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return remaining_workers_ == 0; });
    job_ = nullptr;
  }

 private:
  void start(int threads) {
    threads_ = std::max(1, threads);
    quit_ = false;
    // Workers start from the generation current now, not the one they see
    // when they first run: a stop() in between must still wake them.
    const uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, gen] { loop(gen); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      quit_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  // Task indices are handed out in order; which thread takes which task
  // varies, but each task writes only its own outputs, so results do not.
  void work() {
    const std::function<void(int64_t)>& fn = *job_;
    for (;;) {
      int64_t t = next_.fetch_add(1, std::memory_order_relaxed);
      if (t >= tasks_) break;
      fn(t);
    }
  }

  void loop(uint64_t seen) {
    for (;;) {
      // Spin ~20 µs first: the next kernel usually follows within that.
      bool got = false;
      for (int i = 0; i < 4000; ++i) {
        if (generation_.load(std::memory_order_acquire) != seen) { got = true; break; }
        LORA_CPU_RELAX();
      }
      std::unique_lock<std::mutex> lock(mutex_);
      if (!got) wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      seen = generation_.load(std::memory_order_acquire);
      if (quit_) return;
      lock.unlock();
      work();
      lock.lock();
      if (--remaining_workers_ == 0) done_.notify_one();
    }
  }

  int threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex busy_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> next_{0};
  const std::function<void(int64_t)>* job_ = nullptr;
  int64_t tasks_ = 0;
  int remaining_workers_ = 0;
  bool quit_ = false;
};

int default_threads() {
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

Pool& pool() {
  static Pool p(default_threads());
  return p;
}

}  // namespace

int pool_threads() { return pool().threads(); }

void pool_set_threads(int n) { pool().resize(n < 1 ? default_threads() : n); }

void pool_run(int64_t tasks, const std::function<void(int64_t)>& fn) { pool().run(tasks, fn); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t chunks = std::min<int64_t>(pool_threads(), (n + grain - 1) / grain);
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  pool_run(chunks, [&](int64_t c) {
    int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
    fn(begin, end);
  });
}

}  // namespace lora
