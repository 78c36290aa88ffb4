// Reader-side QSBR calls for every RCU reader (worker lcores, TCP threads,
// tests), and what makes liburcu's ordering visible to ThreadSanitizer.
//
// TSan cannot see liburcu's ordering: rcu_dereference and rcu_xchg_pointer
// are a volatile load and an inline-asm xchg, and grace periods are detected
// inside the uninstrumented library. In TSan builds the publisher reads and
// swaps its slots with the equivalent __atomic operations (the same
// instructions on x86: a plain load and xchg), each reader releases a token
// when it reports a quiescent state or goes offline, and the writer acquires
// that token once synchronize_rcu() has returned: exactly the happens-before
// a grace period gives. Other builds compile to the plain liburcu calls.
#pragma once

#include <urcu-qsbr.h>

#if defined(__SANITIZE_THREAD__)
#define EDGEDNS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EDGEDNS_TSAN 1
#endif
#endif

#ifdef EDGEDNS_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace edgedns::dp::rcu {

#ifdef EDGEDNS_TSAN
inline char grace_token;
inline void tsan_reader_done() noexcept { __tsan_release(&grace_token); }
inline void tsan_grace_period_over() noexcept { __tsan_acquire(&grace_token); }
template <class T>
T* load(T* const* p) noexcept {
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
template <class T>
T* exchange(T** p, T* v) noexcept {
  return __atomic_exchange_n(p, v, __ATOMIC_ACQ_REL);
}
#else
inline void tsan_reader_done() noexcept {}
inline void tsan_grace_period_over() noexcept {}
template <class T>
T* load(T* const* p) noexcept {
  return rcu_dereference(*const_cast<T**>(p));
}
template <class T>
T* exchange(T** p, T* v) noexcept {
  return rcu_xchg_pointer(p, v);
}
#endif

// Reader thread: nothing loaded before this call may be used after it.
inline void quiescent_state() noexcept {
  tsan_reader_done();
  rcu_quiescent_state();
}
inline void thread_offline() noexcept {
  tsan_reader_done();
  rcu_thread_offline();
}
inline void unregister_thread() noexcept {
  tsan_reader_done();
  rcu_unregister_thread();
}

// Writer: waits until every reader has passed a quiescent state.
inline void synchronize() {
  synchronize_rcu();
  tsan_grace_period_over();
}

}  // namespace edgedns::dp::rcu
