// KeyIndex: an open-addressing hash map from 64-bit keys to 32-bit slot numbers, the lookup
// structure of the row stores. Linear probing over one flat array of (key, slot) pairs keeps a
// lookup to one or two cache lines; erase uses backward shifting, so there are no tombstones and
// probe lengths stay short under churn (eviction). The load factor is kept at or below 1/2.
// Any 64-bit key is allowed (occupancy is tracked by the slot, not by a reserved key).
// Thread-safety: none; the owner serialises access.
#ifndef MOEREC_CORE_KEY_INDEX_H_
#define MOEREC_CORE_KEY_INDEX_H_

#include <cstdint>
#include <vector>

#include "core/random.h"

namespace moerec {

class KeyIndex {
 public:
  static constexpr uint32_t kAbsent = 0xffffffffu;

  explicit KeyIndex(size_t initial_capacity = 1024) { Rehash(RoundUp(initial_capacity * 2)); }

  size_t size() const { return size_; }

  // The slot stored for `key`, or kAbsent.
  uint32_t Find(uint64_t key) const {
    for (size_t i = Home(key);; i = (i + 1) & mask_) {
      const Entry& e = entries_[i];
      if (e.slot == kAbsent) return kAbsent;
      if (e.key == key) return e.slot;
    }
  }

  // Starts loading the cache line where a lookup of `key` begins (for batched lookups).
  void Prefetch(uint64_t key) const { __builtin_prefetch(&entries_[Home(key)]); }

  // Stores key -> slot (slot != kAbsent). Returns false, changing nothing, when key is present.
  bool Insert(uint64_t key, uint32_t slot) {
    if ((size_ + 1) * 2 > entries_.size()) Rehash(entries_.size() * 2);
    for (size_t i = Home(key);; i = (i + 1) & mask_) {
      Entry& e = entries_[i];
      if (e.slot == kAbsent) {
        e = Entry{key, slot};
        ++size_;
        return true;
      }
      if (e.key == key) return false;
    }
  }

  // Replaces the slot of a present key; returns false when absent.
  bool Update(uint64_t key, uint32_t slot) {
    for (size_t i = Home(key);; i = (i + 1) & mask_) {
      Entry& e = entries_[i];
      if (e.slot == kAbsent) return false;
      if (e.key == key) {
        e.slot = slot;
        return true;
      }
    }
  }

  // Removes key; returns its slot or kAbsent.
  uint32_t Erase(uint64_t key) {
    size_t i = Home(key);
    for (;; i = (i + 1) & mask_) {
      if (entries_[i].slot == kAbsent) return kAbsent;
      if (entries_[i].key == key) break;
    }
    const uint32_t slot = entries_[i].slot;
    // Backward-shift: move later entries of the cluster into the hole when their home position
    // does not lie cyclically in (hole, j].
    size_t hole = i;
    for (size_t j = (i + 1) & mask_; entries_[j].slot != kAbsent; j = (j + 1) & mask_) {
      const size_t home = Home(entries_[j].key);
      const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (!stays) {
        entries_[hole] = entries_[j];
        hole = j;
      }
    }
    entries_[hole].slot = kAbsent;
    --size_;
    return slot;
  }

  void Clear() {
    for (Entry& e : entries_) e.slot = kAbsent;
    size_ = 0;
  }

  // Calls fn(key, slot) for every entry, in table order.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (const Entry& e : entries_) {
      if (e.slot != kAbsent) fn(e.key, e.slot);
    }
  }

 private:
  struct Entry {
    uint64_t key = 0;
    uint32_t slot = kAbsent;
  };

  static size_t RoundUp(size_t n) {
    size_t c = 16;
    while (c < n) c *= 2;
    return c;
  }
  size_t Home(uint64_t key) const { return Mix64(key) & mask_; }

  void Rehash(size_t capacity) {
    std::vector<Entry> old;
    old.swap(entries_);
    entries_.assign(capacity, Entry{});
    mask_ = capacity - 1;
    size_ = 0;
    for (const Entry& e : old) {
      if (e.slot != kAbsent) Insert(e.key, e.slot);
    }
  }

  std::vector<Entry> entries_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace moerec

#endif  // MOEREC_CORE_KEY_INDEX_H_
