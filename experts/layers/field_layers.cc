#include "experts/layers/field_layers.h"

#include <glog/logging.h>

#include "core/cin.h"
#include "core/interaction.h"
#include "core/linear.h"
#include "experts/layers/init.h"

namespace moerec {

namespace {

Parameter* AddUniform(ParameterSet* params, const std::string& name,
                      const std::vector<int64_t>& shape, int64_t fan_in, uint64_t seed) {
  Parameter* p = params->Add(name, shape);
  FillUniform(ParamSeed(seed, p->name), LinearInitBound(fan_in), &p->value);
  return p;
}

}  // namespace

// ---- FieldProducts ------------------------------------------------------------------------

FieldProducts::FieldProducts(bool inner, bool kernel, int num_fields, int64_t k,
                             const std::string& name, ParameterSet* params, uint64_t seed)
    : inner_(inner), num_fields_(num_fields) {
  CHECK(inner || kernel);
  CHECK_GE(num_fields, 2);
  if (kernel) {
    kernel_ = AddUniform(params, name + ".kernel", {NumFieldPairs(num_fields), k, k}, k, seed);
  }
}

int64_t FieldProducts::output_dim() const {
  return NumFieldPairs(num_fields_) * ((inner_ ? 1 : 0) + (kernel_ != nullptr ? 1 : 0));
}

void FieldProducts::Forward(ConstMatView v, MatView out) const {
  CHECK_EQ(out.cols, output_dim());
  const int64_t p = NumFieldPairs(num_fields_);
  if (inner_) InnerProductForward(v, num_fields_, out.Cols(0, p));
  if (kernel_ != nullptr) {
    OuterProductForward(v, num_fields_, kernel_->value.data(), out.Cols(inner_ ? p : 0, p));
  }
}

void FieldProducts::Backward(ConstMatView v, ConstMatView dout, MatView dv, float dv_beta) const {
  const int64_t p = NumFieldPairs(num_fields_);
  if (inner_) InnerProductBackward(v, num_fields_, dout.Cols(0, p), dv, dv_beta);
  if (kernel_ != nullptr) {
    OuterProductBackward(v, num_fields_, kernel_->value.data(), dout.Cols(inner_ ? p : 0, p), dv,
                         kernel_->grad.data(), inner_ ? 1.0f : dv_beta);
  }
}

// ---- CinNet -------------------------------------------------------------------------------

CinNet::CinNet(const std::vector<int>& maps, int num_fields, int64_t k, const std::string& name,
               ParameterSet* params, uint64_t seed)
    : num_fields_(num_fields), k_(k), layers_(maps.size()) {
  CHECK(!maps.empty());
  int64_t prev = num_fields;
  for (size_t l = 0; l < maps.size(); ++l) {
    CHECK_GE(maps[l], 1);
    layers_[l].maps = maps[l];
    layers_[l].w = AddUniform(params, name + "." + std::to_string(l) + ".w",
                              {maps[l], prev * num_fields}, prev * num_fields, seed);
    prev = maps[l];
  }
}

int64_t CinNet::output_dim() const {
  int64_t n = 0;
  for (const Layer& layer : layers_) n += layer.maps;
  return n;
}

void CinNet::Forward(ConstMatView v, MatView out) {
  CHECK_EQ(v.cols, num_fields_ * k_);
  CHECK_EQ(out.cols, output_dim());
  ConstMatView prev = v;
  int64_t col = 0;
  for (Layer& layer : layers_) {
    layer.x.Resize({v.rows, layer.maps * k_});
    CinLayerForward(v, prev, num_fields_, layer.w->value.view(), layer.x.view());
    FieldSumPoolForward(layer.x.view(), out.Cols(col, layer.maps));
    col += layer.maps;
    prev = layer.x.view();
  }
}

void CinNet::Backward(ConstMatView v, ConstMatView dout, MatView dv, float dv_beta) {
  const int num_layers = static_cast<int>(layers_.size());
  int64_t col = output_dim() - layers_.back().maps;
  // The gradient of the last layer's output comes from its pool alone.
  Tensor* grad = &dx_[(num_layers - 1) % 2];
  grad->Resize({v.rows, layers_.back().maps * k_});
  FieldSumPoolBackward(dout.Cols(col, layers_.back().maps), grad->view());
  for (int l = num_layers - 1; l >= 0; --l) {
    const Layer& layer = layers_[l];
    const ConstMatView prev = l == 0 ? v : layers_[l - 1].x.view();
    Tensor* dprev = &dx_[(l + 1) % 2];
    dprev->Resize({v.rows, prev.cols});
    CinLayerBackward(v, prev, num_fields_, layer.w->value.view(), grad->view(), dv,
                     l == num_layers - 1 ? dv_beta : 1.0f, dprev->view(), layer.w->grad.view());
    if (l == 0) {
      AddMat(dprev->view(), dv);  // layer 0's previous layer is v itself
      break;
    }
    // Layer l-1's output also feeds its own pool: add that gradient, broadcast over k.
    const int64_t maps = layers_[l - 1].maps;
    col -= maps;
    dpool_.Resize({v.rows, maps * k_});
    FieldSumPoolBackward(dout.Cols(col, maps), dpool_.view());
    AddMat(dpool_.view(), dprev->view());
    grad = dprev;
  }
}

// ---- FieldAttentionStack ------------------------------------------------------------------

FieldAttentionStack::FieldAttentionStack(int num_layers, int heads, int head_dim, bool residual,
                                         int num_fields, int64_t k, const std::string& name,
                                         ParameterSet* params, uint64_t seed)
    : num_fields_(num_fields), heads_(heads), head_dim_(head_dim), layers_(num_layers) {
  CHECK_GE(num_layers, 1);
  CHECK_GE(num_fields, 1);
  const int64_t e = int64_t{heads} * head_dim;
  int64_t in = k;
  for (int l = 0; l < num_layers; ++l) {
    const std::string n = name + "." + std::to_string(l);
    Layer& layer = layers_[l];
    layer.q = AddUniform(params, n + ".q", {in, e}, in, seed);
    layer.k = AddUniform(params, n + ".k", {in, e}, in, seed);
    layer.v = AddUniform(params, n + ".v", {in, e}, in, seed);
    if (residual) layer.res = AddUniform(params, n + ".res", {in, e}, in, seed);
    in = e;
  }
}

ConstMatView FieldAttentionStack::Forward(ConstMatView v) {
  ConstMatView x = v;
  for (Layer& layer : layers_) {
    layer.y.Resize({v.rows, output_dim()});
    const ConstMatView res = layer.res == nullptr ? ConstMatView() : layer.res->value.view();
    FieldAttentionForward(x, num_fields_, heads_, layer.q->value.view(), layer.k->value.view(),
                          layer.v->value.view(), res, layer.y.view(), &layer.cache);
    x = layer.y.view();
  }
  return x;
}

void FieldAttentionStack::Backward(ConstMatView dy, MatView dv, float dv_beta) {
  ConstMatView grad = dy;
  for (int l = static_cast<int>(layers_.size()) - 1; l >= 0; --l) {
    const Layer& layer = layers_[l];
    MatView dx = dv;
    if (l > 0) {
      dy_[l % 2].Resize({dy.rows, output_dim()});
      dx = dy_[l % 2].view();
    }
    const bool res = layer.res != nullptr;
    FieldAttentionBackward(layer.q->value.view(), layer.k->value.view(), layer.v->value.view(),
                           res ? layer.res->value.view() : ConstMatView(), layer.cache, grad, dx,
                           l == 0 ? dv_beta : 0.0f, layer.q->grad.view(), layer.k->grad.view(),
                           layer.v->grad.view(), res ? layer.res->grad.view() : MatView());
    grad = dx;
  }
}

// ---- Senet --------------------------------------------------------------------------------

Senet::Senet(int num_fields, int bottleneck, const std::string& name, ParameterSet* params,
             uint64_t seed)
    : num_fields_(num_fields) {
  CHECK_GE(bottleneck, 1);
  w1_ = AddUniform(params, name + ".w1", {num_fields, bottleneck}, num_fields, seed);
  w2_ = AddUniform(params, name + ".w2", {bottleneck, num_fields}, bottleneck, seed);
}

ConstMatView Senet::Forward(ConstMatView v) {
  out_.Resize({v.rows, v.cols});
  SenetForward(v, num_fields_, w1_->value.view(), w2_->value.view(), out_.view(), &cache_);
  return out_.view();
}

void Senet::Backward(ConstMatView v, ConstMatView dout, MatView dv, float dv_beta) const {
  SenetBackward(v, w1_->value.view(), w2_->value.view(), cache_, dout, dv, dv_beta,
                w1_->grad.view(), w2_->grad.view());
}

// ---- FieldBilinear ------------------------------------------------------------------------

FieldBilinear::FieldBilinear(BilinearType type, int num_fields, int64_t k, const std::string& name,
                             ParameterSet* params, uint64_t seed)
    : type_(type), num_fields_(num_fields), k_(k) {
  CHECK_GE(num_fields, 2);
  w_ = AddUniform(params, name + ".w", {BilinearNumWeights(type, num_fields), k, k}, k, seed);
}

int64_t FieldBilinear::output_dim() const { return NumFieldPairs(num_fields_) * k_; }

void FieldBilinear::Forward(ConstMatView v, MatView out) {
  BilinearForward(type_, v, num_fields_, w_->value.data(), out, &cache_);
}

void FieldBilinear::Backward(ConstMatView v, ConstMatView dout, MatView dv, float dv_beta) const {
  BilinearBackward(type_, v, num_fields_, w_->value.data(), cache_, dout, dv, dv_beta,
                   w_->grad.data());
}

}  // namespace moerec
