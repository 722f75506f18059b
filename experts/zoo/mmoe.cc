#include "experts/zoo/mmoe.h"

#include <algorithm>
#include <cmath>

#include "core/gated_mix.h"
#include "core/random.h"
#include "experts/zoo/validate.h"

namespace moerec {

// Bounded so that a typo does not allocate a model of millions of experts.
constexpr int kMaxExperts = 4096;

Status MmoeModel::Validate(const ModelConfig& config, const ModelShape& shape) {
  const MmoeConfig& c = config.mmoe();
  RETURN_IF_ERROR(ValidateRange(c.num_experts(), 1, kMaxExperts, "model.mmoe.num_experts"));
  RETURN_IF_ERROR(ValidateMlpConfig(c.expert(), "model.mmoe.expert", false));
  RETURN_IF_ERROR(ValidateMlpConfig(c.tower(), "model.mmoe.tower", true));
  RETURN_IF_ERROR(ValidateHeadIndex(c.gate_index(), "model.mmoe.gate_index"));
  RETURN_IF_ERROR(ValidateHeadIndex(c.tower_index(), "model.mmoe.tower_index"));
  return Status::OK();
}

MmoeModel::MmoeModel(const ModelConfig& config, const ModelShape& shape, uint64_t seed)
    : Model(shape), num_experts_(config.mmoe().num_experts()) {
  const MmoeConfig& c = config.mmoe();
  input_ = DomainInput(shape.num_features, shape.num_domains, config.domain_embedding_dim(),
                       "domain_embedding", &params_, seed);
  experts_ = Mlp(c.expert(), input_.output_dim(), num_experts_, "experts", &params_, seed);
  gates_ = SoftmaxGates(c.gate_index(), shape.num_domains, shape.num_tasks, input_.output_dim(),
                        num_experts_, "gates", &params_, seed);
  towers_ = Towers(c.tower(), c.tower_index(), shape.num_domains, shape.num_tasks,
                   experts_.output_dim(), gates_.streams(), "towers", &params_, seed);
}

void MmoeModel::Forward(const ModelBatch& batch, MatView logits) {
  CheckModelBatch(batch, shape_, logits.rows, logits.cols);
  probs_ = ConstMatView();
  if (batch.size == 0) return;
  x_ = input_.Forward(batch.features, batch.domain_begin);
  f_ = experts_.Forward(x_, batch.training, HashCombine(batch.seed, 1), &expert_cache_);
  probs_ = gates_.Forward(x_, batch.domain_begin, &gate_cache_);
  domain_begin_ = batch.domain_begin;
  mix_.Resize({batch.size, gates_.streams() * experts_.output_dim()});
  GatedMixForward(f_, probs_, num_experts_, mix_.view());
  towers_.Forward(mix_.view(), batch.domain_begin, batch.training, HashCombine(batch.seed, 2),
                  logits);
}

void MmoeModel::Backward(const ModelBatch& batch, ConstMatView dlogits, MatView dfeatures) {
  CheckModelBatch(batch, shape_, dlogits.rows, dlogits.cols);
  if (batch.size == 0) return;
  dmix_.ResizeLike(mix_);
  towers_.Backward(mix_.view(), batch.domain_begin, dlogits, dmix_.view());
  dexperts_.Resize({batch.size, f_.cols});
  dprobs_.Resize({batch.size, probs_.cols});
  GatedMixBackward(f_, probs_, dmix_.view(), num_experts_, dexperts_.view(), dprobs_.view());
  const MatView dx = input_.GradBuffer(batch.size, dfeatures);
  gates_.Backward(x_, batch.domain_begin, dprobs_.view(), dx, 0.0f, &gate_cache_);
  experts_.Backward(x_, dexperts_.view(), dx, 1.0f, &expert_cache_);
  input_.Backward(batch.domain_begin, dfeatures);
}

std::vector<std::pair<std::string, double>> MmoeModel::Stats() const {
  std::vector<std::pair<std::string, double>> out = ExpertLoadStats({probs_}, num_experts_);
  if (probs_.rows == 0) return out;
  // Task t reads stream t (gates per task), or the one stream (gates BY_DOMAIN).
  std::vector<ConstMatView> streams;
  for (int s = 0; s < gates_.streams(); ++s) {
    streams.push_back(probs_.Cols(static_cast<int64_t>(s) * num_experts_, num_experts_));
  }
  for (auto& load : DomainTaskLoadStats(streams, domain_begin_, shape_.num_tasks)) {
    out.push_back(std::move(load));
  }
  return out;
}

}  // namespace moerec
