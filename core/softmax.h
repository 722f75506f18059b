// Row softmax as a forward/backward pair.
// Dimension legend: B rows, K classes (experts, candidates). x, y, dx, dy: (B, K).
// dx is written; dx may alias dy. y may alias x. Rows are independent (parallel over rows), so
// results are bit-identical for any thread count.
#ifndef MOEREC_CORE_SOFTMAX_H_
#define MOEREC_CORE_SOFTMAX_H_

#include "core/tensor.h"

namespace moerec {

void SoftmaxForward(ConstMatView x, MatView y);
// dx = y * (dy - sum_k dy_k y_k), from the forward output y.
void SoftmaxBackward(ConstMatView y, ConstMatView dy, MatView dx);

}  // namespace moerec

#endif  // MOEREC_CORE_SOFTMAX_H_
