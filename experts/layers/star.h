// The layers of STAR (docs/models.md), also the domain representation of M3oE.
//
// StarMlp: fully connected layers in star topology. Layer l on the rows of domain d:
//   y = act(x (W_shared ⊙ W_d) + b_shared + b_d)
// act from MlpConfig.activation (ACT_RELU or ACT_NONE; layer_norm, PReLU and dropout are not
// part of a star layer, CreateModel refuses them). Rows are sorted by domain (experts/model.h),
// so each domain is one GEMM on its row block with its own effective weight.
//   x: (B, I)   y: (B, H_last)
// Parameters "<name>.<l>.{w,b}" (I, H) and (H), the shared part, initialised as a Linear
// (experts/layers/init.h); "<name>.<l>.domain_w" (D, I, H) starting at 1 and
// "<name>.<l>.domain_b" (D, H) at 0, so that a fresh model is the shared network and each
// domain learns its deviation.
//
// PartitionedNorm: batch normalisation whose statistics are kept per domain and whose scale
// and shift are gamma_shared · gamma_d and beta_shared + beta_d (core/norm.h GroupBatchNorm
// does the arithmetic). Training uses the batch's per-domain statistics and moves the running
// ones (momentum as PyTorch); inference uses each domain's running statistics (MODELS.md's
// choice). Parameters "<name>.gamma" (C), "<name>.domain_gamma" (D, C) at 1, "<name>.beta",
// "<name>.domain_beta" at 0; buffers "<name>.running_mean" (D, C) at 0 and
// "<name>.running_var" (D, C) at 1, so that checkpoints carry them. Without the shared part
// (shared_affine = false: no "<name>.gamma", "<name>.beta") the scale and shift are gamma_d and
// beta_d alone: DSMOE's domain-specific batch norm (DSBN, experts/layers/sap_mmoe.h).
//
// Gradient rule: parameter gradients accumulate; dx is written, or added to with dx_beta = 1
// (StarMlp). Activations live in the caller's cache structs. Thread-safety: none.
#ifndef MOEREC_EXPERTS_LAYERS_STAR_H_
#define MOEREC_EXPERTS_LAYERS_STAR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "core/norm.h"
#include "core/parameter.h"
#include "core/tensor.h"
#include "proto/config.pb.h"

namespace moerec {

struct StarCache {
  struct Layer {
    Tensor out;      // (B, H) activation (pre-activation with ACT_NONE)
    Tensor grad;     // (B, H) gradient of the pre-activation
    Tensor weight;   // (D, I, H) effective weights of the last Forward
    Tensor bias;     // (D, H) effective biases
    Tensor dweight;  // (I, H) one domain's effective-weight gradient
  };
  std::vector<Layer> layers;
};

class StarMlp {
 public:
  StarMlp() = default;
  // `config` must be valid: dims >= 1 each, ACT_RELU or ACT_NONE, no layer_norm or dropout.
  StarMlp(const MlpConfig& config, int64_t input_dim, int num_domains, const std::string& name,
          ParameterSet* params, uint64_t seed);

  int64_t input_dim() const { return input_dim_; }
  int64_t output_dim() const { return layers_.empty() ? input_dim_ : layers_.back().out; }

  // Returns the output, a view into `cache`. domain_begin: (D + 1).
  ConstMatView Forward(ConstMatView x, const std::vector<int64_t>& domain_begin,
                       StarCache* cache) const;
  // x: Forward's input. dy: (B, output_dim()). dx skipped when its data is null.
  void Backward(ConstMatView x, const std::vector<int64_t>& domain_begin, ConstMatView dy,
                MatView dx, float dx_beta, StarCache* cache) const;

 private:
  struct Layer {
    int64_t in = 0, out = 0;
    Parameter* w = nullptr;
    Parameter* b = nullptr;
    Parameter* domain_w = nullptr;
    Parameter* domain_b = nullptr;
  };
  int64_t input_dim_ = 0;
  int num_domains_ = 1;
  bool relu_ = true;
  std::vector<Layer> layers_;
};

struct PartitionedNormCache {
  Tensor y;       // (B, C)
  Tensor gamma;   // (D, C) effective scale and shift of the last Forward (shared_affine only)
  Tensor beta;    // (D, C)
  Tensor dgamma;  // (D, C) (shared_affine only)
  Tensor dbeta;   // (D, C)
  Tensor dx;      // (B, C) the input gradient when the caller needs none (the kernel writes it)
  GroupBatchNormCache norm;
};

struct PartitionedNormOptions {
  float momentum = 0.1f;      // running-statistics momentum, in (0, 1]
  float eps = 1e-5f;          // added to the variance, > 0
  bool shared_affine = true;  // gamma_shared · gamma_d, beta_shared + beta_d; false: the _d alone
  // Several workers: the training statistics are those of the workers' global batch (a
  // synchronised batch norm, so that W BSP workers train as one process with the global
  // batch); training Forward and Backward are then collective over them.
  Communicator* workers = nullptr;
};

class PartitionedNorm {
 public:
  PartitionedNorm() = default;
  // Whether training passes are collective (options.workers with more than one worker).
  bool synchronised() const { return options_.workers != nullptr && options_.workers->size() > 1; }
  PartitionedNorm(int64_t channels, int num_domains, const PartitionedNormOptions& options,
                  const std::string& name, ParameterSet* params);

  // domain: (B) the rows' domains. Returns y (B, C), a view into `cache`.
  ConstMatView Forward(ConstMatView x, const int32_t* domain, bool training,
                       PartitionedNormCache* cache) const;
  // dx: (B, C), written; skipped when its data is null (parameters still get theirs).
  void Backward(ConstMatView x, const int32_t* domain, ConstMatView dy, MatView dx,
                PartitionedNormCache* cache) const;

 private:
  // The (D, C) scale of the last Forward: the cache's product, or "<name>.domain_gamma".
  const float* Scale(const PartitionedNormCache& cache) const;

  int64_t channels_ = 0;
  int num_domains_ = 1;
  PartitionedNormOptions options_;
  Parameter* gamma_ = nullptr;  // null without shared_affine, as beta_
  Parameter* domain_gamma_ = nullptr;
  Parameter* beta_ = nullptr;
  Parameter* domain_beta_ = nullptr;
  Parameter* running_mean_ = nullptr;
  Parameter* running_var_ = nullptr;
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_LAYERS_STAR_H_
