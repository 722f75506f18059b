// The MoE-MLoRA part of a model with a DNN (Shared-Bottom's bottom, a ctr backbone's dnn;
// docs/models.md "MoE-MLoRA"): adapters on the DNN's
// layers (experts/layers/lora.h), the gate from the domain id, and the training phases.
//
// Layer l of the DNN computes act(W_l x + b_l + sum_m w_m(i) E_lm(x)) with row weights by phase:
//   backbone     w = 0 (the plain DNN)
//   expert.<m>   w_m = 1 on the rows of domain m mod D, else 0 (expert m alone)
//   gate         w = g_{d(i)}, the gate's softmax (its gradient flows to the gate)
//   MLORA mode   w_m = [m == d(i)] (one adapter per domain), in its one phase
// Phases() lists MOE_MLORA's phases: backbone (everything but the adapters and the gate, rows
// too), expert.<m> for every m (that expert's adapters only, on domain m mod D), gate (the gate
// only). A model starts in its first phase.
// Parameters: "mlora.experts.<m>.<l>.{a,b,c}", "mlora.gate.{embedding,w,b}".
// Thread-safety: none.
#ifndef MOEREC_EXPERTS_ZOO_MLORA_H_
#define MOEREC_EXPERTS_ZOO_MLORA_H_

#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "experts/layers/lora.h"
#include "experts/layers/mlp.h"
#include "experts/model.h"

namespace moerec {

class Mlora {
 public:
  // InvalidArgument naming the field of model.mlora.
  static Status Validate(const ModelConfig& config, const ModelShape& shape);
  // Attaches adapters to `dnn` (the model's, which must outlive this). `config` valid.
  Mlora(const MloraConfig& config, Mlp* dnn, const ModelShape& shape, ParameterSet* params,
        uint64_t seed);

  // Before the DNN's Forward: the row weights of this batch under the current phase.
  void BeforeForward(const ModelBatch& batch);
  // After the DNN's Backward: the gate's parameter gradients (gate phase).
  void AfterBackward(const ModelBatch& batch);

  std::vector<ModelPhase> Phases() const;
  void EnterPhase(int phase);
  // In the gate phase: the gate's expert load over the last batch's rows, as a gate's
  // (experts/layers/gate.h: "expert_load.<m>", its CV and max / mean, and per (domain, task)
  // "expert_load/<d>/<t>.<m>", the same for every task); else none.
  std::vector<std::pair<std::string, double>> Stats() const;

 private:
  enum class Weights { kNone, kExpert, kGate, kDomain };

  MloraConfig config_;
  int num_domains_ = 1;
  int num_experts_ = 1;
  Weights weights_ = Weights::kNone;
  int expert_ = 0;
  MloraAdapters adapters_;
  MloraGate gate_;
  int num_tasks_ = 1;
  std::vector<int64_t> domain_begin_;  // (D + 1) of the last batch, for Stats
  Tensor w_;                           // (B, M)
  Tensor dw_;                          // (B, M)
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_ZOO_MLORA_H_
