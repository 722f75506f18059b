// Elementwise activations and dropout as forward/backward pairs.
//
// Dimension legend: B rows, C columns. All views are (B, C); x, y, dx, dy may alias where noted.
// Gradient rule: parameter gradients accumulate (dalpha +=); activation gradients are written.
// Every kernel gives bit-identical results for any thread count (elementwise; PreluBackward
// and BiasReluBackward sum over row blocks fixed by the shape).
// Devices: each kernel runs where its views are (core/gpu/activation.cu); b, alpha, db, dalpha
// are arrays on that device. The dropout mask is the same function of (seed, row, column) there
// (core/internal/dropout_mask.h), so CPU and device masks are bit-identical.
#ifndef MOEREC_CORE_ACTIVATION_H_
#define MOEREC_CORE_ACTIVATION_H_

#include <cstdint>

#include "core/tensor.h"

namespace moerec {

// y = max(x, 0). y may alias x.
void ReluForward(ConstMatView x, MatView y);
// dx = dy * (y > 0), from the forward output y. dx may alias dy.
void ReluBackward(ConstMatView y, ConstMatView dy, MatView dx);

// The bias and ReLU that follow a GEMM, fused into one pass over its output.
// y = max(y + b, 0) in place; b may be null (then y = max(y, 0)).
void BiasReluForward(const float* b, MatView y);
// dx = dy * (y > 0) from the forward output y, and db += colsum(dx) when db is not null. dx may
// alias dy.
void BiasReluBackward(ConstMatView y, ConstMatView dy, MatView dx, float* db);

// y = x > 0 ? x : alpha[c] * x, alpha: (C). y must not alias x (backward needs x).
void PreluForward(ConstMatView x, const float* alpha, MatView y);
// dx = dy * (x > 0 ? 1 : alpha[c]); dalpha[c] += sum over rows of dy * x where x <= 0.
void PreluBackward(ConstMatView x, const float* alpha, ConstMatView dy, MatView dx, float* dalpha);

// y = 1 / (1 + exp(-x)), with a vectorised exp (relative error about 1e-7; exactly 0 and 1
// far out in the tails). y may alias x.
void SigmoidForward(ConstMatView x, MatView y);
// dx = dy * y * (1 - y). dx may alias dy.
void SigmoidBackward(ConstMatView y, ConstMatView dy, MatView dx);

// Inverted dropout: keep each element with probability 1 - p and scale it by 1 / (1 - p).
// mask: (B, C) output of forward, holding 0 or 1 / (1 - p). The mask is a pure function of
// (seed, row, column), so results do not depend on the thread count. y may alias x.
void DropoutForward(ConstMatView x, float p, uint64_t seed, MatView mask, MatView y);
// dx = dy * mask. dx may alias dy.
void DropoutBackward(ConstMatView mask, ConstMatView dy, MatView dx);

}  // namespace moerec

#endif  // MOEREC_CORE_ACTIVATION_H_
