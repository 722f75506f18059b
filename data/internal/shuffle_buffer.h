// ShuffleBuffer: the sample-level shuffle of DataReader. It holds at least `capacity` samples
// (whole decoded blocks are added while it holds fewer) and hands out one uniformly chosen
// sample at a time, like a TF shuffle buffer, so the output order depends only on the sequence
// of blocks added and the Rng.
//
// Samples stay in the blocks they came in; an entry is (block, row). A block whose samples have
// all left goes to the free list for reuse. Blocks kept alive by a few stragglers are bounded:
// when the resident blocks hold more than 2 * (capacity + largest block) samples, the remaining
// samples are copied, in entry order, into one compact block (the output does not change).
// Thread-safety: none; the reader's assembler thread owns it.
#ifndef MOEREC_DATA_INTERNAL_SHUFFLE_BUFFER_H_
#define MOEREC_DATA_INTERNAL_SHUFFLE_BUFFER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "core/random.h"
#include "data/batch.h"

namespace moerec {

class ShuffleBuffer {
 public:
  explicit ShuffleBuffer(int64_t capacity);  // capacity >= 1

  // True while the buffer holds fewer than `capacity` samples.
  bool wants_more() const { return size() < capacity_; }
  int64_t size() const { return static_cast<int64_t>(entries_.size()); }
  // Samples held by resident blocks, taken or not (what the buffer costs in memory).
  int64_t resident_samples() const { return resident_samples_; }

  // Takes all samples of `block` (size >= 1, same layout as earlier blocks).
  void Add(std::unique_ptr<Batch> block);
  // Appends one uniformly chosen sample to *out and removes it. Requires size() > 0.
  void TakeRandom(Rng* rng, Batch* out);
  // A block whose samples have all been taken, or null.
  std::unique_ptr<Batch> PopFreeBlock();
  // Drops everything (blocks go to the free list).
  void Clear();

 private:
  struct Entry {
    uint32_t block;
    uint32_t row;
  };
  struct Resident {
    std::unique_ptr<Batch> batch;
    int64_t live = 0;  // entries still pointing into it
  };
  uint32_t SlotFor(std::unique_ptr<Batch> block);
  void Release(uint32_t slot);
  void Compact();

  const int64_t capacity_;
  std::vector<Entry> entries_;
  std::vector<Resident> resident_;  // indexed by Entry::block; empty slots have null batch
  std::vector<uint32_t> empty_slots_;
  std::vector<std::unique_ptr<Batch>> free_;
  int64_t resident_samples_ = 0;
  int64_t largest_block_ = 0;
};

}  // namespace moerec

#endif  // MOEREC_DATA_INTERNAL_SHUFFLE_BUFFER_H_
