#include "experts/parallel/placement.h"

#include <algorithm>

#include "glog/logging.h"

namespace moerec {

ExpertPlacement::ExpertPlacement(int num_experts, int num_workers, Kind kind)
    : num_experts_(num_experts), num_workers_(num_workers), kind_(kind) {
  CHECK_GE(num_experts, 1);
  CHECK_GE(num_workers, 1);
  const int ranks = num_ranks();
  owner_.resize(num_experts);
  local_index_.resize(num_experts);
  experts_of_.assign(ranks, {});
  const int base = num_experts / ranks, extra = num_experts % ranks;
  for (int e = 0; e < num_experts; ++e) {
    int r = 0;
    if (kind == ExpertPlacementConfig::ROUND_ROBIN) {
      r = e % ranks;
    } else if (kind == ExpertPlacementConfig::CONTIGUOUS) {
      // The first `extra` blocks hold base + 1 experts.
      const int big = extra * (base + 1);
      r = e < big ? e / (base + 1) : extra + (e - big) / std::max(base, 1);
    }
    owner_[e] = r;
    local_index_[e] = static_cast<int>(experts_of_[r].size());
    experts_of_[r].push_back(e);
  }
  for (const auto& v : experts_of_) max_local_ = std::max(max_local_, static_cast<int>(v.size()));
}

}  // namespace moerec
