// core/gpu/senet.cu against core/senet.cc, through the CPU names (the dispatch) and on device
// views: forward (with the cache), backward with dv_beta 0 and 1, and an empty batch.
#include "core/senet.h"

#include <gtest/gtest.h>

#include <string>

#include "core/gpu/internal/test_util.h"

namespace moerec::testing {
namespace {

using SenetGpuTest = GpuKernelTest;

// k-term field sums and S- / S_r-term GEMMs in another order, with FMAs: fp32 within 1e-5 of
// values of order 1-10.
constexpr double kTol = 1e-5;

TestMat HostOf(const Tensor& t) {
  const Tensor h = t.To(nullptr);
  TestMat m(t.rows(), t.cols(), 0);
  for (int64_t r = 0; r < m.rows(); ++r) {
    for (int64_t c = 0; c < m.cols(); ++c) m.at(r, c) = h[r * m.cols() + c];
  }
  return m;
}

void RunCase(GpuResources* gpu, int64_t rows, int s, int64_t k, int64_t sr, Rng* rng) {
  const std::string what = "B=" + std::to_string(rows) + " S=" + std::to_string(s) +
                           " k=" + std::to_string(k) + " S_r=" + std::to_string(sr);
  // Inputs skewed positive so that most of the ReLU units are active.
  const TestMat v = RandomMat(rows, s * k, 3, rng, -0.5f, 1.0f);
  const TestMat w1 = RandomMat(s, sr, 1, rng, -0.3f, 1.0f),
                w2 = RandomMat(sr, s, 2, rng, -0.3f, 1.0f);
  DeviceMat g_v(v, gpu), g_w1(w1, gpu), g_w2(w2, gpu);
  TestMat out(rows, s * k, 2);
  DeviceMat g_out(out, gpu);
  SenetCache cache, g_cache;
  SenetForward(v.cview(), s, w1.cview(), w2.cview(), out.view(), &cache);
  SenetForward(g_v.cview(), s, g_w1.cview(), g_w2.cview(), g_out.view(), &g_cache);
  const TestMat got_out = g_out.ToHost();
  ExpectClose(what + " out", got_out, out, kTol);
  EXPECT_TRUE(got_out.PaddingIntact()) << what;
  ASSERT_EQ(g_cache.weight.gpu(), gpu) << what << ": the cache lives where the inputs live";
  ExpectClose(what + " z", HostOf(g_cache.z), HostOf(cache.z), kTol);
  ExpectClose(what + " field weights", HostOf(g_cache.weight), HostOf(cache.weight), kTol);

  const TestMat dout = RandomMat(rows, s * k, 1, rng);
  TestMat dw1 = RandomMat(s, sr, 2, rng), dw2 = RandomMat(sr, s, 1, rng);
  DeviceMat g_dout(dout, gpu), g_dw1(dw1, gpu), g_dw2(dw2, gpu);
  for (float beta : {0.0f, 1.0f}) {
    TestMat dv = RandomMat(rows, s * k, 2, rng);
    DeviceMat g_dv(dv, gpu);
    SenetBackward(v.cview(), w1.cview(), w2.cview(), cache, dout.cview(), dv.view(), beta,
                  dw1.view(), dw2.view());
    SenetBackward(g_v.cview(), g_w1.cview(), g_w2.cview(), g_cache, g_dout.cview(), g_dv.view(),
                  beta, g_dw1.view(), g_dw2.view());
    const std::string wb = what + " beta=" + std::to_string(beta);
    const TestMat got_dv = g_dv.ToHost(), got_dw1 = g_dw1.ToHost(), got_dw2 = g_dw2.ToHost();
    ExpectClose(wb + " dv", got_dv, dv, kTol);
    ExpectClose(wb + " dw1", got_dw1, dw1, kTol);
    ExpectClose(wb + " dw2", got_dw2, dw2, kTol);
    EXPECT_TRUE(got_dv.PaddingIntact() && got_dw1.PaddingIntact() && got_dw2.PaddingIntact()) << wb;
  }
}

TEST_P(SenetGpuTest, ForwardAndBackwardMatchTheCpuKernel) {
  Rng rng(61);
  RunCase(gpu(), 43, 7, 6, 3, &rng);
  RunCase(gpu(), 9, 1, 4, 1, &rng);
  RunCase(gpu(), 16, 12, 1, 4, &rng);
}

TEST_P(SenetGpuTest, AnEmptyBatchLeavesTheGradientsAlone) {
  Rng rng(62);
  RunCase(gpu(), 0, 5, 3, 2, &rng);
}

MOEREC_GPU_KERNEL_TEST_SUITE(SenetGpuTest);

}  // namespace
}  // namespace moerec::testing
