// core/gpu/cross.cu against core/cross.cc, through the CPU names (the dispatch) and on device
// views, for both cross forms, with and without bias, dx0_beta 0 and 1.
#include "core/cross.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/gpu/internal/test_util.h"

namespace moerec::testing {
namespace {

using CrossGpuTest = GpuKernelTest;

// Outputs are a d-term GEMM (xl w, dz W^T, xl^T dz over up to 61 rows) plus elementwise terms:
// fp32 sums in another order (cuBLAS, FMAs) stay within 1e-5 of |values| ~ 1-10.
constexpr double kTol = 1e-5;

std::vector<float> RandomVector(int64_t n, Rng* rng) {
  std::vector<float> v(n);
  for (float& x : v) x = rng->UniformFloat() - 0.5f;
  return v;
}

void ExpectVectorsClose(const std::string& what, const std::vector<float>& got,
                        const std::vector<float>& want, double tol) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], tol * std::max(1.0f, std::fabs(want[i]))) << what << " " << i;
  }
}

void RunCase(GpuResources* gpu, CrossMode mode, bool bias, bool first_layer, int64_t rows,
             Rng* rng) {
  const int64_t d = 19;
  const bool vector = mode == CrossMode::kVector;
  const std::string what = std::string(vector ? "vector" : "matrix") + (bias ? " bias" : "") +
                           (first_layer ? " xl=x0" : "") + " rows=" + std::to_string(rows);
  TestMat x0 = RandomMat(rows, d, 3, rng), xl = RandomMat(rows, d, 2, rng);
  TestMat w = RandomMat(d, vector ? 1 : d, 1, rng);
  std::vector<float> b = RandomVector(d, rng);
  DeviceMat g_x0(x0, gpu), g_xl(xl, gpu), g_w(w, gpu);
  DeviceArray<float> g_b(b, gpu);
  const ConstMatView h_xl = first_layer ? x0.cview() : xl.cview();
  const ConstMatView d_xl = first_layer ? g_x0.cview() : g_xl.cview();

  TestMat y(rows, d, 2);
  CrossLayerCache cache;
  CrossLayerForward(mode, x0.cview(), h_xl, w.cview(), bias ? b.data() : nullptr, y.view(), &cache);
  DeviceMat g_y(TestMat(rows, d, 2), gpu);
  CrossLayerCache g_cache;
  CrossLayerForward(mode, g_x0.cview(), d_xl, g_w.cview(), bias ? g_b.data() : nullptr, g_y.view(),
                    &g_cache);
  const TestMat got_y = g_y.ToHost();
  ExpectClose(what + " y", got_y, y, kTol);
  EXPECT_TRUE(got_y.PaddingIntact()) << what;
  EXPECT_EQ(g_cache.z.gpu(), gpu) << what << ": the cache lives where the inputs live";

  const TestMat dy = RandomMat(rows, d, 1, rng);
  DeviceMat g_dy(dy, gpu);
  TestMat dw = RandomMat(w.rows(), w.cols(), 2, rng);
  std::vector<float> db = RandomVector(d, rng);
  DeviceMat g_dw(dw, gpu);
  DeviceArray<float> g_db(db, gpu);
  for (float beta : {0.0f, 1.0f}) {
    TestMat dx0 = RandomMat(rows, d, 1, rng), dxl = RandomMat(rows, d, 2, rng);
    DeviceMat g_dx0(dx0, gpu), g_dxl(dxl, gpu);
    CrossLayerBackward(mode, x0.cview(), h_xl, w.cview(), cache, dy.cview(), dx0.view(), beta,
                       dxl.view(), dw.view(), bias ? db.data() : nullptr);
    CrossLayerBackward(mode, g_x0.cview(), d_xl, g_w.cview(), g_cache, g_dy.cview(), g_dx0.view(),
                       beta, g_dxl.view(), g_dw.view(), bias ? g_db.data() : nullptr);
    const std::string wb = what + " beta=" + std::to_string(beta);
    const TestMat got_dx0 = g_dx0.ToHost(), got_dxl = g_dxl.ToHost(), got_dw = g_dw.ToHost();
    ExpectClose(wb + " dx0", got_dx0, dx0, kTol);
    ExpectClose(wb + " dxl", got_dxl, dxl, kTol);
    ExpectClose(wb + " dw (accumulated twice)", got_dw, dw, kTol);
    EXPECT_TRUE(got_dx0.PaddingIntact() && got_dxl.PaddingIntact() && got_dw.PaddingIntact()) << wb;
    // db sums up to 61 rows twice: 1e-5 relative as the GEMMs.
    ExpectVectorsClose(wb + " db", g_db.ToHost(), db, kTol);
  }
}

TEST_P(CrossGpuTest, ForwardAndBackwardMatchTheCpuKernelInEveryMode) {
  Rng rng(31);
  for (CrossMode mode : {CrossMode::kVector, CrossMode::kMatrix}) {
    for (bool bias : {false, true}) {
      for (bool first_layer : {false, true}) RunCase(gpu(), mode, bias, first_layer, 61, &rng);
    }
  }
}

TEST_P(CrossGpuTest, AnEmptyBatchLeavesTheGradientsAlone) {
  Rng rng(32);
  for (CrossMode mode : {CrossMode::kVector, CrossMode::kMatrix}) {
    RunCase(gpu(), mode, /*bias=*/true, /*first_layer=*/false, 0, &rng);
  }
}

TEST_P(CrossGpuTest, AHostCacheMovesToTheDevice) {
  // A cache filled by a CPU call is recreated on the device by the next device call.
  Rng rng(33);
  const int64_t rows = 7, d = 5;
  TestMat x0 = RandomMat(rows, d, 1, &rng), w = RandomMat(d, d, 0, &rng);
  TestMat y(rows, d, 1);
  CrossLayerCache cache;
  CrossLayerForward(CrossMode::kMatrix, x0.cview(), x0.cview(), w.cview(), nullptr, y.view(),
                    &cache);
  ASSERT_FALSE(cache.z.on_gpu());
  DeviceMat g_x0(x0, gpu()), g_w(w, gpu()), g_y(TestMat(rows, d, 1), gpu());
  CrossLayerForward(CrossMode::kMatrix, g_x0.cview(), g_x0.cview(), g_w.cview(), nullptr,
                    g_y.view(), &cache);
  EXPECT_EQ(cache.z.gpu(), gpu());
  ExpectClose("y", g_y.ToHost(), y, kTol);
  // And back: the CPU kernel moves a device cache to the host.
  CrossLayerForward(CrossMode::kMatrix, x0.cview(), x0.cview(), w.cview(), nullptr, y.view(),
                    &cache);
  EXPECT_FALSE(cache.z.on_gpu());
}

MOEREC_GPU_KERNEL_TEST_SUITE(CrossGpuTest);

}  // namespace
}  // namespace moerec::testing
