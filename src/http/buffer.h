// A flat byte buffer with a read and a write end. Connections release it while idle so an idle
// keep-alive connection holds no read buffer at all.
#pragma once
#include <cstring>
#include <memory>
#include <string_view>

namespace portcullis::http {

// Read buffers are whole pages taken straight from the kernel (with a small per-thread cache of
// single pages), not from malloc: when an idle connection gives its buffer back, the memory leaves
// the process instead of staying behind as heap fragmentation between live connection objects.
char* allocate_pages(std::size_t bytes);
void free_pages(char* p, std::size_t bytes);

struct PageDeleter {
  std::size_t bytes = 0;
  void operator()(char* p) const { free_pages(p, bytes); }
};

class Buffer {
 public:
  std::string_view readable() const { return {data_.get() + begin_, end_ - begin_}; }
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  std::size_t capacity() const { return cap_; }

  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  char* write_ptr() { return data_.get() + end_; }
  std::size_t writable() const { return cap_ - end_; }
  void commit(std::size_t n) { end_ += n; }

  // Makes room for at least `want` more bytes: compacts first, grows (doubling) up to `max_cap`.
  // Returns false when the buffer is full at max_cap. Moves data: views into it become invalid.
  bool prepare(std::size_t want, std::size_t max_cap) {
    if (writable() >= want) return true;
    if (begin_ > 0) {
      std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
      if (writable() >= want) return true;
    }
    if (cap_ >= max_cap) return writable() > 0;
    std::size_t cap = cap_ ? cap_ * 2 : initial_;
    while (cap < end_ + want && cap < max_cap) cap *= 2;
    if (cap > max_cap) cap = (max_cap + 4095) / 4096 * 4096;
    std::unique_ptr<char[], PageDeleter> fresh(allocate_pages(cap), PageDeleter{cap});
    if (end_) std::memcpy(fresh.get(), data_.get(), end_);
    data_ = std::move(fresh);
    cap_ = cap;
    return writable() > 0;
  }
  // Frees the memory when nothing is buffered (idle connection).
  void release_if_empty() {
    if (empty() && data_) {
      data_.reset();
      cap_ = begin_ = end_ = 0;
    }
  }
  void clear() { begin_ = end_ = 0; }
  void set_initial(std::size_t n) { initial_ = (n + 4095) / 4096 * 4096; }

 private:
  std::unique_ptr<char[], PageDeleter> data_;
  std::size_t cap_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::size_t initial_ = 4096;
};

}  // namespace portcullis::http
