// Slab: a growable array of fixed-size records, 8-byte aligned, in one allocation (realloc'd
// by doubling). Records are reached by index; pointers into the slab are invalidated by
// Append. Memory comes from malloc, which creates the records' (trivial) objects implicitly.
// Thread-safety: none.
#ifndef MOEREC_PS_INTERNAL_SLAB_H_
#define MOEREC_PS_INTERNAL_SLAB_H_

#include <glog/logging.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace moerec {

class Slab {
 public:
  // record_bytes: a multiple of 8.
  explicit Slab(size_t record_bytes = 8) : record_bytes_(record_bytes) {
    CHECK_EQ(record_bytes % 8, 0u);
  }
  ~Slab() { std::free(data_); }
  Slab(const Slab& o) : record_bytes_(o.record_bytes_) {
    Grow(o.size_);
    if (o.size_ > 0) std::memcpy(data_, o.data_, o.size_ * record_bytes_);
    size_ = o.size_;
  }
  Slab& operator=(const Slab&) = delete;
  Slab(Slab&& o) noexcept
      : record_bytes_(o.record_bytes_), data_(o.data_), size_(o.size_), capacity_(o.capacity_) {
    o.data_ = nullptr;
    o.size_ = o.capacity_ = 0;
  }
  Slab& operator=(Slab&& o) noexcept {
    std::swap(record_bytes_, o.record_bytes_);
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(capacity_, o.capacity_);
    return *this;
  }

  size_t size() const { return size_; }
  size_t record_bytes() const { return record_bytes_; }
  size_t allocated_bytes() const { return capacity_ * record_bytes_; }

  char* at(size_t i) { return data_ + i * record_bytes_; }
  const char* at(size_t i) const { return data_ + i * record_bytes_; }

  // A new zeroed record at the end; returns its index.
  size_t Append() {
    if (size_ == capacity_) Grow(capacity_ < 64 ? 64 : capacity_ * 2);
    std::memset(at(size_), 0, record_bytes_);
    return size_++;
  }

  // Drops every record and the memory.
  void Clear() {
    std::free(data_);
    data_ = nullptr;
    size_ = capacity_ = 0;
  }

 private:
  void Grow(size_t capacity) {
    if (capacity == 0) return;
    void* p = std::realloc(data_, capacity * record_bytes_);
    CHECK(p != nullptr) << "out of memory growing a row slab to " << capacity << " records";
    data_ = static_cast<char*>(p);
    capacity_ = capacity;
  }

  size_t record_bytes_;
  char* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace moerec

#endif  // MOEREC_PS_INTERNAL_SLAB_H_
