#include "experts/zoo/shared_bottom.h"

#include "core/random.h"
#include "experts/zoo/validate.h"

namespace moerec {

Status SharedBottomModel::Validate(const ModelConfig& config, const ModelShape& shape) {
  const SharedBottomConfig& c = config.shared_bottom();
  RETURN_IF_ERROR(ValidateMlpConfig(c.bottom(), "model.shared_bottom.bottom", false));
  RETURN_IF_ERROR(ValidateMlpConfig(c.tower(), "model.shared_bottom.tower", true));
  RETURN_IF_ERROR(ValidateHeadIndex(c.tower_index(), "model.shared_bottom.tower_index"));
  return Mlora::Validate(config, shape);
}

SharedBottomModel::SharedBottomModel(const ModelConfig& config, const ModelShape& shape,
                                     uint64_t seed)
    : Model(shape) {
  const SharedBottomConfig& c = config.shared_bottom();
  input_ = DomainInput(shape.num_features, shape.num_domains, config.domain_embedding_dim(),
                       "domain_embedding", &params_, seed);
  bottom_ = Mlp(c.bottom(), input_.output_dim(), 1, "bottom", &params_, seed);
  if (config.has_mlora()) {
    mlora_ = std::make_unique<Mlora>(config.mlora(), &bottom_, shape, &params_, seed);
  }
  towers_ = Towers(c.tower(), c.tower_index(), shape.num_domains, shape.num_tasks,
                   bottom_.output_dim(), 1, "towers", &params_, seed);
}

void SharedBottomModel::Forward(const ModelBatch& batch, MatView logits) {
  CheckModelBatch(batch, shape_, logits.rows, logits.cols);
  if (batch.size == 0) return;
  x_ = input_.Forward(batch.features, batch.domain_begin);
  if (mlora_) mlora_->BeforeForward(batch);
  h_ = bottom_.Forward(x_, batch.training, HashCombine(batch.seed, 1), &bottom_cache_);
  towers_.Forward(h_, batch.domain_begin, batch.training, HashCombine(batch.seed, 2), logits);
}

void SharedBottomModel::Backward(const ModelBatch& batch, ConstMatView dlogits, MatView dfeatures) {
  CheckModelBatch(batch, shape_, dlogits.rows, dlogits.cols);
  if (batch.size == 0) return;
  dh_.Resize({batch.size, h_.cols});
  towers_.Backward(h_, batch.domain_begin, dlogits, dh_.view());
  const MatView dx = input_.GradBuffer(batch.size, dfeatures);
  bottom_.Backward(x_, dh_.view(), dx, 0.0f, &bottom_cache_);
  if (mlora_) mlora_->AfterBackward(batch);
  input_.Backward(batch.domain_begin, dfeatures);
}

std::vector<ModelPhase> SharedBottomModel::Phases() const {
  return mlora_ ? mlora_->Phases() : std::vector<ModelPhase>{};
}

void SharedBottomModel::EnterPhase(int phase) {
  if (mlora_) mlora_->EnterPhase(phase);
}

std::vector<std::pair<std::string, double>> SharedBottomModel::Stats() const {
  return mlora_ ? mlora_->Stats() : std::vector<std::pair<std::string, double>>();
}

}  // namespace moerec
