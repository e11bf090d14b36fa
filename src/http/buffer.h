// A flat byte buffer with a read and a write end. Connections release it while idle so an idle
// keep-alive connection holds no read buffer at all.
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

namespace portcullis::http {

// Read buffers are whole pages taken straight from the kernel (with a small per-thread cache of
// single pages), not from malloc: when an idle connection gives its buffer back, the memory leaves
// the process instead of staying behind as heap fragmentation between live connection objects.
char* allocate_pages(std::size_t bytes);
void free_pages(char* p, std::size_t bytes);

class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept : data_(o.data_), cap_(o.cap_), begin_(o.begin_), end_(o.end_), initial_(o.initial_) {
    o.data_ = nullptr;
    o.cap_ = o.begin_ = o.end_ = 0;
  }
  ~Buffer() { free_pages(data_, cap_); }

  std::string_view readable() const { return {data_ + begin_, end_ - begin_}; }
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  std::size_t capacity() const { return cap_; }

  void consume(std::size_t n) {
    begin_ += static_cast<std::uint32_t>(n);
    if (begin_ == end_) begin_ = end_ = 0;
  }
  char* write_ptr() { return data_ + end_; }
  std::size_t writable() const { return cap_ - end_; }
  void commit(std::size_t n) { end_ += static_cast<std::uint32_t>(n); }

  // Makes room for at least `want` more bytes: compacts first, grows (doubling) up to `max_cap`.
  // Returns false when the buffer is full at max_cap. Moves data: views into it become invalid.
  bool prepare(std::size_t want, std::size_t max_cap) {
    if (writable() >= want) return true;
    if (begin_ > 0) {
      std::memmove(data_, data_ + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
      if (writable() >= want) return true;
    }
    if (cap_ >= max_cap) return writable() > 0;
    std::size_t cap = cap_ ? std::size_t{cap_} * 2 : initial_;
    while (cap < end_ + want && cap < max_cap) cap *= 2;
    if (cap > max_cap) cap = (max_cap + 4095) / 4096 * 4096;
    char* fresh = allocate_pages(cap);
    if (end_) std::memcpy(fresh, data_, end_);
    free_pages(data_, cap_);
    data_ = fresh;
    cap_ = static_cast<std::uint32_t>(cap);
    return writable() > 0;
  }
  // Frees the memory when nothing is buffered (idle connection).
  void release_if_empty() {
    if (empty() && data_) {
      free_pages(data_, cap_);
      data_ = nullptr;
      cap_ = begin_ = end_ = 0;
    }
  }
  void clear() { begin_ = end_ = 0; }
  void set_initial(std::size_t n) { initial_ = static_cast<std::uint32_t>((n + 4095) / 4096 * 4096); }

 private:
  // 24 bytes: an idle connection keeps the (empty) buffer object, so it is kept small.
  char* data_ = nullptr;
  std::uint32_t cap_ = 0;
  std::uint32_t begin_ = 0;
  std::uint32_t end_ = 0;
  std::uint32_t initial_ = 4096;
};

}  // namespace portcullis::http
