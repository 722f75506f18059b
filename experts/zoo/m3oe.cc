#include "experts/zoo/m3oe.h"

#include <cmath>

#include "core/gated_mix.h"
#include "core/linear.h"
#include "core/random.h"
#include "experts/zoo/validate.h"

namespace moerec {
namespace {

constexpr int kMaxExperts = 4096;

float Sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

}  // namespace

Status M3oeModel::Validate(const ModelConfig& config, const ModelShape& shape) {
  const M3oeConfig& c = config.m3oe();
  RETURN_IF_ERROR(ValidateRange(c.star_dim(), 1, kMaxLayerWidth, "model.m3oe.star_dim"));
  RETURN_IF_ERROR(ValidateMlpConfig(c.representation(), "model.m3oe.representation", false));
  RETURN_IF_ERROR(
      ValidateRange(c.num_shared_experts(), 1, kMaxExperts, "model.m3oe.num_shared_experts"));
  RETURN_IF_ERROR(ValidateMlpConfig(c.expert(), "model.m3oe.expert", false));
  RETURN_IF_ERROR(ValidateMlpConfig(c.tower(), "model.m3oe.tower", true));
  RETURN_IF_ERROR(ValidateHeadIndex(c.tower_index(), "model.m3oe.tower_index"));
  if (!std::isfinite(c.theta_init())) {
    return InvalidArgument("model.m3oe.theta_init must be finite");
  }
  RETURN_IF_ERROR(ValidateRange(shape.num_domains, 1, kMaxExperts,
                                "data.num_domains (M3oE has an expert per domain)"));
  RETURN_IF_ERROR(ValidateRange(shape.num_tasks, 1, kMaxExperts,
                                "data.num_tasks (M3oE has an expert per task)"));
  return Status::OK();
}

M3oeModel::M3oeModel(const ModelConfig& config, const ModelShape& shape, uint64_t seed)
    : Model(shape), num_shared_(config.m3oe().num_shared_experts()) {
  const M3oeConfig& c = config.m3oe();
  input_ = DomainInput(shape.num_features, shape.num_domains, config.domain_embedding_dim(),
                       "domain_embedding", &params_, seed);
  MlpConfig star;
  star.add_dims(c.star_dim());
  star.set_activation(ACT_NONE);
  star_ = StarMlp(star, input_.output_dim(), shape.num_domains, "star", &params_, seed);
  rep_ = Mlp(c.representation(), c.star_dim(), 1, "rep", &params_, seed);
  skip_ = Mlp(c.representation(), input_.output_dim(), 1, "skip", &params_, seed);
  const int64_t r = rep_.output_dim();
  shared_experts_ = Mlp(c.expert(), r, num_shared_, "shared_experts", &params_, seed);
  domain_experts_ = Mlp(c.expert(), r, shape.num_domains, "domain_experts", &params_, seed);
  task_experts_ = Mlp(c.expert(), r, shape.num_tasks, "task_experts", &params_, seed);
  gates_ = SoftmaxGates(BY_DOMAIN_TASK, shape.num_domains, shape.num_tasks, r, num_shared_, "gates",
                        &params_, seed);
  theta_ = params_.AddConstant("arch.theta", {4}, c.theta_init());
  towers_ = Towers(c.tower(), c.tower_index(), shape.num_domains, shape.num_tasks,
                   shared_experts_.output_dim(), shape.num_tasks, "towers", &params_, seed);
}

FusionWeights M3oeModel::Weights() const {
  // The fusion kernels take the four weights as host scalars: theta comes to the host (4 floats).
  const Tensor t = theta_->value.To(nullptr);
  return FusionWeights{Sigmoid(t[0]), Sigmoid(t[1]), Sigmoid(t[2]), Sigmoid(t[3])};
}

void M3oeModel::Forward(const ModelBatch& batch, MatView logits) {
  CheckModelBatch(batch, shape_, logits.rows, logits.cols);
  probs_ = ConstMatView();
  if (batch.size == 0) return;
  const int64_t rows = batch.size;
  const uint64_t seed = HashCombine(batch.seed, 1);
  domain_begin_ = batch.domain_begin;
  x_ = input_.Forward(batch.features, batch.domain_begin);
  u_ = star_.Forward(x_, batch.domain_begin, &star_cache_);
  const ConstMatView rep = rep_.Forward(u_, batch.training, HashCombine(seed, 1), &rep_cache_);
  const ConstMatView skip = skip_.Forward(x_, batch.training, HashCombine(seed, 2), &skip_cache_);
  h_.Resize({rows, rep.cols});
  CopyMat(rep, h_.view());
  AddMat(skip, h_.view());
  shared_f_ =
      shared_experts_.Forward(h_.view(), batch.training, HashCombine(seed, 3), &shared_cache_);
  domain_f_ =
      domain_experts_.Forward(h_.view(), batch.training, HashCombine(seed, 4), &domain_cache_);
  task_f_ = task_experts_.Forward(h_.view(), batch.training, HashCombine(seed, 5), &task_cache_);
  probs_ = gates_.Forward(h_.view(), batch.domain_begin, &gate_cache_);
  const int64_t width = shape_.num_tasks * shared_experts_.output_dim();
  mix_.Resize({rows, width});
  GatedMixForward(shared_f_, probs_, num_shared_, mix_.view());
  z_.Resize({rows, width});
  M3oeFusionForward(mix_.view(), domain_f_, task_f_, batch.domain, shape_.num_domains,
                    shape_.num_tasks, Weights(), z_.view());
  towers_.Forward(z_.view(), batch.domain_begin, batch.training, HashCombine(batch.seed, 2),
                  logits);
}

void M3oeModel::Backward(const ModelBatch& batch, ConstMatView dlogits, MatView dfeatures) {
  CheckModelBatch(batch, shape_, dlogits.rows, dlogits.cols);
  if (batch.size == 0) return;
  const int64_t rows = batch.size;
  dz_.ResizeLike(z_);
  towers_.Backward(z_.view(), batch.domain_begin, dlogits, dz_.view());
  ddomain_.Resize({rows, domain_f_.cols});
  dtask_.Resize({rows, task_f_.cols});
  double dw[4] = {0, 0, 0, 0};
  const FusionWeights w = Weights();
  M3oeFusionBackward(domain_f_, task_f_, batch.domain, shape_.num_domains, shape_.num_tasks, w,
                     dz_.view(), ddomain_.view(), dtask_.view(), dw);
  const float s[4] = {w.alpha_domain, w.alpha_task, w.beta_domain, w.beta_task};
  Tensor dtheta({4}, nullptr);
  for (int k = 0; k < 4; ++k) dtheta[k] = static_cast<float>(dw[k] * s[k] * (1.0f - s[k]));
  AddMat(dtheta.To(theta_->grad.gpu()).view(), theta_->grad.view());
  // The shared module: dS = dz. Its gates read stopgrad(h): no input gradient from them.
  dshared_.Resize({rows, shared_f_.cols});
  dprobs_.Resize({rows, probs_.cols});
  GatedMixBackward(shared_f_, probs_, dz_.view(), num_shared_, dshared_.view(), dprobs_.view());
  gates_.Backward(h_.view(), batch.domain_begin, dprobs_.view(), MatView{}, 0.0f, &gate_cache_);
  dh_.ResizeLike(h_);
  shared_experts_.Backward(h_.view(), dshared_.view(), dh_.view(), 0.0f, &shared_cache_);
  domain_experts_.Backward(h_.view(), ddomain_.view(), dh_.view(), 1.0f, &domain_cache_);
  task_experts_.Backward(h_.view(), dtask_.view(), dh_.view(), 1.0f, &task_cache_);
  du_.Resize({rows, u_.cols});
  rep_.Backward(u_, dh_.view(), du_.view(), 0.0f, &rep_cache_);
  const MatView dx = input_.GradBuffer(rows, dfeatures);
  skip_.Backward(x_, dh_.view(), dx, 0.0f, &skip_cache_);
  star_.Backward(x_, batch.domain_begin, du_.view(), dx, 1.0f, &star_cache_);
  input_.Backward(batch.domain_begin, dfeatures);
}

std::vector<std::pair<std::string, double>> M3oeModel::Stats() const {
  const FusionWeights w = Weights();
  std::vector<std::pair<std::string, double>> out = {{"alpha_domain", w.alpha_domain},
                                                     {"alpha_task", w.alpha_task},
                                                     {"beta_domain", w.beta_domain},
                                                     {"beta_task", w.beta_task}};
  for (auto& load : ExpertLoadStats({probs_}, num_shared_)) out.push_back(std::move(load));
  if (probs_.rows == 0) return out;
  std::vector<ConstMatView> tasks;  // the gates of (d(i), t): task t's block of a row
  for (int t = 0; t < shape_.num_tasks; ++t) {
    tasks.push_back(probs_.Cols(static_cast<int64_t>(t) * num_shared_, num_shared_));
  }
  for (auto& load : DomainTaskLoadStats(tasks, domain_begin_, shape_.num_tasks)) {
    out.push_back(std::move(load));
  }
  return out;
}

}  // namespace moerec
