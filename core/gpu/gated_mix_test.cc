// core/gpu/gated_mix.cu against core/gated_mix.cc, through the CPU names on device views.
#include "core/gated_mix.h"

#include <gtest/gtest.h>

#include "core/gpu/internal/array_test_util.h"
#include "core/gpu/internal/test_util.h"

namespace moerec::testing {
namespace {

using GatedMixGpuTest = GpuKernelTest;

// Batched GEMMs (cuBLAS, or its reference under host execution) against the CPU's loops: fp32
// sums of up to H = 9 products in another order, with fused multiply-adds.
constexpr double kGemmTol = 1e-5;

TEST_P(GatedMixGpuTest, ForwardAndBackwardMatchTheCpuKernel) {
  Rng rng(71);
  const int e = 4;
  const int64_t h = 9;
  for (int64_t s : {3, 1}) {
    for (int64_t b : {41, 0}) {
      const std::string what = "streams=" + std::to_string(s) + " rows=" + std::to_string(b);
      TestMat f = RandomMat(b, e * h, 3, &rng), g = RandomMat(b, s * e, 2, &rng, 0.0f, 1.0f);
      TestMat z(b, s * h, 1);
      GatedMixForward(f.cview(), g.cview(), e, z.view());
      DeviceMat d_f(f, gpu()), d_g(g, gpu()), d_z(StaleMat(b, s * h, 1, &rng), gpu());
      GatedMixForward(d_f.cview(), d_g.cview(), e, d_z.view());
      TestMat got = d_z.ToHost();
      ExpectClose("gated mix forward " + what, got, z, kGemmTol);
      EXPECT_TRUE(got.PaddingIntact()) << what;

      TestMat dz = RandomMat(b, s * h, 2, &rng), df(b, e * h, 1), dg(b, s * e, 3);
      GatedMixBackward(f.cview(), g.cview(), dz.cview(), e, df.view(), dg.view());
      DeviceMat d_dz(dz, gpu()), d_df(StaleMat(b, e * h, 1, &rng), gpu()),
          d_dg(StaleMat(b, s * e, 3, &rng), gpu());
      GatedMixBackward(d_f.cview(), d_g.cview(), d_dz.cview(), e, d_df.view(), d_dg.view());
      got = d_df.ToHost();
      ExpectClose("gated mix df " + what, got, df, kGemmTol);
      EXPECT_TRUE(got.PaddingIntact()) << what;
      got = d_dg.ToHost();
      ExpectClose("gated mix dg " + what, got, dg, kGemmTol);
      EXPECT_TRUE(got.PaddingIntact()) << what;
    }
  }
}

MOEREC_GPU_KERNEL_TEST_SUITE(GatedMixGpuTest);

}  // namespace
}  // namespace moerec::testing
