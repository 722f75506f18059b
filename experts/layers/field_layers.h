// Field-wise layers of the CTR backbones (experts/zoo/ctr.h), each a thin owner of parameters and
// buffers around the kernels of core/: the PNN products, the xDeepFM CIN, the AutoInt
// interacting layers, FiBiNET's SENET and bilinear interaction.
//
// Dimension legend: B rows, S fields, k embedding width (the same for every field),
// P = S (S - 1) / 2 field pairs (in the order of core/interaction.h FieldPairIndex).
//   v, dv: (B, S*k)   field s of row b = columns [s*k, (s+1)*k); v may be a column block of a
//                     wider matrix (the model input), as may every output and gradient view.
// Initialisation (experts/layers/init.h): every weight ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
// PyTorch's nn.Linear bound, with fan_in the width each output reads: k for a (k, k) kernel or
// bilinear matrix and for the attention projections of the first layer (H*D after), H_prev*S
// for a CIN layer, S for SENET's first matrix and S_r for its second.
// Gradient rule: parameter gradients accumulate; dv is written (dv_beta 0) or added to
// (dv_beta 1), since the field embeddings feed other parts of a model too.
// Memory: outputs a layer returns as views live in its buffers until its next Forward; the
// backward passes need v unchanged since the forward pass.
// Thread-safety: none.
#ifndef MOEREC_EXPERTS_LAYERS_FIELD_LAYERS_H_
#define MOEREC_EXPERTS_LAYERS_FIELD_LAYERS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/bilinear.h"
#include "core/field_attention.h"
#include "core/parameter.h"
#include "core/senet.h"
#include "core/tensor.h"

namespace moerec {

// PNN's product layer: the inner products <v_i, v_j> (B, P) and/or the kernel products
// v_i^T K_p v_j (B, P), inner first. Parameter "<name>.kernel" (P, k, k) with the kernel
// products.
class FieldProducts {
 public:
  FieldProducts() = default;
  FieldProducts(bool inner, bool kernel, int num_fields, int64_t k, const std::string& name,
                ParameterSet* params, uint64_t seed);

  int64_t output_dim() const;  // P or 2P

  // out: (B, output_dim()), written.
  void Forward(ConstMatView v, MatView out) const;
  void Backward(ConstMatView v, ConstMatView dout, MatView dv, float dv_beta) const;

 private:
  bool inner_ = true;
  int num_fields_ = 0;
  Parameter* kernel_ = nullptr;  // null without kernel products
};

// The compressed interaction network of xDeepFM: layers X_l = CinLayer(X0 = v, X_{l-1}) with
// H_l feature maps each (core/cin.h), output [SumPool(X_1) | ... | SumPool(X_L)], (B, sum H_l).
// Parameters "<name>.<l>.w" (H_l, H_{l-1} * S), H_0 = S.
class CinNet {
 public:
  CinNet() = default;
  CinNet(const std::vector<int>& maps, int num_fields, int64_t k, const std::string& name,
         ParameterSet* params, uint64_t seed);

  int64_t output_dim() const;

  // out: (B, output_dim()), written.
  void Forward(ConstMatView v, MatView out);
  void Backward(ConstMatView v, ConstMatView dout, MatView dv, float dv_beta);

 private:
  struct Layer {
    Parameter* w = nullptr;
    int64_t maps = 0;
    Tensor x;  // (B, maps * k)
  };
  int num_fields_ = 0;
  int64_t k_ = 0;
  std::vector<Layer> layers_;
  Tensor dx_[2];  // gradients of consecutive layers' outputs
  Tensor dpool_;  // (B, H_l * k) a hidden layer's gradient from its own pool
};

// AutoInt's interacting layers: L multi-head self-attention layers over the fields
// (core/field_attention.h, scale 1 as in AutoInt), each y_s = ReLU(concat_h o_s^h [+ X_s W_res]);
// layer l > 0 reads layer l-1's (B, S*E) output, E = heads * head_dim. Output: the last layer's,
// (B, S*E). Parameters "<name>.<l>.{q,k,v}" and, with the residual, "<name>.<l>.res", each
// (K_in, E): K_in = k for l = 0, E after.
class FieldAttentionStack {
 public:
  FieldAttentionStack() = default;
  FieldAttentionStack(int num_layers, int heads, int head_dim, bool residual, int num_fields,
                      int64_t k, const std::string& name, ParameterSet* params, uint64_t seed);

  int64_t output_dim() const { return int64_t{num_fields_} * heads_ * head_dim_; }

  // Returns the output, a view into the stack's buffers.
  ConstMatView Forward(ConstMatView v);
  // Needs neither v nor the output (the caches hold what it reads).
  void Backward(ConstMatView dy, MatView dv, float dv_beta);

 private:
  struct Layer {
    Parameter* q = nullptr;
    Parameter* k = nullptr;
    Parameter* v = nullptr;
    Parameter* res = nullptr;  // null without the residual
    Tensor y;                  // (B, S*E)
    FieldAttentionCache cache;
  };
  int num_fields_ = 0;
  int heads_ = 0;
  int head_dim_ = 0;
  std::vector<Layer> layers_;
  Tensor dy_[2];
};

// FiBiNET's SENET: per-field weights a = ReLU(ReLU(mean_c(v) W1) W2), output a_s * v_s
// (core/senet.h). Parameters "<name>.w1" (S, S_r), "<name>.w2" (S_r, S).
class Senet {
 public:
  Senet() = default;
  Senet(int num_fields, int bottleneck, const std::string& name, ParameterSet* params,
        uint64_t seed);

  // Returns the re-weighted fields (B, S*k), a view into the layer's buffer.
  ConstMatView Forward(ConstMatView v);
  void Backward(ConstMatView v, ConstMatView dout, MatView dv, float dv_beta) const;

 private:
  int num_fields_ = 0;
  Parameter* w1_ = nullptr;
  Parameter* w2_ = nullptr;
  Tensor out_;
  SenetCache cache_;
};

// FiBiNET's bilinear interaction (v_i W) ⊙ v_j for every pair, (B, P*k) (core/bilinear.h).
// Parameter "<name>.w" (M, k, k), M = 1, S or P matrices by type.
class FieldBilinear {
 public:
  FieldBilinear() = default;
  FieldBilinear(BilinearType type, int num_fields, int64_t k, const std::string& name,
                ParameterSet* params, uint64_t seed);

  int64_t output_dim() const;  // P*k

  // out: (B, P*k), written.
  void Forward(ConstMatView v, MatView out);
  void Backward(ConstMatView v, ConstMatView dout, MatView dv, float dv_beta) const;

 private:
  BilinearType type_ = BilinearType::kFieldAll;
  int num_fields_ = 0;
  int64_t k_ = 0;
  Parameter* w_ = nullptr;
  BilinearCache cache_;
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_LAYERS_FIELD_LAYERS_H_
