// Checks of the model configs (proto/config.proto) that the zoo's factories run before
// building anything: every failure is InvalidArgument naming the field by its path from the
// job config ("model.mmoe.expert.dims[1]") and the allowed values.
#ifndef MOEREC_EXPERTS_ZOO_VALIDATE_H_
#define MOEREC_EXPERTS_ZOO_VALIDATE_H_

#include <string>

#include "core/status.h"
#include "proto/config.pb.h"

namespace moerec {

// Widths above this are taken for typos rather than models (a layer of 2^16 outputs on a
// 2^16 input is already 16 GiB of weights).
inline constexpr int kMaxLayerWidth = 1 << 16;

// dims: each in [1, kMaxLayerWidth], at least one unless allow_empty; dropout in [0, 1);
// a known activation.
Status ValidateMlpConfig(const MlpConfig& config, const std::string& field, bool allow_empty);

Status ValidateHeadIndex(int index, const std::string& field);

// value in [min, max], or "<field> must be in [min, max], got value".
Status ValidateRange(int64_t value, int64_t min, int64_t max, const std::string& field);
// value >= min, or "<field> must be >= min, got value".
Status ValidateAtLeast(int64_t value, int64_t min, const std::string& field);

}  // namespace moerec

#endif  // MOEREC_EXPERTS_ZOO_VALIDATE_H_
