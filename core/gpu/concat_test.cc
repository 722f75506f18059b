// core/gpu/concat.cu against core/concat.cc, through the CPU names on device views.
#include "core/concat.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "core/gpu/internal/array_test_util.h"
#include "core/gpu/internal/test_util.h"

namespace moerec::testing {
namespace {

using ConcatGpuTest = GpuKernelTest;

// Copies: bit-exact.
constexpr double kExact = 0.0;

TEST_P(ConcatGpuTest, ConcatAndSplitMatchTheCpuKernel) {
  Rng rng(61);
  for (int64_t b : {23, 0}) {
    const std::string what = "rows=" + std::to_string(b);
    const std::vector<int64_t> widths = {5, 0, 13, 1};  // an empty part among them
    int64_t total = 0;
    std::vector<TestMat> parts;
    std::vector<std::unique_ptr<DeviceMat>> d_parts;
    std::vector<ConstMatView> views, d_views;
    for (size_t k = 0; k < widths.size(); ++k) {
      parts.push_back(RandomMat(b, widths[k], 1 + static_cast<int64_t>(k), &rng));
      total += widths[k];
    }
    for (size_t k = 0; k < widths.size(); ++k) {
      d_parts.push_back(std::make_unique<DeviceMat>(parts[k], gpu()));
      views.push_back(parts[k].cview());
      d_views.push_back(d_parts[k]->cview());
    }
    TestMat out(b, total, 3);
    ConcatColumnsForward(views, out.view());
    DeviceMat d_out(StaleMat(b, total, 3, &rng), gpu());
    ConcatColumnsForward(d_views, d_out.view());
    TestMat got = d_out.ToHost();
    ExpectClose("concat " + what, got, out, kExact);
    EXPECT_TRUE(got.PaddingIntact()) << what;

    TestMat dout = RandomMat(b, total, 2, &rng);
    DeviceMat d_dout(dout, gpu());
    std::vector<TestMat> dparts;
    std::vector<std::unique_ptr<DeviceMat>> d_dparts;
    std::vector<MatView> dviews, d_dviews;
    for (size_t k = 0; k < widths.size(); ++k) dparts.push_back(StaleMat(b, widths[k], 2, &rng));
    for (size_t k = 0; k < widths.size(); ++k) {
      d_dparts.push_back(std::make_unique<DeviceMat>(dparts[k], gpu()));
      dviews.push_back(dparts[k].view());
      d_dviews.push_back(d_dparts[k]->view());
    }
    ConcatColumnsBackward(dout.cview(), dviews);
    ConcatColumnsBackward(d_dout.cview(), d_dviews);
    for (size_t k = 0; k < widths.size(); ++k) {
      const TestMat got_part = d_dparts[k]->ToHost();
      ExpectClose("split part " + std::to_string(k) + " " + what, got_part, dparts[k], kExact);
      EXPECT_TRUE(got_part.PaddingIntact()) << what;
    }
  }
}

MOEREC_GPU_KERNEL_TEST_SUITE(ConcatGpuTest);

}  // namespace
}  // namespace moerec::testing
