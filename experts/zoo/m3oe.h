// M3oE (docs/models.md, "M3oE"): for row i of domain d and task t
//   u    = StarMlp(e)                                    (one star layer, no activation)
//   h    = rep(u) + skip(e)                              (Mlp each, same widths)
//   S_dt = sum_n softmax(W_dt stopgrad(h))_n f_n(h)      (N shared experts, gate (d, t))
//   z_dt = S_dt + alpha_d Dom_d + alpha_t Tsk_t          (core/expert_fusion.h: the domain
//          experts Dm_k and task experts Tk_k fused by beta_d, beta_t)
//   logit_dt = tower_(d,t)(z_dt)                         (Towers, BY_DOMAIN_TASK by default)
// alpha_d, alpha_t, beta_d, beta_t = sigmoid(theta), theta the parameter "arch.theta" (4), an
// architecture parameter: the trainer steps it with its own optimizer on held-out batches
// (TrainConfig.architecture), with the main one, or not at all.
// Dimension legend: B rows, I input width, U star_dim, R representation width, H expert
// width, N shared experts, D domains, T tasks.
// Parameters: "domain_embedding.table", "star.*", "rep.*", "skip.*", "shared_experts.*",
//   "domain_experts.*", "task_experts.*", "gates.w" (D, R, T*N), "arch.theta", "towers.*".
// Stats(): "alpha_domain", "alpha_task", "beta_domain", "beta_task", and the shared experts'
// load (experts/layers/gate.h), also per (domain, task): "expert_load/<d>/<t>.<n>".
// Contract of Forward/Backward, memory and threads: experts/model.h.
#ifndef MOEREC_EXPERTS_ZOO_M3OE_H_
#define MOEREC_EXPERTS_ZOO_M3OE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/expert_fusion.h"
#include "core/status.h"
#include "experts/layers/domain_input.h"
#include "experts/layers/gate.h"
#include "experts/layers/mlp.h"
#include "experts/layers/star.h"
#include "experts/layers/towers.h"
#include "experts/model.h"

namespace moerec {

class M3oeModel : public Model {
 public:
  // InvalidArgument naming the field.
  static Status Validate(const ModelConfig& config, const ModelShape& shape);
  // `config` must have passed Validate.
  M3oeModel(const ModelConfig& config, const ModelShape& shape, uint64_t seed);

  void Forward(const ModelBatch& batch, MatView logits) override;
  void Backward(const ModelBatch& batch, ConstMatView dlogits, MatView dfeatures) override;
  std::vector<std::pair<std::string, double>> Stats() const override;

  // The fusion scalars sigmoid(theta).
  FusionWeights Weights() const;

 private:
  int num_shared_ = 0;
  DomainInput input_;
  StarMlp star_;
  Mlp rep_, skip_;
  Mlp shared_experts_, domain_experts_, task_experts_;
  SoftmaxGates gates_;
  Parameter* theta_ = nullptr;
  Towers towers_;

  StarCache star_cache_;
  MlpCache rep_cache_, skip_cache_, shared_cache_, domain_cache_, task_cache_;
  GateCache gate_cache_;
  ConstMatView x_, u_, shared_f_, domain_f_, task_f_, probs_;
  std::vector<int64_t> domain_begin_;  // (D + 1) of the last Forward, for Stats
  Tensor h_;                           // (B, R)
  Tensor mix_;                         // (B, T*H) S
  Tensor z_;                           // (B, T*H)
  Tensor dz_;                          // (B, T*H), also dS
  Tensor dh_;                          // (B, R)
  Tensor du_;                          // (B, U)
  Tensor dshared_;                     // (B, N*H)
  Tensor ddomain_;                     // (B, D*H)
  Tensor dtask_;                       // (B, T*H)
  Tensor dprobs_;                      // (B, T*N)
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_ZOO_M3OE_H_
