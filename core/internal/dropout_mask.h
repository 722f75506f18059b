// The dropout mask of core/activation.h as a pure function of (seed, row, column), shared by the
// CPU kernel and its CUDA twin (core/gpu/activation.cu) so that the two masks are bit-identical.
// Element (r, j) is kept when Mix64(HashCombine(seed, r) + j) >= p * 2^64, so P(keep) = 1 - p up
// to 2^-64; a kept element's mask value is 1 / (1 - p), a dropped one's 0.
#ifndef MOEREC_CORE_INTERNAL_DROPOUT_MASK_H_
#define MOEREC_CORE_INTERNAL_DROPOUT_MASK_H_

#include <cstdint>

#include "core/internal/host_device.h"
#include "core/random.h"

namespace moerec::internal {

// The keep threshold p * 2^64 of a rate p in [0, 1) (host side, once per call).
inline uint64_t DropoutThreshold(float p) {
  return static_cast<uint64_t>(static_cast<double>(p) * 0x1.0p64);
}

// The hash key of row r; computed once per row by the CPU kernel.
MOEREC_HOST_DEVICE inline uint64_t DropoutRowKey(uint64_t seed, int64_t r) {
  return HashCombine(seed, static_cast<uint64_t>(r));
}

// The mask value of column j of the row with key row_key: scale (= 1 / (1 - p)) or 0.
MOEREC_HOST_DEVICE inline float DropoutMaskValue(uint64_t row_key, int64_t j, uint64_t threshold,
                                                 float scale) {
  return Mix64(row_key + static_cast<uint64_t>(j)) >= threshold ? scale : 0.0f;
}

}  // namespace moerec::internal

#endif  // MOEREC_CORE_INTERNAL_DROPOUT_MASK_H_
