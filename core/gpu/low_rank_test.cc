// core/gpu/low_rank.cu against core/low_rank.cc, through the CPU names (the dispatch) and on
// device views; the row weights are a strided column of a (R, M) gate matrix, as in
// experts/layers/lora.cc.
#include "core/low_rank.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "core/gpu/internal/test_util.h"

namespace moerec::testing {
namespace {

using LowRankGpuTest = GpuKernelTest;

// GEMMs and column sums: fp32 sums of up to 41 products in another order.
constexpr double kGemmTol = 1e-5;

std::vector<float> RandomVector(int64_t n, Rng* rng) {
  std::vector<float> v(n);
  for (float& x : v) x = rng->UniformFloat() - 0.5f;
  return v;
}

void ExpectVectorClose(const std::string& what, const std::vector<float>& got,
                       const std::vector<float>& want, double tol) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], tol * std::max(1.0f, std::fabs(want[i]))) << what << " " << i;
  }
}

void Compare(GpuResources* gpu, int64_t rows, bool with_dw, bool with_dx, Rng* rng) {
  const int64_t in = 17, rank = 4, out = 13, gates = 3, gate = 1;
  const std::string what =
      "rows " + std::to_string(rows) + (with_dw ? "" : " no dw") + (with_dx ? "" : " no dx");
  TestMat x = RandomMat(rows, in, 2, rng), a = RandomMat(in, rank, 1, rng),
          b = RandomMat(rank, out, 3, rng);
  const std::vector<float> c = RandomVector(out, rng), w = RandomVector(rows * gates, rng);
  DeviceMat d_x(x, gpu), d_a(a, gpu), d_b(b, gpu);
  DeviceArray<float> d_c(c, gpu), d_w(w, gpu);
  TestMat t = RandomMat(rows, rank, 1, rng), u = RandomMat(rows, out, 2, rng),
          pre = RandomMat(rows, out, 1, rng);
  DeviceMat d_t(t, gpu), d_u(u, gpu), d_pre(pre, gpu);
  LowRankAdapterForward(x.cview(), a.cview(), b.cview(), c.data(), w.data() + gate, gates, t.view(),
                        u.view(), pre.view());
  LowRankAdapterForward(d_x.cview(), d_a.cview(), d_b.cview(), d_c.data(), d_w.data() + gate, gates,
                        d_t.view(), d_u.view(), d_pre.view());
  for (auto [name, got, want] :
       {std::tuple{"t", d_t.ToHost(), &t}, std::tuple{"u", d_u.ToHost(), &u},
        std::tuple{"pre", d_pre.ToHost(), &pre}}) {
    ExpectClose(what + " " + name, got, *want, kGemmTol);
    EXPECT_TRUE(got.PaddingIntact()) << what << " " << name;
  }

  TestMat dpre = RandomMat(rows, out, 2, rng);
  TestMat du = RandomMat(rows, out, 1, rng), dt = RandomMat(rows, rank, 2, rng);
  TestMat da = RandomMat(in, rank, 1, rng), db = RandomMat(rank, out, 2, rng),
          dx = RandomMat(rows, in, 1, rng);
  std::vector<float> dc = RandomVector(out, rng), dw = RandomVector(rows * gates, rng);
  DeviceMat d_dpre(dpre, gpu), d_du(du, gpu), d_dt(dt, gpu), d_da(da, gpu), d_db(db, gpu),
      d_dx(dx, gpu);
  DeviceArray<float> d_dc(dc, gpu), d_dw(dw, gpu);
  LowRankAdapterBackward(x.cview(), a.cview(), b.cview(), w.data() + gate, gates, t.cview(),
                         u.cview(), dpre.cview(), du.view(), dt.view(), da.view(), db.view(),
                         dc.data(), with_dw ? dw.data() + gate : nullptr,
                         with_dx ? dx.view() : MatView{});
  LowRankAdapterBackward(d_x.cview(), d_a.cview(), d_b.cview(), d_w.data() + gate, gates,
                         d_t.cview(), d_u.cview(), d_dpre.cview(), d_du.view(), d_dt.view(),
                         d_da.view(), d_db.view(), d_dc.data(),
                         with_dw ? d_dw.data() + gate : nullptr, with_dx ? d_dx.view() : MatView{});
  for (auto [name, got, want] :
       {std::tuple{"du", d_du.ToHost(), &du}, std::tuple{"dt", d_dt.ToHost(), &dt},
        std::tuple{"da", d_da.ToHost(), &da}, std::tuple{"db", d_db.ToHost(), &db},
        std::tuple{"dx", d_dx.ToHost(), &dx}}) {
    ExpectClose(what + " " + name, got, *want, kGemmTol);
    EXPECT_TRUE(got.PaddingIntact()) << what << " " << name;
  }
  ExpectVectorClose(what + " dc", d_dc.ToHost(), dc, kGemmTol);
  ExpectVectorClose(what + " dw", d_dw.ToHost(), dw, kGemmTol);  // other gate columns intact
}

TEST_P(LowRankGpuTest, ForwardAndBackwardMatchTheCpuKernel) {
  Rng rng(51);
  Compare(gpu(), 41, true, true, &rng);
  Compare(gpu(), 41, false, true, &rng);
  Compare(gpu(), 29, true, false, &rng);
  Compare(gpu(), 0, true, true, &rng);  // empty batch: nothing changes
}

MOEREC_GPU_KERNEL_TEST_SUITE(LowRankGpuTest);

}  // namespace
}  // namespace moerec::testing
