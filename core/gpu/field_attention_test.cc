// core/gpu/field_attention.cu against core/field_attention.cc, through the CPU names (the
// dispatch) and on device views: with and without the residual, one and several heads, the
// AutoInt and the scaled dot-product scale, dx_beta 0 and 1, and an empty batch.
#include "core/field_attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/gpu/internal/test_util.h"

namespace moerec::testing {
namespace {

using FieldAttentionGpuTest = GpuKernelTest;

// Projections are K_in-term GEMMs, the attention S- and D-term sums and an exp (expf against
// the CPU's polynomial, both ~1e-7 relative): fp32 in another order, within 1e-5 of values of
// order 1-10. The backward chains three GEMMs: 2e-5.
constexpr double kForwardTol = 1e-5;
constexpr double kBackwardTol = 2e-5;

struct Case {
  int64_t rows, s, kin, h, d;
  bool residual;
  float scale;
};

std::string Name(const Case& c) {
  return "B=" + std::to_string(c.rows) + " S=" + std::to_string(c.s) + " H=" + std::to_string(c.h) +
         " D=" + std::to_string(c.d) + (c.residual ? " res" : "") +
         " scale=" + std::to_string(c.scale);
}

void RunCase(GpuResources* gpu, const Case& c, Rng* rng) {
  const std::string what = Name(c);
  const int64_t e = c.h * c.d;
  TestMat x = RandomMat(c.rows, c.s * c.kin, 3, rng);
  TestMat wq = RandomMat(c.kin, e, 1, rng), wk = RandomMat(c.kin, e, 0, rng),
          wv = RandomMat(c.kin, e, 2, rng), wres = RandomMat(c.kin, e, 1, rng);
  DeviceMat g_x(x, gpu), g_wq(wq, gpu), g_wk(wk, gpu), g_wv(wv, gpu), g_wres(wres, gpu);
  auto res = [&](ConstMatView v) {
    return c.residual ? v : ConstMatView(nullptr, v.rows, v.cols, v.ld, v.gpu);
  };
  auto mres = [&](MatView v) {
    return c.residual ? v : MatView{nullptr, v.rows, v.cols, v.ld, v.gpu};
  };

  TestMat y(c.rows, c.s * e, 2);
  FieldAttentionCache cache;
  FieldAttentionForward(x.cview(), c.s, c.h, wq.cview(), wk.cview(), wv.cview(), res(wres.cview()),
                        y.view(), &cache, c.scale);
  DeviceMat g_y(TestMat(c.rows, c.s * e, 2), gpu);
  FieldAttentionCache g_cache;
  FieldAttentionForward(g_x.cview(), c.s, c.h, g_wq.cview(), g_wk.cview(), g_wv.cview(),
                        res(g_wres.cview()), g_y.view(), &g_cache, c.scale);
  const TestMat got_y = g_y.ToHost();
  ExpectClose(what + " y", got_y, y, kForwardTol);
  EXPECT_TRUE(got_y.PaddingIntact()) << what;
  // The attention weights themselves (in [0, 1]).
  const Tensor attn = g_cache.attn.To(nullptr);
  ASSERT_EQ(attn.size(), cache.attn.size()) << what;
  for (int64_t i = 0; i < attn.size(); ++i) {
    ASSERT_NEAR(attn[i], cache.attn[i], kForwardTol) << what << " attn " << i;
  }

  const TestMat dy = RandomMat(c.rows, c.s * e, 1, rng);
  TestMat dwq = RandomMat(c.kin, e, 1, rng), dwk = RandomMat(c.kin, e, 0, rng),
          dwv = RandomMat(c.kin, e, 2, rng), dwres = RandomMat(c.kin, e, 1, rng);
  DeviceMat g_dy(dy, gpu), g_dwq(dwq, gpu), g_dwk(dwk, gpu), g_dwv(dwv, gpu), g_dwres(dwres, gpu);
  for (float beta : {0.0f, 1.0f}) {
    TestMat dx = RandomMat(c.rows, c.s * c.kin, 2, rng);
    DeviceMat g_dx(dx, gpu);
    FieldAttentionBackward(wq.cview(), wk.cview(), wv.cview(), res(wres.cview()), cache, dy.cview(),
                           dx.view(), beta, dwq.view(), dwk.view(), dwv.view(), mres(dwres.view()));
    FieldAttentionBackward(g_wq.cview(), g_wk.cview(), g_wv.cview(), res(g_wres.cview()), g_cache,
                           g_dy.cview(), g_dx.view(), beta, g_dwq.view(), g_dwk.view(),
                           g_dwv.view(), mres(g_dwres.view()));
    const std::string wb = what + " beta=" + std::to_string(beta);
    const TestMat got_dx = g_dx.ToHost();
    ExpectClose(wb + " dx", got_dx, dx, kBackwardTol);
    EXPECT_TRUE(got_dx.PaddingIntact()) << wb;
    struct {
      const char* name;
      const DeviceMat& got;
      const TestMat& want;
    } grads[] = {{"dw_q", g_dwq, dwq},
                 {"dw_k", g_dwk, dwk},
                 {"dw_v", g_dwv, dwv},
                 {"dw_res", g_dwres, dwres}};
    for (const auto& g : grads) {
      const TestMat got = g.got.ToHost();
      ExpectClose(wb + " " + g.name, got, g.want, kBackwardTol);
      EXPECT_TRUE(got.PaddingIntact()) << wb << " " << g.name;
    }
  }
}

TEST_P(FieldAttentionGpuTest, ForwardAndBackwardMatchTheCpuKernel) {
  Rng rng(41);
  const float sdpa = 1.0f / std::sqrt(4.0f);
  for (const Case& c : {Case{23, 5, 6, 2, 4, true, 1.0f}, Case{23, 5, 6, 2, 4, false, sdpa},
                        Case{9, 7, 3, 1, 8, true, sdpa}, Case{4, 1, 5, 3, 2, true, 1.0f}}) {
    RunCase(gpu(), c, &rng);
  }
}

TEST_P(FieldAttentionGpuTest, AnEmptyBatchLeavesTheGradientsAlone) {
  Rng rng(42);
  RunCase(gpu(), Case{0, 4, 3, 2, 2, true, 1.0f}, &rng);
}

MOEREC_GPU_KERNEL_TEST_SUITE(FieldAttentionGpuTest);

}  // namespace
}  // namespace moerec::testing
