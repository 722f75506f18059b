// Gated mixture of expert outputs (the combine of MMoE, PLE and the other soft-gated models) as a
// forward/backward pair:
//   z[i, s] = sum_e g[i, s, e] * f[i, e]
// for every row i and stream s (a task, or one stream shared by the tasks; see
// experts/layers/gate.h).
//
// Dimension legend: B rows, E experts, H expert output width, S streams.
//   f, df: (B, E*H), column block e = expert e (the layout of an Mlp bank's output)
//   g, dg: (B, S*E), block s = stream s's weights over the experts
//   z, dz: (B, S*H), block s = stream s's mixture
// Gradient rule: activation gradients (df, dg) are written. z, df, dg must not alias inputs.
// One fused pass over the rows (ParallelFor), so f is read once per direction.
// On a device (core/gpu/gated_mix.cu) each product is one strided-batched GEMM over the rows.
#ifndef MOEREC_CORE_GATED_MIX_H_
#define MOEREC_CORE_GATED_MIX_H_

#include "core/tensor.h"

namespace moerec {

void GatedMixForward(ConstMatView f, ConstMatView g, int num_experts, MatView z);

void GatedMixBackward(ConstMatView f, ConstMatView g, ConstMatView dz, int num_experts, MatView df,
                      MatView dg);

}  // namespace moerec

#endif  // MOEREC_CORE_GATED_MIX_H_
