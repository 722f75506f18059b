// core/gpu/norm.cu against core/norm.cc, through the CPU names on device views and arrays.
#include "core/norm.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/gpu/internal/array_test_util.h"
#include "core/gpu/internal/test_util.h"

namespace moerec::testing {
namespace {

using NormGpuTest = GpuKernelTest;

// Row and column reductions of up to 64 fp32 terms in another order than the CPU's row blocks
// (LayerNorm's row sums use the CPU's lane order, but fused multiply-adds round differently),
// then a normalisation that can amplify them a few times.
constexpr double kTol = 1e-5;
// L2Normalize sums in double on both sides; only the final float products can differ.
constexpr double kL2Tol = 1e-6;

std::vector<float> RandomVector(int64_t n, Rng* rng, float lo = -1.0f, float hi = 1.0f) {
  std::vector<float> v(n);
  for (float& x : v) x = lo + (hi - lo) * rng->UniformFloat();
  return v;
}

TEST_P(NormGpuTest, LayerNormMatchesTheCpuKernel) {
  Rng rng(51);
  for (int64_t c : {5, 53}) {  // below one lane block, and 3 blocks of 16 plus a tail
    const std::string what = "c=" + std::to_string(c);
    const int64_t b = 64;
    TestMat x = RandomMat(b, c, 3, &rng, -2.0f, 3.0f), y(b, c, 2);
    const std::vector<float> gamma = RandomVector(c, &rng, 0.5f, 1.5f);
    const std::vector<float> beta = RandomVector(c, &rng);
    LayerNormCache cache;
    LayerNormForward(x.cview(), gamma.data(), beta.data(), 1e-5f, y.view(), &cache);
    DeviceMat d_x(x, gpu()), d_y(StaleMat(b, c, 2, &rng), gpu());
    DeviceArray<float> d_gamma(gamma, gpu()), d_beta(beta, gpu());
    LayerNormCache d_cache;  // starts on the host: the forward pass moves it to the device
    LayerNormForward(d_x.cview(), d_gamma.data(), d_beta.data(), 1e-5f, d_y.view(), &d_cache);
    EXPECT_EQ(d_cache.mean.gpu(), gpu());
    TestMat got = d_y.ToHost();
    ExpectClose("layernorm forward " + what, got, y, kTol);
    EXPECT_TRUE(got.PaddingIntact()) << what;
    ExpectCloseArrays("layernorm mean " + what, HostValues(d_cache.mean), HostValues(cache.mean),
                      kTol);
    ExpectCloseArrays("layernorm rstd " + what, HostValues(d_cache.rstd), HostValues(cache.rstd),
                      kTol);

    TestMat dy = RandomMat(b, c, 1, &rng), dx(b, c, 4);
    std::vector<float> dgamma = RandomVector(c, &rng), dbeta = RandomVector(c, &rng);
    DeviceMat d_dy(dy, gpu()), d_dx(StaleMat(b, c, 4, &rng), gpu());
    DeviceArray<float> d_dgamma(dgamma, gpu()), d_dbeta(dbeta, gpu());
    LayerNormBackward(x.cview(), gamma.data(), cache, dy.cview(), dx.view(), dgamma.data(),
                      dbeta.data());
    LayerNormBackward(d_x.cview(), d_gamma.data(), d_cache, d_dy.cview(), d_dx.view(),
                      d_dgamma.data(), d_dbeta.data());
    got = d_dx.ToHost();
    ExpectClose("layernorm dx " + what, got, dx, kTol);
    EXPECT_TRUE(got.PaddingIntact()) << what;
    ExpectCloseArrays("layernorm dgamma " + what, d_dgamma.ToHost(), dgamma, kTol);
    ExpectCloseArrays("layernorm dbeta " + what, d_dbeta.ToHost(), dbeta, kTol);
  }
  // An empty batch leaves empty caches and writes nothing.
  TestMat e(0, 7, 1);
  DeviceMat d_e(e, gpu()), d_ey(e, gpu());
  const std::vector<float> ones(7, 1.0f);
  DeviceArray<float> d_ones(ones, gpu());
  LayerNormCache cache;
  LayerNormForward(d_e.cview(), d_ones.data(), d_ones.data(), 1e-5f, d_ey.view(), &cache);
  EXPECT_EQ(cache.mean.size(), 0);
}

// Shared by the GroupBatchNorm tests: B rows over G groups, where group 2 has a single row and
// group 3 none (both special cases of the running statistics).
struct GroupBatch {
  static constexpr int kGroups = 4;
  static constexpr int64_t kRows = 61, kCols = 19;
  std::vector<int32_t> group;
  TestMat x;
  std::vector<float> gamma, beta;
  explicit GroupBatch(Rng* rng) : group(kRows) {
    for (int64_t r = 0; r < kRows; ++r) group[r] = static_cast<int32_t>(rng->Below(2));
    group[17] = 2;
    x = RandomMat(kRows, kCols, 3, rng, -1.0f, 2.0f);
    gamma = RandomVector(kGroups * kCols, rng, 0.5f, 1.5f);
    beta = RandomVector(kGroups * kCols, rng);
  }
};

// Two identical workers: the all-reduce doubles every partial sum (counts included), so the
// synchronised statistics are those of the batch twice over.
void TwoIdenticalWorkers(double* data, int64_t n) {
  for (int64_t i = 0; i < n; ++i) data[i] *= 2.0;
}

TEST_P(NormGpuTest, GroupBatchNormMatchesTheCpuKernelInEveryMode) {
  Rng rng(52);
  const GroupBatch in(&rng);
  const int64_t b = GroupBatch::kRows, c = GroupBatch::kCols, gc = GroupBatch::kGroups * c;
  const GroupSum two_workers = TwoIdenticalWorkers;
  DeviceMat d_x(in.x, gpu());
  DeviceArray<int32_t> d_group(in.group, gpu());
  DeviceArray<float> d_gamma(in.gamma, gpu()), d_beta(in.beta, gpu());
  for (bool training : {true, false}) {
    for (bool synced : {false, true}) {
      const std::string what =
          std::string(training ? "training" : "inference") + (synced ? " synchronised" : "");
      const GroupSum* sum = synced ? &two_workers : nullptr;
      std::vector<float> rm = RandomVector(gc, &rng), rv = RandomVector(gc, &rng, 0.5f, 2.0f);
      DeviceArray<float> d_rm(rm, gpu()), d_rv(rv, gpu());
      TestMat y(b, c, 2);
      GroupBatchNormCache cache;
      GroupBatchNormForward(in.x.cview(), in.group.data(), GroupBatch::kGroups, in.gamma.data(),
                            in.beta.data(), 1e-5f, 0.1f, training, rm.data(), rv.data(), y.view(),
                            &cache, sum);
      DeviceMat d_y(StaleMat(b, c, 2, &rng), gpu());
      GroupBatchNormCache d_cache;
      GroupBatchNormForward(d_x.cview(), d_group.data(), GroupBatch::kGroups, d_gamma.data(),
                            d_beta.data(), 1e-5f, 0.1f, training, d_rm.data(), d_rv.data(),
                            d_y.view(), &d_cache, sum);
      TestMat got = d_y.ToHost();
      ExpectClose("gbn forward " + what, got, y, kTol);
      EXPECT_TRUE(got.PaddingIntact()) << what;
      ExpectCloseArrays("gbn running mean " + what, d_rm.ToHost(), rm, kTol);
      ExpectCloseArrays("gbn running var " + what, d_rv.ToHost(), rv, kTol);
      ExpectCloseArrays("gbn count " + what, HostValues(d_cache.count), HostValues(cache.count),
                        0.0);
      ExpectCloseArrays("gbn mean " + what, HostValues(d_cache.mean), HostValues(cache.mean), kTol);
      ExpectCloseArrays("gbn rstd " + what, HostValues(d_cache.rstd), HostValues(cache.rstd), kTol);

      TestMat dy = RandomMat(b, c, 1, &rng), dx(b, c, 3);
      std::vector<float> dgamma = RandomVector(gc, &rng), dbeta = RandomVector(gc, &rng);
      DeviceMat d_dy(dy, gpu()), d_dx(StaleMat(b, c, 3, &rng), gpu());
      DeviceArray<float> d_dgamma(dgamma, gpu()), d_dbeta(dbeta, gpu());
      GroupBatchNormBackward(in.x.cview(), in.group.data(), in.gamma.data(), cache, dy.cview(),
                             dx.view(), dgamma.data(), dbeta.data(), sum);
      GroupBatchNormBackward(d_x.cview(), d_group.data(), d_gamma.data(), d_cache, d_dy.cview(),
                             d_dx.view(), d_dgamma.data(), d_dbeta.data(), sum);
      got = d_dx.ToHost();
      ExpectClose("gbn dx " + what, got, dx, kTol);
      EXPECT_TRUE(got.PaddingIntact()) << what;
      ExpectCloseArrays("gbn dgamma " + what, d_dgamma.ToHost(), dgamma, kTol);
      ExpectCloseArrays("gbn dbeta " + what, d_dbeta.ToHost(), dbeta, kTol);
    }
  }
}

TEST_P(NormGpuTest, GroupBatchNormStateOverloadRunsOnTheDevice) {
  Rng rng(53);
  const GroupBatch in(&rng);
  const int64_t b = GroupBatch::kRows, c = GroupBatch::kCols;
  GroupBatchNormState state;
  state.Init(GroupBatch::kGroups, c);
  GroupBatchNormState d_state;
  d_state.running_mean = Tensor({1}, gpu());
  d_state.running_var = Tensor({1}, gpu());
  d_state.Init(GroupBatch::kGroups, c);  // Init keeps the tensors' device
  TestMat y(b, c, 2);
  GroupBatchNormCache cache, d_cache;
  DeviceMat d_x(in.x, gpu()), d_y(StaleMat(b, c, 2, &rng), gpu());
  DeviceArray<int32_t> d_group(in.group, gpu());
  DeviceArray<float> d_gamma(in.gamma, gpu()), d_beta(in.beta, gpu());
  for (bool training : {true, true, false}) {
    GroupBatchNormForward(in.x.cview(), in.group.data(), in.gamma.data(), in.beta.data(), 1e-5f,
                          0.2f, training, &state, y.view(), &cache);
    GroupBatchNormForward(d_x.cview(), d_group.data(), d_gamma.data(), d_beta.data(), 1e-5f, 0.2f,
                          training, &d_state, d_y.view(), &d_cache);
    ExpectClose("gbn state forward", d_y.ToHost(), y, kTol);
    ExpectCloseArrays("gbn state running mean", HostValues(d_state.running_mean),
                      HostValues(state.running_mean), kTol);
    ExpectCloseArrays("gbn state running var", HostValues(d_state.running_var),
                      HostValues(state.running_var), kTol);
  }
}

TEST_P(NormGpuTest, GroupBatchNormWithAnEmptyBatchStillTakesPartInTheSum) {
  // A synchronised worker without rows still calls the training passes (and the all-reduce).
  const int groups = 2;
  const int64_t c = 6;
  int calls = 0;
  const GroupSum count_calls = [&](double*, int64_t) { ++calls; };
  const std::vector<float> ones(groups * c, 1.0f), zeros(groups * c, 0.0f);
  DeviceArray<float> d_gamma(ones, gpu()), d_beta(zeros, gpu()), d_rm(zeros, gpu()),
      d_rv(ones, gpu()), d_dgamma(zeros, gpu()), d_dbeta(zeros, gpu());
  DeviceArray<int32_t> d_group(std::vector<int32_t>{}, gpu());
  TestMat e(0, c, 1);
  DeviceMat d_x(e, gpu()), d_y(e, gpu()), d_dy(e, gpu()), d_dx(e, gpu());
  GroupBatchNormCache cache;
  GroupBatchNormForward(d_x.cview(), d_group.data(), groups, d_gamma.data(), d_beta.data(), 1e-5f,
                        0.1f, true, d_rm.data(), d_rv.data(), d_y.view(), &cache, &count_calls);
  GroupBatchNormBackward(d_x.cview(), d_group.data(), d_gamma.data(), cache, d_dy.cview(),
                         d_dx.view(), d_dgamma.data(), d_dbeta.data(), &count_calls);
  EXPECT_EQ(calls, 3);  // forward sums and counts, forward squares, backward sums
  // Nothing to normalise: the running statistics and the gradients are unchanged.
  ExpectCloseArrays("running mean", d_rm.ToHost(), zeros, 0.0);
  ExpectCloseArrays("running var", d_rv.ToHost(), ones, 0.0);
  ExpectCloseArrays("dgamma", d_dgamma.ToHost(), zeros, 0.0);
}

TEST_P(NormGpuTest, L2NormalizeMatchesTheCpuKernel) {
  Rng rng(54);
  const int64_t b = 40, c = 23;
  const float eps = 1e-6f;
  TestMat x = RandomMat(b, c, 2, &rng);
  for (int64_t j = 0; j < c; ++j) x.at(5, j) = 1e-9f;  // below eps: a plain scaling
  TestMat y(b, c, 3);
  Tensor rnorm;
  L2NormalizeForward(x.cview(), eps, y.view(), &rnorm);
  DeviceMat d_x(x, gpu()), d_y(StaleMat(b, c, 3, &rng), gpu());
  Tensor d_rnorm;  // placed on the device by the forward pass
  L2NormalizeForward(d_x.cview(), eps, d_y.view(), &d_rnorm);
  EXPECT_EQ(d_rnorm.gpu(), gpu());
  TestMat got = d_y.ToHost();
  ExpectClose("l2 forward", got, y, kL2Tol);
  EXPECT_TRUE(got.PaddingIntact());
  ExpectCloseArrays("l2 rnorm", HostValues(d_rnorm), HostValues(rnorm), kL2Tol);

  TestMat dy = RandomMat(b, c, 1, &rng), dx(b, c, 2);
  L2NormalizeBackward(y.cview(), rnorm, eps, dy.cview(), dx.view());
  DeviceMat d_dy(dy, gpu()), d_dx(StaleMat(b, c, 2, &rng), gpu());
  L2NormalizeBackward(d_y.cview(), d_rnorm, eps, d_dy.cview(), d_dx.view());
  got = d_dx.ToHost();
  // The clamped row's gradient is dy / eps (about 1e6): relative tolerance.
  ExpectClose("l2 backward", got, dx, kL2Tol);
  EXPECT_TRUE(got.PaddingIntact());

  // An empty batch: an empty rnorm on the device.
  TestMat e(0, c, 1);
  DeviceMat d_e(e, gpu()), d_ey(e, gpu());
  L2NormalizeForward(d_e.cview(), eps, d_ey.view(), &d_rnorm);
  EXPECT_EQ(d_rnorm.size(), 0);
}

MOEREC_GPU_KERNEL_TEST_SUITE(NormGpuTest);

}  // namespace
}  // namespace moerec::testing
