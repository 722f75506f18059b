#include "experts/layers/sap.h"

#include <vector>

#include "core/linear.h"
#include "core/product.h"
#include "experts/layers/heads.h"
#include "experts/layers/init.h"

namespace moerec {
namespace {

// A Linear-initialised parameter: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
Parameter* AddLinearParam(ParameterSet* params, const std::string& name,
                          const std::vector<int64_t>& shape, int64_t fan_in, uint64_t seed) {
  Parameter* p = params->Add(name, shape);
  FillUniform(ParamSeed(seed, name), LinearInitBound(fan_in), &p->value);
  return p;
}

}  // namespace

SapLayer::SapLayer(const SapConfig& config, int64_t input_dim, int64_t output_dim,
                   int64_t scenario_dim, const std::string& name, ParameterSet* params,
                   uint64_t seed)
    : input_dim_(input_dim),
      output_dim_(output_dim),
      scenario_dim_(scenario_dim),
      rank_(config.rank()) {
  CHECK_GE(input_dim, 1);
  CHECK_GE(output_dim, 1);
  CHECK_GE(scenario_dim, 1);
  CHECK_GE(rank_, 1);
  w_ = AddLinearParam(params, name + ".w", {input_dim, output_dim}, input_dim, seed);
  b_ = AddLinearParam(params, name + ".b", {output_dim}, input_dim, seed);
  bproj_ = AddLinearParam(params, name + ".bproj", {input_dim, rank_}, input_dim, seed);
  a_ = params->Add(name + ".a", {rank_, output_dim});
  gen_w_ = AddLinearParam(params, name + ".gen.w", {scenario_dim, rank_}, scenario_dim, seed);
  gen_b_ = AddLinearParam(params, name + ".gen.b", {rank_}, scenario_dim, seed);
}

ConstMatView SapLayer::Forward(ConstMatView x, ConstMatView e, SapCache* cache) const {
  CHECK_EQ(x.cols, input_dim_);
  CHECK_EQ(e.cols, scenario_dim_);
  CHECK_EQ(e.rows, x.rows);
  const int64_t rows = x.rows;
  const MatView t = RowBuffer(&cache->t, rows, rank_);
  const MatView s = RowBuffer(&cache->s, rows, rank_);
  const MatView u = RowBuffer(&cache->u, rows, rank_);
  const MatView y = RowBuffer(&cache->y, rows, output_dim_);
  Gemm(false, false, 1.0f, x, bproj_->value.view(), 0.0f, t);
  LinearForward(e, gen_w_->value.view(), gen_b_->value.data(), s);
  ProductForward(t.data, s.data, rows * rank_, u.data);
  LinearForward(x, w_->value.view(), b_->value.data(), y);
  Gemm(false, false, 1.0f, u, a_->value.view(), 1.0f, y);
  return y;
}

void SapLayer::Backward(ConstMatView x, ConstMatView e, ConstMatView dy, MatView dx, float dx_beta,
                        MatView de, float de_beta, SapCache* cache) const {
  CHECK_EQ(dy.rows, x.rows);
  CHECK_EQ(dy.cols, output_dim_);
  const int64_t rows = x.rows;
  const ConstMatView t = cache->t.view().Rows(0, rows);
  const ConstMatView s = cache->s.view().Rows(0, rows);
  const ConstMatView u = cache->u.view().Rows(0, rows);
  const MatView du = RowBuffer(&cache->du, rows, rank_);
  const MatView dt = RowBuffer(&cache->dt, rows, rank_);
  const MatView ds = RowBuffer(&cache->ds, rows, rank_);
  // y = x W + b + u A.
  LinearBackward(x, w_->value.view(), dy, w_->grad.view(), b_->grad.data(), dx, dx_beta);
  Gemm(true, false, 1.0f, u, dy, 1.0f, a_->grad.view());
  Gemm(false, true, 1.0f, dy, a_->value.view(), 0.0f, du);
  // u = t ⊙ s; ProductBackward accumulates, the buffers start at 0.
  cache->dt.Fill(0.0f);
  cache->ds.Fill(0.0f);
  ProductBackward(t.data, s.data, du.data, rows * rank_, dt.data, ds.data);
  // t = x B: its input gradient adds to the one of x W.
  LinearBackward(x, bproj_->value.view(), dt, bproj_->grad.view(), nullptr, dx, 1.0f);
  LinearBackward(e, gen_w_->value.view(), ds, gen_w_->grad.view(), gen_b_->grad.data(), de,
                 de_beta);
}

}  // namespace moerec
