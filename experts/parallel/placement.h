// ExpertPlacement: which worker holds which of E experts (ExpertPlacementConfig):
//   REPLICATED   every worker holds every expert; no dispatch crosses workers;
//   CONTIGUOUS   W blocks of consecutive experts, the first E mod W blocks one larger;
//   ROUND_ROBIN  expert e on worker e mod W.
// E need not divide by W; a worker may hold no expert (E < W).
// Plain value type, thread-safe to read.
#ifndef MOEREC_EXPERTS_PARALLEL_PLACEMENT_H_
#define MOEREC_EXPERTS_PARALLEL_PLACEMENT_H_

#include <vector>

#include "proto/config.pb.h"

namespace moerec {

class ExpertPlacement {
 public:
  using Kind = ExpertPlacementConfig::Kind;
  // num_experts >= 1, num_workers >= 1 (CHECKed).
  ExpertPlacement(int num_experts, int num_workers, Kind kind);

  bool replicated() const { return kind_ == ExpertPlacementConfig::REPLICATED; }
  int num_experts() const { return num_experts_; }
  // Ranks that take part in dispatch: 1 when replicated, else W.
  int num_ranks() const { return replicated() ? 1 : num_workers_; }
  // The dispatch rank holding expert e (0 when replicated) and e's index among its experts.
  int owner(int e) const { return owner_[e]; }
  int local_index(int e) const { return local_index_[e]; }
  // The experts of dispatch rank r, ascending.
  const std::vector<int>& experts_of(int r) const { return experts_of_[r]; }
  int max_local() const { return max_local_; }

 private:
  int num_experts_;
  int num_workers_;
  Kind kind_;
  std::vector<int> owner_, local_index_;
  std::vector<std::vector<int>> experts_of_;
  int max_local_ = 0;
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_PARALLEL_PLACEMENT_H_
