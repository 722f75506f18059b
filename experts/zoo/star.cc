#include "experts/zoo/star.h"

#include "core/linear.h"
#include "core/random.h"
#include "experts/zoo/validate.h"

namespace moerec {

Status StarModel::Validate(const ModelConfig& config, const ModelShape& shape) {
  const StarConfig& c = config.star();
  RETURN_IF_ERROR(ValidateMlpConfig(c.star(), "model.star.star", false));
  if (c.star().activation() != ACT_RELU && c.star().activation() != ACT_NONE) {
    return InvalidArgument("model.star.star.activation must be ACT_RELU or ACT_NONE, got " +
                           Activation_Name(c.star().activation()));
  }
  if (c.star().layer_norm() || c.star().dropout() != 0.0f) {
    return InvalidArgument(
        "model.star.star: star layers take no layer_norm and no dropout (partitioned_norm "
        "normalises the input)");
  }
  RETURN_IF_ERROR(ValidateMlpConfig(c.tower(), "model.star.tower", true));
  RETURN_IF_ERROR(ValidateHeadIndex(c.tower_index(), "model.star.tower_index"));
  if (!(c.norm_momentum() > 0.0f && c.norm_momentum() <= 1.0f)) {
    return InvalidArgument("model.star.norm_momentum must be in (0, 1], got " +
                           std::to_string(c.norm_momentum()));
  }
  if (c.has_aux()) {
    RETURN_IF_ERROR(ValidateMlpConfig(c.aux(), "model.star.aux", true));
    if (config.domain_embedding_dim() < 1) {
      return InvalidArgument(
          "model.star.aux reads the domain embedding: set model.domain_embedding_dim >= 1");
    }
  } else if (config.domain_embedding_dim() > 0) {
    return InvalidArgument(
        "model.domain_embedding_dim feeds STAR's auxiliary network: set model.star.aux, or "
        "model.domain_embedding_dim: 0");
  }
  (void)shape;
  return Status::OK();
}

StarModel::StarModel(const ModelConfig& config, const ModelShape& shape, uint64_t seed,
                     const ModelContext& context)
    : Model(shape) {
  const StarConfig& c = config.star();
  norm_ = c.partitioned_norm();
  aux_ = c.has_aux();
  const int64_t f = shape.num_features;
  input_ = DomainInput(f, shape.num_domains, config.domain_embedding_dim(), "domain_embedding",
                       &params_, seed);
  if (norm_) {
    PartitionedNormOptions norm;
    norm.momentum = c.norm_momentum();
    norm.workers = context.workers;
    partitioned_norm_ = PartitionedNorm(f, shape.num_domains, norm, "norm", &params_);
  }
  star_ = StarMlp(c.star(), f, shape.num_domains, "star", &params_, seed);
  towers_ = Towers(c.tower(), c.tower_index(), shape.num_domains, shape.num_tasks,
                   star_.output_dim(), 1, "towers", &params_, seed);
  if (aux_) {
    aux_hidden_ = Mlp(c.aux(), input_.output_dim(), 1, "aux.hidden", &params_, seed);
    aux_out_ = Linear(&params_, "aux.out", aux_hidden_.output_dim(), shape.num_tasks, seed);
  }
}

void StarModel::Forward(const ModelBatch& batch, MatView logits) {
  CheckModelBatch(batch, shape_, logits.rows, logits.cols);
  if (batch.size == 0) {
    // A synchronised norm's statistics need every worker, rows or not.
    if (Collective(batch.training)) {
      const ConstMatView none(nullptr, 0, shape_.num_features, shape_.num_features, logits.gpu);
      partitioned_norm_.Forward(none, batch.domain, true, &norm_cache_);
    }
    return;
  }
  x_ = input_.Forward(batch.features, batch.domain_begin);
  const ConstMatView features = x_.Cols(0, shape_.num_features);
  normed_ = norm_ ? partitioned_norm_.Forward(features, batch.domain, batch.training, &norm_cache_)
                  : features;
  h_ = star_.Forward(normed_, batch.domain_begin, &star_cache_);
  towers_.Forward(h_, batch.domain_begin, batch.training, HashCombine(batch.seed, 2), logits);
  if (aux_) {
    aux_h_ = aux_hidden_.Forward(x_, batch.training, HashCombine(batch.seed, 3), &aux_cache_);
    aux_logits_.Resize({batch.size, shape_.num_tasks});
    aux_out_.Forward(aux_h_, aux_logits_.view());
    AddMat(aux_logits_.view(), logits);
  }
}

void StarModel::Backward(const ModelBatch& batch, ConstMatView dlogits, MatView dfeatures) {
  CheckModelBatch(batch, shape_, dlogits.rows, dlogits.cols);
  const int64_t f = shape_.num_features;
  if (batch.size == 0) {
    if (Collective(/*training=*/true)) {
      const ConstMatView none(nullptr, 0, f, f, dlogits.gpu);
      partitioned_norm_.Backward(none, batch.domain, none, MatView{}, &norm_cache_);
    }
    return;
  }
  const MatView dx = input_.GradBuffer(batch.size, dfeatures);
  // The auxiliary network writes every input column first; the main path adds to the features'.
  if (aux_) {
    daux_h_.Resize({batch.size, aux_h_.cols});
    aux_out_.Backward(aux_h_, dlogits, daux_h_.view());
    aux_hidden_.Backward(x_, daux_h_.view(), dx, 0.0f, &aux_cache_);
  }
  const float beta = aux_ ? 1.0f : 0.0f;
  const MatView dx_features = dx.data == nullptr ? MatView{} : dx.Cols(0, f);
  dh_.Resize({batch.size, h_.cols});
  towers_.Backward(h_, batch.domain_begin, dlogits, dh_.view());
  if (!norm_) {
    star_.Backward(normed_, batch.domain_begin, dh_.view(), dx_features, beta, &star_cache_);
  } else {
    dnormed_.Resize({batch.size, f});
    star_.Backward(normed_, batch.domain_begin, dh_.view(), dnormed_.view(), 0.0f, &star_cache_);
    if (dx_features.data == nullptr || beta == 0.0f) {
      partitioned_norm_.Backward(x_.Cols(0, f), batch.domain, dnormed_.view(), dx_features,
                                 &norm_cache_);
    } else {
      // The norm writes its input gradient, so it goes through dinput_ to be added.
      dinput_.Resize({batch.size, f});
      partitioned_norm_.Backward(x_.Cols(0, f), batch.domain, dnormed_.view(), dinput_.view(),
                                 &norm_cache_);
      AddMat(dinput_.view(), dx_features);
    }
  }
  input_.Backward(batch.domain_begin, dfeatures);
}

}  // namespace moerec
