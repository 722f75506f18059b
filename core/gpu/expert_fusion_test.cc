// core/gpu/expert_fusion.cu against core/expert_fusion.cc, through the CPU names (the dispatch)
// and on device views.
#include "core/expert_fusion.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/gpu/internal/test_util.h"

namespace moerec::testing {
namespace {

using ExpertFusionGpuTest = GpuKernelTest;

// Each element is a sum of up to D (or T) floats and three products, the same operations in the
// same order as the CPU kernel; the device may contract multiply-adds into FMAs, a few ulps.
constexpr double kElementTol = 1e-5;
// The scalar gradients are double sums of float terms in the CPU kernel's order, the float
// terms (the fused blocks) again within a few ulps; rows are summed before, not onto, the
// accumulated value.
constexpr double kScalarTol = 1e-5;

struct Case {
  int64_t rows;
  int domains;
  int tasks;
};

TEST_P(ExpertFusionGpuTest, ForwardAndBackwardMatchTheCpuKernel) {
  Rng rng(21);
  const int64_t h = 5;
  for (const Case& c :
       {Case{37, 3, 2}, Case{29, 1, 1}, Case{23, 1, 3}, Case{19, 4, 1}, Case{0, 3, 2}}) {
    const std::string what = "rows " + std::to_string(c.rows) + " D " + std::to_string(c.domains) +
                             " T " + std::to_string(c.tasks);
    TestMat shared = RandomMat(c.rows, c.tasks * h, 2, &rng);
    TestMat domain = RandomMat(c.rows, c.domains * h, 1, &rng);
    TestMat task = RandomMat(c.rows, c.tasks * h, 3, &rng);
    std::vector<int32_t> domain_of(c.rows);
    for (int32_t& d : domain_of) d = static_cast<int32_t>(rng.Below(c.domains));
    const FusionWeights w{0.8f, 0.6f, 0.7f, 0.35f};
    DeviceMat d_shared(shared, gpu()), d_domain(domain, gpu()), d_task(task, gpu());
    DeviceArray<int32_t> d_domain_of(domain_of, gpu());

    TestMat z = RandomMat(c.rows, c.tasks * h, 2, &rng);
    DeviceMat d_z(z, gpu());
    M3oeFusionForward(shared.cview(), domain.cview(), task.cview(), domain_of.data(), c.domains,
                      c.tasks, w, z.view());
    M3oeFusionForward(d_shared.cview(), d_domain.cview(), d_task.cview(), d_domain_of.data(),
                      c.domains, c.tasks, w, d_z.view());
    const TestMat got_z = d_z.ToHost();
    ExpectClose(what + " z", got_z, z, kElementTol);
    EXPECT_TRUE(got_z.PaddingIntact()) << what;

    TestMat dz = RandomMat(c.rows, c.tasks * h, 1, &rng);
    TestMat ddomain = RandomMat(c.rows, c.domains * h, 2, &rng);  // written, so random first
    TestMat dtask = RandomMat(c.rows, c.tasks * h, 1, &rng);
    DeviceMat d_dz(dz, gpu()), d_ddomain(ddomain, gpu()), d_dtask(dtask, gpu());
    const double start[4] = {0.5, -0.25, 1.0, 2.0};
    double want_dw[4], got_dw[4];
    for (int s = 0; s < 4; ++s) want_dw[s] = got_dw[s] = start[s];
    M3oeFusionBackward(domain.cview(), task.cview(), domain_of.data(), c.domains, c.tasks, w,
                       dz.cview(), ddomain.view(), dtask.view(), want_dw);
    M3oeFusionBackward(d_domain.cview(), d_task.cview(), d_domain_of.data(), c.domains, c.tasks, w,
                       d_dz.cview(), d_ddomain.view(), d_dtask.view(), got_dw);
    const TestMat got_ddomain = d_ddomain.ToHost(), got_dtask = d_dtask.ToHost();
    ExpectClose(what + " ddomain", got_ddomain, ddomain, kElementTol);
    ExpectClose(what + " dtask", got_dtask, dtask, kElementTol);
    EXPECT_TRUE(got_ddomain.PaddingIntact()) << what;
    EXPECT_TRUE(got_dtask.PaddingIntact()) << what;
    for (int s = 0; s < 4; ++s) {
      EXPECT_NEAR(got_dw[s], want_dw[s], kScalarTol * std::max(1.0, std::fabs(want_dw[s])))
          << what << " dweights[" << s << "]";
    }
    if (c.rows == 0) {
      for (int s = 0; s < 4; ++s) EXPECT_EQ(got_dw[s], start[s]) << "an empty batch adds nothing";
    } else if (c.domains > 1 && c.tasks > 1) {
      // All four scalars receive a gradient: the comparison above is not of untouched values.
      for (int s = 0; s < 4; ++s) EXPECT_NE(got_dw[s], start[s]) << s;
    }
  }
}

MOEREC_GPU_KERNEL_TEST_SUITE(ExpertFusionGpuTest);

}  // namespace
}  // namespace moerec::testing
