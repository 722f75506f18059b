// AdmissionFilter: counts the sightings of ids that have no row yet, so that a row is created
// only after k of them (feature admission). A count-min sketch with conservative update: four
// one-byte counters per id, picked by hashing, in one array; the estimate is the smallest of
// the four, never below the true count (until aging), sometimes above it when ids collide.
// Counters saturate at 255 and all halve every 8 x counters additions (aging), so the filter
// forgets ids that stopped appearing and never fills up.
// Deterministic: the same sequence of Add calls gives the same answers.
// Thread-safety: none.
#ifndef MOEREC_PS_INTERNAL_ADMISSION_FILTER_H_
#define MOEREC_PS_INTERNAL_ADMISSION_FILTER_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/random.h"

namespace moerec {

class AdmissionFilter {
 public:
  static constexpr int kHashes = 4;

  // counters: rounded up to a power of two (at least 64).
  AdmissionFilter(int64_t counters, uint64_t seed) : seed_(seed) {
    size_t n = 64;
    while (static_cast<int64_t>(n) < counters) n *= 2;
    counts_.assign(n, 0);
    mask_ = n - 1;
    age_period_ = 8 * static_cast<int64_t>(n);
  }

  size_t counters() const { return counts_.size(); }

  // Records one sighting of `key`; returns its estimated sightings including this one.
  uint32_t Add(uint64_t key) {
    size_t pos[kHashes];
    Positions(key, pos);
    uint8_t low = 255;
    for (size_t p : pos) low = std::min(low, counts_[p]);
    if (low < 255) {
      for (size_t p : pos) {
        if (counts_[p] == low) ++counts_[p];
      }
      ++low;
    }
    if (++additions_ >= age_period_) Age();
    return low;
  }

  uint32_t Estimate(uint64_t key) const {
    size_t pos[kHashes];
    Positions(key, pos);
    uint8_t low = 255;
    for (size_t p : pos) low = std::min(low, counts_[p]);
    return low;
  }

  void Clear() {
    std::fill(counts_.begin(), counts_.end(), 0);
    additions_ = 0;
  }

 private:
  void Positions(uint64_t key, size_t* pos) const {
    const uint64_t h1 = Mix64(key ^ seed_);
    const uint64_t h2 = Mix64(h1) | 1;
    for (int i = 0; i < kHashes; ++i) pos[i] = (h1 + i * h2) & mask_;
  }
  void Age() {
    for (uint8_t& c : counts_) c >>= 1;
    additions_ = 0;
  }

  uint64_t seed_;
  std::vector<uint8_t> counts_;
  size_t mask_ = 0;
  int64_t age_period_ = 0;
  int64_t additions_ = 0;
};

}  // namespace moerec

#endif  // MOEREC_PS_INTERNAL_ADMISSION_FILTER_H_
