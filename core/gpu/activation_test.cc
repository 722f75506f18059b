// core/gpu/activation.cu against core/activation.cc, through the CPU names (the dispatch) on
// device views, on fresh random padded inputs.
#include "core/activation.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/gpu/internal/array_test_util.h"
#include "core/gpu/internal/test_util.h"

namespace moerec::testing {
namespace {

using ActivationGpuTest = GpuKernelTest;

// Selections and copies (ReLU, PReLU's forward and dx, dropout) are exact: the same single
// float operation on both sides.
constexpr double kExact = 0.0;
// Column sums of up to 64 terms in another order than the CPU's row blocks (fp32).
constexpr double kSumTol = 1e-5;
// expf on the device against the CPU kernel's vectorised exp (both about 1e-7 relative), and
// fused multiply-adds in the backward products.
constexpr double kExpTol = 1e-6;

std::vector<float> RandomVector(int64_t n, Rng* rng, float lo = -1.0f, float hi = 1.0f) {
  std::vector<float> v(n);
  for (float& x : v) x = lo + (hi - lo) * rng->UniformFloat();
  return v;
}

TEST_P(ActivationGpuTest, ReluMatchesTheCpuKernel) {
  Rng rng(21);
  const int64_t b = 64, c = 29;
  TestMat x = RandomMat(b, c, 3, &rng), y(b, c, 2);
  ReluForward(x.cview(), y.view());
  DeviceMat d_x(x, gpu()), d_y(StaleMat(b, c, 2, &rng), gpu());
  ReluForward(d_x.cview(), d_y.view());
  TestMat got = d_y.ToHost();
  ExpectClose("relu forward", got, y, kExact);
  EXPECT_TRUE(got.PaddingIntact());

  TestMat dy = RandomMat(b, c, 1, &rng), dx(b, c, 4);
  ReluBackward(y.cview(), dy.cview(), dx.view());
  DeviceMat d_dy(dy, gpu()), d_dx(StaleMat(b, c, 4, &rng), gpu());
  ReluBackward(d_y.cview(), d_dy.cview(), d_dx.view());
  got = d_dx.ToHost();
  ExpectClose("relu backward", got, dx, kExact);
  EXPECT_TRUE(got.PaddingIntact());

  // In place (y aliases x, dx aliases dy), as the header allows.
  ReluForward(x.cview(), x.view());
  ReluForward(d_x.cview(), d_x.view());
  ExpectClose("relu in place", d_x.ToHost(), x, kExact);
  ReluBackward(y.cview(), dy.cview(), dy.view());
  ReluBackward(d_y.cview(), d_dy.cview(), d_dy.view());
  ExpectClose("relu backward in place", d_dy.ToHost(), dy, kExact);

  // An empty batch is a no-op on both sides.
  TestMat e(0, c, 2);
  DeviceMat d_e(e, gpu()), d_ey(StaleMat(0, c, 2, &rng), gpu());
  ReluForward(d_e.cview(), d_ey.view());
  EXPECT_EQ(d_ey.ToHost().rows(), 0);
}

TEST_P(ActivationGpuTest, BiasReluMatchesTheCpuKernelWithAndWithoutBias) {
  Rng rng(22);
  const int64_t b = 50, c = 33;
  const std::vector<float> bias = RandomVector(c, &rng);
  DeviceArray<float> d_bias(bias, gpu());
  for (bool with_bias : {true, false}) {
    const std::string what = with_bias ? "with bias" : "without bias";
    TestMat y = RandomMat(b, c, 3, &rng);
    DeviceMat d_y(y, gpu());
    BiasReluForward(with_bias ? bias.data() : nullptr, y.view());
    BiasReluForward(with_bias ? d_bias.data() : nullptr, d_y.view());
    TestMat got = d_y.ToHost();
    // x + b is one float addition on both sides.
    ExpectClose("bias relu forward " + what, got, y, kExact);
    EXPECT_TRUE(got.PaddingIntact());

    TestMat dy = RandomMat(b, c, 2, &rng), dx(b, c, 1);
    std::vector<float> db = RandomVector(c, &rng);  // accumulated into
    DeviceMat d_dy(dy, gpu()), d_dx(dx, gpu());
    DeviceArray<float> d_db(db, gpu());
    BiasReluBackward(y.cview(), dy.cview(), dx.view(), with_bias ? db.data() : nullptr);
    BiasReluBackward(d_y.cview(), d_dy.cview(), d_dx.view(), with_bias ? d_db.data() : nullptr);
    got = d_dx.ToHost();
    ExpectClose("bias relu backward dx " + what, got, dx, kExact);
    EXPECT_TRUE(got.PaddingIntact());
    ExpectCloseArrays("bias relu backward db " + what, d_db.ToHost(), db, kSumTol);
  }
}

TEST_P(ActivationGpuTest, PreluMatchesTheCpuKernel) {
  Rng rng(23);
  const int64_t b = 64, c = 27;
  TestMat x = RandomMat(b, c, 2, &rng), y(b, c, 3);
  const std::vector<float> alpha = RandomVector(c, &rng, 0.0f, 0.5f);
  DeviceArray<float> d_alpha(alpha, gpu());
  PreluForward(x.cview(), alpha.data(), y.view());
  DeviceMat d_x(x, gpu()), d_y(StaleMat(b, c, 3, &rng), gpu());
  PreluForward(d_x.cview(), d_alpha.data(), d_y.view());
  TestMat got = d_y.ToHost();
  ExpectClose("prelu forward", got, y, kExact);
  EXPECT_TRUE(got.PaddingIntact());

  TestMat dy = RandomMat(b, c, 1, &rng), dx(b, c, 2);
  std::vector<float> dalpha = RandomVector(c, &rng);
  DeviceMat d_dy(dy, gpu()), d_dx(dx, gpu());
  DeviceArray<float> d_dalpha(dalpha, gpu());
  PreluBackward(x.cview(), alpha.data(), dy.cview(), dx.view(), dalpha.data());
  PreluBackward(d_x.cview(), d_alpha.data(), d_dy.cview(), d_dx.view(), d_dalpha.data());
  got = d_dx.ToHost();
  ExpectClose("prelu backward dx", got, dx, kExact);
  EXPECT_TRUE(got.PaddingIntact());
  ExpectCloseArrays("prelu backward dalpha", d_dalpha.ToHost(), dalpha, kSumTol);
}

TEST_P(ActivationGpuTest, SigmoidMatchesTheCpuKernel) {
  Rng rng(24);
  const int64_t b = 40, c = 31;
  // Out to the tails, where both sides must give exactly 0 and 1.
  TestMat x = RandomMat(b, c, 3, &rng, -100.0f, 100.0f), y(b, c, 1);
  x.at(0, 0) = -100.0f;
  x.at(0, 1) = 100.0f;
  SigmoidForward(x.cview(), y.view());
  DeviceMat d_x(x, gpu()), d_y(StaleMat(b, c, 1, &rng), gpu());
  SigmoidForward(d_x.cview(), d_y.view());
  TestMat got = d_y.ToHost();
  ExpectClose("sigmoid forward", got, y, kExpTol);
  EXPECT_TRUE(got.PaddingIntact());
  EXPECT_EQ(got.at(0, 0), 0.0f);
  EXPECT_EQ(got.at(0, 1), 1.0f);

  TestMat dy = RandomMat(b, c, 2, &rng), dx(b, c, 2);
  SigmoidBackward(y.cview(), dy.cview(), dx.view());
  DeviceMat d_dy(dy, gpu()), d_dx(StaleMat(b, c, 2, &rng), gpu());
  SigmoidBackward(d_y.cview(), d_dy.cview(), d_dx.view());
  got = d_dx.ToHost();
  ExpectClose("sigmoid backward", got, dx, kExpTol);
  EXPECT_TRUE(got.PaddingIntact());
}

TEST_P(ActivationGpuTest, DropoutMaskIsBitIdenticalToTheCpuKernels) {
  Rng rng(25);
  const int64_t b = 57, c = 45;
  for (float p : {0.0f, 0.3f, 0.9f}) {
    const std::string what = "p=" + std::to_string(p);
    TestMat x = RandomMat(b, c, 3, &rng), mask(b, c, 2), y(b, c, 1);
    const uint64_t seed = 0x1234abcdULL + static_cast<uint64_t>(p * 10);
    DropoutForward(x.cview(), p, seed, mask.view(), y.view());
    DeviceMat d_x(x, gpu()), d_mask(StaleMat(b, c, 2, &rng), gpu()),
        d_y(StaleMat(b, c, 1, &rng), gpu());
    DropoutForward(d_x.cview(), p, seed, d_mask.view(), d_y.view());
    const TestMat got_mask = d_mask.ToHost(), got_y = d_y.ToHost();
    EXPECT_TRUE(got_mask.SameBits(mask)) << what;
    EXPECT_TRUE(got_y.SameBits(y)) << what;
    EXPECT_TRUE(got_mask.PaddingIntact()) << what;
    EXPECT_TRUE(got_y.PaddingIntact()) << what;
    // The mask really drops about p of the elements (not all kept, not all dropped).
    int64_t dropped = 0;
    for (int64_t r = 0; r < b; ++r) {
      for (int64_t j = 0; j < c; ++j) dropped += got_mask.at(r, j) == 0.0f ? 1 : 0;
    }
    EXPECT_NEAR(static_cast<double>(dropped) / (b * c), p, 0.05) << what;

    TestMat dy = RandomMat(b, c, 2, &rng), dx(b, c, 3);
    DropoutBackward(mask.cview(), dy.cview(), dx.view());
    DeviceMat d_dy(dy, gpu()), d_dx(StaleMat(b, c, 3, &rng), gpu());
    DropoutBackward(d_mask.cview(), d_dy.cview(), d_dx.view());
    const TestMat got_dx = d_dx.ToHost();
    EXPECT_TRUE(got_dx.SameBits(dx)) << what;
    EXPECT_TRUE(got_dx.PaddingIntact()) << what;
  }
}

MOEREC_GPU_KERNEL_TEST_SUITE(ActivationGpuTest);

}  // namespace
}  // namespace moerec::testing
