// Machinery behind the rank-based AUCs in auc.h and domain_task_metrics.h: an order-preserving
// integer key for float scores, a stable LSD radix sort, and the tie-aware AUC of a sorted run.
// Not for use outside worker/metrics. Pure functions on caller-owned buffers; thread-safe.
#ifndef MOEREC_WORKER_METRICS_INTERNAL_RANKING_H_
#define MOEREC_WORKER_METRICS_INTERNAL_RANKING_H_

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <vector>

namespace moerec::metrics_internal {

// One (score, label) pair ready for sorting. `group` is the GAUC key (0 when unused).
struct RankItem {
  uint64_t group;
  uint32_t key;       // ScoreKey(score)
  uint32_t positive;  // 1 or 0
};

// Maps a float to a uint32 whose unsigned order is the float's order. -0 and +0 share a key,
// so they tie. NaNs get keys outside [-inf, +inf] (sign-dependent): ordered, never undefined.
inline uint32_t ScoreKey(float score) {
  const uint32_t bits = std::bit_cast<uint32_t>(score + 0.0f);  // -0 + 0 = +0
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

// Stable LSD radix sort of `items` by `key_of(item)` (a uint64 using its low `key_bits` bits),
// 11 bits per pass; passes where every item has the same digit are skipped. `scratch` is
// resized as needed and its contents are unspecified afterwards.
template <typename T, typename KeyOf>
void RadixSortBy(std::vector<T>* items, std::vector<T>* scratch, int key_bits, KeyOf key_of) {
  constexpr int kDigitBits = 11;
  constexpr size_t kBuckets = size_t{1} << kDigitBits;
  const size_t n = items->size();
  if (n < 2) return;
  scratch->resize(n);
  std::vector<size_t> count(kBuckets);
  for (int shift = 0; shift < key_bits; shift += kDigitBits) {
    std::fill(count.begin(), count.end(), 0);
    for (const T& item : *items) ++count[(key_of(item) >> shift) & (kBuckets - 1)];
    if (count[(key_of((*items)[0]) >> shift) & (kBuckets - 1)] == n) continue;
    size_t offset = 0;
    for (size_t& c : count) {
      const size_t here = c;
      c = offset;
      offset += here;
    }
    for (const T& item : *items)
      (*scratch)[count[(key_of(item) >> shift) & (kBuckets - 1)]++] = item;
    items->swap(*scratch);
  }
}

inline void SortByScore(std::vector<RankItem>* items, std::vector<RankItem>* scratch) {
  RadixSortBy(items, scratch, 32, [](const RankItem& item) { return uint64_t{item.key}; });
}

// Sorts by (group, score): score first, then a stable pass by group.
inline void SortByGroupThenScore(std::vector<RankItem>* items, std::vector<RankItem>* scratch) {
  SortByScore(items, scratch);
  RadixSortBy(items, scratch, 64, [](const RankItem& item) { return item.group; });
}

struct RunAuc {
  double auc = std::numeric_limits<double>::quiet_NaN();  // NaN when one class is missing
  int64_t positives = 0;
  int64_t negatives = 0;
};

// AUC of items [begin, end), which are sorted by key: the probability that a random positive
// outranks a random negative, counting ties as one half (the Mann-Whitney U statistic with
// averaged ranks). Exact: twice the numerator is an integer.
inline RunAuc AucOfSortedRun(const RankItem* begin, const RankItem* end) {
  RunAuc result;
  int64_t twice_numerator = 0;
  int64_t negatives_below = 0;
  for (const RankItem* tie = begin; tie != end;) {
    int64_t pos = 0;
    int64_t neg = 0;
    const uint32_t key = tie->key;
    for (; tie != end && tie->key == key; ++tie) {
      pos += tie->positive;
      neg += 1 - static_cast<int64_t>(tie->positive);
    }
    twice_numerator += pos * (2 * negatives_below + neg);
    negatives_below += neg;
    result.positives += pos;
  }
  result.negatives = negatives_below;
  if (result.positives > 0 && result.negatives > 0) {
    result.auc =
        static_cast<double>(twice_numerator) /
        (2.0 * static_cast<double>(result.positives) * static_cast<double>(result.negatives));
  }
  return result;
}

struct GroupedAuc {
  double gauc = std::numeric_limits<double>::quiet_NaN();  // NaN when no group has both classes
  int64_t groups_used = 0;                                 // groups with both classes
};

// GAUC of items sorted by (group, score): Σ_u n_u AUC_u / Σ_u n_u over groups u with both
// classes, n_u counting all of u's items.
inline GroupedAuc GaucOfSorted(const std::vector<RankItem>& items) {
  GroupedAuc result;
  double weighted = 0.0;
  int64_t weight = 0;
  const RankItem* end = items.data() + items.size();
  for (const RankItem* run = items.data(); run != end;) {
    const RankItem* run_end = run;
    while (run_end != end && run_end->group == run->group) ++run_end;
    const RunAuc run_auc = AucOfSortedRun(run, run_end);
    if (run_auc.positives > 0 && run_auc.negatives > 0) {
      const int64_t n = run_end - run;
      weighted += static_cast<double>(n) * run_auc.auc;
      weight += n;
      ++result.groups_used;
    }
    run = run_end;
  }
  if (weight > 0) result.gauc = weighted / static_cast<double>(weight);
  return result;
}

}  // namespace moerec::metrics_internal

#endif  // MOEREC_WORKER_METRICS_INTERNAL_RANKING_H_
