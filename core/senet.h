// SENET field re-weighting (the squeeze-excitation layer of FiBiNET) as a forward/backward pair:
//   z[b, s] = mean_c v[b, s*k + c]                       squeeze: one number per field
//   a = ReLU(ReLU(z W1) W2)                              excitation: a weight per field
//   out[b, s*k + c] = a[b, s] * v[b, s*k + c]            re-weighting
// No biases. The caller picks the bottleneck width S_r (FiBiNET: max(1, S / reduction_ratio)).
//
// Dimension legend: B rows (samples), S fields, k embedding width, S_r bottleneck width.
//   v, dv, out, dout: (B, S*k)   field s of row b = columns [s*k, (s+1)*k)
//   w1, dw1: (S, S_r)            w2, dw2: (S_r, S)
// Gradient rule: parameter gradients accumulate (dw1 +=, dw2 +=); dv is written for dv_beta = 0
// and added to for dv_beta = 1 (dv = grad + dv_beta * dv: FiBiNET feeds v to a bilinear layer
// as well).
// The forward pass fills the cache (z, the hidden layer and the field weights a) that the
// backward pass reads; v must be unchanged between the two. Aliasing: out must not alias v; dv
// must not alias dout.
// Threading: the two small GEMMs are OpenBLAS's and, as for LinearForward, repeat bit for bit
// at a given thread count but may differ in the last bits between thread counts; the rest runs
// ParallelFor over rows with fixed-order sums. Safe to call concurrently on distinct outputs and
// caches.
#ifndef MOEREC_CORE_SENET_H_
#define MOEREC_CORE_SENET_H_

#include "core/tensor.h"

namespace moerec {

struct SenetCache {
  Tensor z;       // (B, S) field means
  Tensor hidden;  // (B, S_r) = ReLU(z W1)
  Tensor weight;  // (B, S) = a = ReLU(hidden W2)
  // Backward working memory.
  mutable Tensor dz, dhidden, dweight;
};

void SenetForward(ConstMatView v, int num_fields, ConstMatView w1, ConstMatView w2, MatView out,
                  SenetCache* cache);

// da[b, s] = sum_c dout v over field s; then back through the two ReLU layers to dz, and
// dv = dout * a + dz / k.
void SenetBackward(ConstMatView v, ConstMatView w1, ConstMatView w2, const SenetCache& cache,
                   ConstMatView dout, MatView dv, float dv_beta, MatView dw1, MatView dw2);

}  // namespace moerec

#endif  // MOEREC_CORE_SENET_H_
