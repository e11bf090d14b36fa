// A free list of objects that are expensive to build and cheap to reset (a request's buffers and
// state): taken for one use, given back after it. One per worker thread; no locking.
#pragma once
#include <cstddef>
#include <memory>
#include <vector>

namespace portcullis {

template <class T>
class ObjectPool {
 public:
  explicit ObjectPool(std::size_t keep = 256) : keep_(keep) {}

  // A pooled object, or one made by `make()` when none is free.
  template <class Make>
  std::unique_ptr<T> take(Make&& make) {
    if (free_.empty()) return make();
    std::unique_ptr<T> object = std::move(free_.back());
    free_.pop_back();
    return object;
  }
  // Keeps the object for the next take(), up to `keep` objects; beyond that it is freed.
  void give_back(std::unique_ptr<T> object) {
    if (free_.size() < keep_) free_.push_back(std::move(object));
  }
  std::size_t free_count() const { return free_.size(); }

 private:
  std::vector<std::unique_ptr<T>> free_;
  std::size_t keep_;
};

}  // namespace portcullis
