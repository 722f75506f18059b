#include "experts/layers/matching_tower.h"

#include <glog/logging.h>

#include "core/activation.h"
#include "core/linear.h"
#include "experts/layers/heads.h"

namespace moerec {

MatchingTower::MatchingTower(const TowerConfig& config, int64_t input_dim, int64_t scenario_dim,
                             int num_domains, const std::string& name, ParameterSet* params,
                             uint64_t seed, Communicator* workers)
    : input_dim_(input_dim), activation_(config.mlp().activation()) {
  if (config.has_sap_mmoe()) {
    kind_ = Kind::kSapMmoe;
    mmoe_ = SapMmoe(config.sap_mmoe(), input_dim, scenario_dim, scenario_dim, num_domains,
                    name + ".mmoe", params, seed, workers);
    output_dim_ = mmoe_.output_dim();
    return;
  }
  const MlpConfig& mlp = config.mlp();
  CHECK_GE(mlp.dims_size(), 1);
  output_dim_ = mlp.dims(mlp.dims_size() - 1);
  if (config.has_sap()) {
    kind_ = Kind::kSap;
    saps_.resize(mlp.dims_size());
    int64_t in = input_dim;
    for (int l = 0; l < mlp.dims_size(); ++l) {
      const std::string n = name + "." + std::to_string(l);
      saps_[l].sap = SapLayer(config.sap(), in, mlp.dims(l), scenario_dim, n, params,
                              seed + 1000003 * (l + 1));
      if (l + 1 < mlp.dims_size() && activation_ == ACT_PRELU) {
        saps_[l].alpha = params->AddConstant(n + ".prelu_alpha", {mlp.dims(l)}, 0.25f);
      }
      in = mlp.dims(l);
    }
    return;
  }
  MlpConfig hidden = mlp;
  hidden.clear_dims();
  for (int l = 0; l + 1 < mlp.dims_size(); ++l) hidden.add_dims(mlp.dims(l));
  hidden_ = Mlp(hidden, input_dim, 1, name + ".hidden", params, seed);
  out_ = Linear(params, name + ".out", hidden_.output_dim(), output_dim_, seed + 7919);
}

ConstMatView MatchingTower::Forward(ConstMatView x, ConstMatView e,
                                    const std::vector<int64_t>& domain_begin, bool training,
                                    uint64_t seed) {
  const int64_t rows = x.rows;
  switch (kind_) {
    case Kind::kSapMmoe:
      return mmoe_.Forward(x, e, e, domain_begin, training, &mmoe_cache_);
    case Kind::kSap: {
      ConstMatView in = x;
      for (size_t l = 0; l < saps_.size(); ++l) {
        SapStep& s = saps_[l];
        ConstMatView pre = s.sap.Forward(in, e, &s.cache);
        if (l + 1 == saps_.size() || activation_ == ACT_NONE) {
          in = pre;
          continue;
        }
        const MatView act = RowBuffer(&s.act, rows, pre.cols);
        if (activation_ == ACT_PRELU) {
          PreluForward(pre, s.alpha->value.data(), act);
        } else {
          ReluForward(pre, act);
        }
        in = act;
      }
      return in;
    }
    case Kind::kMlp:
      break;
  }
  h_ = hidden_.Forward(x, training, seed, &hidden_cache_);
  const MatView y = RowBuffer(&y_, rows, output_dim_);
  out_.Forward(h_, y);
  return y;
}

void MatchingTower::Backward(ConstMatView x, ConstMatView e,
                             const std::vector<int64_t>& domain_begin, ConstMatView dy, MatView dx,
                             MatView de) {
  const int64_t rows = x.rows;
  switch (kind_) {
    case Kind::kSapMmoe: {
      MatView dg{nullptr, 0, 0, 0};
      if (de.data != nullptr) {
        dg = RowBuffer(&de_, rows, de.cols);
      }
      mmoe_.Backward(x, e, e, domain_begin, dy, dx, dg, dg, &mmoe_cache_);
      if (de.data != nullptr) AddMat(dg, de);
      return;
    }
    case Kind::kSap: {
      const bool hidden_act = activation_ != ACT_NONE;
      for (size_t i = saps_.size(); i-- > 0;) {
        SapStep& s = saps_[i];
        ConstMatView dout = i + 1 == saps_.size() ? dy : ConstMatView(s.dout.view().Rows(0, rows));
        ConstMatView dpre = dout;
        if (i + 1 < saps_.size() && hidden_act) {
          const MatView dact = RowBuffer(&s.dact, rows, s.sap.output_dim());
          if (activation_ == ACT_PRELU) {
            PreluBackward(s.cache.y.view().Rows(0, rows), s.alpha->value.data(), dout, dact,
                          s.alpha->grad.data());
          } else {
            ReluBackward(s.act.view().Rows(0, rows), dout, dact);
          }
          dpre = dact;
        }
        ConstMatView in = x;
        MatView din = dx;
        if (i > 0) {
          SapStep& p = saps_[i - 1];
          in = (hidden_act ? ConstMatView(p.act.view()) : ConstMatView(p.cache.y.view()))
                   .Rows(0, rows);
          din = RowBuffer(&p.dout, rows, p.sap.output_dim());
        }
        s.sap.Backward(in, e, dpre, din, 0.0f, de, 1.0f, &s.cache);
      }
      return;
    }
    case Kind::kMlp:
      break;
  }
  const MatView dh = RowBuffer(&dh_, rows, hidden_.output_dim());
  out_.Backward(h_, dy, dh);
  hidden_.Backward(x, dh, dx, 0.0f, &hidden_cache_);
}

}  // namespace moerec
