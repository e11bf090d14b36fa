// Counts heap allocations made by threads that ask to be counted: malloc and its relatives are
// interposed for the whole unit-test binary (operator new, the standard containers, Asio and
// OpenSSL all end up here) and forward to glibc's own allocator.
#include "unit/support/counting_malloc.h"

#include <execinfo.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstring>

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);
}

namespace unit_support {
namespace {

std::atomic<long> counted{0};
std::atomic<int> to_trace{0};
thread_local bool counting = false;
thread_local bool tracing = false;

// A counted allocation; with tracing on, its call stack goes to stderr (to find where it is).
inline void count() {
  if (!counting) return;
  counted.fetch_add(1, std::memory_order_relaxed);
  if (to_trace.load(std::memory_order_relaxed) > 0 && !tracing) {
    tracing = true;  // backtrace() may allocate itself
    to_trace.fetch_sub(1, std::memory_order_relaxed);
    void* frames[24];
    const int n = ::backtrace(frames, 24);
    ::write(2, "-- allocation --\n", 17);
    ::backtrace_symbols_fd(frames, n, 2);
    tracing = false;
  }
}

}  // namespace

void count_allocations_here(bool on) { counting = on; }
void trace_allocations(int n) { to_trace.store(n, std::memory_order_relaxed); }
long allocations_counted() { return counted.load(std::memory_order_relaxed); }
#ifdef PORTCULLIS_SANITIZED
bool counting_available() { return false; }
#else
bool counting_available() { return true; }
#endif

}  // namespace unit_support

// A sanitizer build has the sanitizer's allocator in place: nothing is interposed, nothing counted.
#ifndef PORTCULLIS_SANITIZED
extern "C" {

void* malloc(std::size_t n) {
  unit_support::count();
  return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size) {
  unit_support::count();
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n) {
  unit_support::count();
  return __libc_realloc(p, n);
}
void* memalign(std::size_t align, std::size_t n) {
  unit_support::count();
  return __libc_memalign(align, n);
}
void* aligned_alloc(std::size_t align, std::size_t n) {
  unit_support::count();
  return __libc_memalign(align, n);
}
int posix_memalign(void** out, std::size_t align, std::size_t n) {
  unit_support::count();
  void* p = __libc_memalign(align, n);
  if (!p) return 12;  // ENOMEM
  *out = p;
  return 0;
}
void free(void* p) { __libc_free(p); }

}  // extern "C"
#endif
