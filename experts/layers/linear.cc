#include "experts/layers/linear.h"

#include "core/linear.h"
#include "experts/layers/init.h"

namespace moerec {

Linear::Linear(ParameterSet* params, const std::string& name, int64_t in, int64_t out,
               uint64_t seed, bool bias)
    : in_(in), out_(out) {
  CHECK_GE(in, 1);
  CHECK_GE(out, 1);
  const float bound = LinearInitBound(in);
  w_ = params->Add(name + ".w", {in, out});
  FillUniform(ParamSeed(seed, w_->name), bound, &w_->value);
  if (bias) {
    b_ = params->Add(name + ".b", {out});
    FillUniform(ParamSeed(seed, b_->name), bound, &b_->value);
  }
}

ConstMatView Linear::WeightCols(int64_t col, int64_t n) const {
  CHECK(col >= 0 && col + n <= out_)
      << "columns [" << col << ", " << col + n << ") outside a Linear of width " << out_;
  return ConstMatView(w_->value.data() + col, in_, n, out_, w_->value.gpu());
}

void Linear::Forward(ConstMatView x, MatView y, int64_t col) const {
  CHECK_EQ(x.cols, in_);
  CHECK_EQ(x.rows, y.rows);
  if (y.rows == 0) return;
  LinearForward(x, WeightCols(col, y.cols), b_ == nullptr ? nullptr : b_->value.data() + col, y);
}

void Linear::Backward(ConstMatView x, ConstMatView dy, MatView dx, float dx_beta,
                      int64_t col) const {
  CHECK_EQ(x.cols, in_);
  CHECK_EQ(x.rows, dy.rows);
  if (dy.rows == 0) return;
  LinearBackward(x, WeightCols(col, dy.cols), dy, w_->grad.view().Cols(col, dy.cols),
                 b_ == nullptr ? nullptr : b_->grad.data() + col, dx, dx_beta);
}

}  // namespace moerec
