// Normalisation kernels as forward/backward pairs.
//
// Dimension legend: B rows, C channels, G groups (domains).
//   x, y, dx, dy: (B, C)   gamma, beta: (C) for LayerNorm, (G, C) for GroupBatchNorm
// Gradient rule: parameter gradients accumulate (dgamma +=, dbeta +=); dx is written.
// The forward pass fills a cache struct that the backward pass reads; x must stay unchanged
// between the two (y must not alias x; dx must not alias dy).
// Devices: every kernel runs where its views are (core/internal/gpu_dispatch.h); gamma, beta,
// group, running statistics and parameter gradients are arrays on that device too, and the
// caches' Tensors are placed there by the forward pass (core/gpu/norm.cu).
#ifndef MOEREC_CORE_NORM_H_
#define MOEREC_CORE_NORM_H_

#include <cstdint>
#include <functional>

#include "core/tensor.h"

namespace moerec {

// y = (x - mean_row) / sqrt(var_row + eps) * gamma + beta, biased variance per row.
// Parallel over rows, fixed-order row sums: bit-identical for any thread count.
struct LayerNormCache {
  Tensor mean;  // (B)
  Tensor rstd;  // (B)
};

void LayerNormForward(ConstMatView x, const float* gamma, const float* beta, float eps, MatView y,
                      LayerNormCache* cache);
void LayerNormBackward(ConstMatView x, const float* gamma, const LayerNormCache& cache,
                       ConstMatView dy, MatView dx, float* dgamma, float* dbeta);

// Batch normalisation whose statistics, scale and shift are kept per group: row r belongs to
// group[r] in [0, G) (rows need not be sorted by group). In training, each group is normalised
// by its own batch statistics (biased variance) and its running statistics move by `momentum`
// as in PyTorch: running_mean = (1 - m) running_mean + m mean, running_var = (1 - m)
// running_var + m unbiased_var. A group absent from the batch keeps its running statistics; a
// group with a single row normalises to beta, updates its running mean and keeps its running
// variance. Outside training the running statistics are used and not changed.
// Running statistics live either in a GroupBatchNormState or, through the pointer overload,
// in any (G, C) buffers (e.g. ParameterSet buffers, so that checkpoints carry them). The CPU
// kernel CHECKs that every group index is in [0, G); the device kernels assume it (a check
// there would cost a synchronisation per call).
// All reductions run in an order fixed by the shapes: results are bit-identical for any
// thread count.
// Synchronised (`sum` given): the batch is one worker's part of a global batch, and `sum` adds
// an array over the workers in place (their all-reduce). The training statistics, the running
// statistics and the mean terms of dx are then the global batch's; dgamma and dbeta get this
// worker's part only (the caller all-reduces parameter gradients). Every worker calls the
// training passes, with or without rows. On a device the partial sums are copied to the host,
// given to `sum` and copied back (a synchronisation per call of `sum`).
using GroupSum = std::function<void(double* data, int64_t n)>;

struct GroupBatchNormState {
  int num_groups = 0;
  Tensor running_mean;  // (G, C), starts at 0
  Tensor running_var;   // (G, C), starts at 1
  void Init(int groups, int64_t channels);
};

struct GroupBatchNormCache {
  bool training = false;
  Tensor mean;   // (G, C) statistics used by the forward pass
  Tensor rstd;   // (G, C)
  Tensor count;  // (G) rows per group in the (global) batch; floats, exact below 2^24 rows
  // Working memory of both passes (doubles), kept here so that steps do not allocate.
  mutable Tensor scratch;
};

void GroupBatchNormForward(ConstMatView x, const int32_t* group, const float* gamma,
                           const float* beta, float eps, float momentum, bool training,
                           GroupBatchNormState* state, MatView y, GroupBatchNormCache* cache);
// The same with the running statistics as raw (G, C) row-major arrays.
void GroupBatchNormForward(ConstMatView x, const int32_t* group, int num_groups, const float* gamma,
                           const float* beta, float eps, float momentum, bool training,
                           float* running_mean, float* running_var, MatView y,
                           GroupBatchNormCache* cache, const GroupSum* sum = nullptr);
void GroupBatchNormBackward(ConstMatView x, const int32_t* group, const float* gamma,
                            const GroupBatchNormCache& cache, ConstMatView dy, MatView dx,
                            float* dgamma, float* dbeta, const GroupSum* sum = nullptr);

// Row L2 normalisation: y_r = x_r / max(||x_r||, eps). rnorm (B) keeps 1 / max(||x_r||, eps);
// the forward pass places it on x's device. Backward: dx_r = rnorm_r (dy_r - y_r <dy_r, y_r>)
// where the norm exceeds eps, else rnorm_r dy_r. Parallel over rows.
void L2NormalizeForward(ConstMatView x, float eps, MatView y, Tensor* rnorm);
void L2NormalizeBackward(ConstMatView y, const Tensor& rnorm, float eps, ConstMatView dy,
                         MatView dx);

}  // namespace moerec

#endif  // MOEREC_CORE_NORM_H_
