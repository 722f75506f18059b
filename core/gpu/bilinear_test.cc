// core/gpu/bilinear.cu against core/bilinear.cc, through the CPU names (the dispatch) and on
// device views, for every BilinearType.
#include "core/bilinear.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/gpu/internal/test_util.h"

namespace moerec::testing {
namespace {

using BilinearGpuTest = GpuKernelTest;

// GEMMs: fp32 sums of up to 29 (rows) or 6 (k) products in another order, plus up to S - 1
// elementwise products added in the CPU kernel's order.
constexpr double kGemmTol = 1e-5;

void Compare(GpuResources* gpu, BilinearType type, int64_t rows, int fields, Rng* rng) {
  const int64_t k = 6;
  const int64_t pairs = fields * (fields - 1) / 2, m = BilinearNumWeights(type, fields);
  const std::string what = "type " + std::to_string(static_cast<int>(type)) + " rows " +
                           std::to_string(rows) + " fields " + std::to_string(fields);
  TestMat v = RandomMat(rows, fields * k, 2, rng);
  std::vector<float> w(m * k * k);
  for (float& x : w) x = rng->UniformFloat() - 0.5f;
  DeviceMat d_v(v, gpu);
  DeviceArray<float> d_w(w, gpu);
  TestMat out = RandomMat(rows, pairs * k, 3, rng);
  DeviceMat d_out(out, gpu);
  BilinearCache cache, d_cache;  // d_cache starts on the host: the call moves it to the device
  BilinearForward(type, v.cview(), fields, w.data(), out.view(), &cache);
  BilinearForward(type, d_v.cview(), fields, d_w.data(), d_out.view(), &d_cache);
  EXPECT_EQ(d_cache.t.gpu(), gpu) << what;
  const TestMat got_out = d_out.ToHost();
  ExpectClose(what + " out", got_out, out, kGemmTol);
  EXPECT_TRUE(got_out.PaddingIntact()) << what;

  for (float beta : {0.0f, 1.0f}) {
    TestMat dout = RandomMat(rows, pairs * k, 1, rng), dv = RandomMat(rows, fields * k, 2, rng);
    std::vector<float> dw(m * k * k);
    for (float& x : dw) x = rng->UniformFloat() - 0.5f;
    DeviceMat d_dout(dout, gpu), d_dv(dv, gpu);
    DeviceArray<float> d_dw(dw, gpu);
    BilinearBackward(type, v.cview(), fields, w.data(), cache, dout.cview(), dv.view(), beta,
                     dw.data());
    BilinearBackward(type, d_v.cview(), fields, d_w.data(), d_cache, d_dout.cview(), d_dv.view(),
                     beta, d_dw.data());
    const TestMat got_dv = d_dv.ToHost();
    ExpectClose(what + " dv beta " + std::to_string(beta), got_dv, dv, kGemmTol);
    EXPECT_TRUE(got_dv.PaddingIntact()) << what;
    const std::vector<float> got_dw = d_dw.ToHost();
    int failures = 0;
    for (size_t i = 0; i < dw.size(); ++i) {
      if (std::fabs(got_dw[i] - dw[i]) > kGemmTol * std::max(1.0f, std::fabs(dw[i])) &&
          failures++ < 5) {
        ADD_FAILURE() << what << " dw " << i << ": " << got_dw[i] << " vs " << dw[i];
      }
    }
  }
}

TEST_P(BilinearGpuTest, EveryTypeMatchesTheCpuKernel) {
  Rng rng(61);
  for (BilinearType type :
       {BilinearType::kFieldAll, BilinearType::kFieldEach, BilinearType::kFieldInteraction}) {
    Compare(gpu(), type, 29, 4, &rng);
    Compare(gpu(), type, 13, 2, &rng);  // one pair
    Compare(gpu(), type, 7, 1, &rng);   // no pairs: dv = dv_beta dv
    Compare(gpu(), type, 0, 4, &rng);   // empty batch
  }
}

MOEREC_GPU_KERNEL_TEST_SUITE(BilinearGpuTest);

}  // namespace
}  // namespace moerec::testing
