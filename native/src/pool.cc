#include "pool.h"

#include <chrono>
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define TANDEM_PAUSE() _mm_pause()
#else
#define TANDEM_PAUSE() ((void)0)
#endif

namespace tandem {
namespace {
int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
constexpr int64_t kCallerSpinNs = 200000;
constexpr uint32_t kGenMask = (1u << 24) - 1, kField = (1u << 20) - 1;

// Waits until `v` differs from `old`: spin for `spinNs`, then announce sleeping through `flag` and sleep on a futex.
// The waker stores the new value, then notifies only if it sees the flag (both seq_cst: a Dekker pair, no lost wake).
uint32_t await(std::atomic<uint32_t>& v, uint32_t old, std::atomic<int>& flag, int64_t spinNs) {
  uint32_t cur = v.load(std::memory_order_acquire);
  if (cur != old) return cur;
  const int64_t t0 = nowNs();
  for (int i = 0;; i++) {
    cur = v.load(std::memory_order_acquire);
    if (cur != old) return cur;
    TANDEM_PAUSE();
    if ((i & 63) == 63 && nowNs() - t0 > spinNs) break;
  }
  for (;;) {
    flag.store(1, std::memory_order_seq_cst);
    cur = v.load(std::memory_order_seq_cst);
    if (cur == old) v.wait(old, std::memory_order_seq_cst);
    flag.store(0, std::memory_order_relaxed);
    cur = v.load(std::memory_order_acquire);
    if (cur != old) return cur;
  }
}
}  // namespace

Pool::Pool(int workers, int spinUs) : spinNs_(int64_t(spinUs < 0 ? 0 : spinUs) * 1000) {
  for (int i = 0; i < workers; i++) slots_.push_back(new Slot());
  for (int i = 0; i < workers; i++) threads_.emplace_back([this, i] { loop(i + 1); });
}

Pool::~Pool() {
  stop_.store(true, std::memory_order_seq_cst);
  for (Slot* s : slots_) {
    s->seq.fetch_add(1u << 30, std::memory_order_seq_cst);
    s->seq.notify_one();
  }
  for (std::thread& t : threads_) t.join();
  for (Slot* s : slots_) delete s;
}

// Claims and runs chunks of generation `gen` until none are left (or the job is not that generation any more).
void Pool::claim(uint32_t gen, int worker) {
  uint64_t t = ticket_.load(std::memory_order_acquire);
  for (;;) {
    if (uint32_t(t >> 40) != gen) return;
    const uint32_t chunks = uint32_t(t >> 20) & kField, next = uint32_t(t) & kField;
    if (next >= chunks) return;
    if (!ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    fn_(arg_, int(next), worker);  // fn_/arg_ stay put until every claimed chunk of this generation completes
    completed_.fetch_add(1, std::memory_order_seq_cst);
    if (callerSleeping_.load(std::memory_order_seq_cst)) completed_.notify_one();
    t = ticket_.load(std::memory_order_acquire);
  }
}

void Pool::loop(int worker) {
  Slot* s = slots_[size_t(worker - 1)];
  uint32_t seen = 0;
  for (;;) {
    seen = await(s->seq, seen, s->sleeping, spinNs_);
    if (stop_.load(std::memory_order_acquire)) return;
    claim(seen & kGenMask, worker);
  }
}

void Pool::run(int chunks, Fn fn, void* arg) {
  gen_ = (gen_ + 1) & kGenMask;
  fn_ = fn, arg_ = arg;
  completed_.store(0, std::memory_order_relaxed);
  ticket_.store((uint64_t(gen_) << 40) | (uint64_t(uint32_t(chunks) & kField) << 20), std::memory_order_seq_cst);
  const int wake = chunks - 1 < int(slots_.size()) ? chunks - 1 : int(slots_.size());
  for (int i = 0; i < wake; i++) {
    Slot* s = slots_[size_t(i)];
    s->seq.store(gen_, std::memory_order_seq_cst);
    if (s->sleeping.load(std::memory_order_seq_cst)) s->seq.notify_one();
  }
  claim(gen_, 0);
  uint32_t done = completed_.load(std::memory_order_acquire);
  while (done != uint32_t(chunks)) done = await(completed_, done, callerSleeping_, kCallerSpinNs);
}

}  // namespace tandem
