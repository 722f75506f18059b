// Fused bias + ReLU kernels for the hot path of the dense layers (a GEMM is followed by one
// pass over its output instead of two), and a deterministic column sum.
//
// Dimension legend: R rows, C columns; y, d: (R, C) views; b, db: (C).
// Gradient rule: db accumulates (+=); d is written.
// Parallelism: ParallelFor over rows (forward) or over column ranges (backward: every column
// is summed over rows in row order by one thread, so results do not depend on the thread
// count). Inside an enclosing parallel region they run inline.
#ifndef MOEREC_EXPERTS_LAYERS_INTERNAL_BIAS_ACT_H_
#define MOEREC_EXPERTS_LAYERS_INTERNAL_BIAS_ACT_H_

#include "core/tensor.h"

namespace moerec::internal {

// y = max(y + b, 0) in place; b may be null (y = max(y, 0)).
void BiasReluInPlace(const float* b, MatView y);

// y = y + b in place.
void BiasInPlace(const float* b, MatView y);

// d = dy * (y > 0), then db += colsum(d) when db is not null. y is the ReLU output; d may
// alias dy.
void ReluBackwardBias(ConstMatView y, ConstMatView dy, MatView d, float* db);

// db += colsum(d).
void ColumnSumAdd(ConstMatView d, float* db);

}  // namespace moerec::internal

#endif  // MOEREC_EXPERTS_LAYERS_INTERNAL_BIAS_ACT_H_
