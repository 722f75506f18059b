// Second-order field interactions of the CTR backbones as forward/backward pairs: the
// bi-interaction pooling of NFM (whose row sum is DeepFM's FM term) and the inner and kernel
// (outer) products of PNN.
//
// Dimension legend: B rows (samples), S fields, k embedding width (the same for every field),
// P = S (S - 1) / 2 field pairs.
//   v, dv: (B, S*k)   field s of row b = columns [s*k, (s+1)*k)
//   pairs: p runs over (i, j), i < j, in row-major order (0,1), (0,2), ..., (0,S-1), (1,2), ...
//   (FieldPairIndex gives p).
// Gradient rule: parameter gradients accumulate (dkernel +=); activation gradients are written
// (dv =), or added to when the caller passes dv_beta = 1 (dv = grad + dv_beta * dv), because
// the field embeddings usually feed a deep part as well.
// Aliasing: outputs and gradients must not alias any input. Nothing is cached: the backward
// passes read v again, which must be unchanged since the forward pass.
// Threading: the bi-interaction and inner products treat rows independently (ParallelFor over
// rows, fixed-order sums within a row): bit-identical for any thread count. The kernel products
// run OpenBLAS GEMMs (one per pair and pass), which, as for LinearForward, repeat bit for bit
// at a given thread count but may differ in the last bits between thread counts. No state:
// safe to call concurrently on distinct outputs.
#ifndef MOEREC_CORE_INTERACTION_H_
#define MOEREC_CORE_INTERACTION_H_

#include <cstdint>

#include "core/tensor.h"

namespace moerec {

// P for S fields.
inline int64_t NumFieldPairs(int64_t num_fields) { return num_fields * (num_fields - 1) / 2; }
// The index p of pair (i, j), 0 <= i < j < S.
inline int64_t FieldPairIndex(int64_t i, int64_t j, int64_t num_fields) {
  return i * (2 * num_fields - i - 1) / 2 + (j - i - 1);
}

// Bi-interaction pooling (NFM): out (B, k) = 0.5 * ((sum_s v_s)^2 - sum_s v_s^2), elementwise;
// the sum of a row of out is the FM second-order term of DeepFM.
void BiInteractionForward(ConstMatView v, int num_fields, MatView out);
// dv_s = dout * (sum_t v_t - v_s).
void BiInteractionBackward(ConstMatView v, int num_fields, ConstMatView dout, MatView dv,
                           float dv_beta = 0.0f);

// Inner products (IPNN): out (B, P), out[b, p] = <v_i, v_j> for pair p = (i, j).
void InnerProductForward(ConstMatView v, int num_fields, MatView out);
// dv_i = sum_j dout[p(i, j)] v_j over j != i.
void InnerProductBackward(ConstMatView v, int num_fields, ConstMatView dout, MatView dv,
                          float dv_beta = 0.0f);

// Kernel products (the outer-product PNN in kernel form): out (B, P),
// out[b, p] = v_i^T K_p v_j for pair p = (i, j).
//   kernel, dkernel: (P, k, k) contiguous row-major, K_p[a][c] = kernel[(p * k + a) * k + c]
// One GEMM per pair over all rows.
void OuterProductForward(ConstMatView v, int num_fields, const float* kernel, MatView out);
// dK_p += sum_b dout[b, p] v_i v_j^T; dv_i += dout[p] K_p v_j; dv_j += dout[p] K_p^T v_i.
void OuterProductBackward(ConstMatView v, int num_fields, const float* kernel, ConstMatView dout,
                          MatView dv, float* dkernel, float dv_beta = 0.0f);

}  // namespace moerec

#endif  // MOEREC_CORE_INTERACTION_H_
