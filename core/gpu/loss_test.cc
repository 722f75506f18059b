// core/gpu/loss.cu against core/loss.cc, through the CPU names: the view-taking losses on device
// views, the pointwise ones with their `device` argument on device arrays.
#include "core/loss.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/gpu/internal/array_test_util.h"
#include "core/gpu/internal/test_util.h"

namespace moerec::testing {
namespace {

using LossGpuTest = GpuKernelTest;

// Pointwise losses: expf on the device against std::exp (each within an ulp or two, 1e-7
// relative) in the probability, the gradient and the log1p term; the loss sum, in double, in
// chunks of 1024 instead of one running sum, adds only double rounding.
constexpr double kPointwiseTol = 1e-6;
// Candidate losses: the same double arithmetic on both sides (exp and log within an ulp in
// double); gradients are rounded to float once, so agree to a float ulp.
constexpr double kCandidateGradTol = 1e-6;
constexpr double kCandidateLossTol = 1e-9;

std::vector<float> RandomVector(int64_t n, Rng* rng, float lo, float hi) {
  std::vector<float> v(n);
  for (float& x : v) x = lo + (hi - lo) * rng->UniformFloat();
  return v;
}

TEST_P(LossGpuTest, MaskedSigmoidBceMatchesTheCpuKernel) {
  Rng rng(41);
  const int64_t n = 3000;  // several 1024-term chunks of the device sum
  const std::vector<float> logits = RandomVector(n, &rng, -12.0f, 12.0f);
  std::vector<float> labels(n);
  for (float& y : labels) y = rng.UniformFloat() < 0.5f ? 0.0f : 1.0f;
  labels[7] = 0.3f;  // soft labels are allowed
  std::vector<uint8_t> mask(n);
  for (uint8_t& m : mask) m = rng.UniformFloat() < 0.8f ? 1 : 0;
  const std::vector<float> weight = RandomVector(n, &rng, 0.0f, 2.0f);
  DeviceArray<float> d_logits(logits, gpu()), d_labels(labels, gpu()), d_weight(weight, gpu());
  DeviceArray<uint8_t> d_mask(mask, gpu());
  for (bool use_mask : {false, true}) {
    for (bool use_weight : {false, true}) {
      for (bool outputs : {true, false}) {
        const std::string what = "mask=" + std::to_string(use_mask) +
                                 " weight=" + std::to_string(use_weight) +
                                 " outputs=" + std::to_string(outputs);
        std::vector<float> probs(n, -1.0f), dlogits(n, -1.0f);
        const double want =
            MaskedSigmoidBce(logits.data(), labels.data(), use_mask ? mask.data() : nullptr,
                             use_weight ? weight.data() : nullptr, n,
                             outputs ? probs.data() : nullptr, outputs ? dlogits.data() : nullptr);
        DeviceArray<float> d_probs(std::vector<float>(n, -1.0f), gpu());
        DeviceArray<float> d_dlogits(std::vector<float>(n, -1.0f), gpu());
        const double got = MaskedSigmoidBce(
            d_logits.data(), d_labels.data(), use_mask ? d_mask.data() : nullptr,
            use_weight ? d_weight.data() : nullptr, n, outputs ? d_probs.data() : nullptr,
            outputs ? d_dlogits.data() : nullptr, gpu());
        ExpectCloseScalar("bce loss " + what, got, want, kPointwiseTol);
        // Untouched when not asked for: still the -1 they were filled with.
        ExpectCloseArrays("bce probs " + what, d_probs.ToHost(), probs, kPointwiseTol);
        ExpectCloseArrays("bce dlogits " + what, d_dlogits.ToHost(), dlogits, kPointwiseTol);
      }
    }
  }
  EXPECT_EQ(MaskedSigmoidBce(d_logits.data(), d_labels.data(), nullptr, nullptr, 0, nullptr,
                             nullptr, gpu()),
            0.0);
}

TEST_P(LossGpuTest, CandidateSoftmaxXentMatchesTheCpuKernel) {
  Rng rng(42);
  const int64_t q = 50, c = 37;
  TestMat z = RandomMat(q, c, 3, &rng, -6.0f, 6.0f);
  std::vector<int64_t> target(q);
  std::vector<uint8_t> valid(q * c);
  for (int64_t i = 0; i < q; ++i) {
    target[i] = static_cast<int64_t>(rng.Below(c));
    for (int64_t j = 0; j < c; ++j) valid[i * c + j] = rng.UniformFloat() < 0.7f ? 1 : 0;
    valid[i * c + target[i]] = 1;
  }
  DeviceMat d_z(z, gpu());
  DeviceArray<int64_t> d_target(target, gpu());
  DeviceArray<uint8_t> d_valid(valid, gpu());
  for (bool use_valid : {false, true}) {
    const std::string what = "valid=" + std::to_string(use_valid);
    TestMat dz(q, c, 2);
    const double want = CandidateSoftmaxXent(z.cview(), target.data(),
                                             use_valid ? valid.data() : nullptr, 0.7f, dz.view());
    DeviceMat d_dz(StaleMat(q, c, 2, &rng), gpu());
    const double got = CandidateSoftmaxXent(
        d_z.cview(), d_target.data(), use_valid ? d_valid.data() : nullptr, 0.7f, d_dz.view());
    ExpectCloseScalar("xent loss " + what, got, want, kCandidateLossTol);
    const TestMat got_dz = d_dz.ToHost();
    ExpectClose("xent dz " + what, got_dz, dz, kCandidateGradTol);
    EXPECT_TRUE(got_dz.PaddingIntact()) << what;
  }
  TestMat empty(0, c, 1);
  DeviceMat d_empty(empty, gpu()), d_dempty(empty, gpu());
  EXPECT_EQ(CandidateSoftmaxXent(d_empty.cview(), d_target.data(), nullptr, 1.0f, d_dempty.view()),
            0.0);
}

TEST_P(LossGpuTest, SoftmaxKlMatchesTheCpuKernel) {
  Rng rng(43);
  const int64_t q = 33, c = 21;
  TestMat t = RandomMat(q, c, 2, &rng, -4.0f, 4.0f), s = RandomMat(q, c, 1, &rng, -4.0f, 4.0f);
  DeviceMat d_t(t, gpu()), d_s(s, gpu());
  for (float tau : {1.0f, 2.5f}) {
    const std::string what = "tau=" + std::to_string(tau);
    TestMat ds(q, c, 3);
    const double want = SoftmaxKl(t.cview(), s.cview(), tau, 0.6f, ds.view());
    DeviceMat d_ds(StaleMat(q, c, 3, &rng), gpu());
    const double got = SoftmaxKl(d_t.cview(), d_s.cview(), tau, 0.6f, d_ds.view());
    ExpectCloseScalar("softmax kl " + what, got, want, kCandidateLossTol);
    const TestMat got_ds = d_ds.ToHost();
    ExpectClose("softmax kl ds " + what, got_ds, ds, kCandidateGradTol);
    EXPECT_TRUE(got_ds.PaddingIntact()) << what;
  }
}

TEST_P(LossGpuTest, SigmoidKlMatchesTheCpuKernel) {
  Rng rng(44);
  const int64_t n = 2500;
  const std::vector<float> t = RandomVector(n, &rng, -10.0f, 10.0f);
  const std::vector<float> s = RandomVector(n, &rng, -10.0f, 10.0f);
  DeviceArray<float> d_t(t, gpu()), d_s(s, gpu());
  for (float tau : {1.0f, 3.0f}) {
    const std::string what = "tau=" + std::to_string(tau);
    std::vector<float> ds(n);
    const double want = SigmoidKl(t.data(), s.data(), n, tau, 0.8f, ds.data());
    DeviceArray<float> d_ds(std::vector<float>(n), gpu());
    const double got = SigmoidKl(d_t.data(), d_s.data(), n, tau, 0.8f, d_ds.data(), gpu());
    // All in double on both sides: only the sum's order and libm's last bits differ.
    ExpectCloseScalar("sigmoid kl " + what, got, want, kCandidateLossTol);
    ExpectCloseArrays("sigmoid kl ds " + what, d_ds.ToHost(), ds, kCandidateGradTol);
  }
  EXPECT_EQ(SigmoidKl(d_t.data(), d_s.data(), 0, 1.0f, 1.0f, nullptr, gpu()), 0.0);
}

MOEREC_GPU_KERNEL_TEST_SUITE(LossGpuTest);

}  // namespace
}  // namespace moerec::testing
