// core/gpu/product.cu against core/product.cc, through the CPU names with their `device`.
#include "core/product.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/gpu/internal/array_test_util.h"
#include "core/gpu/internal/test_util.h"

namespace moerec::testing {
namespace {

using ProductGpuTest = GpuKernelTest;

// The forward product is one rounding on both sides (exact); the backward da += dout * b may be
// one fused multiply-add on the device and two roundings on the CPU: within an ulp, 1e-7.
constexpr double kExact = 0.0;
constexpr double kFmaTol = 1e-6;

std::vector<float> RandomVector(int64_t n, Rng* rng) {
  std::vector<float> v(n);
  for (float& x : v) x = 2.0f * rng->UniformFloat() - 1.0f;
  return v;
}

TEST_P(ProductGpuTest, ForwardAndBackwardMatchTheCpuKernel) {
  Rng rng(81);
  const int64_t n = 5000;
  const std::vector<float> a = RandomVector(n, &rng), b = RandomVector(n, &rng);
  DeviceArray<float> d_a(a, gpu()), d_b(b, gpu());
  std::vector<float> out(n);
  ProductForward(a.data(), b.data(), n, out.data());
  DeviceArray<float> d_out(std::vector<float>(n), gpu());
  ProductForward(d_a.data(), d_b.data(), n, d_out.data(), gpu());
  ExpectCloseArrays("product forward", d_out.ToHost(), out, kExact);

  const std::vector<float> dout = RandomVector(n, &rng);
  DeviceArray<float> d_dout(dout, gpu());
  for (int which = 0; which < 3; ++which) {  // both gradients, da only, db only
    const std::string what = "case " + std::to_string(which);
    std::vector<float> da = RandomVector(n, &rng), db = RandomVector(n, &rng);
    DeviceArray<float> d_da(da, gpu()), d_db(db, gpu());
    ProductBackward(a.data(), b.data(), dout.data(), n, which == 2 ? nullptr : da.data(),
                    which == 1 ? nullptr : db.data());
    ProductBackward(d_a.data(), d_b.data(), d_dout.data(), n, which == 2 ? nullptr : d_da.data(),
                    which == 1 ? nullptr : d_db.data(), gpu());
    ExpectCloseArrays("product da " + what, d_da.ToHost(), da, kFmaTol);
    ExpectCloseArrays("product db " + what, d_db.ToHost(), db, kFmaTol);
  }
  // Nothing to do for n = 0.
  ProductForward(d_a.data(), d_b.data(), 0, d_out.data(), gpu());
}

MOEREC_GPU_KERNEL_TEST_SUITE(ProductGpuTest);

}  // namespace
}  // namespace moerec::testing
