// MoE-MLoRA's layers (docs/models.md "MoE-MLoRA"): low-rank domain experts on every layer of an
// Mlp, and the gate that mixes them from the domain id.
//
// MloraAdapters: per layer l of the Mlp and expert m, E_lm(x) = (x A_lm) B_lm + c_lm added to
// the layer's pre-activation, weighted by row: pre[i] += sum_m w[i, m] E_lm(x[i])
// (core/low_rank.h). Rank r_l = max(H_l / reduce, 1). Parameters, one set per expert so that a
// training phase can update one expert alone: "<name>.<m>.<l>.a" (I_l, r_l), Glorot uniform;
// "<name>.<m>.<l>.b" (r_l, H_l) and "<name>.<m>.<l>.c" (H_l), zero, so that a fresh adapter
// changes nothing. The weights w (R, M) are set before each Forward (the model's
// phase decides them: none, one expert, the gate, the one-hot domain); an expert whose weights
// are all zero is skipped unless the weights' gradient is asked for.
//
// MloraGate: g_d = softmax(emb_d W + b) over the M experts, from the domain id only (the same
// for every layer). Parameters "<name>.embedding" (D, E) ~ N(0, 0.05^2), "<name>.w" (E, M) and
// "<name>.b" (M) initialised as a Linear. RowWeights spreads g over the rows by domain.
//
// Gradient rule: parameter gradients accumulate; weight gradients accumulate into the caller's
// (R, M) buffer. Memory: activations are kept inside (resized when R grows).
// Thread-safety: none.
#ifndef MOEREC_EXPERTS_LAYERS_LORA_H_
#define MOEREC_EXPERTS_LAYERS_LORA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/parameter.h"
#include "core/tensor.h"
#include "experts/layers/mlp.h"

namespace moerec {

class MloraAdapters : public MlpLayerAdapter {
 public:
  MloraAdapters() = default;
  // Adapters for every layer of `mlp` (one copy); reduce >= 1, num_experts >= 1.
  MloraAdapters(const Mlp& mlp, int num_experts, int reduce, const std::string& name,
                ParameterSet* params, uint64_t seed);

  int num_experts() const { return num_experts_; }
  int rank(int layer) const { return static_cast<int>(layers_[layer].rank); }

  // w: (R, M) row weights for the next Forward and Backward; dw: (R, M) their gradients
  // accumulate there (a view with null data: not needed). Both are the caller's and stay
  // valid through Backward.
  void SetRowWeights(ConstMatView w, MatView dw);

  void Forward(int layer, ConstMatView x, MatView pre) override;
  void Backward(int layer, ConstMatView x, ConstMatView dpre, MatView dx) override;

 private:
  struct Layer {
    int64_t in = 0, out = 0, rank = 1;
    std::vector<Parameter*> a, b, c;  // (M)
    std::vector<Tensor> t, u;         // (M) (R, r), (R, H)
    Tensor du, dt;                    // scratch (R, H), (R, r)
  };

  int num_experts_ = 0;
  std::vector<Layer> layers_;
  ConstMatView w_;
  MatView dw_;
  std::vector<bool> active_;  // (M)
};

class MloraGate {
 public:
  MloraGate() = default;
  MloraGate(int num_domains, int embedding_dim, int num_experts, const std::string& name,
            ParameterSet* params, uint64_t seed);

  // (B, M): row i = g_{d(i)}, a view inside. domain_begin: (D + 1).
  ConstMatView RowWeights(const std::vector<int64_t>& domain_begin);
  // drow: (B, M) gradient of RowWeights' output; accumulates the gate's parameter gradients.
  void Backward(const std::vector<int64_t>& domain_begin, ConstMatView drow);

 private:
  int num_domains_ = 1;
  int num_experts_ = 1;
  Parameter* embedding_ = nullptr;
  Parameter* w_ = nullptr;
  Parameter* b_ = nullptr;
  Tensor probs_;   // (D, M)
  Tensor rows_;    // (B, M)
  Tensor dprobs_;  // (D, M)
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_LAYERS_LORA_H_
