#include "experts/layers/star.h"

#include <algorithm>

#include "core/activation.h"
#include "core/linear.h"
#include "core/product.h"
#include "experts/layers/heads.h"
#include "experts/layers/init.h"

namespace moerec {
StarMlp::StarMlp(const MlpConfig& config, int64_t input_dim, int num_domains,
                 const std::string& name, ParameterSet* params, uint64_t seed)
    : input_dim_(input_dim), num_domains_(num_domains), relu_(config.activation() == ACT_RELU) {
  CHECK(config.activation() == ACT_RELU || config.activation() == ACT_NONE);
  CHECK(!config.layer_norm());
  CHECK_EQ(config.dropout(), 0.0f);
  int64_t in = input_dim;
  for (int l = 0; l < config.dims_size(); ++l) {
    Layer layer;
    layer.in = in;
    layer.out = config.dims(l);
    const std::string n = name + "." + std::to_string(l);
    layer.w = params->Add(n + ".w", {in, layer.out});
    layer.b = params->Add(n + ".b", {layer.out});
    FillUniform(ParamSeed(seed, layer.w->name), LinearInitBound(in), &layer.w->value);
    FillUniform(ParamSeed(seed, layer.b->name), LinearInitBound(in), &layer.b->value);
    layer.domain_w = params->AddConstant(n + ".domain_w", {num_domains, in, layer.out}, 1.0f);
    layer.domain_b = params->Add(n + ".domain_b", {num_domains, layer.out});
    layers_.push_back(layer);
    in = layer.out;
  }
}

ConstMatView StarMlp::Forward(ConstMatView x, const std::vector<int64_t>& domain_begin,
                              StarCache* cache) const {
  CHECK_EQ(x.cols, input_dim_);
  cache->layers.resize(layers_.size());
  ConstMatView in = x;
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& layer = layers_[l];
    StarCache::Layer& c = cache->layers[l];
    const int64_t slab = layer.in * layer.out;
    c.weight.Resize({num_domains_, layer.in, layer.out});
    c.bias.Resize({num_domains_, layer.out});
    c.out.Resize({std::max<int64_t>(x.rows, 1), layer.out});
    for (int d = 0; d < num_domains_; ++d) {
      const RowRange r = DomainRows(domain_begin, d);
      if (r.size() == 0) continue;
      float* w = c.weight.data() + d * slab;
      ProductForward(layer.w->value.data(), layer.domain_w->value.data() + d * slab, slab, w,
                     c.weight.gpu());
      const MatView b = c.bias.view().Rows(d, 1);
      CopyMat(layer.b->value.view(), b);
      AddMat(layer.domain_b->value.view().Rows(d, 1), b);
      LinearForward(in.Rows(r.begin, r.size()),
                    ConstMatView(w, layer.in, layer.out, layer.out, c.weight.gpu()), b.data,
                    c.out.view().Rows(r.begin, r.size()));
    }
    const MatView out = c.out.view().Rows(0, x.rows);
    if (relu_) ReluForward(out, out);
    in = out;
  }
  return in;
}

void StarMlp::Backward(ConstMatView x, const std::vector<int64_t>& domain_begin, ConstMatView dy,
                       MatView dx, float dx_beta, StarCache* cache) const {
  CHECK_EQ(dy.cols, output_dim());
  ConstMatView grad = dy;
  for (int l = static_cast<int>(layers_.size()) - 1; l >= 0; --l) {
    const Layer& layer = layers_[l];
    StarCache::Layer& c = cache->layers[l];
    const int64_t slab = layer.in * layer.out;
    c.grad.Resize({std::max<int64_t>(x.rows, 1), layer.out});
    const MatView g = c.grad.view().Rows(0, x.rows);
    const ConstMatView out = c.out.view().Rows(0, x.rows);
    if (relu_) {
      ReluBackward(out, grad, g);
    } else if (grad.data != g.data) {
      CopyMat(grad, g);
    }
    const ConstMatView in = l == 0 ? x : cache->layers[l - 1].out.view().Rows(0, x.rows);
    // Below layer 0 the input gradient goes to the previous layer's gradient buffer, which
    // that layer's ReLU backward then reads in place.
    Tensor* below = l == 0 ? nullptr : &cache->layers[l - 1].grad;
    MatView din = dx;
    float beta = dx_beta;
    if (below != nullptr) {
      below->Resize({std::max<int64_t>(x.rows, 1), layer.in});
      din = below->view().Rows(0, x.rows);
      beta = 0.0f;
    }
    c.dweight.Resize({layer.in, layer.out});
    for (int d = 0; d < num_domains_; ++d) {
      const RowRange r = DomainRows(domain_begin, d);
      if (r.size() == 0) continue;
      const ConstMatView gd = g.Rows(r.begin, r.size());
      c.dweight.Fill(0.0f);
      const ConstMatView w(c.weight.data() + d * slab, layer.in, layer.out, layer.out,
                           c.weight.gpu());
      LinearBackward(in.Rows(r.begin, r.size()), w, gd, c.dweight.view(), nullptr,
                     din.data == nullptr ? MatView{} : din.Rows(r.begin, r.size()), beta);
      ProductBackward(layer.w->value.data(), layer.domain_w->value.data() + d * slab,
                      c.dweight.data(), slab, layer.w->grad.data(),
                      layer.domain_w->grad.data() + d * slab, c.dweight.gpu());
      BiasBackward(gd, layer.b->grad.data());
      BiasBackward(gd, layer.domain_b->grad.data() + d * layer.out);
    }
    if (below != nullptr) {
      // ReluBackward above reads the gradient of layer l - 1's output from `grad`.
      grad = below->view().Rows(0, x.rows);
    }
  }
}

PartitionedNorm::PartitionedNorm(int64_t channels, int num_domains,
                                 const PartitionedNormOptions& options, const std::string& name,
                                 ParameterSet* params)
    : channels_(channels), num_domains_(num_domains), options_(options) {
  CHECK(options.momentum > 0.0f && options.momentum <= 1.0f) << options.momentum;
  CHECK_GT(options.eps, 0.0f);
  if (options.shared_affine) gamma_ = params->AddConstant(name + ".gamma", {channels}, 1.0f);
  domain_gamma_ = params->AddConstant(name + ".domain_gamma", {num_domains, channels}, 1.0f);
  if (options.shared_affine) beta_ = params->Add(name + ".beta", {channels});
  domain_beta_ = params->Add(name + ".domain_beta", {num_domains, channels});
  running_mean_ = params->AddBuffer(name + ".running_mean", {num_domains, channels}, 0.0f);
  running_var_ = params->AddBuffer(name + ".running_var", {num_domains, channels}, 1.0f);
}

namespace {

// The workers' all-reduce for the synchronised statistics. A failed all-reduce leaves the
// workers' statistics apart, which no later step repairs: the job stops here, saying why.
GroupSum WorkerSum(Communicator* workers) {
  return [workers](double* data, int64_t n) {
    const Status s = workers->AllReduceSum(data, n);
    CHECK(s.ok()) << "the all-reduce of the batch-norm statistics failed: " << s;
  };
}

}  // namespace

const float* PartitionedNorm::Scale(const PartitionedNormCache& cache) const {
  return options_.shared_affine ? cache.gamma.data() : domain_gamma_->value.data();
}

ConstMatView PartitionedNorm::Forward(ConstMatView x, const int32_t* domain, bool training,
                                      PartitionedNormCache* cache) const {
  CHECK_EQ(x.cols, channels_);
  const float* beta = domain_beta_->value.data();
  if (options_.shared_affine) {
    cache->gamma.Resize({num_domains_, channels_});
    cache->beta.Resize({num_domains_, channels_});
    for (int d = 0; d < num_domains_; ++d) {
      ProductForward(gamma_->value.data(), domain_gamma_->value.data() + d * channels_, channels_,
                     cache->gamma.data() + d * channels_, cache->gamma.gpu());
      const MatView b = cache->beta.view().Rows(d, 1);
      CopyMat(beta_->value.view(), b);
      AddMat(domain_beta_->value.view().Rows(d, 1), b);
    }
    beta = cache->beta.data();
  }
  cache->y.Resize({std::max<int64_t>(x.rows, 1), channels_});
  const MatView y = cache->y.view().Rows(0, x.rows);
  const GroupSum sum = synchronised() ? WorkerSum(options_.workers) : GroupSum();
  GroupBatchNormForward(x, domain, num_domains_, Scale(*cache), beta, options_.eps,
                        options_.momentum, training, running_mean_->value.data(),
                        running_var_->value.data(), y, &cache->norm, sum ? &sum : nullptr);
  return y;
}

void PartitionedNorm::Backward(ConstMatView x, const int32_t* domain, ConstMatView dy, MatView dx,
                               PartitionedNormCache* cache) const {
  MatView out = dx;
  if (dx.data == nullptr) {
    cache->dx.Resize({std::max<int64_t>(x.rows, 1), channels_});
    out = cache->dx.view().Rows(0, x.rows);
  }
  const GroupSum sum = synchronised() ? WorkerSum(options_.workers) : GroupSum();
  const GroupSum* synced = sum ? &sum : nullptr;
  if (!options_.shared_affine) {
    GroupBatchNormBackward(x, domain, Scale(*cache), cache->norm, dy, out,
                           domain_gamma_->grad.data(), domain_beta_->grad.data(), synced);
    return;
  }
  cache->dgamma.Resize({num_domains_, channels_});
  cache->dbeta.Resize({num_domains_, channels_});
  cache->dgamma.Fill(0.0f);
  cache->dbeta.Fill(0.0f);
  GroupBatchNormBackward(x, domain, Scale(*cache), cache->norm, dy, out, cache->dgamma.data(),
                         cache->dbeta.data(), synced);
  for (int d = 0; d < num_domains_; ++d) {
    ProductBackward(gamma_->value.data(), domain_gamma_->value.data() + d * channels_,
                    cache->dgamma.data() + d * channels_, channels_, gamma_->grad.data(),
                    domain_gamma_->grad.data() + d * channels_, cache->dgamma.gpu());
    const ConstMatView db = cache->dbeta.view().Rows(d, 1);
    AddMat(db, beta_->grad.view());
    AddMat(db, domain_beta_->grad.view().Rows(d, 1));
  }
}

}  // namespace moerec
