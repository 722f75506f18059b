#include "experts/layers/expert_bank.h"

#include "core/activation.h"
#include "core/grouped_linear.h"
#include "core/linear.h"
#include "experts/layers/init.h"

namespace moerec {

ExpertBank::ExpertBank(const MlpConfig& config, int64_t input_dim, const std::vector<int>& experts,
                       const std::string& name, bool expert_local, ParameterSet* params,
                       uint64_t seed)
    : experts_(experts) {
  dims_.push_back(input_dim);
  for (int d : config.dims()) dims_.push_back(d);
  layers_.resize(config.dims_size());
  for (size_t l = 0; l < layers_.size(); ++l) {
    Layer& layer = layers_[l];
    layer.relu = config.activation() == ACT_RELU;
    const float bound = LinearInitBound(dims_[l]);
    for (int e : experts_) {
      const std::string prefix = name + "." + std::to_string(e) + "." + std::to_string(l) + ".";
      Parameter* w = params->Add(prefix + "w", {dims_[l], dims_[l + 1]});
      Parameter* b = params->Add(prefix + "b", {dims_[l + 1]});
      FillUniform(ParamSeed(seed, w->name), bound, &w->value);
      FillUniform(ParamSeed(seed, b->name), bound, &b->value);
      w->expert_local = b->expert_local = expert_local;
      layer.w.push_back(w);
      layer.b.push_back(b);
    }
  }
}

ConstMatView ExpertBank::Forward(ConstMatView x, const std::vector<int64_t>& local_begin) {
  x_ = x;
  begin_ = local_begin;
  ConstMatView in = x;
  for (Layer& layer : layers_) {
    std::vector<ConstMatView> w;
    std::vector<const float*> b;
    for (size_t g = 0; g < layer.w.size(); ++g) {
      w.push_back(layer.w[g]->value.view());
      b.push_back(layer.b[g]->value.data());
    }
    layer.out.Resize({x.rows, dims_[&layer - layers_.data() + 1]});
    if (!layer.w.empty()) {
      GroupedLinearForward(in, begin_, w, b, layer.out.view());
      if (layer.relu) ReluForward(layer.out.view(), layer.out.view());
    }
    in = layer.out.view();
  }
  return in;
}

void ExpertBank::Backward(ConstMatView dout, Tensor* dx) {
  dx->Resize({x_.rows, dims_[0]});
  if (experts_.empty()) return;
  const int last = static_cast<int>(layers_.size()) - 1;
  // layers_[l].grad: the gradient of layer l's output, then (in place) of its pre-activation.
  layers_[last].grad.Resize({x_.rows, dims_[last + 1]});
  CopyMat(dout, layers_[last].grad.view());
  for (int l = last; l >= 0; --l) {
    Layer& layer = layers_[l];
    if (layer.relu) ReluBackward(layer.out.view(), layer.grad.view(), layer.grad.view());
    std::vector<ConstMatView> w;
    std::vector<MatView> dw;
    std::vector<float*> db;
    for (size_t g = 0; g < layer.w.size(); ++g) {
      w.push_back(layer.w[g]->value.view());
      dw.push_back(layer.w[g]->grad.view());
      db.push_back(layer.b[g]->grad.data());
    }
    const ConstMatView in = l == 0 ? x_ : ConstMatView(layers_[l - 1].out.view());
    Tensor* target = l == 0 ? dx : &layers_[l - 1].grad;
    target->Resize({x_.rows, dims_[l]});
    GroupedLinearBackward(in, begin_, w, layer.grad.view(), dw, db, target->view());
  }
}

}  // namespace moerec
