// Grouped linear layer: G independent Linear maps over the row blocks of one stacked input,
// the "grouped GEMM" of expert execution (each expert its own weights and its own, variable,
// number of rows). One call covers every group; the CPU implementation schedules tiles of
// rows over the compute threads (each tile one single-threaded sgemm); on device views
// (core/gpu/grouped_linear.cu) each non-empty group is one cuBLAS GEMM on the compute stream, or
// one strided-batched GEMM when the groups are equal and their weights evenly strided. begin is
// always a host vector; the views and pointers in w, b, dw and db live on x's device.
//
// Dimension legend: N stacked rows, G groups, I input width, O output width.
//   x: (N, I) with group g's rows [begin[g], begin[g + 1]); begin has G + 1 entries from 0 to N,
//   non-decreasing (a group may be empty). w[g]: (I, O), b[g]: (O) or null. y: (N, O).
// Gradient rule (core/linear.h): dw[g] +=, db[g] +=, dx = (or += with dx_beta = 1).
// Determinism: each output element, and each group's dw / db, is computed by one tile in an
// order fixed by the shapes, so results do not depend on the thread count.
#ifndef MOEREC_CORE_GROUPED_LINEAR_H_
#define MOEREC_CORE_GROUPED_LINEAR_H_

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace moerec {

// y[rows of g] = x[rows of g] w[g] + b[g].
void GroupedLinearForward(ConstMatView x, const std::vector<int64_t>& begin,
                          const std::vector<ConstMatView>& w, const std::vector<const float*>& b,
                          MatView y);

// dw[g] += x_g^T dy_g; db[g] += colsum(dy_g) (db may be empty, or hold nulls);
// dx_g = dy_g w[g]^T + dx_beta * dx_g (dx.data may be null).
void GroupedLinearBackward(ConstMatView x, const std::vector<int64_t>& begin,
                           const std::vector<ConstMatView>& w, ConstMatView dy,
                           const std::vector<MatView>& dw, const std::vector<float*>& db,
                           MatView dx, float dx_beta = 0.0f);

}  // namespace moerec

#endif  // MOEREC_CORE_GROUPED_LINEAR_H_
