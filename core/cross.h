// The cross layer of DCN as a forward/backward pair, in its two forms:
//   kVector (DCN):    y = x0 * (xl w) + b + xl       w: (d, 1), a scalar xl w per row
//   kMatrix (DCN-v2): y = x0 ⊙ (xl W + b) + xl       W: (d, d)
// A cross network chains layers y_l = Cross(x0, y_{l-1}), starting from y_0 = x0.
//
// Dimension legend: B rows (samples), d width of the cross network.
//   x0, xl, y, dx0, dxl, dy: (B, d)   w, dw: (d, 1) or (d, d) as above
//   b, db: (d), or both null for a layer without bias
// Gradient rule: parameter gradients accumulate (dw +=, db +=); dxl is written; dx0 is written
// for dx0_beta = 0 and added to for dx0_beta = 1 (dx0 = grad + dx0_beta * dx0), since every
// layer of a chain feeds x0's gradient: pass 0 to the first backward call and 1 to the others.
// Aliasing: y must not alias x0 or xl; dx0, dxl and dy must not alias one another. For the
// first layer (xl = x0), x0 and xl may be the same view; its dxl still needs a buffer of its own,
// which the caller adds to dx0.
// The forward pass fills the cache (xl w, or xl W + b) that the backward pass reads, and x0,
// xl must be unchanged between the two.
// Threading: the GEMMs (xl W, dz W^T, xl^T dz) are OpenBLAS's and, as for LinearForward, repeat
// bit for bit at a given thread count but may differ in the last bits between thread counts;
// the rest runs ParallelFor over rows with fixed-order sums (db over row blocks fixed by the
// shape). No state: safe to call concurrently on distinct outputs and caches.
#ifndef MOEREC_CORE_CROSS_H_
#define MOEREC_CORE_CROSS_H_

#include "core/tensor.h"

namespace moerec {

enum class CrossMode {
  kVector,  // DCN: a weight vector w (d, 1)
  kMatrix,  // DCN-v2: a full-rank weight matrix W (d, d)
};

struct CrossLayerCache {
  Tensor z;           // (B, 1) = xl w (kVector) or (B, d) = xl W + b (kMatrix)
  mutable Tensor dz;  // backward working memory, same shape as z
};

void CrossLayerForward(CrossMode mode, ConstMatView x0, ConstMatView xl, ConstMatView w,
                       const float* b, MatView y, CrossLayerCache* cache);

// kVector: dz = rowdot(dy, x0); dx0 = dy * z; dxl = dy + dz w^T; dw += xl^T dz; db += colsum(dy).
// kMatrix: dz = dy ⊙ x0; dx0 = dy ⊙ z; dxl = dy + dz W^T; dW += xl^T dz; db += colsum(dz).
void CrossLayerBackward(CrossMode mode, ConstMatView x0, ConstMatView xl, ConstMatView w,
                        const CrossLayerCache& cache, ConstMatView dy, MatView dx0, float dx0_beta,
                        MatView dxl, MatView dw, float* db);

}  // namespace moerec

#endif  // MOEREC_CORE_CROSS_H_
