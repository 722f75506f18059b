// Test helpers for experts/: finite-difference gradient checks and random fills. Test-only.
//
// Gradient checks use the scalar loss L = sum(r * y) over a layer's or model's output y with
// a fixed random r, accumulated in double; the analytic gradient is what Backward produced
// for dy = r. A value passes when the central difference at one of eps = 1e-3, 2e-4, 5e-5
// agrees (|fd - analytic| <= atol + 2e-7 / eps + rtol * max(|fd|, |analytic|)): a ReLU kink
// crossed by the larger steps is missed by the smaller ones, while a wrong gradient fails all.
#ifndef MOEREC_EXPERTS_TEST_UTIL_H_
#define MOEREC_EXPERTS_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/parameter.h"
#include "core/random.h"
#include "core/tensor.h"
#include "experts/model.h"

namespace moerec::testing {

inline void FillNormal(Tensor* t, Rng* rng, float scale = 1.0f) {
  for (int64_t i = 0; i < t->size(); ++i) (*t)[i] = static_cast<float>(rng->Normal()) * scale;
}

// Adds N(0, scale^2) to every parameter value (buffers untouched), so that parts that start
// at a constant (per-domain scales, zero adapters) matter.
inline void PerturbParameters(ParameterSet* params, uint64_t seed, float scale = 0.3f) {
  Rng rng(seed);
  for (const auto& p : params->params()) {
    if (p->is_buffer) continue;
    for (int64_t i = 0; i < p->value.size(); ++i)
      p->value[i] += scale * static_cast<float>(rng.Normal());
  }
}

// sum(r * y) in double.
inline double Dot(ConstMatView y, const Tensor& r) {
  double s = 0.0;
  for (int64_t i = 0; i < y.rows; ++i) {
    for (int64_t j = 0; j < y.cols; ++j) s += static_cast<double>(y.row(i)[j]) * r[i * y.cols + j];
  }
  return s;
}

struct GradCheckOptions {
  int samples = 24;  // entries checked per tensor (all when it has fewer)
  double atol = 2e-3;
  double rtol = 2e-2;
};

// Checks analytic[i] = dL/dvalues[i] for sampled i; `loss` recomputes L from the current
// values. Returns the number of checked entries whose analytic gradient is nonzero.
inline int ExpectGradientMatches(float* values, const float* analytic, int64_t n,
                                 const std::function<double()>& loss, const std::string& what,
                                 uint64_t seed, const GradCheckOptions& options = {}) {
  std::vector<int64_t> idx;
  if (n <= options.samples) {
    for (int64_t i = 0; i < n; ++i) idx.push_back(i);
  } else {
    Rng rng(seed);
    for (int k = 0; k < options.samples; ++k) idx.push_back(static_cast<int64_t>(rng.Below(n)));
  }
  int nonzero = 0;
  for (const int64_t i : idx) {
    const float saved = values[i];
    bool ok = false;
    double fd = 0.0;
    for (const float eps : {1e-3f, 2e-4f, 5e-5f}) {
      values[i] = saved + eps;
      const double up = loss();
      values[i] = saved - eps;
      const double down = loss();
      values[i] = saved;
      // The actual step in float, which is not exactly 2 eps.
      const double step = static_cast<double>(saved + eps) - static_cast<double>(saved - eps);
      fd = (up - down) / step;
      const double a = analytic[i];
      // Float rounding of the loss, divided by the step, adds noise of about 2e-7 / eps.
      const double atol = options.atol + 2e-7 / eps;
      if (std::fabs(fd - a) <= atol + options.rtol * std::max(std::fabs(fd), std::fabs(a))) {
        ok = true;
        break;
      }
    }
    EXPECT_TRUE(ok) << what << "[" << i << "]: analytic " << analytic[i] << " vs numeric " << fd;
    if (analytic[i] != 0.0f) ++nonzero;
  }
  return nonzero;
}

inline bool AllZero(const Tensor& t) {
  for (int64_t i = 0; i < t.size(); ++i) {
    if (t[i] != 0.0f) return false;
  }
  return true;
}

// Checks every parameter of `params` (their grads must hold dL/dparam); each parameter must
// have a nonzero gradient somewhere unless its name is in `expect_zero`, in which case it
// must be all zero.
inline void ExpectParameterGradients(ParameterSet* params, const std::function<double()>& loss,
                                     uint64_t seed,
                                     const std::vector<std::string>& expect_zero = {},
                                     const GradCheckOptions& options = {}) {
  for (const auto& p : params->params()) {
    if (p->is_buffer) continue;  // no gradient (running statistics)
    const bool zero =
        std::find(expect_zero.begin(), expect_zero.end(), p->name) != expect_zero.end();
    if (zero) {
      EXPECT_TRUE(AllZero(p->grad)) << p->name << " should get no gradient";
    } else {
      EXPECT_FALSE(AllZero(p->grad)) << p->name << " got no gradient at all";
    }
    ExpectGradientMatches(p->value.data(), p->grad.data(), p->value.size(), loss, p->name,
                          HashCombine(seed, p->value.size()), options);
  }
}

// A random batch of `rows_per_domain[d]` rows for each domain d (zeros make empty domains),
// sorted by domain, with features ~ N(0, 1) and a random loss weight r (B, T).
struct RandomBatch {
  Tensor features;  // (B, F)
  Tensor r;         // (B, T)
  std::vector<int32_t> domain;
  ModelBatch batch;

  RandomBatch(const RandomBatch&) = delete;  // batch views the members
  RandomBatch& operator=(const RandomBatch&) = delete;
  RandomBatch(const ModelShape& shape, const std::vector<int64_t>& rows_per_domain, uint64_t seed) {
    int64_t rows = 0;
    batch.domain_begin.push_back(0);
    for (int d = 0; d < shape.num_domains; ++d) {
      rows += rows_per_domain[d];
      batch.domain_begin.push_back(rows);
      domain.insert(domain.end(), rows_per_domain[d], d);
    }
    Rng rng(seed);
    // At least one row: Tensor::cols() of a (0, C) tensor divides by zero.
    features.Resize({std::max<int64_t>(rows, 1), shape.num_features});
    r.Resize({std::max<int64_t>(rows, 1), shape.num_tasks});
    FillNormal(&features, &rng);
    FillNormal(&r, &rng);
    batch.size = rows;
    batch.features = ConstMatView(features.data(), rows, shape.num_features, shape.num_features);
    batch.domain = domain.data();
  }
};

// Before any Forward the model reports no statistics; after one on b, `experts`
// "expert_load.<e>" values that sum to 1 (every routing's weights are a softmax).
inline void ExpectExpertLoadsSumToOne(Model* model, RandomBatch* b, int experts) {
  EXPECT_TRUE(model->Stats().empty());
  Tensor logits({std::max<int64_t>(b->batch.size, 1), model->shape().num_tasks});
  model->Forward(b->batch, logits.view().Rows(0, b->batch.size));
  double total = 0.0;
  int loads = 0;
  for (const auto& [name, value] : model->Stats()) {
    if (name.rfind("expert_load.", 0) == 0) {
      total += value;
      ++loads;
    }
  }
  EXPECT_EQ(loads, experts);
  EXPECT_NEAR(total, 1.0, 1e-5);
}

// After a Forward on b: per (domain, task) loads "expert_load/<d>/<t>.<e>", `experts` of them
// for every task of every domain with rows in b and none for the others, each cell's loads
// summing to 1 (every routing's weights are a softmax). Returns them by name.
inline std::map<std::string, double> ExpectDomainTaskLoads(Model* model, RandomBatch* b,
                                                           int experts) {
  Tensor logits({std::max<int64_t>(b->batch.size, 1), model->shape().num_tasks});
  model->Forward(b->batch, logits.view().Rows(0, b->batch.size));
  std::map<std::string, double> load, cell_sum;
  for (const auto& [name, value] : model->Stats()) {
    if (name.rfind("expert_load/", 0) != 0) continue;
    load[name] = value;
    cell_sum[name.substr(0, name.rfind('.'))] += value;
  }
  size_t cells = 0;
  const std::vector<int64_t>& begin = b->batch.domain_begin;
  for (size_t d = 0; d + 1 < begin.size(); ++d) {
    for (int t = 0; t < model->shape().num_tasks; ++t) {
      const std::string cell = "expert_load/" + std::to_string(d) + "/" + std::to_string(t);
      if (begin[d + 1] == begin[d]) {
        EXPECT_EQ(cell_sum.count(cell), 0u) << cell << ": a domain without rows";
        continue;
      }
      ++cells;
      EXPECT_NEAR(cell_sum[cell], 1.0, 1e-5) << cell;
      for (int e = 0; e < experts; ++e) {
        EXPECT_EQ(load.count(cell + "." + std::to_string(e)), 1u) << cell << "." << e;
      }
    }
  }
  EXPECT_EQ(load.size(), cells * experts);
  return load;
}

// Whether tasks 0 and 1 give domain d's rows different loads (of ExpectDomainTaskLoads' map).
inline bool TaskLoadsDiffer(const std::map<std::string, double>& load, int domain, int experts) {
  const std::string cell = "expert_load/" + std::to_string(domain) + "/";
  for (int e = 0; e < experts; ++e) {
    const std::string suffix = "." + std::to_string(e);
    if (load.at(cell + "0" + suffix) != load.at(cell + "1" + suffix)) return true;
  }
  return false;
}

// Runs the model's Forward in evaluation on b and checks every logit (row i, task t) against
// reference(i, t), within tolerance * max(1, |reference|).
inline void ExpectMatchesReference(Model* model, RandomBatch* b,
                                   const std::function<double(int64_t, int)>& reference,
                                   double tolerance = 1e-4) {
  const int tasks = model->shape().num_tasks;
  b->batch.training = false;
  Tensor logits({std::max<int64_t>(b->batch.size, 1), tasks});
  model->Forward(b->batch, logits.view().Rows(0, b->batch.size));
  for (int64_t i = 0; i < b->batch.size; ++i) {
    for (int t = 0; t < tasks; ++t) {
      const double ref = reference(i, t);
      EXPECT_NEAR(logits.at(i, t), ref, tolerance * std::max(1.0, std::fabs(ref)))
          << "row " << i << " task " << t;
    }
  }
}

// Runs the model's Forward + Backward with dlogits = r and checks every parameter gradient
// and dfeatures against finite differences of L = sum(r * logits) + AuxLoss() (the model's
// own loss terms, whose gradients Backward adds).
inline void ExpectModelGradients(Model* model, RandomBatch* b,
                                 const std::vector<std::string>& expect_zero = {}) {
  const ModelShape& shape = model->shape();
  Tensor logits({b->batch.size, shape.num_tasks});
  Tensor dfeatures({b->batch.size, shape.num_features});
  dfeatures.Fill(7.0f);  // must be overwritten
  auto loss = [&] {
    model->Forward(b->batch, logits.view());
    return Dot(logits.view(), b->r) + model->AuxLoss();
  };
  model->params()->ZeroGrad();
  loss();
  model->Backward(b->batch, b->r.view(), dfeatures.view());
  ExpectParameterGradients(model->params(), loss, 17, expect_zero);
  ExpectGradientMatches(b->features.data(), dfeatures.data(), b->features.size(), loss, "dfeatures",
                        18, GradCheckOptions{48});
}

// Double-precision references of the zoo's layers, one sample at a time, read from the
// parameters by name (the layouts of experts/layers/mlp.h, gate.h, towers.h). ReLU activation,
// no LayerNorm, no dropout.
using Vec = std::vector<double>;

inline double ReluRef(double v) { return v > 0.0 ? v : 0.0; }

// Copy g of the Mlp bank "<name>" of `copies` copies with layer widths `dims`, on x.
inline Vec MlpRef(const ParameterSet& p, const std::string& name, int g, int copies,
                  const std::vector<int>& dims, Vec x, bool relu = true) {
  for (size_t l = 0; l < dims.size(); ++l) {
    const std::string layer = name + "." + std::to_string(l);
    const Tensor& w = p.Find(layer + ".w")->value;
    const Tensor& b = p.Find(layer + ".b")->value;
    const int64_t in = static_cast<int64_t>(x.size()), out = dims[l];
    Vec y(out);
    for (int64_t k = 0; k < out; ++k) {
      double v = b[g * out + k];
      for (int64_t j = 0; j < in; ++j) {
        v += x[j] * (l == 0 ? w[j * copies * out + g * out + k] : w[(g * in + j) * out + k]);
      }
      y[k] = relu ? ReluRef(v) : v;
    }
    x = std::move(y);
  }
  return x;
}

// Softmax weights of the gate "<name>.w" for head block `block` of `blocks` side by side over
// `experts`; `group` picks the (D, I, blocks*E) slab of a per-domain gate (-1: (I, blocks*E)).
inline Vec GateRef(const ParameterSet& p, const std::string& name, int group, int block, int blocks,
                   int experts, const Vec& x) {
  const Tensor& w = p.Find(name + ".w")->value;
  const int64_t in = static_cast<int64_t>(x.size()), width = int64_t{blocks} * experts;
  const float* slab = w.data() + (group < 0 ? 0 : group * in * width);
  Vec g(experts);
  double sum = 0.0, max = -1e300;
  for (int e = 0; e < experts; ++e) {
    double l = 0.0;
    for (int64_t j = 0; j < in; ++j) l += x[j] * slab[j * width + block * experts + e];
    g[e] = l;
    max = std::max(max, l);
  }
  for (double& v : g) sum += (v = std::exp(v - max));
  for (double& v : g) v /= sum;
  return g;
}

// Output `col` of the tower "<name>" (hidden widths `dims`, then its out Linear) on z.
inline double TowerRef(const ParameterSet& p, const std::string& name, const std::vector<int>& dims,
                       const Vec& z, int col) {
  const Vec hidden = MlpRef(p, name + ".hidden", 0, 1, dims, z);
  const Tensor& ow = p.Find(name + ".out.w")->value;
  const Tensor& ob = p.Find(name + ".out.b")->value;
  const int64_t outs = ob.size();
  double y = ob[col];
  for (size_t k = 0; k < hidden.size(); ++k) y += hidden[k] * ow[k * outs + col];
  return y;
}

// The model input of row i: its features, then its domain's embedding row (when the model
// has "domain_embedding.table").
inline Vec InputRef(const ParameterSet& p, const Tensor& features, int64_t i, int domain) {
  Vec e;
  for (int64_t j = 0; j < features.cols(); ++j) e.push_back(features.at(i, j));
  if (const Parameter* t = p.Find("domain_embedding.table")) {
    for (int64_t j = 0; j < t->value.cols(); ++j) e.push_back(t->value.at(domain, j));
  }
  return e;
}

}  // namespace moerec::testing

#endif  // MOEREC_EXPERTS_TEST_UTIL_H_
