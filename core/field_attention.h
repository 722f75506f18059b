// Multi-head self-attention over the fields of a sample (the interacting layer of AutoInt) as a
// forward/backward pair. Per head h, with Q = X W_Q, K = X W_K, V = X W_V taken field by field:
//   a[s, t] = softmax over t of (scale * <Q_s^h, K_t^h>)
//   o_s^h = sum_t a[s, t] V_t^h
//   y_s = ReLU(concat_h o_s^h + X_s W_res)
// scale is 1 in AutoInt; pass 1 / sqrt(D) for scaled dot-product attention. A null w_res.data
// drops the residual term.
//
// Dimension legend: B rows (samples), S fields, K_in input width per field, H heads, D width per
// head, E = H * D output width per field.
//   x, dx: (B, S*K_in)   field s of row b = columns [s*K_in, (s+1)*K_in)
//   y: (B, S*E)          field s = columns [s*E, (s+1)*E), head h of it = [h*D, (h+1)*D) within
//   w_q, w_k, w_v, w_res and their gradients: (K_in, E), head h = columns [h*D, (h+1)*D)
//     (the four may be column blocks of one (K_in, 4E) parameter)
// Gradient rule: parameter gradients accumulate (dw_q += ...); dx is written for dx_beta = 0 and
// added to for dx_beta = 1 (dx = grad + dx_beta * dx).
// The forward pass fills the cache (the input, Q, K, V, the attention weights and the
// pre-activation output) that the backward pass reads; the backward pass needs neither x nor y.
// Aliasing: y must not alias x; dx must not alias dy.
// Threading: the projections are OpenBLAS GEMMs over all B*S field rows, which, as for
// LinearForward, repeat bit for bit at a given thread count but may differ in the last bits
// between thread counts; the attention itself runs ParallelFor over samples with fixed-order
// sums. Safe to call concurrently on distinct outputs and caches.
#ifndef MOEREC_CORE_FIELD_ATTENTION_H_
#define MOEREC_CORE_FIELD_ATTENTION_H_

#include "core/tensor.h"

namespace moerec {

struct FieldAttentionCache {
  int num_fields = 0;  // S
  int num_heads = 0;   // H
  float scale = 1.0f;
  Tensor x;        // (B*S, K_in): the input, one field per row
  Tensor q, k, v;  // (B*S, E)
  Tensor attn;     // (B, H*S*S): a[b, h, s, t] = attn.at(b, (h*S + s)*S + t)
  Tensor pre;      // (B*S, E): concat_h o^h + X W_res, before the ReLU
  // Backward working memory; dattn (B, H*S*S), the gradient of the attention scores, only on a
  // device (core/gpu/field_attention.cu).
  mutable Tensor dpre, dq, dk, dv, dx, dattn;
};

void FieldAttentionForward(ConstMatView x, int num_fields, int num_heads, ConstMatView w_q,
                           ConstMatView w_k, ConstMatView w_v, ConstMatView w_res, MatView y,
                           FieldAttentionCache* cache, float scale = 1.0f);

// dw_res is not touched when the forward pass had no residual (null w_res.data).
void FieldAttentionBackward(ConstMatView w_q, ConstMatView w_k, ConstMatView w_v,
                            ConstMatView w_res, const FieldAttentionCache& cache, ConstMatView dy,
                            MatView dx, float dx_beta, MatView dw_q, MatView dw_k, MatView dw_v,
                            MatView dw_res);

}  // namespace moerec

#endif  // MOEREC_CORE_FIELD_ATTENTION_H_
