#include "experts/model.h"

#include "experts/layers/heads.h"
#include "experts/zoo/mmoe.h"
#include "experts/zoo/shared_bottom.h"
#include "experts/zoo/validate.h"

namespace moerec {

Status ValidateModelConfig(const ModelConfig& config, const ModelShape& shape) {
  RETURN_IF_ERROR(ValidateAtLeast(shape.num_features, 1, "model input: num_features"));
  RETURN_IF_ERROR(ValidateAtLeast(shape.num_domains, 1, "data.num_domains"));
  RETURN_IF_ERROR(ValidateAtLeast(shape.num_tasks, 1, "data.num_tasks"));
  RETURN_IF_ERROR(ValidateRange(config.domain_embedding_dim(), 0, kMaxLayerWidth,
                                "model.domain_embedding_dim"));
  switch (config.kind_case()) {
    case ModelConfig::kSharedBottom:
      return SharedBottomModel::Validate(config, shape);
    case ModelConfig::kMmoe:
      return MmoeModel::Validate(config, shape);
    case ModelConfig::KIND_NOT_SET:
      break;
  }
  return InvalidArgument("model: no model kind is set; set one of shared_bottom, mmoe");
}

StatusOr<std::unique_ptr<Model>> CreateModel(const ModelConfig& config, const ModelShape& shape,
                                             uint64_t seed) {
  RETURN_IF_ERROR(ValidateModelConfig(config, shape));
  switch (config.kind_case()) {
    case ModelConfig::kSharedBottom:
      return std::unique_ptr<Model>(new SharedBottomModel(config, shape, seed));
    case ModelConfig::kMmoe:
      return std::unique_ptr<Model>(new MmoeModel(config, shape, seed));
    case ModelConfig::KIND_NOT_SET:
      break;
  }
  return Internal("model: no model kind is set");
}

namespace {

// Each layer of a bank of `copies` MLPs: weights and bias, LayerNorm's gamma and beta, PReLU's
// slopes; per sample up to six (R, G*H) buffers (pre-activation, norm, activation, dropout
// mask, gradient, scratch). *width: the output width of one copy.
void AddMlp(const MlpConfig& c, int64_t in, int64_t copies, ModelSize* size, int64_t* width) {
  for (int l = 0; l < c.dims_size(); ++l) {
    const int64_t out = c.dims(l);
    size->parameters +=
        copies *
        (in * out + out * (1 + (c.layer_norm() ? 2 : 0) + (c.activation() == ACT_PRELU ? 1 : 0)));
    size->activations_per_sample += 6 * copies * out;
    in = out;
  }
  *width = in;
}

void AddTowers(const MlpConfig& hidden, HeadIndex index, const ModelShape& shape, int64_t in,
               int64_t streams, ModelSize* size) {
  const int64_t heads = NumHeads(index, shape.num_domains, shape.num_tasks);
  const int64_t outputs = index == BY_DOMAIN ? shape.num_tasks : 1;
  ModelSize one;
  int64_t width = 0;
  AddMlp(hidden, in, 1, &one, &width);
  size->parameters += heads * (one.parameters + width * outputs + outputs);
  // Every stream passes through a tower's hidden layers once per row.
  size->activations_per_sample += streams * (one.activations_per_sample + 2 * outputs);
}

}  // namespace

ModelSize EstimateModelSize(const ModelConfig& config, const ModelShape& shape) {
  ModelSize size;
  const int64_t de = config.domain_embedding_dim();
  const int64_t in = shape.num_features + de;
  size.parameters += shape.num_domains * de;
  size.activations_per_sample += 2 * in;  // the input with its domain embedding, its gradient
  int64_t width = 0;
  switch (config.kind_case()) {
    case ModelConfig::kSharedBottom: {
      const SharedBottomConfig& c = config.shared_bottom();
      AddMlp(c.bottom(), in, 1, &size, &width);
      AddTowers(c.tower(), c.tower_index(), shape, width, 1, &size);
      break;
    }
    case ModelConfig::kMmoe: {
      const MmoeConfig& c = config.mmoe();
      const int64_t e = c.num_experts();
      AddMlp(c.expert(), in, e, &size, &width);
      const int64_t gate_heads = NumHeads(c.gate_index(), shape.num_domains, shape.num_tasks);
      const int64_t streams = c.gate_index() == BY_DOMAIN ? 1 : shape.num_tasks;
      size.parameters += in * gate_heads * e;
      // Gate logits and weights with their gradients; the mixture and its gradient.
      size.activations_per_sample += 4 * gate_heads * e + 2 * streams * width + e * width;
      AddTowers(c.tower(), c.tower_index(), shape, width, streams, &size);
      break;
    }
    case ModelConfig::KIND_NOT_SET:
      break;
  }
  return size;
}

void CheckModelBatch(const ModelBatch& batch, const ModelShape& shape, int64_t out_rows,
                     int64_t out_cols) {
  CHECK_GE(batch.size, 0);
  CHECK_EQ(batch.features.rows, batch.size) << "features rows";
  CHECK_EQ(batch.features.cols, shape.num_features) << "features columns";
  CheckDomainBegin(batch.domain_begin, shape.num_domains, batch.size);
  CHECK_EQ(out_rows, batch.size) << "logits rows";
  CHECK_EQ(out_cols, shape.num_tasks) << "logits columns";
}

}  // namespace moerec
