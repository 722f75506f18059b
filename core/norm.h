// Normalisation kernels as forward/backward pairs.
//
// Dimension legend: B rows, C channels, G groups (domains).
//   x, y, dx, dy: (B, C)   gamma, beta: (C) for LayerNorm, (G, C) for GroupBatchNorm
// Gradient rule: parameter gradients accumulate (dgamma +=, dbeta +=); dx is written.
// The forward pass fills a cache struct that the backward pass reads; x must stay unchanged
// between the two (y must not alias x).
#ifndef MOEREC_CORE_NORM_H_
#define MOEREC_CORE_NORM_H_

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace moerec {

struct LayerNormCache {
  std::vector<float> mean;  // (B)
  std::vector<float> rstd;  // (B)
};

void LayerNormForward(ConstMatView x, const float* gamma, const float* beta, float eps,
                      MatView y, LayerNormCache* cache);
void LayerNormBackward(ConstMatView x, const float* gamma, const LayerNormCache& cache,
                       ConstMatView dy, MatView dx, float* dgamma, float* dbeta);

// Batch normalisation whose statistics, scale and shift are kept per group: row r belongs to
// group[r] in [0, G). In training, each group is normalised by its own batch statistics and
// its running statistics move by `momentum` (running = (1 - m) running + m batch); a group
// absent from the batch keeps its running statistics. Outside training the running
// statistics are used. A group with a single row in the batch normalises to beta.
struct GroupBatchNormState {
  int num_groups = 0;
  Tensor running_mean;  // (G, C), starts at 0
  Tensor running_var;   // (G, C), starts at 1
  void Init(int groups, int64_t channels);
};

struct GroupBatchNormCache {
  bool training = false;
  std::vector<float> mean;   // (G, C) statistics used by the forward pass
  std::vector<float> rstd;   // (G, C)
  std::vector<int64_t> count;  // (G) rows per group in the batch
};

void GroupBatchNormForward(ConstMatView x, const int32_t* group, const float* gamma,
                           const float* beta, float eps, float momentum, bool training,
                           GroupBatchNormState* state, MatView y, GroupBatchNormCache* cache);
void GroupBatchNormBackward(ConstMatView x, const int32_t* group, const float* gamma,
                            const GroupBatchNormCache& cache, ConstMatView dy, MatView dx,
                            float* dgamma, float* dbeta);

}  // namespace moerec

#endif  // MOEREC_CORE_NORM_H_
