#include "experts/layers/domain_input.h"

#include "core/linear.h"
#include "experts/layers/init.h"

namespace moerec {

DomainInput::DomainInput(int64_t num_features, int num_domains, int dim, const std::string& name,
                         ParameterSet* params, uint64_t seed)
    : num_features_(num_features), num_domains_(num_domains), dim_(dim) {
  CHECK_GE(num_features, 1);
  CHECK_GE(num_domains, 1);
  CHECK_GE(dim, 0);
  if (dim > 0) {
    table_ = params->Add(name + ".table", {num_domains, dim});
    FillNormal(ParamSeed(seed, table_->name), 0.05f, &table_->value);
  }
}

ConstMatView DomainInput::Forward(ConstMatView features, const std::vector<int64_t>& domain_begin) {
  CHECK_EQ(features.cols, num_features_);
  if (dim_ == 0) return features;
  const int64_t rows = features.rows;
  const int64_t width = output_dim();
  if (rows == 0) return ConstMatView(nullptr, 0, width, width);
  out_.Resize({rows, width});
  MatView out = out_.view();
  CopyMat(features, out.Cols(0, num_features_));
  for (int d = 0; d < num_domains_; ++d) {
    const int64_t begin = domain_begin[d], n = domain_begin[d + 1] - begin;
    BroadcastRows(table_->value.data() + static_cast<int64_t>(d) * dim_,
                  out.Rows(begin, n).Cols(num_features_, dim_));
  }
  return out;
}

MatView DomainInput::GradBuffer(int64_t rows, MatView dfeatures) {
  if (dim_ == 0) return dfeatures;
  const int64_t width = output_dim();
  if (rows == 0) return MatView{nullptr, 0, width, width};
  grad_.Resize({rows, width});
  return grad_.view();
}

void DomainInput::Backward(const std::vector<int64_t>& domain_begin, MatView dfeatures) {
  if (dim_ == 0) return;
  const int64_t rows = domain_begin.back();
  if (rows == 0) return;
  const ConstMatView grad = grad_.view();
  if (dfeatures.data != nullptr) CopyMat(grad.Cols(0, num_features_), dfeatures);
  for (int d = 0; d < num_domains_; ++d) {
    const int64_t begin = domain_begin[d], n = domain_begin[d + 1] - begin;
    BiasBackward(grad.Rows(begin, n).Cols(num_features_, dim_),
                 table_->grad.data() + static_cast<int64_t>(d) * dim_);
  }
}

}  // namespace moerec
