// The bilinear interaction of FiBiNET as a forward/backward pair: for every field pair
// p = (i, j), i < j,
//   out_p = (v_i W) ⊙ v_j
// with W chosen by the type: one matrix for all pairs, one per first field i, or one per pair.
//
// Dimension legend: B rows (samples), S fields, k embedding width, P = S (S - 1) / 2 pairs
// (row-major order (0,1), (0,2), ..., (1,2), ...; see FieldPairIndex in core/interaction.h),
// M = BilinearNumWeights(type, S) weight matrices.
//   v, dv: (B, S*k)      field s of row b = columns [s*k, (s+1)*k)
//   out, dout: (B, P*k)  pair p = columns [p*k, (p+1)*k)
//   w, dw: (M, k, k) contiguous row-major, W_m[a][c] = w[(m * k + a) * k + c]
// Gradient rule: parameter gradients accumulate (dw +=); dv is written for dv_beta = 0 and added
// to for dv_beta = 1 (dv = grad + dv_beta * dv), since v feeds other parts as well.
// The forward pass fills the cache (the products v_i W) that the backward pass reads; v must be
// unchanged between the two. Aliasing: outputs and gradients must not alias any input.
// Threading: the products v_i W (and their gradients) are one OpenBLAS GEMM per weight use,
// over all rows; like LinearForward, they repeat bit for bit at a given thread count but may
// differ in the last bits between thread counts. The elementwise passes run ParallelFor over
// rows in a fixed order. Safe to call concurrently on distinct outputs and caches.
#ifndef MOEREC_CORE_BILINEAR_H_
#define MOEREC_CORE_BILINEAR_H_

#include <cstdint>

#include "core/tensor.h"

namespace moerec {

enum class BilinearType {
  kFieldAll,          // FIELD_ALL: one W (k, k) shared by every pair (M = 1)
  kFieldEach,         // FIELD_EACH: W_i for the pair's first field i (M = S)
  kFieldInteraction,  // FIELD_INTERACTION: W_p for each pair p (M = P)
};

// M, the number of (k, k) weight matrices of a type over S fields.
int64_t BilinearNumWeights(BilinearType type, int64_t num_fields);

struct BilinearCache {
  // (B, (S-1)*k) = v_i W_i for the first fields i < S-1 (kFieldAll, kFieldEach), or
  // (B, P*k) = v_i W_p for each pair (kFieldInteraction).
  Tensor t;
  mutable Tensor e;  // backward working memory, the shape of t
};

void BilinearForward(BilinearType type, ConstMatView v, int num_fields, const float* w, MatView out,
                     BilinearCache* cache);

// dv_j += dout_p ⊙ (v_i W); with e = dout_p ⊙ v_j: dW += v_i^T e, dv_i += e W^T, over the pairs.
void BilinearBackward(BilinearType type, ConstMatView v, int num_fields, const float* w,
                      const BilinearCache& cache, ConstMatView dout, MatView dv, float dv_beta,
                      float* dw);

}  // namespace moerec

#endif  // MOEREC_CORE_BILINEAR_H_
