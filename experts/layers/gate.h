// SoftmaxGates: the mixture weights of a multi-gate MoE layer, `softmax(W_h x)` over E
// experts for every gate head h (no bias, as docs/models.md writes MMoE's gate), with the heads
// selected by a HeadIndex (experts/layers/heads.h).
//
// Streams: a gate's output is consumed per "stream" — S = T when gates are per task (BY_TASK,
// BY_DOMAIN_TASK: task t mixes with stream t) and S = 1 for BY_DOMAIN (domain d's gate is
// shared by its tasks, so one mixture serves every task).
// Dimension legend: B rows, I input width, E experts, D domains, T tasks, S streams.
//   x: (B, I)   probs, dprobs: (B, S*E), block s of row i = the weights its gate for stream s
//   gives the experts.
// Parameters: "<name>.w" (I, T*E) for BY_TASK — every task's gate side by side, so all gates
//   are ONE GEMM; (D, I, S*E) for the per-domain indexings — one GEMM per domain row block.
//   Initialised as a Linear (experts/layers/init.h).
// Gradient rule: dW accumulates; dx is written, or added to with dx_beta = 1.
// Memory: probabilities and logit gradients live in a GateCache owned by the caller.
// Thread-safety: none.
#ifndef MOEREC_EXPERTS_LAYERS_GATE_H_
#define MOEREC_EXPERTS_LAYERS_GATE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/parameter.h"
#include "core/tensor.h"
#include "proto/config.pb.h"

namespace moerec {

struct GateCache {
  Tensor probs;    // (B, S*E)
  Tensor dlogits;  // (B, S*E)
};

class SoftmaxGates {
 public:
  SoftmaxGates() = default;
  SoftmaxGates(HeadIndex index, int num_domains, int num_tasks, int64_t input_dim, int num_experts,
               const std::string& name, ParameterSet* params, uint64_t seed);

  int streams() const { return streams_; }
  int num_experts() const { return num_experts_; }
  HeadIndex index() const { return index_; }

  // Returns probs (B, S*E), a view into `cache`. domain_begin: (D + 1), see model.h.
  ConstMatView Forward(ConstMatView x, const std::vector<int64_t>& domain_begin,
                       GateCache* cache) const;
  // dprobs: (B, S*E). dx: (B, I), skipped when dx.data is null.
  void Backward(ConstMatView x, const std::vector<int64_t>& domain_begin, ConstMatView dprobs,
                MatView dx, float dx_beta, GateCache* cache) const;

 private:
  // The weight (or gradient) of domain d's gates, (I, S*E); d is ignored for BY_TASK.
  MatView Weight(int d, bool grad) const;
  // The groups of rows that share one weight: the whole batch, or each domain.
  int NumGroups() const { return index_ == BY_TASK ? 1 : num_domains_; }

  HeadIndex index_ = BY_TASK;
  int num_domains_ = 1;
  int num_experts_ = 1;
  int streams_ = 1;
  int64_t input_dim_ = 0;
  Parameter* w_ = nullptr;
};

// Expert load of gate weights (docs/models.md "Metrics"): every view is (B, k*E), block j of a
// row = one routing's weights over the E experts. Returns "expert_load.<e>" (mean weight of
// expert e over all routings), "expert_load_cv" (std / mean over experts) and
// "expert_load_max_mean"; empty when there are no rows.
std::vector<std::pair<std::string, double>> ExpertLoadStats(const std::vector<ConstMatView>& probs,
                                                            int num_experts);

// Expert load per (domain, task), for the report's heatmap: "expert_load/<d>/<t>.<e>" (domain
// and task indices), the mean over domain d's rows of the weight task t gives expert e.
// task_probs[t] is (B, E), task t's weights; a single view is read by every task. Rows are
// sorted by domain (domain_begin, D + 1 offsets); domains without rows are left out.
std::vector<std::pair<std::string, double>> DomainTaskLoadStats(
    const std::vector<ConstMatView>& task_probs, const std::vector<int64_t>& domain_begin,
    int num_tasks);

}  // namespace moerec

#endif  // MOEREC_EXPERTS_LAYERS_GATE_H_
