// The compressed interaction network of xDeepFM as forward/backward pairs: one CIN layer, and the
// sum pooling over the embedding dimension that turns each layer's feature maps into the
// network's output.
//   Xnext[b, h, :] = sum_{i, j} W[h, i, j] * (Xprev[b, i, :] ⊙ X0[b, j, :])
// A CIN chains layers X_l = CinLayer(X0, X_{l-1}) from X_0 = X0 and concatenates
// FieldSumPool(X_l) over the layers.
//
// Dimension legend: B rows (samples), S fields of X0, H_prev feature maps of Xprev, H feature
// maps of Xnext, k embedding width (the same everywhere).
//   x0, dx0: (B, S*k)             field j of row b = columns [j*k, (j+1)*k)
//   xprev, dxprev: (B, H_prev*k)  map i = columns [i*k, (i+1)*k)
//   xnext, dxnext: (B, H*k)
//   w, dw: (H, H_prev*S)          W[h, i, j] = w.row(h)[i*S + j] (a (H, H_prev, S) tensor)
// Gradient rule: parameter gradients accumulate (dw +=); dxprev is written; dx0 is written for
// dx0_beta = 0 and added to for dx0_beta = 1 (dx0 = grad + dx0_beta * dx0), since every layer
// feeds X0's gradient: pass 0 to the first backward call and 1 to the others.
// Aliasing: outputs and gradients must not alias any input or one another. For the first layer
// (xprev = x0) the two inputs may be the same view; its dxprev still needs a buffer of its own,
// which the caller adds to dx0.
// Work: rows are taken in chunks of fixed size (set by k alone); per chunk the products
// Xprev_i ⊙ X0_j of its rows are laid side by side and met by one GEMM with W, so the CIN
// runs at BLAS speed. Nothing is cached: the backward pass rebuilds the products from x0 and
// xprev, which must be unchanged since the forward pass. Working memory is per thread and
// reused: about (2 * H_prev * S + H) * 256 floats.
// Threading: chunks are fixed by the shapes and taken in order, and the elementwise passes run
// ParallelFor with fixed-order sums; the GEMMs are OpenBLAS's and, as for LinearForward,
// repeat bit for bit at a given thread count but may differ in the last bits between thread
// counts. Safe to call concurrently from different threads on distinct outputs.
#ifndef MOEREC_CORE_CIN_H_
#define MOEREC_CORE_CIN_H_

#include "core/tensor.h"

namespace moerec {

void CinLayerForward(ConstMatView x0, ConstMatView xprev, int num_fields, ConstMatView w,
                     MatView xnext);
// dW[h, i, j] += sum_b <dXnext[b, h, :], Xprev[b, i, :] ⊙ X0[b, j, :]>;
// dXprev[b, i, :] = sum_j dZ[b, i, j, :] ⊙ X0[b, j, :];
// dX0[b, j, :] = sum_i dZ[b, i, j, :] ⊙ Xprev[b, i, :], with dZ[b, i, j, :] =
// sum_h W[h, i, j] dXnext[b, h, :].
void CinLayerBackward(ConstMatView x0, ConstMatView xprev, int num_fields, ConstMatView w,
                      ConstMatView dxnext, MatView dx0, float dx0_beta, MatView dxprev, MatView dw);

// Sum over the embedding dimension: y[b, h] = sum_c x[b, h*k + c].
//   x, dx: (B, H*k)   y, dy: (B, H)   (k = x.cols / y.cols)
void FieldSumPoolForward(ConstMatView x, MatView y);
// dx[b, h*k + c] = dy[b, h] (written).
void FieldSumPoolBackward(ConstMatView dy, MatView dx);

}  // namespace moerec

#endif  // MOEREC_CORE_CIN_H_
