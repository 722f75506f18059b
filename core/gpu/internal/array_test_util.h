// Comparisons of plain arrays for the CUDA kernel tests (tests only): parameter gradients,
// running statistics and caches that live in std::vectors on the host or in Tensors.
#ifndef MOEREC_CORE_GPU_INTERNAL_ARRAY_TEST_UTIL_H_
#define MOEREC_CORE_GPU_INTERNAL_ARRAY_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/internal/test_util.h"
#include "core/tensor.h"

namespace moerec::testing {

// |got[i] - want[i]| <= tol * max(1, |want[i]|) for every i (same sizes).
inline void ExpectCloseArrays(const std::string& what, const std::vector<float>& got,
                              const std::vector<float>& want, double tol) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int failures = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double x = got[i], y = want[i];
    if (!(std::fabs(x - y) <= tol * std::max(1.0, std::fabs(y))) && failures++ < 5) {
      ADD_FAILURE() << what << " at " << i << ": " << x << " vs " << y;
    }
  }
  EXPECT_EQ(failures, 0) << what << ": " << failures << " values differ";
}

// An output buffer holding stale values in [5, 9): a kernel that accumulates where it should
// write, or skips an element, then differs from the CPU kernel.
inline TestMat StaleMat(int64_t rows, int64_t cols, int64_t pad, Rng* rng) {
  return RandomMat(rows, cols, pad, rng, 5.0f, 9.0f);
}

// A Tensor's values, wherever it lives.
inline std::vector<float> HostValues(const Tensor& t) {
  const Tensor host = t.To(nullptr);
  return std::vector<float>(host.data(), host.data() + host.size());
}

// |got - want| <= tol * max(1, |want|).
inline void ExpectCloseScalar(const std::string& what, double got, double want, double tol) {
  EXPECT_LE(std::fabs(got - want), tol * std::max(1.0, std::fabs(want)))
      << what << ": " << got << " vs " << want;
}

}  // namespace moerec::testing

#endif  // MOEREC_CORE_GPU_INTERNAL_ARRAY_TEST_UTIL_H_
