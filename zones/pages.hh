// Page advice for the big temporary buffers of parsing and compiling (the
// record array, the arena, the grouping of a 1M-record zone): huge pages
// while they fill, pages handed back to the kernel once consumed, so that
// peak RSS stays near the larger of a buffer and its replacement, not their
// sum. Control thread; each call is at most one madvise.
#pragma once

#include <cstddef>

namespace edgedns::zones {

// Asks for transparent huge pages on the whole 2 MiB pages inside
// [p, p + bytes) (madvise MADV_HUGEPAGE; a no-op where unsupported). Only for
// buffers that will be filled: a touched huge page is resident as a whole.
void advise_huge_pages(const void* p, size_t bytes) noexcept;

// MADV_DONTNEED on the whole pages inside [p, p + bytes): the bytes are
// never read again (the buffer is about to be freed or is consumed).
void drop_pages(const void* p, size_t bytes) noexcept;

// Hands back the pages of a buffer consumed front to back: [base, base +
// upto) is consumed, `done` remembers how far it was released. Releases in
// steps of about a megabyte (a syscall per step).
void release_consumed(const void* base, size_t upto, size_t& done) noexcept;

}  // namespace edgedns::zones
