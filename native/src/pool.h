// A small persistent thread pool with dynamic chunking: a job is `chunks` independent pieces, claimed one at a time
// by the caller and by the workers it wakes, so a worker that the OS has not scheduled yet costs nothing (the others
// take its chunks) — on a shared, oversubscribed machine a static split waits for the slowest thread on every call.
// Handoff: one cache line per worker (a generation number); a worker spins `spinUs` after each job before it sleeps
// on a futex (std::atomic::wait); the caller spins up to 200 µs for claimed chunks to finish before sleeping too.
#pragma once
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace tandem {

class Pool {
 public:
  // worker: 0 for the caller, 1..workers for the pool's threads (an index for per-thread scratch).
  using Fn = void (*)(void* arg, int chunk, int worker);
  Pool(int workers, int spinUs);
  ~Pool();  // stops and joins the workers
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  int workers() const { return int(slots_.size()); }
  // Runs fn(arg, c, worker) for every chunk c in [0, chunks) (chunks < 2^20) and returns when all are done.
  void run(int chunks, Fn fn, void* arg);

 private:
  struct alignas(64) Slot {
    std::atomic<uint32_t> seq{0};  // the generation this worker was last woken for
    std::atomic<int> sleeping{0};
  };
  void loop(int worker);
  void claim(uint32_t gen, int worker);

  std::vector<Slot*> slots_;
  std::vector<std::thread> threads_;
  // generation (24 bits) | chunks (20 bits) | next chunk to claim (20 bits): one word, so a late worker can tell a
  // finished or newer job from its own without touching anything else
  alignas(64) std::atomic<uint64_t> ticket_{0};
  alignas(64) std::atomic<uint32_t> completed_{0};
  std::atomic<int> callerSleeping_{0};
  Fn fn_ = nullptr;
  void* arg_ = nullptr;
  uint32_t gen_ = 0;
  std::atomic<bool> stop_{false};
  int64_t spinNs_;
};

}  // namespace tandem
