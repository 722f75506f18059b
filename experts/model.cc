#include "experts/model.h"

#include "experts/layers/heads.h"
#include "experts/zoo/mmoe.h"
#include "experts/zoo/shared_bottom.h"
#include "experts/zoo/validate.h"

namespace moerec {

StatusOr<std::unique_ptr<Model>> CreateModel(const ModelConfig& config, const ModelShape& shape,
                                             uint64_t seed) {
  RETURN_IF_ERROR(ValidateAtLeast(shape.num_features, 1, "model input: num_features"));
  RETURN_IF_ERROR(ValidateAtLeast(shape.num_domains, 1, "data.num_domains"));
  RETURN_IF_ERROR(ValidateAtLeast(shape.num_tasks, 1, "data.num_tasks"));
  RETURN_IF_ERROR(ValidateRange(config.domain_embedding_dim(), 0, kMaxLayerWidth,
                                "model.domain_embedding_dim"));
  switch (config.kind_case()) {
    case ModelConfig::kSharedBottom:
      RETURN_IF_ERROR(SharedBottomModel::Validate(config, shape));
      return std::unique_ptr<Model>(new SharedBottomModel(config, shape, seed));
    case ModelConfig::kMmoe:
      RETURN_IF_ERROR(MmoeModel::Validate(config, shape));
      return std::unique_ptr<Model>(new MmoeModel(config, shape, seed));
    case ModelConfig::KIND_NOT_SET:
      break;
  }
  return InvalidArgument("model: no model kind is set; set one of shared_bottom, mmoe");
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
