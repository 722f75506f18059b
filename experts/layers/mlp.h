// Mlp: a bank of G >= 1 multi-layer perceptrons of identical widths that read the same input,
// computed together. G = 1 is a plain MLP (a shared bottom, a tower); G = E is the experts of
// an MMoE. Every layer l is Linear -> [LayerNorm] -> activation (ReLU / PReLU / none) ->
// [dropout], as moerec.MlpConfig describes; it applies to every layer, the last included.
//
// Dimension legend: R rows, I input width, G copies, H_l width of layer l, L layers.
//   x: (R, I)   output: (R, G * H_{L-1}), column block g = copy g's output.
// Parameters (in the model's ParameterSet, names "<name>.<l>.<what>"):
//   layer 0:  w (I, G*H_0), the copies' weights side by side, so all copies' first layers are
//             ONE GEMM on the shared input; b (G*H_0).
//   layer l:  w (H_{l-1}, H_l) when G = 1, else (G, H_{l-1}, H_l); b (G*H_l).
//   ln_gamma, ln_beta (G*H_l) with layer_norm; prelu_alpha (G*H_l), a slope per channel, with
//   ACT_PRELU. LayerNorm normalises each copy over its own H_l columns (eps 1e-5).
// Initialisation: experts/layers/init.h, fan_in per copy.
// Dropout (training only, rate p > 0): inverted dropout whose mask is a pure function of
// (seed passed to Forward, layer, copy, row, column); eval mode is the identity.
//
// Execution: activations live in an MlpCache owned by the caller (one per application of the
// same weights to different inputs), resized only when R grows. With G > 1 and R * G * H_0
// >= 32768 the bank runs copy-parallel: each of min(threads, G) threads takes a range of
// whole copies — the first-layer GEMM of its column range, then every later layer — with
// single-threaded GEMMs and the elementwise passes following while the block is in cache;
// backward mirrors it, then the first layer's dW and dx GEMMs run side by side on 2 threads.
// Otherwise each GEMM and pass uses the whole pool.
// Gradient rule: parameter gradients accumulate (+=); dx is written (=), or added to with
// dx_beta = 1.
// Thread-safety: none.
#ifndef MOEREC_EXPERTS_LAYERS_MLP_H_
#define MOEREC_EXPERTS_LAYERS_MLP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/norm.h"
#include "core/parameter.h"
#include "core/tensor.h"
#include "proto/config.pb.h"

namespace moerec {

// An addition to the pre-activation of a plain MLP's layers (copies == 1), computed from the
// layer's input: MoE-MLoRA's low-rank adapters (experts/layers/lora.h). Called by Mlp inside
// Forward / Backward; the adapter keeps what its Backward needs.
class MlpLayerAdapter {
 public:
  virtual ~MlpLayerAdapter() = default;
  // pre (R, H_l) += adapter_l(x), x the layer's input (R, I_l).
  virtual void Forward(int layer, ConstMatView x, MatView pre) = 0;
  // dpre: the gradient of the layer's pre-activation. Accumulates the adapter's parameter
  // gradients and adds its input gradient to dx (skipped when dx.data is null).
  virtual void Backward(int layer, ConstMatView x, ConstMatView dpre, MatView dx) = 0;
};

// Activations of one Forward, read by the matching Backward.
struct MlpCache {
  struct Layer {
    Tensor pre;    // (R, G*H) x W + b; ReLU / none without LayerNorm apply in place
    Tensor norm;   // (R, G*H) LayerNorm output (layer_norm only); ReLU applies in place
    Tensor act;    // (R, G*H) PReLU output (ACT_PRELU only)
    Tensor mask;   // (R, G*H) dropout mask (training with dropout only)
    Tensor grad;   // (R, G*H) gradient of the layer's output, then of its pre-activation
    Tensor grad2;  // (R, G*H) scratch for LayerNorm / PReLU backward
    std::vector<LayerNormCache> ln;  // (G)
    MatView out;                     // the layer's output: one of the buffers above
  };
  std::vector<Layer> layers;
  std::vector<MatView> first_grad;  // (G) copy g's block of the first layer's pre-act. grad
  int64_t rows = 0;
  bool dropout = false;  // masks applied in the last Forward
};

class Mlp {
 public:
  Mlp() = default;
  // `config` must be valid (CreateModel validates user configs): dims >= 1 each, dropout in
  // [0, 1). Empty dims make the identity (a tower with no hidden layers).
  Mlp(const MlpConfig& config, int64_t input_dim, int copies, const std::string& name,
      ParameterSet* params, uint64_t seed);

  int64_t input_dim() const { return input_dim_; }
  int copies() const { return copies_; }
  int num_layers() const { return static_cast<int>(layers_.size()); }
  // Width of one copy's output (input_dim for the identity).
  int64_t output_dim() const;
  // Widths of layer l's input and output.
  int64_t layer_input_dim(int l) const { return layers_[l].in; }
  int64_t layer_output_dim(int l) const { return layers_[l].out; }

  // Adds `adapter` to every layer's pre-activation from now on (null: none). One copy only;
  // the adapter is the caller's and outlives its use.
  void set_adapter(MlpLayerAdapter* adapter);

  // Returns the output (R, G * output_dim()), a view into `cache` (or x itself for the
  // identity), valid until the next Forward with this cache.
  ConstMatView Forward(ConstMatView x, bool training, uint64_t seed, MlpCache* cache) const;
  // x must be the Forward's input. dy: (R, G * output_dim()). dx: (R, I), skipped when
  // dx.data is null.
  void Backward(ConstMatView x, ConstMatView dy, MatView dx, float dx_beta, MlpCache* cache) const;

 private:
  struct Layer {
    int64_t in = 0;   // per copy
    int64_t out = 0;  // per copy
    Parameter* w = nullptr;
    Parameter* b = nullptr;
    Parameter* ln_gamma = nullptr;
    Parameter* ln_beta = nullptr;
    Parameter* alpha = nullptr;
  };

  // Copy g's weight (or its gradient) of layer l >= 1, and copy g's column block of a
  // layer's activation.
  MatView CopyWeight(int l, int g, bool grad) const;
  static MatView Block(MatView m, int g, int64_t width) { return m.Cols(g * width, width); }
  static ConstMatView Block(ConstMatView m, int g, int64_t width) {
    return m.Cols(g * width, width);
  }

  // Everything of layer l after its GEMM, on copy g's block: bias, LayerNorm, activation,
  // dropout (masks from `seed`).
  void ForwardPost(int l, int g, uint64_t seed, MlpCache* cache) const;
  // Turns `src`, the gradient of layer l's output (copy g), into the gradient of its
  // pre-activation, in the cache's buffers, and accumulates the b / LayerNorm / PReLU
  // gradients. Returns the pre-activation gradient.
  MatView BackwardPost(int l, int g, ConstMatView src, MlpCache* cache) const;

  int64_t input_dim_ = 0;
  int copies_ = 1;
  Activation activation_ = ACT_RELU;
  bool layer_norm_ = false;
  float dropout_ = 0.0f;
  uint64_t salt_ = 0;  // separates this bank's dropout masks from other layers'
  MlpLayerAdapter* adapter_ = nullptr;
  std::vector<Layer> layers_;
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_LAYERS_MLP_H_
