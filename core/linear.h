// Dense linear algebra kernels (CPU, OpenBLAS sgemm) as forward/backward pairs.
//
// Dimension legend:  B rows (samples), I input width, O output width.
//   x: (B, I)   W: (I, O)   b: (O)   y: (B, O)      all row-major views (ld >= cols)
// Gradient rule: parameter gradients accumulate (dW +=, db +=); activation gradients are
// written (dx =) unless the caller passes dx_beta = 1 to add several contributions.
// Threading: GEMMs use OpenBLAS's threads, the other kernels ParallelFor. BiasBackward sums
// columns over row blocks fixed by the shape, so db gets the same bits for any thread count;
// the elementwise kernels are trivially so.
#ifndef MOEREC_CORE_LINEAR_H_
#define MOEREC_CORE_LINEAR_H_

#include "core/tensor.h"

namespace moerec {

// C = alpha * op(A) * op(B) + beta * C, with op = transpose when the flag is set.
void Gemm(bool trans_a, bool trans_b, float alpha, ConstMatView a, ConstMatView b, float beta,
          MatView c);

// y = x W + b (b may be null).
void LinearForward(ConstMatView x, ConstMatView w, const float* b, MatView y);

// dW += x^T dy; db += colsum(dy) (db may be null); dx = dy W^T + dx_beta * dx (dx.data may be
// null when the input needs no gradient).
void LinearBackward(ConstMatView x, ConstMatView w, ConstMatView dy, MatView dw, float* db,
                    MatView dx, float dx_beta = 0.0f);

// y += b broadcast over rows / db += colsum(dy).
void BiasForward(const float* b, MatView y);
void BiasBackward(ConstMatView dy, float* db);

// y[r, :] = b for every row: a vector broadcast over rows (a per-domain embedding spread over
// the domain's samples). Its backward is BiasBackward: db += colsum(dy).
void BroadcastRows(const float* b, MatView y);

// Copies src into dst (same rows and cols).
void CopyMat(ConstMatView src, MatView dst);
// dst += src.
void AddMat(ConstMatView src, MatView dst);
// y = beta * y; beta == 0 writes zeros, whatever y held (NaN included). The first step of a
// backward pass that adds several contributions into an activation gradient dx that the caller
// asked to be written (beta 0) or added to (beta 1).
void ScaleMat(float beta, MatView y);

}  // namespace moerec

#endif  // MOEREC_CORE_LINEAR_H_
