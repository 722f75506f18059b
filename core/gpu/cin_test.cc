// core/gpu/cin.cu against core/cin.cc, through the CPU names (the dispatch) and on device
// views: a CIN layer over a separate Xprev and over Xprev = X0 (the first layer), a batch large
// enough to take several device chunks, and the sum pooling.
#include "core/cin.h"

#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "core/gpu/internal/test_util.h"

namespace moerec::testing {
namespace {

using CinGpuTest = GpuKernelTest;

// GEMMs over H_prev * S products (at most 400), over rows * k (dw), and sums over i or j of up
// to 20 products in the CPU kernel's order, all in fp32 in another order than OpenBLAS's: the
// error grows like sqrt(n) ulps of the sum of the terms' magnitudes. 1e-5 of max(1, |value|)
// for the small cases, 1e-4 for the activations of the chunked one.
constexpr double kGemmTol = 1e-5;
constexpr double kLargeTol = 1e-4;
// dw of the chunked case sums 2700 * 16 = 43200 products of three uniform [-1, 1) floats
// (E|term| = 1/8, magnitudes ~5400): sqrt(43200) * 2^-24 * 5400 ~ 7e-2 is the random-walk scale
// of the host reference GEMM's sequential fp32 sum; seen: ~4e-4. 2e-3 of max(1, |dw|).
constexpr double kLargeDwTol = 2e-3;
// The pooling sums k floats in another order than the CPU's lane sums.
constexpr double kPoolTol = 1e-6;

void Compare(GpuResources* gpu, int64_t rows, int fields, int64_t k, int64_t maps_prev,
             int64_t maps, bool first_layer, double tol, double dw_tol, Rng* rng) {
  const std::string what = "rows " + std::to_string(rows) + " S " + std::to_string(fields) + " k " +
                           std::to_string(k) + " Hp " + std::to_string(maps_prev) + " H " +
                           std::to_string(maps) + (first_layer ? " first layer" : "");
  const int64_t hp = first_layer ? fields : maps_prev;
  TestMat x0 = RandomMat(rows, fields * k, 2, rng);
  TestMat xprev_own = RandomMat(rows, hp * k, 1, rng);
  const TestMat& xprev = first_layer ? x0 : xprev_own;
  TestMat w = RandomMat(maps, hp * fields, 3, rng, -0.2f, 0.2f);
  DeviceMat d_x0(x0, gpu), d_xprev_own(xprev_own, gpu), d_w(w, gpu);
  const DeviceMat& d_xprev = first_layer ? d_x0 : d_xprev_own;

  TestMat xnext = RandomMat(rows, maps * k, 2, rng);
  DeviceMat d_xnext(xnext, gpu);
  CinLayerForward(x0.cview(), xprev.cview(), fields, w.cview(), xnext.view());
  CinLayerForward(d_x0.cview(), d_xprev.cview(), fields, d_w.cview(), d_xnext.view());
  const TestMat got_xnext = d_xnext.ToHost();
  ExpectClose(what + " xnext", got_xnext, xnext, tol);
  EXPECT_TRUE(got_xnext.PaddingIntact()) << what;

  for (float beta : {0.0f, 1.0f}) {
    TestMat dxnext = RandomMat(rows, maps * k, 1, rng);
    TestMat dx0 = RandomMat(rows, fields * k, 1, rng), dxprev = RandomMat(rows, hp * k, 2, rng);
    TestMat dw = RandomMat(maps, hp * fields, 1, rng);
    DeviceMat d_dxnext(dxnext, gpu), d_dx0(dx0, gpu), d_dxprev(dxprev, gpu), d_dw(dw, gpu);
    CinLayerBackward(x0.cview(), xprev.cview(), fields, w.cview(), dxnext.cview(), dx0.view(), beta,
                     dxprev.view(), dw.view());
    CinLayerBackward(d_x0.cview(), d_xprev.cview(), fields, d_w.cview(), d_dxnext.cview(),
                     d_dx0.view(), beta, d_dxprev.view(), d_dw.view());
    const std::string b = what + " beta " + std::to_string(beta);
    for (auto [name, got, want] :
         {std::tuple{"dx0", d_dx0.ToHost(), &dx0}, std::tuple{"dxprev", d_dxprev.ToHost(), &dxprev},
          std::tuple{"dw", d_dw.ToHost(), &dw}}) {
      ExpectClose(b + " " + name, got, *want, want == &dw ? dw_tol : tol);
      EXPECT_TRUE(got.PaddingIntact()) << b << " " << name;
    }
  }
}

TEST_P(CinGpuTest, LayerMatchesTheCpuKernel) {
  Rng rng(71);
  Compare(gpu(), 37, 5, 4, 3, 6, false, kGemmTol, kGemmTol, &rng);
  Compare(gpu(), 23, 4, 8, 0, 5, true, kGemmTol, kGemmTol, &rng);  // Xprev = X0
  Compare(gpu(), 1, 3, 1, 2, 2, false, kGemmTol, kGemmTol, &rng);  // k = 1, one row
  Compare(gpu(), 0, 5, 4, 3, 6, false, kGemmTol, kGemmTol, &rng);  // empty batch
}

TEST_P(CinGpuTest, LayerOverSeveralDeviceChunksMatchesTheCpuKernel) {
  // (2 * 400 + 2) * 16 floats of backward scratch per row: 2700 rows are three chunks of the
  // device's 2^24 floats (two in the forward pass).
  Rng rng(72);
  Compare(gpu(), 2700, 20, 16, 20, 2, false, kLargeTol, kLargeDwTol, &rng);
}

TEST_P(CinGpuTest, FieldSumPoolMatchesTheCpuKernel) {
  Rng rng(73);
  for (int64_t k : {1, 5, 16}) {
    for (int64_t rows : {31, 0}) {
      const std::string what = "k " + std::to_string(k) + " rows " + std::to_string(rows);
      TestMat x = RandomMat(rows, 7 * k, 2, &rng), y = RandomMat(rows, 7, 1, &rng);
      DeviceMat d_x(x, gpu()), d_y(y, gpu());
      FieldSumPoolForward(x.cview(), y.view());
      FieldSumPoolForward(d_x.cview(), d_y.view());
      const TestMat got_y = d_y.ToHost();
      ExpectClose(what + " y", got_y, y, kPoolTol);
      EXPECT_TRUE(got_y.PaddingIntact()) << what;

      TestMat dy = RandomMat(rows, 7, 3, &rng), dx = RandomMat(rows, 7 * k, 1, &rng);
      DeviceMat d_dy(dy, gpu()), d_dx(dx, gpu());
      FieldSumPoolBackward(dy.cview(), dx.view());
      FieldSumPoolBackward(d_dy.cview(), d_dx.view());
      const TestMat got_dx = d_dx.ToHost();
      ExpectClose(what + " dx", got_dx, dx, 0.0);  // copies
      EXPECT_TRUE(got_dx.PaddingIntact()) << what;
    }
  }
}

MOEREC_GPU_KERNEL_TEST_SUITE(CinGpuTest);

}  // namespace
}  // namespace moerec::testing
