// CrossNet: the cross network of DCN (and DCN-v2), L cross layers chained from x0:
//   y_0 = x0,  y_l = Cross(x0, y_{l-1})   (core/cross.h: vector or matrix form)
// Its output is y_L, as wide as its input.
//
// Dimension legend: B rows, d input width, L layers.
//   x0, dx0, output, dy: (B, d)
// Parameters "<name>.<l>.w": (d, 1) in CrossMode::kVector (DCN's x0 x_l^T w), (d, d) in kMatrix
// (DCN-v2's W); "<name>.<l>.b": (d). Initialisation (experts/layers/init.h): w and b
// ~ U(-1/sqrt(d), 1/sqrt(d)), PyTorch's nn.Linear bound for a layer reading x_l (fan_in d).
// Memory: the layer outputs and the kernels' caches are members, reused across steps.
// Gradient rule: parameter gradients accumulate; dx0 is written (dx0_beta 0) or added to (1).
// Thread-safety: none.
#ifndef MOEREC_EXPERTS_LAYERS_CROSS_NET_H_
#define MOEREC_EXPERTS_LAYERS_CROSS_NET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/cross.h"
#include "core/parameter.h"
#include "core/tensor.h"

namespace moerec {

class CrossNet {
 public:
  CrossNet() = default;
  CrossNet(CrossMode mode, int num_layers, int64_t dim, const std::string& name,
           ParameterSet* params, uint64_t seed);

  int64_t output_dim() const { return dim_; }

  // Returns y_L, a view into the layer's buffers valid until the next Forward.
  ConstMatView Forward(ConstMatView x0);
  // x0: Forward's input, unchanged since.
  void Backward(ConstMatView x0, ConstMatView dy, MatView dx0, float dx0_beta);

 private:
  struct Layer {
    Parameter* w = nullptr;
    Parameter* b = nullptr;
    Tensor y;  // (B, d)
    CrossLayerCache cache;
  };

  CrossMode mode_ = CrossMode::kVector;
  int64_t dim_ = 0;
  std::vector<Layer> layers_;
  Tensor dy_[2];  // (B, d) each: the gradient of a layer's input, ping-pong down the chain
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_LAYERS_CROSS_NET_H_
