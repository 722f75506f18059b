#include "experts/layers/mlp.h"

#include "core/activation.h"
#include "core/linear.h"
#include "core/parallel.h"
#include "core/random.h"
#include "experts/layers/init.h"

namespace moerec {
namespace {

constexpr float kLayerNormEps = 1e-5f;
// Below this many first-layer outputs, forking threads per copy costs more than it saves.
constexpr int64_t kMinCopyParallelElements = 1 << 15;

void ResizeIfUsed(bool used, int64_t rows, int64_t cols, Tensor* t) {
  if (used) t->Resize({rows, cols});
}

// Runs fn(g0, g1) over ranges of copies that cover [0, copies): one range per thread when
// there are several copies and enough work (the kernels inside then run single-threaded),
// else one range, whose kernels use the whole pool. On a device everything runs on the calling
// thread: launches and the cuBLAS handle belong to one thread.
template <typename Fn>
void ForCopyRanges(int copies, int64_t work, bool on_gpu, Fn fn) {
  if (!on_gpu && copies > 1 && work >= kMinCopyParallelElements && ComputeThreads() > 1) {
    ParallelFor(copies, 1,
                [&](int64_t g0, int64_t g1) { fn(static_cast<int>(g0), static_cast<int>(g1)); });
  } else {
    fn(0, copies);
  }
}

}  // namespace

Mlp::Mlp(const MlpConfig& config, int64_t input_dim, int copies, const std::string& name,
         ParameterSet* params, uint64_t seed)
    : input_dim_(input_dim),
      copies_(copies),
      activation_(config.activation()),
      layer_norm_(config.layer_norm()),
      dropout_(config.dropout()),
      salt_(ParamSeed(0, name)) {
  CHECK_GE(input_dim, 1);
  CHECK_GE(copies, 1);
  CHECK(dropout_ >= 0.0f && dropout_ < 1.0f) << name << ": dropout " << dropout_;
  const int64_t g = copies;
  int64_t in = input_dim;
  for (int l = 0; l < config.dims_size(); ++l) {
    const int64_t out = config.dims(l);
    CHECK_GE(out, 1) << name << ": layer " << l << " width";
    const std::string prefix = name + "." + std::to_string(l);
    Layer layer;
    layer.in = in;
    layer.out = out;
    std::vector<int64_t> w_shape;
    if (l == 0) {
      w_shape = {in, g * out};
    } else if (g == 1) {
      w_shape = {in, out};
    } else {
      w_shape = {g, in, out};
    }
    const float bound = LinearInitBound(in);
    layer.w = params->Add(prefix + ".w", w_shape);
    FillUniform(ParamSeed(seed, layer.w->name), bound, &layer.w->value);
    layer.b = params->Add(prefix + ".b", {g * out});
    FillUniform(ParamSeed(seed, layer.b->name), bound, &layer.b->value);
    if (layer_norm_) {
      layer.ln_gamma = params->AddConstant(prefix + ".ln_gamma", {g * out}, 1.0f);
      layer.ln_beta = params->Add(prefix + ".ln_beta", {g * out});
    }
    if (activation_ == ACT_PRELU) {
      layer.alpha = params->AddConstant(prefix + ".prelu_alpha", {g * out}, 0.25f);
    }
    layers_.push_back(layer);
    in = out;
  }
}

void Mlp::set_adapter(MlpLayerAdapter* adapter) {
  CHECK(adapter == nullptr || copies_ == 1) << "adapters attach to a single MLP";
  adapter_ = adapter;
}

int64_t Mlp::output_dim() const { return layers_.empty() ? input_dim_ : layers_.back().out; }

MatView Mlp::CopyWeight(int l, int g, bool grad) const {
  const Layer& p = layers_[l];
  Tensor& t = grad ? p.w->grad : p.w->value;
  return MatView{t.data() + g * p.in * p.out, p.in, p.out, p.out, t.gpu()};
}

void Mlp::ForwardPost(int l, int g, uint64_t seed, MlpCache* cache) const {
  const Layer& p = layers_[l];
  MlpCache::Layer& c = cache->layers[l];
  const int64_t h = p.out;
  MatView pre = Block(c.pre.view(), g, h);
  const float* b = p.b->value.data() + g * h;
  MatView a = pre;  // the activation's input
  if (layer_norm_) {
    BiasForward(b, pre);
    a = Block(c.norm.view(), g, h);
    LayerNormForward(pre, p.ln_gamma->value.data() + g * h, p.ln_beta->value.data() + g * h,
                     kLayerNormEps, a, &c.ln[g]);
    b = nullptr;  // already added
  }
  MatView out = a;
  switch (activation_) {
    case ACT_RELU:
      BiasReluForward(b, a);
      break;
    case ACT_PRELU:
      if (b != nullptr) BiasForward(b, a);
      out = Block(c.act.view(), g, h);
      PreluForward(a, p.alpha->value.data() + g * h, out);
      break;
    case ACT_NONE:
      if (b != nullptr) BiasForward(b, a);
      break;
  }
  if (cache->dropout) {
    const uint64_t mask_seed =
        HashCombine(HashCombine(seed, salt_), static_cast<uint64_t>(l) * copies_ + g);
    DropoutForward(out, dropout_, mask_seed, Block(c.mask.view(), g, h), out);
  }
}

ConstMatView Mlp::Forward(ConstMatView x, bool training, uint64_t seed, MlpCache* cache) const {
  CHECK_EQ(x.cols, input_dim_);
  if (layers_.empty()) return x;
  const int64_t rows = x.rows;
  const int num_layers = static_cast<int>(layers_.size());
  cache->layers.resize(num_layers);
  cache->rows = rows;
  cache->dropout = training && dropout_ > 0.0f;
  const int64_t out_cols = copies_ * layers_.back().out;
  if (rows == 0) return ConstMatView(nullptr, 0, out_cols, out_cols);
  for (int l = 0; l < num_layers; ++l) {
    MlpCache::Layer& c = cache->layers[l];
    const int64_t cols = copies_ * layers_[l].out;
    c.pre.Resize({rows, cols});
    ResizeIfUsed(layer_norm_, rows, cols, &c.norm);
    ResizeIfUsed(activation_ == ACT_PRELU, rows, cols, &c.act);
    ResizeIfUsed(cache->dropout, rows, cols, &c.mask);
    if (layer_norm_) c.ln.resize(copies_);
    c.out = activation_ == ACT_PRELU ? c.act.view() : layer_norm_ ? c.norm.view() : c.pre.view();
  }

  const Layer& first = layers_[0];
  auto run_copies = [&](int g0, int g1) {
    // The first layers of copies [g0, g1): one GEMM on the shared input.
    const int64_t c0 = g0 * first.out, n = (g1 - g0) * first.out;
    Gemm(false, false, 1.0f, x, first.w->value.view().Cols(c0, n), 0.0f,
         cache->layers[0].pre.view().Cols(c0, n));
    for (int g = g0; g < g1; ++g) {
      if (adapter_ != nullptr) adapter_->Forward(0, x, cache->layers[0].pre.view());
      ForwardPost(0, g, seed, cache);
      for (int l = 1; l < num_layers; ++l) {
        const Layer& p = layers_[l];
        Gemm(false, false, 1.0f, Block(cache->layers[l - 1].out, g, p.in), CopyWeight(l, g, false),
             0.0f, Block(cache->layers[l].pre.view(), g, p.out));
        if (adapter_ != nullptr) {
          adapter_->Forward(l, cache->layers[l - 1].out, cache->layers[l].pre.view());
        }
        ForwardPost(l, g, seed, cache);
      }
    }
  };
  ForCopyRanges(copies_, rows * copies_ * first.out, x.gpu != nullptr, run_copies);
  return cache->layers.back().out;
}

MatView Mlp::BackwardPost(int l, int g, ConstMatView src, MlpCache* cache) const {
  const Layer& p = layers_[l];
  MlpCache::Layer& c = cache->layers[l];
  const int64_t h = p.out;
  MatView grad = Block(c.grad.view(), g, h);
  float* db = p.b->grad.data() + g * h;
  if (cache->dropout) {
    DropoutBackward(Block(c.mask.view(), g, h), src, grad);
    src = grad;
  }
  // d: the gradient of the activation's input once the activation is undone.
  ConstMatView d = src;
  switch (activation_) {
    case ACT_RELU:
      BiasReluBackward(Block(c.out, g, h), src, grad, layer_norm_ ? nullptr : db);
      if (!layer_norm_) return grad;
      d = grad;
      break;
    case ACT_PRELU: {
      MatView a = layer_norm_ ? Block(c.norm.view(), g, h) : Block(c.pre.view(), g, h);
      MatView out = Block(c.grad2.view(), g, h);
      PreluBackward(a, p.alpha->value.data() + g * h, src, out, p.alpha->grad.data() + g * h);
      d = out;
      break;
    }
    case ACT_NONE:
      break;
  }
  MatView dpre;
  if (layer_norm_) {
    dpre = d.data == Block(c.grad2.view(), g, h).data ? grad : Block(c.grad2.view(), g, h);
    LayerNormBackward(Block(c.pre.view(), g, h), p.ln_gamma->value.data() + g * h, c.ln[g], d, dpre,
                      p.ln_gamma->grad.data() + g * h, p.ln_beta->grad.data() + g * h);
  } else if (d.data == grad.data) {
    dpre = grad;
  } else {
    // The output gradient passes through unchanged (no activation, no dropout): copy it so
    // the caller always gets a writable buffer of this cache.
    dpre = grad;
    CopyMat(d, dpre);
  }
  BiasBackward(dpre, db);
  return dpre;
}

void Mlp::Backward(ConstMatView x, ConstMatView dy, MatView dx, float dx_beta,
                   MlpCache* cache) const {
  CHECK(dx_beta == 0.0f || dx_beta == 1.0f) << "dx_beta must be 0 or 1";
  if (layers_.empty()) {
    if (dx.data == nullptr) return;
    if (dx_beta == 0.0f) {
      CopyMat(dy, dx);
    } else {
      AddMat(dy, dx);
    }
    return;
  }
  const int64_t rows = x.rows;
  CHECK_EQ(cache->rows, rows) << "Backward on a different batch than Forward";
  CHECK_EQ(dy.rows, rows);
  CHECK_EQ(dy.cols, copies_ * layers_.back().out);
  if (rows == 0) return;
  const int num_layers = static_cast<int>(layers_.size());
  const bool needs_grad2 = layer_norm_ || activation_ == ACT_PRELU;
  for (int l = 0; l < num_layers; ++l) {
    MlpCache::Layer& c = cache->layers[l];
    const int64_t cols = copies_ * layers_[l].out;
    c.grad.Resize({rows, cols});
    ResizeIfUsed(needs_grad2, rows, cols, &c.grad2);
  }

  std::vector<MatView>& dpre0 = cache->first_grad;
  dpre0.resize(copies_);
  const Layer& first = layers_[0];
  auto run_copies = [&](int g0, int g1) {
    for (int g = g0; g < g1; ++g) {
      ConstMatView src = Block(dy, g, layers_.back().out);
      for (int l = num_layers - 1; l >= 1; --l) {
        const Layer& p = layers_[l];
        const MatView dpre = BackwardPost(l, g, src, cache);
        Gemm(true, false, 1.0f, Block(cache->layers[l - 1].out, g, p.in), dpre, 1.0f,
             CopyWeight(l, g, true));
        const MatView dprev = Block(cache->layers[l - 1].grad.view(), g, p.in);
        Gemm(false, true, 1.0f, dpre, CopyWeight(l, g, false), 0.0f, dprev);
        if (adapter_ != nullptr) adapter_->Backward(l, cache->layers[l - 1].out, dpre, dprev);
        src = dprev;
      }
      dpre0[g] = BackwardPost(0, g, src, cache);
    }
  };
  ForCopyRanges(copies_, rows * copies_ * first.out, x.gpu != nullptr, run_copies);
  // Every copy's block lies in the same buffer: the first layers' gradients are one matrix.
  const ConstMatView d0(dpre0[0].data, rows, copies_ * first.out, dpre0[0].ld, dpre0[0].gpu);
  for (int g = 1; g < copies_; ++g) DCHECK_EQ(dpre0[g].data, dpre0[0].data + g * first.out);
  auto weight_grad = [&] { Gemm(true, false, 1.0f, x, d0, 1.0f, first.w->grad.view()); };
  auto input_grad = [&] { Gemm(false, true, 1.0f, d0, first.w->value.view(), dx_beta, dx); };
  // The two GEMMs are independent and about equal: on 2 threads, one each beats both on each
  // in turn (0.8 ms of 30 on the reference MMoE). With more threads each gets the whole pool.
  if (dx.data != nullptr && rows * copies_ * first.out >= kMinCopyParallelElements &&
      ComputeThreads() == 2 && x.gpu == nullptr) {
    ParallelFor(2, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) i == 0 ? weight_grad() : input_grad();
    });
  } else {
    weight_grad();
    if (dx.data != nullptr) input_grad();
  }
  if (adapter_ != nullptr) adapter_->Backward(0, x, d0, dx);
}

}  // namespace moerec
