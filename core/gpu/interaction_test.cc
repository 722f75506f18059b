// core/gpu/interaction.cu against core/interaction.cc, through the CPU names (the dispatch) and
// on device views: bi-interaction, inner and kernel products, forward and backward, dv_beta 0
// and 1, one field (no pairs), and an empty batch.
#include "core/interaction.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/gpu/internal/test_util.h"

namespace moerec::testing {
namespace {

using InteractionGpuTest = GpuKernelTest;

// Sums over S fields or k columns (and, for the kernel products, k-term GEMMs) in another order
// and with FMAs: fp32 within 1e-5 of values of order 1-10.
constexpr double kTol = 1e-5;

std::vector<float> RandomVector(int64_t n, Rng* rng) {
  std::vector<float> v(n);
  for (float& x : v) x = rng->UniformFloat() - 0.5f;
  return v;
}

enum class Op { kBi, kInner, kOuter };

const char* OpName(Op op) {
  switch (op) {
    case Op::kBi:
      return "bi-interaction";
    case Op::kInner:
      return "inner product";
    case Op::kOuter:
      return "kernel product";
  }
  return "?";
}

void RunCase(GpuResources* gpu, Op op, int64_t rows, int s, int64_t k, Rng* rng) {
  const std::string what = std::string(OpName(op)) + " B=" + std::to_string(rows) +
                           " S=" + std::to_string(s) + " k=" + std::to_string(k);
  const int64_t pairs = NumFieldPairs(s);
  const int64_t out_cols = op == Op::kBi ? k : pairs;
  const TestMat v = RandomMat(rows, s * k, 3, rng);
  std::vector<float> kernel = RandomVector(std::max<int64_t>(pairs * k * k, 1), rng);
  DeviceMat g_v(v, gpu);
  DeviceArray<float> g_kernel(kernel, gpu);

  TestMat out(rows, out_cols, 2);
  DeviceMat g_out(out, gpu);
  // The CPU names must hand device views to the CUDA twins: each device call launches.
  int64_t launches = gpu->launches();
  switch (op) {
    case Op::kBi:
      BiInteractionForward(v.cview(), s, out.view());
      BiInteractionForward(g_v.cview(), s, g_out.view());
      break;
    case Op::kInner:
      InnerProductForward(v.cview(), s, out.view());
      InnerProductForward(g_v.cview(), s, g_out.view());
      break;
    case Op::kOuter:
      OuterProductForward(v.cview(), s, kernel.data(), out.view());
      OuterProductForward(g_v.cview(), s, g_kernel.data(), g_out.view());
      break;
  }
  if (rows > 0 && out_cols > 0) {
    EXPECT_GT(gpu->launches(), launches) << what << " forward";
  }
  const TestMat got_out = g_out.ToHost();
  ExpectClose(what + " forward", got_out, out, kTol);
  EXPECT_TRUE(got_out.PaddingIntact()) << what;

  const TestMat dout = RandomMat(rows, out_cols, 1, rng);
  DeviceMat g_dout(dout, gpu);
  std::vector<float> dkernel = RandomVector(kernel.size(), rng);
  DeviceArray<float> g_dkernel(dkernel, gpu);
  for (float beta : {0.0f, 1.0f}) {
    TestMat dv = RandomMat(rows, s * k, 2, rng);
    DeviceMat g_dv(dv, gpu);
    launches = gpu->launches();
    switch (op) {
      case Op::kBi:
        BiInteractionBackward(v.cview(), s, dout.cview(), dv.view(), beta);
        BiInteractionBackward(g_v.cview(), s, g_dout.cview(), g_dv.view(), beta);
        break;
      case Op::kInner:
        InnerProductBackward(v.cview(), s, dout.cview(), dv.view(), beta);
        InnerProductBackward(g_v.cview(), s, g_dout.cview(), g_dv.view(), beta);
        break;
      case Op::kOuter:
        OuterProductBackward(v.cview(), s, kernel.data(), dout.cview(), dv.view(), dkernel.data(),
                             beta);
        OuterProductBackward(g_v.cview(), s, g_kernel.data(), g_dout.cview(), g_dv.view(),
                             g_dkernel.data(), beta);
        break;
    }
    const std::string wb = what + " beta=" + std::to_string(beta);
    if (rows > 0 && (out_cols > 0 || beta == 0.0f)) {
      EXPECT_GT(gpu->launches(), launches) << wb << " backward";
    }
    const TestMat got_dv = g_dv.ToHost();
    ExpectClose(wb + " dv", got_dv, dv, kTol);
    EXPECT_TRUE(got_dv.PaddingIntact()) << wb;
    if (op == Op::kOuter) {
      // dK sums B products per element, accumulated twice.
      const std::vector<float> got = g_dkernel.ToHost();
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_NEAR(got[i], dkernel[i], kTol * std::max(1.0f, std::fabs(dkernel[i])))
            << wb << " dkernel " << i;
      }
    }
  }
}

TEST_P(InteractionGpuTest, ForwardAndBackwardMatchTheCpuKernels) {
  Rng rng(51);
  for (Op op : {Op::kBi, Op::kInner, Op::kOuter}) {
    RunCase(gpu(), op, 37, 6, 5, &rng);
    RunCase(gpu(), op, 11, 2, 9, &rng);  // one pair
    RunCase(gpu(), op, 5, 1, 4, &rng);   // one field: no pairs
  }
}

TEST_P(InteractionGpuTest, AnEmptyBatchLeavesTheKernelGradientAlone) {
  Rng rng(52);
  for (Op op : {Op::kBi, Op::kInner, Op::kOuter}) RunCase(gpu(), op, 0, 4, 3, &rng);
}

MOEREC_GPU_KERNEL_TEST_SUITE(InteractionGpuTest);

}  // namespace
}  // namespace moerec::testing
