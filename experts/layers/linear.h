// Linear: y = x W + b, the affine layer every MLP, tower and head of the zoo is built from.
//
// Dimension legend: R rows, I input width, O output width.
//   x: (R, I)   W: (I, O) parameter "<name>.w"   b: (O) parameter "<name>.b"   y: (R, O)
// A Linear may be applied to a subset of its output columns [col, col + y.cols) — a head
// whose task t reads only output t uses W's column t in place.
// Gradient rule: dW, db accumulate (+=); dx is written (=), or added to with dx_beta = 1.
// Memory: the parameters live in the model's ParameterSet; the layer keeps pointers to them.
// The layer holds no activations: the caller keeps x and y.
// Initialisation: experts/layers/init.h (PyTorch's nn.Linear default).
// Thread-safety: none; the GEMMs use the compute thread pool.
#ifndef MOEREC_EXPERTS_LAYERS_LINEAR_H_
#define MOEREC_EXPERTS_LAYERS_LINEAR_H_

#include <cstdint>
#include <string>

#include "core/parameter.h"
#include "core/tensor.h"

namespace moerec {

class Linear {
 public:
  Linear() = default;
  // Registers "<name>.w" (in, out) and, when `bias`, "<name>.b" (out) in `params`.
  Linear(ParameterSet* params, const std::string& name, int64_t in, int64_t out, uint64_t seed,
         bool bias = true);

  int64_t in() const { return in_; }
  int64_t out() const { return out_; }
  Parameter* weight() const { return w_; }
  Parameter* bias() const { return b_; }

  // y = x W[:, col:col+n] + b[col:col+n], n = y.cols.
  void Forward(ConstMatView x, MatView y, int64_t col = 0) const;
  // dy: (R, n) for the same columns. dW, db accumulate; dx (R, I) = dy W^T + dx_beta dx, skipped
  // when dx.data is null.
  void Backward(ConstMatView x, ConstMatView dy, MatView dx, float dx_beta = 0.0f,
                int64_t col = 0) const;

 private:
  ConstMatView WeightCols(int64_t col, int64_t n) const;

  int64_t in_ = 0;
  int64_t out_ = 0;
  Parameter* w_ = nullptr;
  Parameter* b_ = nullptr;
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_LAYERS_LINEAR_H_
