#include "experts/layers/gate.h"

#include <algorithm>
#include <cmath>

#include "core/linear.h"
#include "core/softmax.h"
#include "experts/layers/heads.h"
#include "experts/layers/init.h"

namespace moerec {
namespace {

// Softmax over every E-wide block of a (B, S*E) matrix: a contiguous one is (B*S, E).
ConstMatView AsRowsOfE(ConstMatView m, int e) {
  CHECK_EQ(m.ld, m.cols) << "gate buffers are contiguous";
  return ConstMatView(m.data, m.rows * (m.cols / e), e, e, m.gpu);
}
MatView AsRowsOfE(MatView m, int e) {
  CHECK_EQ(m.ld, m.cols) << "gate buffers are contiguous";
  return MatView{m.data, m.rows * (m.cols / e), e, e, m.gpu};
}

}  // namespace

SoftmaxGates::SoftmaxGates(HeadIndex index, int num_domains, int num_tasks, int64_t input_dim,
                           int num_experts, const std::string& name, ParameterSet* params,
                           uint64_t seed)
    : index_(index),
      num_domains_(num_domains),
      num_experts_(num_experts),
      streams_(index == BY_DOMAIN ? 1 : num_tasks),
      input_dim_(input_dim) {
  CHECK_GE(num_domains, 1);
  CHECK_GE(num_tasks, 1);
  CHECK_GE(input_dim, 1);
  CHECK_GE(num_experts, 1);
  const int64_t width = static_cast<int64_t>(streams_) * num_experts;
  if (index == BY_TASK) {
    w_ = params->Add(name + ".w", {input_dim, width});
  } else {
    w_ = params->Add(name + ".w", {num_domains, input_dim, width});
  }
  FillUniform(ParamSeed(seed, w_->name), LinearInitBound(input_dim), &w_->value);
}

MatView SoftmaxGates::Weight(int d, bool grad) const {
  const int64_t width = static_cast<int64_t>(streams_) * num_experts_;
  Tensor& t = grad ? w_->grad : w_->value;
  const int64_t group = index_ == BY_TASK ? 0 : d;
  return MatView{t.data() + group * input_dim_ * width, input_dim_, width, width, t.gpu()};
}

ConstMatView SoftmaxGates::Forward(ConstMatView x, const std::vector<int64_t>& domain_begin,
                                   GateCache* cache) const {
  CHECK_EQ(x.cols, input_dim_);
  const int64_t width = static_cast<int64_t>(streams_) * num_experts_;
  const int64_t rows = x.rows;
  if (rows == 0) return ConstMatView(nullptr, 0, width, width);
  cache->probs.Resize({rows, width});
  MatView probs = cache->probs.view();
  for (int d = 0; d < NumGroups(); ++d) {
    const RowRange r = DomainRows(domain_begin, index_ == BY_TASK ? -1 : d);
    if (r.size() == 0) continue;
    Gemm(false, false, 1.0f, x.Rows(r.begin, r.size()), Weight(d, false), 0.0f,
         probs.Rows(r.begin, r.size()));
  }
  SoftmaxForward(AsRowsOfE(probs, num_experts_), AsRowsOfE(probs, num_experts_));
  return probs;
}

void SoftmaxGates::Backward(ConstMatView x, const std::vector<int64_t>& domain_begin,
                            ConstMatView dprobs, MatView dx, float dx_beta,
                            GateCache* cache) const {
  const int64_t width = static_cast<int64_t>(streams_) * num_experts_;
  const int64_t rows = x.rows;
  CHECK_EQ(dprobs.rows, rows);
  CHECK_EQ(dprobs.cols, width);
  if (rows == 0) return;
  cache->dlogits.Resize({rows, width});
  MatView dlogits = cache->dlogits.view();
  if (dprobs.ld == dprobs.cols) {
    SoftmaxBackward(AsRowsOfE(cache->probs.view(), num_experts_), AsRowsOfE(dprobs, num_experts_),
                    AsRowsOfE(dlogits, num_experts_));
  } else {
    for (int s = 0; s < streams_; ++s) {
      const int64_t c = static_cast<int64_t>(s) * num_experts_;
      SoftmaxBackward(cache->probs.view().Cols(c, num_experts_), dprobs.Cols(c, num_experts_),
                      dlogits.Cols(c, num_experts_));
    }
  }
  for (int d = 0; d < NumGroups(); ++d) {
    const RowRange r = DomainRows(domain_begin, index_ == BY_TASK ? -1 : d);
    if (r.size() == 0) continue;
    const ConstMatView xr = x.Rows(r.begin, r.size());
    const ConstMatView dl = dlogits.Rows(r.begin, r.size());
    Gemm(true, false, 1.0f, xr, dl, 1.0f, Weight(d, true));
    if (dx.data != nullptr) {
      Gemm(false, true, 1.0f, dl, Weight(d, false), dx_beta, dx.Rows(r.begin, r.size()));
    }
  }
}

std::vector<std::pair<std::string, double>> ExpertLoadStats(const std::vector<ConstMatView>& probs,
                                                            int num_experts) {
  std::vector<std::pair<std::string, double>> out;
  std::vector<double> load(num_experts, 0.0);
  int64_t routings = 0;
  for (const ConstMatView& on_device : probs) {
    if (on_device.rows == 0) continue;
    Tensor host;  // gate probabilities of a GPU worker come to the host for the statistics
    const ConstMatView p =
        on_device.gpu == nullptr ? on_device : (host = Tensor::FromView(on_device, nullptr)).view();
    CHECK_EQ(p.cols % num_experts, 0);
    for (int64_t r = 0; r < p.rows; ++r) {
      const float* row = p.row(r);
      for (int64_t c = 0; c < p.cols; ++c) load[c % num_experts] += row[c];
    }
    routings += p.rows * (p.cols / num_experts);
  }
  if (routings == 0) return out;
  double mean = 0.0, max = 0.0;
  for (double& l : load) {
    l /= static_cast<double>(routings);
    mean += l;
    max = std::max(max, l);
  }
  mean /= num_experts;
  double var = 0.0;
  for (const double l : load) var += (l - mean) * (l - mean);
  var /= num_experts;
  for (int e = 0; e < num_experts; ++e)
    out.emplace_back("expert_load." + std::to_string(e), load[e]);
  out.emplace_back("expert_load_cv", mean > 0.0 ? std::sqrt(var) / mean : 0.0);
  out.emplace_back("expert_load_max_mean", mean > 0.0 ? max / mean : 0.0);
  return out;
}

std::vector<std::pair<std::string, double>> DomainTaskLoadStats(
    const std::vector<ConstMatView>& task_probs, const std::vector<int64_t>& domain_begin,
    int num_tasks) {
  std::vector<std::pair<std::string, double>> out;
  if (task_probs.empty() || domain_begin.size() < 2) return out;
  CHECK(task_probs.size() == 1 || static_cast<int>(task_probs.size()) == num_tasks);
  std::vector<Tensor> host(task_probs.size());  // a GPU worker's weights, on the host
  std::vector<ConstMatView> probs;
  for (size_t t = 0; t < task_probs.size(); ++t) {
    const ConstMatView& p = task_probs[t];
    probs.push_back(p.gpu == nullptr ? p : (host[t] = Tensor::FromView(p, nullptr)).view());
    if (probs.back().rows < domain_begin.back()) return out;  // no forward of this batch yet
  }
  for (size_t d = 0; d + 1 < domain_begin.size(); ++d) {
    const int64_t begin = domain_begin[d], end = domain_begin[d + 1];
    if (end <= begin) continue;
    for (int t = 0; t < num_tasks; ++t) {
      const ConstMatView& p = probs[probs.size() == 1 ? 0 : t];
      for (int64_t e = 0; e < p.cols; ++e) {
        double sum = 0;
        for (int64_t r = begin; r < end; ++r) sum += p.row(r)[e];
        out.emplace_back(
            "expert_load/" + std::to_string(d) + "/" + std::to_string(t) + "." + std::to_string(e),
            sum / static_cast<double>(end - begin));
      }
    }
  }
  return out;
}

}  // namespace moerec
