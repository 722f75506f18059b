#include "data/internal/shuffle_buffer.h"

#include <algorithm>
#include <utility>

namespace moerec {

ShuffleBuffer::ShuffleBuffer(int64_t capacity) : capacity_(capacity) { CHECK_GE(capacity, 1); }

uint32_t ShuffleBuffer::SlotFor(std::unique_ptr<Batch> block) {
  uint32_t slot;
  if (!empty_slots_.empty()) {
    slot = empty_slots_.back();
    empty_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(resident_.size());
    resident_.emplace_back();
  }
  resident_samples_ += block->size;
  resident_[slot].live = block->size;
  resident_[slot].batch = std::move(block);
  return slot;
}

void ShuffleBuffer::Release(uint32_t slot) {
  Resident& r = resident_[slot];
  resident_samples_ -= r.batch->size;
  free_.push_back(std::move(r.batch));
  r.live = 0;
  empty_slots_.push_back(slot);
}

void ShuffleBuffer::Add(std::unique_ptr<Batch> block) {
  CHECK(block != nullptr);
  CHECK_GE(block->size, 1);
  const int64_t n = block->size;
  largest_block_ = std::max(largest_block_, n);
  const uint32_t slot = SlotFor(std::move(block));
  entries_.reserve(entries_.size() + n);
  for (int64_t i = 0; i < n; ++i) entries_.push_back(Entry{slot, static_cast<uint32_t>(i)});
  if (resident_samples_ > 2 * (capacity_ + largest_block_)) Compact();
}

void ShuffleBuffer::TakeRandom(Rng* rng, Batch* out) {
  CHECK(!entries_.empty());
  const size_t j = rng->Below(entries_.size());
  const Entry e = entries_[j];
  Resident& r = resident_[e.block];
  out->AppendFrom(*r.batch, e.row, e.row + 1);
  entries_[j] = entries_.back();
  entries_.pop_back();
  if (--r.live == 0) Release(e.block);
}

void ShuffleBuffer::Compact() {
  std::unique_ptr<Batch> packed = PopFreeBlock();
  if (packed == nullptr) packed = std::make_unique<Batch>();
  const Batch& any = *resident_[entries_.front().block].batch;
  packed->Reset(any.num_tasks, any.num_slots, any.num_dense);
  for (const Entry& e : entries_) packed->AppendFrom(*resident_[e.block].batch, e.row, e.row + 1);
  for (uint32_t slot = 0; slot < resident_.size(); ++slot) {
    if (resident_[slot].batch != nullptr) Release(slot);
  }
  const uint32_t slot = SlotFor(std::move(packed));
  for (size_t i = 0; i < entries_.size(); ++i) {
    entries_[i] = Entry{slot, static_cast<uint32_t>(i)};
  }
}

std::unique_ptr<Batch> ShuffleBuffer::PopFreeBlock() {
  if (free_.empty()) return nullptr;
  std::unique_ptr<Batch> b = std::move(free_.back());
  free_.pop_back();
  return b;
}

void ShuffleBuffer::Clear() {
  entries_.clear();
  for (uint32_t slot = 0; slot < resident_.size(); ++slot) {
    if (resident_[slot].batch != nullptr) Release(slot);
  }
}

}  // namespace moerec
