// Page allocation for connection buffers (see buffer.h).
//
// Single pages (a connection's read buffer, the common case) come from per-thread slabs of 2 MiB.
// A freed page goes to a small hot list; beyond that it is handed back to the kernel with
// madvise(MADV_DONTNEED) and kept on a cold list for reuse. The slabs are never unmapped, so
// freeing thousands of scattered pages never splits the mapping into thousands of VMAs (which
// munmap would, up to the kernel's map-count limit). Larger buffers are plain mmap/munmap.
#include "http/buffer.h"

#include <sys/mman.h>

#include <new>
#include <vector>

namespace portcullis::http {
namespace {

constexpr std::size_t page = 4096;
constexpr std::size_t slab_bytes = 2 * 1024 * 1024;
constexpr std::size_t hot_pages = 64;

struct PagePool {
  std::vector<char*> hot;   // recently freed, still resident: reused first
  std::vector<char*> cold;  // returned to the kernel, mapping kept
  char* slab_next = nullptr;
  char* slab_end = nullptr;

  char* take() {
    if (!hot.empty()) return pop(hot);
    if (!cold.empty()) return pop(cold);
    if (slab_next == slab_end) {
      void* p = ::mmap(nullptr, slab_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
      slab_next = static_cast<char*>(p);
      slab_end = slab_next + slab_bytes;
    }
    char* p = slab_next;
    slab_next += page;
    return p;
  }
  void give(char* p) {
    if (hot.size() < hot_pages) {
      hot.push_back(p);
      return;
    }
    ::madvise(p, page, MADV_DONTNEED);
    cold.push_back(p);
  }
  static char* pop(std::vector<char*>& list) {
    char* p = list.back();
    list.pop_back();
    return p;
  }
};
thread_local PagePool pool;

}  // namespace

char* allocate_pages(std::size_t bytes) {
  if (bytes == page) return pool.take();
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return static_cast<char*>(p);
}

void free_pages(char* p, std::size_t bytes) {
  if (!p) return;
  if (bytes == page) pool.give(p);
  else ::munmap(p, bytes);
}

}  // namespace portcullis::http
