#include "experts/zoo/validate.h"

#include <cmath>
#include <sstream>

namespace moerec {

Status ValidateRange(int64_t value, int64_t min, int64_t max, const std::string& field) {
  if (value >= min && value <= max) return Status::OK();
  std::ostringstream m;
  m << field << " must be in [" << min << ", " << max << "], got " << value;
  return InvalidArgument(m.str());
}

Status ValidateAtLeast(int64_t value, int64_t min, const std::string& field) {
  if (value >= min) return Status::OK();
  std::ostringstream m;
  m << field << " must be >= " << min << ", got " << value;
  return InvalidArgument(m.str());
}

Status ValidateMlpConfig(const MlpConfig& config, const std::string& field, bool allow_empty) {
  if (config.dims_size() == 0 && !allow_empty) {
    return InvalidArgument(field + ".dims must list at least one layer width");
  }
  for (int i = 0; i < config.dims_size(); ++i) {
    RETURN_IF_ERROR(ValidateRange(config.dims(i), 1, kMaxLayerWidth,
                                  field + ".dims[" + std::to_string(i) + "]"));
  }
  const float p = config.dropout();
  if (!(p >= 0.0f && p < 1.0f)) {  // also rejects NaN
    std::ostringstream m;
    m << field << ".dropout must be in [0, 1), got " << p;
    return InvalidArgument(m.str());
  }
  if (!Activation_IsValid(config.activation())) {
    return InvalidArgument(field +
                           ".activation must be one of ACT_RELU, ACT_PRELU, ACT_NONE, got " +
                           std::to_string(static_cast<int>(config.activation())));
  }
  return Status::OK();
}

Status ValidateHeadIndex(int index, const std::string& field) {
  if (HeadIndex_IsValid(index)) return Status::OK();
  return InvalidArgument(field + " must be one of BY_TASK, BY_DOMAIN, BY_DOMAIN_TASK, got " +
                         std::to_string(index));
}

}  // namespace moerec
