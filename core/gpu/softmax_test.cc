// core/gpu/softmax.cu against core/softmax.cc, through the CPU names on device views.
#include "core/softmax.h"

#include <gtest/gtest.h>

#include "core/gpu/internal/array_test_util.h"
#include "core/gpu/internal/test_util.h"

namespace moerec::testing {
namespace {

using SoftmaxGpuTest = GpuKernelTest;

// expf against the CPU's vectorised exp (about 1e-7 relative each), and a row sum of up to 37
// terms added in another order (the CPU kernel uses 16 lanes): relative error of the sum below
// 37 * 2^-24 ~ 2e-6 at worst; every value is at most 1, so an absolute 2e-6 bounds both.
constexpr double kTol = 2e-6;

TEST_P(SoftmaxGpuTest, ForwardAndBackwardMatchTheCpuKernel) {
  Rng rng(31);
  for (int64_t k : {1, 7, 37}) {
    const std::string what = "k=" + std::to_string(k);
    const int64_t b = 45;
    TestMat x = RandomMat(b, k, 3, &rng, -5.0f, 5.0f), y(b, k, 2);
    SoftmaxForward(x.cview(), y.view());
    DeviceMat d_x(x, gpu()), d_y(StaleMat(b, k, 2, &rng), gpu());
    SoftmaxForward(d_x.cview(), d_y.view());
    TestMat got = d_y.ToHost();
    ExpectClose("softmax forward " + what, got, y, kTol);
    EXPECT_TRUE(got.PaddingIntact()) << what;

    TestMat dy = RandomMat(b, k, 1, &rng), dx(b, k, 4);
    SoftmaxBackward(y.cview(), dy.cview(), dx.view());
    DeviceMat d_dy(dy, gpu()), d_dx(StaleMat(b, k, 4, &rng), gpu());
    SoftmaxBackward(d_y.cview(), d_dy.cview(), d_dx.view());
    got = d_dx.ToHost();
    ExpectClose("softmax backward " + what, got, dx, kTol);
    EXPECT_TRUE(got.PaddingIntact()) << what;

    // In place: y aliases x, dx aliases dy.
    SoftmaxForward(x.cview(), x.view());
    SoftmaxForward(d_x.cview(), d_x.view());
    ExpectClose("softmax in place " + what, d_x.ToHost(), x, kTol);
    SoftmaxBackward(y.cview(), dy.cview(), dy.view());
    SoftmaxBackward(d_y.cview(), d_dy.cview(), d_dy.view());
    ExpectClose("softmax backward in place " + what, d_dy.ToHost(), dy, kTol);
  }
}

TEST_P(SoftmaxGpuTest, LargeLogitsDoNotOverflow) {
  // The row maximum is subtracted first: exp never sees more than 0.
  Rng rng(32);
  TestMat x = RandomMat(8, 5, 1, &rng, 80.0f, 120.0f), y(8, 5, 1);
  SoftmaxForward(x.cview(), y.view());
  DeviceMat d_x(x, gpu()), d_y(StaleMat(8, 5, 1, &rng), gpu());
  SoftmaxForward(d_x.cview(), d_y.view());
  const TestMat got = d_y.ToHost();
  ExpectClose("softmax of large logits", got, y, kTol);
  for (int64_t r = 0; r < 8; ++r) {
    double sum = 0.0;
    for (int64_t j = 0; j < 5; ++j) sum += got.at(r, j);
    EXPECT_NEAR(sum, 1.0, 1e-6) << "row " << r;
  }
}

TEST_P(SoftmaxGpuTest, EmptyBatchIsANoOp) {
  TestMat x(0, 6, 2), y(0, 6, 2);
  DeviceMat d_x(x, gpu()), d_y(y, gpu());
  SoftmaxForward(d_x.cview(), d_y.view());
  SoftmaxBackward(d_y.cview(), d_x.cview(), d_y.view());
  EXPECT_EQ(d_y.ToHost().rows(), 0);
  // One real call, so that the test also shows a kernel ran on the device side.
  TestMat one(1, 3, 1);
  one.Fill(0.5f);
  DeviceMat d_one(one, gpu());
  SoftmaxForward(d_one.cview(), d_one.view());
  ExpectClose(
      "uniform row", d_one.ToHost(),
      [] {
        TestMat m(1, 3, 1);
        m.Fill(1.0f / 3.0f);
        return m;
      }(),
      kTol);
}

MOEREC_GPU_KERNEL_TEST_SUITE(SoftmaxGpuTest);

}  // namespace
}  // namespace moerec::testing
