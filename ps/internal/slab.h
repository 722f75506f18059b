// Slab: a growable array of fixed-size records, 8-byte aligned, reached by index. Storage is a
// list of blocks of doubling size (64, 128, 256, ... records) that never move: growing never
// copies records (pointers into the slab stay valid) and touches only the new block's pages.
// Blocks of 2 MiB and more are advised to use transparent huge pages (fewer page faults when
// a table fills up). Records are zeroed when appended; memory comes from aligned_alloc, which
// creates the records' (trivial) objects implicitly.
// Record i lives in block k = floor(log2(i / 64 + 1)), at offset i + 64 - (64 << k).
// Thread-safety: none.
#ifndef MOEREC_PS_INTERNAL_SLAB_H_
#define MOEREC_PS_INTERNAL_SLAB_H_

#include <glog/logging.h>
#include <sys/mman.h>

#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace moerec {

class Slab {
 public:
  // record_bytes: a multiple of 8.
  explicit Slab(size_t record_bytes = 8) : record_bytes_(record_bytes) {
    CHECK_EQ(record_bytes % 8, 0u);
  }
  ~Slab() { Clear(); }
  Slab(const Slab& o) : record_bytes_(o.record_bytes_) {
    for (size_t k = 0; k < o.blocks_.size(); ++k) {
      AddBlock();
      const size_t first = (kFirst << k) - kFirst;
      const size_t n = std::min(o.size_, first + (kFirst << k)) - std::min(o.size_, first);
      if (n > 0) std::memcpy(blocks_[k], o.blocks_[k], n * record_bytes_);
    }
    size_ = o.size_;
  }
  Slab& operator=(const Slab&) = delete;
  Slab(Slab&& o) noexcept
      : record_bytes_(o.record_bytes_),
        blocks_(std::move(o.blocks_)),
        size_(o.size_),
        capacity_(o.capacity_) {
    o.blocks_.clear();
    o.size_ = o.capacity_ = 0;
  }
  Slab& operator=(Slab&& o) noexcept {
    std::swap(record_bytes_, o.record_bytes_);
    std::swap(blocks_, o.blocks_);
    std::swap(size_, o.size_);
    std::swap(capacity_, o.capacity_);
    return *this;
  }

  size_t size() const { return size_; }
  size_t record_bytes() const { return record_bytes_; }
  size_t allocated_bytes() const { return capacity_ * record_bytes_; }

  char* at(size_t i) {
    const size_t j = i + kFirst;
    const int k = std::bit_width(j) - 1 - kFirstLog2;
    return blocks_[k] + (j - (kFirst << k)) * record_bytes_;
  }
  const char* at(size_t i) const { return const_cast<Slab*>(this)->at(i); }

  // A new zeroed record at the end; returns its index.
  size_t Append() {
    if (size_ == capacity_) AddBlock();
    std::memset(at(size_), 0, record_bytes_);
    return size_++;
  }

  // Drops every record and the memory.
  void Clear() {
    for (char* b : blocks_) std::free(b);
    blocks_.clear();
    size_ = capacity_ = 0;
  }

 private:
  static constexpr int kFirstLog2 = 6;
  static constexpr size_t kFirst = size_t{1} << kFirstLog2;  // records in block 0
  static constexpr size_t kHuge = size_t{2} << 20;

  void AddBlock() {
    const size_t records = kFirst << blocks_.size();
    size_t bytes = records * record_bytes_;
    const size_t align = bytes >= kHuge ? kHuge : 64;
    bytes = (bytes + align - 1) / align * align;
    void* p = std::aligned_alloc(align, bytes);
    CHECK(p != nullptr) << "out of memory growing a row slab by " << records << " records";
    if (bytes >= kHuge) madvise(p, bytes, MADV_HUGEPAGE);
    blocks_.push_back(static_cast<char*>(p));
    capacity_ += records;
  }

  size_t record_bytes_;
  std::vector<char*> blocks_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace moerec

#endif  // MOEREC_PS_INTERNAL_SLAB_H_
