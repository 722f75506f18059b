// MMoE (docs/models.md): N experts f_n (Mlp, MmoeConfig.expert); per gate head a softmax over the
// experts from the input, g = softmax(W e) (no bias); z = sum_n g_n f_n(e); towers on z.
// Logits are pre-sigmoid.
//
// Indexing (experts/layers/heads.h):
//   gate_index  BY_TASK: gate t mixes for task t. BY_DOMAIN: the gate of domain d(i) makes
//               one mixture that every task of the row reads. BY_DOMAIN_TASK: gate (d(i), t)
//               mixes for task t.
//   tower_index BY_TASK: tower t, 1 output, on task t's mixture. BY_DOMAIN: tower d(i) with T
//               outputs; task t's logit is output t of the tower applied to task t's mixture
//               (with gates BY_DOMAIN there is one mixture and the tower runs once).
//               BY_DOMAIN_TASK: tower (d(i), t), 1 output, on task t's mixture.
// Layout for speed: the experts are one Mlp bank (their first layers are ONE GEMM on the
// shared input, the later layers GEMMs on column blocks, copy-parallel), the gates of all
// tasks one GEMM, and the mixture one fused row-parallel pass each way.
// Parameters: "domain_embedding.table", "experts.*", "gates.w", "towers.*".
// Stats(): expert load — mean gate weight per expert over the rows and streams of the last
// Forward ("expert_load.<n>"), its coefficient of variation and max / mean; and per (domain,
// task) the mean weight of each expert in the mixture task t reads on domain d's rows
// ("expert_load/<d>/<t>.<n>", indices; domains without rows in the batch are left out).
// Contract of Forward/Backward, memory and threads: experts/model.h.
#ifndef MOEREC_EXPERTS_ZOO_MMOE_H_
#define MOEREC_EXPERTS_ZOO_MMOE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "experts/layers/domain_input.h"
#include "experts/layers/gate.h"
#include "experts/layers/mlp.h"
#include "experts/layers/towers.h"
#include "experts/model.h"

namespace moerec {

class MmoeModel : public Model {
 public:
  // InvalidArgument naming the field ("model.mmoe.num_experts must be ...").
  static Status Validate(const ModelConfig& config, const ModelShape& shape);
  // `config` must have passed Validate.
  MmoeModel(const ModelConfig& config, const ModelShape& shape, uint64_t seed);

  void Forward(const ModelBatch& batch, MatView logits) override;
  void Backward(const ModelBatch& batch, ConstMatView dlogits, MatView dfeatures) override;
  std::vector<std::pair<std::string, double>> Stats() const override;

 private:
  int num_experts_ = 0;
  DomainInput input_;
  Mlp experts_;
  SoftmaxGates gates_;
  Towers towers_;
  MlpCache expert_cache_;
  GateCache gate_cache_;
  ConstMatView x_;      // (B, I) input of the last Forward
  ConstMatView f_;      // (B, E*H) expert outputs
  ConstMatView probs_;  // (B, S*E) gate weights
  Tensor mix_;          // (B, S*H)
  Tensor dmix_;         // (B, S*H)
  Tensor dexperts_;     // (B, E*H)
  Tensor dprobs_;       // (B, S*E)

  std::vector<int64_t> domain_begin_;  // (D + 1) of the last Forward, for Stats
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_ZOO_MMOE_H_
