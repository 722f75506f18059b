#include "experts/layers/cross_net.h"

#include <glog/logging.h>

#include "core/linear.h"
#include "experts/layers/init.h"

namespace moerec {

CrossNet::CrossNet(CrossMode mode, int num_layers, int64_t dim, const std::string& name,
                   ParameterSet* params, uint64_t seed)
    : mode_(mode), dim_(dim), layers_(num_layers) {
  CHECK_GE(num_layers, 1);
  CHECK_GE(dim, 1);
  const float bound = LinearInitBound(dim);
  for (int l = 0; l < num_layers; ++l) {
    const std::string n = name + "." + std::to_string(l);
    Layer& layer = layers_[l];
    layer.w = params->Add(n + ".w", {dim, mode == CrossMode::kVector ? int64_t{1} : dim});
    layer.b = params->Add(n + ".b", {dim});
    FillUniform(ParamSeed(seed, layer.w->name), bound, &layer.w->value);
    FillUniform(ParamSeed(seed, layer.b->name), bound, &layer.b->value);
  }
}

ConstMatView CrossNet::Forward(ConstMatView x0) {
  CHECK_EQ(x0.cols, dim_);
  ConstMatView xl = x0;
  for (Layer& layer : layers_) {
    layer.y.Resize({x0.rows, dim_});
    CrossLayerForward(mode_, x0, xl, layer.w->value.view(), layer.b->value.data(), layer.y.view(),
                      &layer.cache);
    xl = layer.y.view();
  }
  return xl;
}

void CrossNet::Backward(ConstMatView x0, ConstMatView dy, MatView dx0, float dx0_beta) {
  CHECK_EQ(dy.rows, x0.rows);
  for (Tensor& t : dy_) t.Resize({x0.rows, dim_});
  const int num_layers = static_cast<int>(layers_.size());
  ConstMatView grad = dy;  // of layer l's output
  for (int l = num_layers - 1; l >= 0; --l) {
    const Layer& layer = layers_[l];
    const ConstMatView xl = l == 0 ? x0 : layers_[l - 1].y.view();
    // Layer 0's input is x0 itself: its input gradient is added to dx0 below.
    const MatView dxl = dy_[l % 2].view();
    CrossLayerBackward(mode_, x0, xl, layer.w->value.view(), layer.cache, grad, dx0,
                       l == num_layers - 1 ? dx0_beta : 1.0f, dxl, layer.w->grad.view(),
                       layer.b->grad.data());
    grad = dxl;
  }
  AddMat(grad, dx0);
}

}  // namespace moerec
