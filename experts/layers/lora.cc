#include "experts/layers/lora.h"

#include <algorithm>
#include <cmath>

#include "core/linear.h"
#include "core/low_rank.h"
#include "core/softmax.h"
#include "experts/layers/heads.h"
#include "experts/layers/init.h"

namespace moerec {

MloraAdapters::MloraAdapters(const Mlp& mlp, int num_experts, int reduce, const std::string& name,
                             ParameterSet* params, uint64_t seed)
    : num_experts_(num_experts), active_(num_experts, false) {
  CHECK_GE(num_experts, 1);
  CHECK_GE(reduce, 1);
  CHECK_EQ(mlp.copies(), 1);
  for (int l = 0; l < mlp.num_layers(); ++l) {
    Layer layer;
    layer.in = mlp.layer_input_dim(l);
    layer.out = mlp.layer_output_dim(l);
    layer.rank = std::max<int64_t>(layer.out / reduce, 1);
    for (int m = 0; m < num_experts; ++m) {
      const std::string n = name + "." + std::to_string(m) + "." + std::to_string(l);
      Parameter* a = params->Add(n + ".a", {layer.in, layer.rank});
      // Glorot uniform over (I, r), as the public code's initialiser.
      FillUniform(ParamSeed(seed, a->name),
                  std::sqrt(6.0f / static_cast<float>(layer.in + layer.rank)), &a->value);
      layer.a.push_back(a);
      layer.b.push_back(params->Add(n + ".b", {layer.rank, layer.out}));
      layer.c.push_back(params->Add(n + ".c", {layer.out}));
    }
    layer.t.resize(num_experts);
    layer.u.resize(num_experts);
    layers_.push_back(std::move(layer));
  }
}

void MloraAdapters::SetRowWeights(ConstMatView w, MatView dw) {
  CHECK_EQ(w.cols, num_experts_);
  // The kernel reads w and dw with one stride.
  CHECK(dw.data == nullptr || (dw.rows == w.rows && dw.cols == w.cols && dw.ld == w.ld));
  w_ = w;
  dw_ = dw;
  if (dw.data != nullptr) {
    active_.assign(num_experts_, true);
    return;
  }
  // Which experts have a weight: decided on the host ((R, M) floats come over from a device).
  const Tensor host = w.gpu == nullptr ? Tensor() : Tensor::FromView(w, nullptr);
  const ConstMatView h = w.gpu == nullptr ? w : host.view();
  for (int m = 0; m < num_experts_; ++m) {
    bool any = false;
    for (int64_t r = 0; r < h.rows && !any; ++r) any = h.row(r)[m] != 0.0f;
    active_[m] = any;
  }
}

void MloraAdapters::Forward(int l, ConstMatView x, MatView pre) {
  CHECK_EQ(x.rows, w_.rows) << "SetRowWeights for this batch first";
  Layer& p = layers_[l];
  for (int m = 0; m < num_experts_; ++m) {
    if (!active_[m]) continue;
    p.t[m].Resize({std::max<int64_t>(x.rows, 1), p.rank});
    p.u[m].Resize({std::max<int64_t>(x.rows, 1), p.out});
    LowRankAdapterForward(x, p.a[m]->value.view(), p.b[m]->value.view(), p.c[m]->value.data(),
                          w_.data + m, w_.ld, p.t[m].view().Rows(0, x.rows),
                          p.u[m].view().Rows(0, x.rows), pre);
  }
}

void MloraAdapters::Backward(int l, ConstMatView x, ConstMatView dpre, MatView dx) {
  Layer& p = layers_[l];
  p.du.Resize({std::max<int64_t>(x.rows, 1), p.out});
  p.dt.Resize({std::max<int64_t>(x.rows, 1), p.rank});
  for (int m = 0; m < num_experts_; ++m) {
    if (!active_[m]) continue;
    LowRankAdapterBackward(x, p.a[m]->value.view(), p.b[m]->value.view(), w_.data + m, w_.ld,
                           p.t[m].view().Rows(0, x.rows), p.u[m].view().Rows(0, x.rows), dpre,
                           p.du.view().Rows(0, x.rows), p.dt.view().Rows(0, x.rows),
                           p.a[m]->grad.view(), p.b[m]->grad.view(), p.c[m]->grad.data(),
                           dw_.data == nullptr ? nullptr : dw_.data + m, dx);
  }
}

MloraGate::MloraGate(int num_domains, int embedding_dim, int num_experts, const std::string& name,
                     ParameterSet* params, uint64_t seed)
    : num_domains_(num_domains), num_experts_(num_experts) {
  embedding_ = params->Add(name + ".embedding", {num_domains, embedding_dim});
  FillNormal(ParamSeed(seed, embedding_->name), 0.05f, &embedding_->value);
  w_ = params->Add(name + ".w", {embedding_dim, num_experts});
  b_ = params->Add(name + ".b", {num_experts});
  FillUniform(ParamSeed(seed, w_->name), LinearInitBound(embedding_dim), &w_->value);
  FillUniform(ParamSeed(seed, b_->name), LinearInitBound(embedding_dim), &b_->value);
}

ConstMatView MloraGate::RowWeights(const std::vector<int64_t>& domain_begin) {
  probs_.Resize({num_domains_, num_experts_});
  LinearForward(embedding_->value.view(), w_->value.view(), b_->value.data(), probs_.view());
  SoftmaxForward(probs_.view(), probs_.view());
  const int64_t rows = domain_begin.back();
  rows_.Resize({std::max<int64_t>(rows, 1), num_experts_});
  for (int d = 0; d < num_domains_; ++d) {
    const RowRange r = DomainRows(domain_begin, d);
    if (r.size() == 0) continue;
    BroadcastRows(probs_.data() + d * num_experts_, rows_.view().Rows(r.begin, r.size()));
  }
  return rows_.view().Rows(0, rows);
}

void MloraGate::Backward(const std::vector<int64_t>& domain_begin, ConstMatView drow) {
  dprobs_.Resize({num_domains_, num_experts_});
  dprobs_.Fill(0.0f);
  for (int d = 0; d < num_domains_; ++d) {
    const RowRange r = DomainRows(domain_begin, d);
    if (r.size() == 0) continue;
    BiasBackward(drow.Rows(r.begin, r.size()), dprobs_.data() + d * num_experts_);
  }
  SoftmaxBackward(probs_.view(), dprobs_.view(), dprobs_.view());
  LinearBackward(embedding_->value.view(), w_->value.view(), dprobs_.view(), w_->grad.view(),
                 b_->grad.data(), embedding_->grad.view(), 1.0f);
}

}  // namespace moerec
