// core/gpu/linear.cu against core/linear.cc, through the CPU names (the dispatch) and on
// device views.
#include "core/linear.h"

#include <gtest/gtest.h>

#include "core/gpu/internal/blas.h"
#include "core/gpu/internal/test_util.h"

namespace moerec::testing {
namespace {

using LinearGpuTest = GpuKernelTest;

// The GEMM tolerance: fp32 sums of up to 300 products in another order.
constexpr double kGemmTol = 1e-5;

TEST_P(LinearGpuTest, GemmMatchesTheCpuKernelForEveryTransposition) {
  Rng rng(11);
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      const int64_t m = 37, n = 29, k = 53;
      TestMat a = ta ? RandomMat(k, m, 3, &rng) : RandomMat(m, k, 3, &rng);
      TestMat b = tb ? RandomMat(n, k, 2, &rng) : RandomMat(k, n, 2, &rng);
      for (float beta : {0.0f, 1.0f, 0.5f}) {
        TestMat c = RandomMat(m, n, 4, &rng);
        TestMat want = c;
        Gemm(ta, tb, 0.75f, a.cview(), b.cview(), beta, want.view());
        DeviceMat da(a, gpu()), db(b, gpu()), dc(c, gpu());
        Gemm(ta, tb, 0.75f, da.cview(), db.cview(), beta, dc.view());
        const TestMat got = dc.ToHost();
        const std::string what = "gemm ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) +
                                 " beta=" + std::to_string(beta);
        ExpectClose(what, got, want, kGemmTol);
        EXPECT_TRUE(got.PaddingIntact()) << what;
      }
    }
  }
}

TEST_P(LinearGpuTest, Bf16GemmStaysWithinBf16RoundingOfTheOperands) {
  GpuResourcesOptions options;
  options.host_execution = gpu()->host_execution();
  options.gemm_math = GemmMath::kBf16;
  auto bf16 = GpuResources::Create(options);
  ASSERT_TRUE(bf16.ok()) << bf16.status().ToString();
  gpu_ = std::move(bf16.value());
  Rng rng(12);
  TestMat a = RandomMat(64, 96, 0, &rng), b = RandomMat(96, 48, 0, &rng);
  TestMat want(64, 48, 0);
  Gemm(false, false, 1.0f, a.cview(), b.cview(), 0.0f, want.view());
  DeviceMat da(a, gpu()), db(b, gpu()), dc(want, gpu());
  Gemm(false, false, 1.0f, da.cview(), db.cview(), 0.0f, dc.view());
  // bf16 keeps 8 mantissa bits: each product is off by about 2^-8 relative; 96 of them with
  // random signs, about |c| ~ 5, stay within 0.1.
  ExpectClose("bf16 gemm", dc.ToHost(), want, 0.1);
}

TEST_P(LinearGpuTest, LinearForwardAndBackwardMatchTheCpuKernels) {
  Rng rng(13);
  const int64_t batch = 70, in = 45, out = 33;
  TestMat x = RandomMat(batch, in, 1, &rng), w = RandomMat(in, out, 2, &rng);
  std::vector<float> b(out);
  for (float& v : b) v = rng.UniformFloat() - 0.5f;
  TestMat y(batch, out, 3);
  LinearForward(x.cview(), w.cview(), b.data(), y.view());

  DeviceMat dx_in(x, gpu()), dw_in(w, gpu()), dy_out(TestMat(batch, out, 3), gpu());
  DeviceArray<float> db_in(b, gpu());
  LinearForward(dx_in.cview(), dw_in.cview(), db_in.data(), dy_out.view());
  ExpectClose("linear forward", dy_out.ToHost(), y, kGemmTol);

  TestMat dy = RandomMat(batch, out, 1, &rng);
  TestMat dw = RandomMat(in, out, 2, &rng), dx = RandomMat(batch, in, 1, &rng);
  std::vector<float> dbias(out, 0.25f);
  DeviceMat d_dy(dy, gpu()), d_dw(dw, gpu()), d_dx(dx, gpu());
  DeviceArray<float> d_db(dbias, gpu());
  for (float beta : {0.0f, 1.0f}) {
    LinearBackward(x.cview(), w.cview(), dy.cview(), dw.view(), dbias.data(), dx.view(), beta);
    LinearBackward(dx_in.cview(), dw_in.cview(), d_dy.cview(), d_dw.view(), d_db.data(),
                   d_dx.view(), beta);
    ExpectClose("dw", d_dw.ToHost(), dw, kGemmTol);
    ExpectClose("dx", d_dx.ToHost(), dx, kGemmTol);
    const std::vector<float> got_db = d_db.ToHost();
    for (int64_t j = 0; j < out; ++j) EXPECT_NEAR(got_db[j], dbias[j], 1e-4) << "db " << j;
  }
}

TEST_P(LinearGpuTest, ElementwiseMatrixOpsMatchTheCpuKernels) {
  Rng rng(14);
  TestMat src = RandomMat(17, 23, 2, &rng), dst = RandomMat(17, 23, 5, &rng);
  std::vector<float> b(23);
  for (float& v : b) v = rng.UniformFloat();
  DeviceMat d_src(src, gpu()), d_dst(dst, gpu());
  DeviceArray<float> d_b(b, gpu());

  AddMat(src.cview(), dst.view());
  AddMat(d_src.cview(), d_dst.view());
  ExpectClose("add", d_dst.ToHost(), dst, 0.0);
  ScaleMat(0.5f, dst.view());
  ScaleMat(0.5f, d_dst.view());
  ExpectClose("scale", d_dst.ToHost(), dst, 0.0);
  BiasForward(b.data(), dst.view());
  BiasForward(d_b.data(), d_dst.view());
  ExpectClose("bias", d_dst.ToHost(), dst, 0.0);
  CopyMat(src.cview(), dst.view());
  CopyMat(d_src.cview(), d_dst.view());
  ExpectClose("copy", d_dst.ToHost(), dst, 0.0);
  BroadcastRows(b.data(), dst.view());
  BroadcastRows(d_b.data(), d_dst.view());
  ExpectClose("broadcast", d_dst.ToHost(), dst, 0.0);
  ScaleMat(0.0f, dst.view());
  ScaleMat(0.0f, d_dst.view());
  const TestMat got = d_dst.ToHost();
  ExpectClose("scale by 0", got, dst, 0.0);
  EXPECT_TRUE(got.PaddingIntact());
}

MOEREC_GPU_KERNEL_TEST_SUITE(LinearGpuTest);

TEST(HostColumnMajorGemmTest, FollowsTheColumnMajorContract) {
  // [1 2; 3 4] (column-major: 1 3 2 4) times [5; 6] = [17; 39].
  const float a[] = {1, 3, 2, 4}, b[] = {5, 6};
  float c[] = {100, 100};
  gpu::HostColumnMajorGemm(false, false, 2, 1, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2, false);
  EXPECT_EQ(c[0], 17.0f);
  EXPECT_EQ(c[1], 39.0f);
  gpu::HostColumnMajorGemm(true, false, 2, 1, 2, 1.0f, a, 2, b, 2, 1.0f, c, 2, false);
  EXPECT_EQ(c[0], 17.0f + 23.0f);  // [1 3; 2 4] [5; 6]
  EXPECT_EQ(c[1], 39.0f + 34.0f);
  EXPECT_EQ(gpu::RoundToBf16(1.0f + 1.0f / 512), 1.0f);              // below half an ulp
  EXPECT_EQ(gpu::RoundToBf16(1.0f + 3.0f / 256), 1.0f + 1.0f / 64);  // rounds up, 2^-7 ulp
}

}  // namespace
}  // namespace moerec::testing
