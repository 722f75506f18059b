// ExpertBank: the experts of a sparse MoE layer that live on this worker, run on their routed
// rows as grouped GEMMs (core/grouped_linear.h): every layer is one call over all local
// experts, whatever their row counts.
//
// Each expert is an MLP (MlpConfig dims, ReLU or no activation after every layer; layer norm,
// PReLU and dropout are refused by the models' validation). Parameters
// "<name>.<e>.<l>.w" (I_l, H_l) and ".b" (H_l) per global expert e, initialised from their names
// (experts/layers/init.h), so an expert starts the same wherever it is placed; marked
// expert_local when the layer is expert-parallel.
//
// Dimension legend: N routed rows (stacked by local expert: local_begin, see
// experts/parallel/expert_dispatch.h), I input width, O = the last layer's width.
// Gradient rule: parameter gradients accumulate; Backward writes dx.
// Thread-safety: none.
#ifndef MOEREC_EXPERTS_LAYERS_EXPERT_BANK_H_
#define MOEREC_EXPERTS_LAYERS_EXPERT_BANK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/parameter.h"
#include "core/tensor.h"
#include "proto/config.pb.h"

namespace moerec {

class ExpertBank {
 public:
  ExpertBank() = default;
  // `experts`: the global ids held here, ascending (may be empty).
  ExpertBank(const MlpConfig& config, int64_t input_dim, const std::vector<int>& experts,
             const std::string& name, bool expert_local, ParameterSet* params, uint64_t seed);

  int64_t output_dim() const { return dims_.back(); }

  // x: (N, I); local_begin: (num_local + 1). Returns (N, O), valid until the next Forward.
  ConstMatView Forward(ConstMatView x, const std::vector<int64_t>& local_begin);
  // dout: (N, O) of the last Forward; writes *dx (N, I), resized.
  void Backward(ConstMatView dout, Tensor* dx);

 private:
  struct Layer {
    std::vector<Parameter*> w, b;  // per local expert
    bool relu = true;
    Tensor out;   // (N, H_l)
    Tensor grad;  // (N, H_l)
  };
  std::vector<int> experts_;
  std::vector<int64_t> dims_;  // I, H_0, ..., H_{L-1}
  std::vector<Layer> layers_;
  ConstMatView x_;
  std::vector<int64_t> begin_;
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_LAYERS_EXPERT_BANK_H_
