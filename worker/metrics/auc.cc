#include "worker/metrics/auc.h"

#include <vector>

#include "worker/metrics/internal/ranking.h"

namespace moerec {

using metrics_internal::RankItem;

namespace {

std::vector<RankItem> MakeItems(const float* scores, const float* labels, const uint64_t* groups,
                                int64_t n) {
  std::vector<RankItem> items(n);
  for (int64_t i = 0; i < n; ++i) {
    items[i] = RankItem{groups == nullptr ? 0 : groups[i], metrics_internal::ScoreKey(scores[i]),
                        labels[i] >= 0.5f ? 1u : 0u};
  }
  return items;
}

}  // namespace

double Auc(const float* scores, const float* labels, int64_t n) {
  std::vector<RankItem> items = MakeItems(scores, labels, nullptr, n);
  std::vector<RankItem> scratch;
  metrics_internal::SortByScore(&items, &scratch);
  return metrics_internal::AucOfSortedRun(items.data(), items.data() + items.size()).auc;
}

double Gauc(const float* scores, const float* labels, const uint64_t* groups, int64_t n) {
  std::vector<RankItem> items = MakeItems(scores, labels, groups, n);
  std::vector<RankItem> scratch;
  metrics_internal::SortByGroupThenScore(&items, &scratch);
  return metrics_internal::GaucOfSorted(items).gauc;
}

}  // namespace moerec
