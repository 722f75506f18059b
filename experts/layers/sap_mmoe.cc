#include "experts/layers/sap_mmoe.h"

#include "core/activation.h"
#include "core/gated_mix.h"
#include "core/linear.h"
#include "experts/layers/heads.h"

namespace moerec {

SapMmoe::SapMmoe(const SapMmoeConfig& config, int64_t input_dim, int64_t scenario_dim,
                 int64_t gate_dim, int num_domains, const std::string& name, ParameterSet* params,
                 uint64_t seed, Communicator* workers)
    : num_domains_(num_domains) {
  CHECK_GE(config.num_experts(), 1);
  CHECK_GE(config.dims_size(), 1);
  CHECK_GE(config.output_dim(), 1);
  CHECK_GE(num_domains, 1);
  PartitionedNormOptions bn;
  bn.momentum = config.bn_momentum();
  bn.eps = config.bn_eps();
  bn.shared_affine = false;
  bn.workers = workers;
  experts_.resize(config.num_experts());
  for (int k = 0; k < config.num_experts(); ++k) {
    int64_t in = input_dim;
    for (int l = 0; l < config.dims_size(); ++l) {
      CHECK_GE(config.dims(l), 1);
      const std::string n = name + "." + std::to_string(k) + "." + std::to_string(l);
      Layer layer;
      layer.sap = SapLayer(config.sap(), in, config.dims(l), scenario_dim, n, params, seed);
      layer.alpha = params->AddConstant(n + ".prelu_alpha", {config.dims(l)}, 0.25f);
      layer.bn = PartitionedNorm(config.dims(l), num_domains, bn, n + ".bn", params);
      experts_[k].push_back(layer);
      in = config.dims(l);
    }
  }
  gate_ = SoftmaxGates(BY_TASK, num_domains, 1, gate_dim, config.num_experts(), name + ".gate",
                       params, seed);
  out_ = SapLayer(config.sap(), expert_dim(), config.output_dim(), scenario_dim, name + ".out",
                  params, seed);
}

ConstMatView SapMmoe::Forward(ConstMatView x, ConstMatView e, ConstMatView g,
                              const std::vector<int64_t>& domain_begin, bool training,
                              SapMmoeCache* cache) const {
  const int64_t rows = x.rows;
  CheckDomainBegin(domain_begin, num_domains_, rows);
  CHECK_EQ(g.rows, rows);
  cache->domain.resize(rows);
  for (int d = 0; d < num_domains_; ++d) {
    const RowRange r = DomainRows(domain_begin, d);
    for (int64_t i = r.begin; i < r.end; ++i) cache->domain[i] = d;
  }
  const int experts = num_experts();
  const int64_t h = expert_dim();
  const MatView f = RowBuffer(&cache->f, rows, experts * h);
  cache->experts.resize(experts);
  for (int k = 0; k < experts; ++k) {
    cache->experts[k].resize(experts_[k].size());
    ConstMatView in = x;
    for (size_t l = 0; l < experts_[k].size(); ++l) {
      const Layer& layer = experts_[k][l];
      SapMmoeCache::Layer& c = cache->experts[k][l];
      const ConstMatView pre = layer.sap.Forward(in, e, &c.sap);
      const MatView act = RowBuffer(&c.act, rows, pre.cols);
      PreluForward(pre, layer.alpha->value.data(), act);
      in = layer.bn.Forward(act, cache->domain.data(), training, &c.bn);
    }
    CopyMat(in, f.Cols(k * h, h));
  }
  const ConstMatView probs = gate_.Forward(g, domain_begin, &cache->gate);
  const MatView z = RowBuffer(&cache->z, rows, h);
  GatedMixForward(f, probs, experts, z);
  return out_.Forward(z, e, &cache->out);
}

void SapMmoe::Backward(ConstMatView x, ConstMatView e, ConstMatView g,
                       const std::vector<int64_t>& domain_begin, ConstMatView dy, MatView dx,
                       MatView de, MatView dg, SapMmoeCache* cache) const {
  const int64_t rows = x.rows;
  const int experts = num_experts();
  const int64_t h = expert_dim();
  // Every contribution below adds; dg may be de itself.
  for (const MatView& grad : {dx, de, dg}) {
    if (grad.data != nullptr) ScaleMat(0.0f, grad);
  }
  const MatView dz = RowBuffer(&cache->dz, rows, h);
  out_.Backward(cache->z.view().Rows(0, rows), e, dy, dz, 0.0f, de, 1.0f, &cache->out);
  const MatView df = RowBuffer(&cache->df, rows, experts * h);
  const MatView dprobs = RowBuffer(&cache->dprobs, rows, experts);
  const ConstMatView probs(cache->gate.probs.data(), rows, experts, experts);
  GatedMixBackward(cache->f.view().Rows(0, rows), probs, dz, experts, df, dprobs);
  gate_.Backward(g, domain_begin, dprobs, dg, 1.0f, &cache->gate);
  for (int k = 0; k < experts; ++k) {
    std::vector<SapMmoeCache::Layer>& c = cache->experts[k];
    for (int l = static_cast<int>(experts_[k].size()) - 1; l >= 0; --l) {
      const Layer& layer = experts_[k][l];
      const int64_t width = layer.sap.output_dim();
      const ConstMatView dout =
          l + 1 == static_cast<int>(c.size()) ? df.Cols(k * h, h) : c[l].dout.view().Rows(0, rows);
      const ConstMatView act = c[l].act.view().Rows(0, rows);
      const MatView dact = RowBuffer(&c[l].dact, rows, width);
      layer.bn.Backward(act, cache->domain.data(), dout, dact, &c[l].bn);
      const MatView dpre = RowBuffer(&c[l].dpre, rows, width);
      PreluBackward(c[l].sap.y.view().Rows(0, rows), layer.alpha->value.data(), dact, dpre,
                    layer.alpha->grad.data());
      // Layer 0's input gradient adds to dx; a higher layer's is the output gradient below.
      const ConstMatView in = l == 0 ? x : c[l - 1].bn.y.view().Rows(0, rows);
      const MatView din = l == 0 ? dx : RowBuffer(&c[l - 1].dout, rows, in.cols);
      layer.sap.Backward(in, e, dpre, din, l == 0 ? 1.0f : 0.0f, de, 1.0f, &c[l].sap);
    }
  }
}

}  // namespace moerec
