#include "zones/pages.hh"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace edgedns::zones {

void advise_huge_pages(const void* p, size_t bytes) noexcept {
#ifdef MADV_HUGEPAGE
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;  // x86-64 and arm64 (4 KiB base pages) PMD size
  const uintptr_t b = reinterpret_cast<uintptr_t>(p);
  const uintptr_t from = (b + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t to = (b + bytes) & ~(kHuge - 1);
  if (to > from) ::madvise(reinterpret_cast<void*>(from), to - from, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

void drop_pages(const void* p, size_t bytes) noexcept {
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t b = reinterpret_cast<uintptr_t>(p);
  const uintptr_t from = (b + page - 1) & ~(page - 1);
  const uintptr_t to = (b + bytes) & ~(page - 1);
  if (to > from) ::madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
}

void release_consumed(const void* base, size_t upto, size_t& done) noexcept {
  // Worth a syscall only per megabyte or so.
  constexpr size_t kStep = size_t(1) << 20;
  if (upto < done + kStep) return;
  drop_pages(static_cast<const char*>(base) + done, upto - done);
  done = upto;
}

}  // namespace edgedns::zones
