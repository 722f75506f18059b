// A low-rank adapter added to a layer's pre-activation, weighted per row (MoE-MLoRA's expert
// E(x) = (x A) B + c, mixed by a gate), as a forward/backward pair:
//   t = x A          u = t B + c          pre[i, :] += w[i] * u[i, :]
//
// Dimension legend: R rows, I input width, r rank, O output width.
//   x, dx: (R, I)   A, dA: (I, r)   B, dB: (r, O)   c, dc: (O)   t: (R, r)   u: (R, O)
//   w: R row weights with stride w_stride (a column of a (R, M) weight matrix)   pre, dpre: (R, O)
// Gradient rule: parameter gradients accumulate (dA, dB, dc +=); dx and dw accumulate too
// (every expert of a layer adds to the same input and gate gradients); either may be null.
// t and u are the caller's buffers, written by Forward and read by Backward.
// Threading: GEMMs use OpenBLAS's threads (same bits at a fixed thread count); the row passes
// are ParallelFor, elementwise or per row.
#ifndef MOEREC_CORE_LOW_RANK_H_
#define MOEREC_CORE_LOW_RANK_H_

#include <cstdint>

#include "core/tensor.h"

namespace moerec {

void LowRankAdapterForward(ConstMatView x, ConstMatView a, ConstMatView b, const float* c,
                           const float* w, int64_t w_stride, MatView t, MatView u, MatView pre);

// dw: R row-weight gradients with w's stride, += <dpre[i], u[i]>; null to skip.
// dx: += the input gradient; a view with null data to skip. scratch: (R, O) and (R, r)
// buffers of the caller.
void LowRankAdapterBackward(ConstMatView x, ConstMatView a, ConstMatView b, const float* w,
                            int64_t w_stride, ConstMatView t, ConstMatView u, ConstMatView dpre,
                            MatView du_scratch, MatView dt_scratch, MatView da, MatView db,
                            float* dc, float* dw, MatView dx);

}  // namespace moerec

#endif  // MOEREC_CORE_LOW_RANK_H_
