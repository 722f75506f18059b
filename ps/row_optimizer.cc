#include "ps/row_optimizer.h"

#include <glog/logging.h>

#include <cmath>

namespace moerec {
namespace {

class SgdRowOptimizer : public RowOptimizer {
 public:
  explicit SgdRowOptimizer(const RowOptimizerConfig& c) : lr_(c.learning_rate()) {}
  int StateFloats(int dim) const override { return 0; }
  void InitState(int dim, float* state) const override {}
  void Update(int dim, const float* g, int64_t t, float* w, float* state) const override {
    for (int j = 0; j < dim; ++j) w[j] -= lr_ * g[j];
  }

 private:
  const float lr_;
};

class AdagradRowOptimizer : public RowOptimizer {
 public:
  explicit AdagradRowOptimizer(const RowOptimizerConfig& c)
      : lr_(c.learning_rate()), eps_(c.epsilon()), init_(c.initial_accumulator()) {}
  int StateFloats(int dim) const override { return dim; }
  void InitState(int dim, float* state) const override {
    for (int j = 0; j < dim; ++j) state[j] = init_;
  }
  void Update(int dim, const float* g, int64_t t, float* w, float* acc) const override {
    for (int j = 0; j < dim; ++j) {
      acc[j] += g[j] * g[j];
      w[j] -= lr_ * g[j] / (std::sqrt(acc[j]) + eps_);
    }
  }

 private:
  const float lr_, eps_, init_;
};

class AdamRowOptimizer : public RowOptimizer {
 public:
  explicit AdamRowOptimizer(const RowOptimizerConfig& c)
      : lr_(c.learning_rate()), b1_(c.beta1()), b2_(c.beta2()), eps_(c.epsilon()) {}
  // [m (dim) | v (dim)]
  int StateFloats(int dim) const override { return 2 * dim; }
  void InitState(int dim, float* state) const override {
    for (int j = 0; j < 2 * dim; ++j) state[j] = 0.0f;
  }
  void Update(int dim, const float* g, int64_t t, float* w, float* state) const override {
    float* m = state;
    float* v = state + dim;
    const double c1 = 1.0 - std::pow(static_cast<double>(b1_), static_cast<double>(t));
    const double c2 = 1.0 - std::pow(static_cast<double>(b2_), static_cast<double>(t));
    const float step = static_cast<float>(lr_ / c1);
    const float rc2 = static_cast<float>(1.0 / std::sqrt(c2));
    for (int j = 0; j < dim; ++j) {
      m[j] = b1_ * m[j] + (1.0f - b1_) * g[j];
      v[j] = b2_ * v[j] + (1.0f - b2_) * g[j] * g[j];
      w[j] -= step * m[j] / (std::sqrt(v[j]) * rc2 + eps_);
    }
  }

 private:
  const float lr_, b1_, b2_, eps_;
};

class FtrlRowOptimizer : public RowOptimizer {
 public:
  explicit FtrlRowOptimizer(const RowOptimizerConfig& c)
      : lr_(c.learning_rate()), l1_(c.l1()), l2_(c.l2()), beta_(c.beta()) {}
  // [z (dim) | n (dim)]
  int StateFloats(int dim) const override { return 2 * dim; }
  void InitState(int dim, float* state) const override {
    for (int j = 0; j < 2 * dim; ++j) state[j] = 0.0f;
  }
  void Update(int dim, const float* g, int64_t t, float* w, float* state) const override {
    float* z = state;
    float* n = state + dim;
    for (int j = 0; j < dim; ++j) {
      const float n_new = n[j] + g[j] * g[j];
      const float sigma = (std::sqrt(n_new) - std::sqrt(n[j])) / lr_;
      z[j] += g[j] - sigma * w[j];
      n[j] = n_new;
      if (std::fabs(z[j]) <= l1_) {
        w[j] = 0.0f;
      } else {
        const float sign = z[j] > 0 ? 1.0f : -1.0f;
        w[j] = -(z[j] - sign * l1_) / ((beta_ + std::sqrt(n[j])) / lr_ + l2_);
      }
    }
  }

 private:
  const float lr_, l1_, l2_, beta_;
};

}  // namespace

std::unique_ptr<RowOptimizer> RowOptimizer::Create(const RowOptimizerConfig& config) {
  switch (config.type()) {
    case RowOptimizerConfig::SGD:
      return std::make_unique<SgdRowOptimizer>(config);
    case RowOptimizerConfig::ADAGRAD:
      return std::make_unique<AdagradRowOptimizer>(config);
    case RowOptimizerConfig::ADAM:
      return std::make_unique<AdamRowOptimizer>(config);
    case RowOptimizerConfig::FTRL:
      return std::make_unique<FtrlRowOptimizer>(config);
  }
  LOG(FATAL) << "unknown row optimizer type " << config.type();
}

}  // namespace moerec
