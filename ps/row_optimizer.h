// Server-side optimizers for embedding rows: SGD, Adagrad, Adam and FTRL-Proximal.
//
// A stored row is [weights (dim) | optimizer state (StateFloats(dim))] plus metadata kept by the
// row store (frequency, last-seen step, update count). Update applies one step to one row from
// its gradient, already summed over the samples (and, in BSP, over the workers) of the step.
// Definitions follow the common references so results can be checked against them:
//   SGD      w -= lr g
//   Adagrad  a += g^2; w -= lr g / (sqrt(a) + eps)                     (torch.optim.Adagrad)
//   Adam     m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
//            w -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)   (torch.optim.Adam; t is
//            this row's own update count, so rare rows get full bias correction)
//   FTRL     n' = n + g^2; s = (sqrt(n') - sqrt(n)) / lr; z += g - s w; n = n';
//            w = 0 if |z| <= l1 else -(z - sign(z) l1) / ((beta + sqrt(n)) / lr + l2)
//            (McMahan et al. 2013, per coordinate)
// Thread-safety: const methods; safe to share between threads updating different rows.
#ifndef MOEREC_PS_ROW_OPTIMIZER_H_
#define MOEREC_PS_ROW_OPTIMIZER_H_

#include <cstdint>
#include <memory>

#include "proto/config.pb.h"

namespace moerec {

class RowOptimizer {
 public:
  // The optimizer the config names (validated at config load).
  static std::unique_ptr<RowOptimizer> Create(const RowOptimizerConfig& config);
  virtual ~RowOptimizer() = default;

  // Floats of state per row of width `dim`.
  virtual int StateFloats(int dim) const = 0;
  // Initial state of a new row.
  virtual void InitState(int dim, float* state) const = 0;
  // One update. w: (dim), state: (StateFloats(dim)), g: (dim); t >= 1 is the row's update
  // count including this one.
  virtual void Update(int dim, const float* g, int64_t t, float* w, float* state) const = 0;
};

}  // namespace moerec

#endif  // MOEREC_PS_ROW_OPTIMIZER_H_
