// core/gpu/grouped_linear.cu against core/grouped_linear.cc, through the CPU names (the
// dispatch) and on device views: variable groups (one GEMM each, empty groups skipped) and
// equal groups over one strided weight tensor (one batched GEMM).
#include "core/grouped_linear.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "core/gpu/internal/test_util.h"

namespace moerec::testing {
namespace {

using GroupedLinearGpuTest = GpuKernelTest;

// GEMM entries and column sums: fp32 sums of up to 70 products in another order.
constexpr double kGemmTol = 1e-5;

// Per-group weights and biases on the host and the device, either one matrix per group or row
// blocks of one (G*I, O) matrix (evenly strided).
struct Groups {
  std::vector<TestMat> w, dw;  // separate: one per group
  TestMat w_all, dw_all;       // strided: (G*I, O)
  std::vector<std::unique_ptr<DeviceMat>> d_w, d_dw;
  std::unique_ptr<DeviceMat> d_w_all, d_dw_all;
  std::vector<std::vector<float>> b, db;
  std::vector<std::unique_ptr<DeviceArray<float>>> d_b, d_db;

  std::vector<ConstMatView> WViews(bool device, bool strided, int64_t in) const {
    std::vector<ConstMatView> v;
    for (size_t g = 0; g < b.size(); ++g) {
      if (strided) {
        v.push_back((device ? d_w_all->cview() : w_all.cview()).Rows(g * in, in));
      } else {
        v.push_back(device ? d_w[g]->cview() : w[g].cview());
      }
    }
    return v;
  }
  std::vector<MatView> DwViews(bool device, bool strided, int64_t in) {
    std::vector<MatView> v;
    for (size_t g = 0; g < b.size(); ++g) {
      if (strided) {
        v.push_back((device ? d_dw_all->view() : dw_all.view()).Rows(g * in, in));
      } else {
        v.push_back(device ? d_dw[g]->view() : dw[g].view());
      }
    }
    return v;
  }
};

Groups MakeGroups(int64_t groups, int64_t in, int64_t out, Rng* rng, GpuResources* gpu) {
  Groups s;
  s.w_all = RandomMat(groups * in, out, 2, rng);
  s.dw_all = RandomMat(groups * in, out, 2, rng);
  s.d_w_all = std::make_unique<DeviceMat>(s.w_all, gpu);
  s.d_dw_all = std::make_unique<DeviceMat>(s.dw_all, gpu);
  for (int64_t g = 0; g < groups; ++g) {
    s.w.push_back(RandomMat(in, out, 1 + g % 3, rng));
    s.dw.push_back(RandomMat(in, out, 1, rng));
    s.d_w.push_back(std::make_unique<DeviceMat>(s.w.back(), gpu));
    s.d_dw.push_back(std::make_unique<DeviceMat>(s.dw.back(), gpu));
    std::vector<float> b(out), db(out);
    for (float& x : b) x = rng->UniformFloat() - 0.5f;
    for (float& x : db) x = rng->UniformFloat() - 0.5f;
    s.b.push_back(b);
    s.db.push_back(db);
    s.d_b.push_back(std::make_unique<DeviceArray<float>>(b, gpu));
    s.d_db.push_back(std::make_unique<DeviceArray<float>>(db, gpu));
  }
  return s;
}

// Runs forward and backward on the host and on the device and compares every output.
// bias: 0 none (empty vectors), 1 every group, 2 every other group (nulls).
void CompareOnce(GpuResources* gpu, const std::vector<int64_t>& begin, bool strided, int bias,
                 float dx_beta, bool want_dx, Rng* rng) {
  const int64_t groups = static_cast<int64_t>(begin.size()) - 1, in = 19, out = 23;
  const int64_t rows = begin.back();
  const std::string what = std::string(strided ? "strided" : "separate") + " groups " +
                           std::to_string(groups) + " rows " + std::to_string(rows) + " bias " +
                           std::to_string(bias) + " dx_beta " + std::to_string(dx_beta) +
                           (want_dx ? "" : " no dx");
  Groups s = MakeGroups(groups, in, out, rng, gpu);
  TestMat x = RandomMat(rows, in, 3, rng);
  DeviceMat d_x(x, gpu);
  std::vector<const float*> b, d_b;
  std::vector<float*> db, d_db;
  for (int64_t g = 0; g < groups && bias != 0; ++g) {
    const bool has = bias == 1 || g % 2 == 0;
    b.push_back(has ? s.b[g].data() : nullptr);
    d_b.push_back(has ? s.d_b[g]->data() : nullptr);
    db.push_back(has ? s.db[g].data() : nullptr);
    d_db.push_back(has ? s.d_db[g]->data() : nullptr);
  }

  TestMat y = RandomMat(rows, out, 2, rng);
  DeviceMat d_y(y, gpu);
  GroupedLinearForward(x.cview(), begin, s.WViews(false, strided, in), b, y.view());
  GroupedLinearForward(d_x.cview(), begin, s.WViews(true, strided, in), d_b, d_y.view());
  const TestMat got_y = d_y.ToHost();
  ExpectClose(what + " y", got_y, y, kGemmTol);
  EXPECT_TRUE(got_y.PaddingIntact()) << what;

  TestMat dy = RandomMat(rows, out, 1, rng), dx = RandomMat(rows, in, 2, rng);
  DeviceMat d_dy(dy, gpu), d_dx(dx, gpu);
  MatView dx_view = want_dx ? dx.view() : MatView{};
  MatView d_dx_view = want_dx ? d_dx.view() : MatView{};
  GroupedLinearBackward(x.cview(), begin, s.WViews(false, strided, in), dy.cview(),
                        s.DwViews(false, strided, in), db, dx_view, dx_beta);
  GroupedLinearBackward(d_x.cview(), begin, s.WViews(true, strided, in), d_dy.cview(),
                        s.DwViews(true, strided, in), d_db, d_dx_view, dx_beta);
  const TestMat got_dx = d_dx.ToHost();
  ExpectClose(what + " dx", got_dx, dx, kGemmTol);
  EXPECT_TRUE(got_dx.PaddingIntact()) << what;
  if (strided) {
    const TestMat got_dw = s.d_dw_all->ToHost();
    ExpectClose(what + " dw", got_dw, s.dw_all, kGemmTol);
    EXPECT_TRUE(got_dw.PaddingIntact()) << what;
  }
  for (int64_t g = 0; g < groups; ++g) {
    if (!strided) {
      const TestMat got_dw = s.d_dw[g]->ToHost();
      ExpectClose(what + " dw " + std::to_string(g), got_dw, s.dw[g], kGemmTol);
      EXPECT_TRUE(got_dw.PaddingIntact()) << what;
    }
    const std::vector<float> got_db = s.d_db[g]->ToHost();
    for (int64_t j = 0; j < out; ++j) {
      EXPECT_NEAR(got_db[j], s.db[g][j], kGemmTol * std::max(1.0f, std::fabs(s.db[g][j])))
          << what << " db " << g << " " << j;
    }
  }
}

TEST_P(GroupedLinearGpuTest, VariableGroupsMatchTheCpuKernel) {
  Rng rng(31);
  const std::vector<int64_t> begin = {0, 13, 13, 40, 41, 70};  // group 1 empty, group 3 one row
  for (int bias : {0, 1, 2}) {
    for (float beta : {0.0f, 1.0f}) CompareOnce(gpu(), begin, false, bias, beta, true, &rng);
  }
  CompareOnce(gpu(), begin, false, 1, 0.0f, false, &rng);
  CompareOnce(gpu(), begin, true, 2, 1.0f, true, &rng);  // strided weights, unequal groups
}

TEST_P(GroupedLinearGpuTest, EqualGroupsOverStridedWeightsMatchTheCpuKernel) {
  Rng rng(32);
  const std::vector<int64_t> begin = {0, 16, 32, 48, 64};
  for (int bias : {0, 1, 2}) {
    for (float beta : {0.0f, 1.0f}) CompareOnce(gpu(), begin, true, bias, beta, true, &rng);
  }
  CompareOnce(gpu(), {0, 9}, true, 1, 1.0f, true, &rng);  // one group
}

TEST_P(GroupedLinearGpuTest, EqualGroupsOverStridedWeightsAreOneBatchedGemm) {
  Rng rng(33);
  const int64_t groups = 4, in = 19, out = 23, n = 16;
  Groups s = MakeGroups(groups, in, out, &rng, gpu());
  TestMat x = RandomMat(groups * n, in, 1, &rng), y(groups * n, out, 1);
  DeviceMat d_x(x, gpu()), d_y(y, gpu());
  const int64_t before = gpu()->launches();
  GroupedLinearForward(d_x.cview(), {0, n, 2 * n, 3 * n, 4 * n}, s.WViews(true, true, in), {},
                       d_y.view());
  EXPECT_EQ(gpu()->launches() - before, 1);
}

TEST_P(GroupedLinearGpuTest, EmptyBatchAndEmptyGroupsLeaveEverythingAsItWas) {
  Rng rng(34);
  CompareOnce(gpu(), {0, 0, 0, 0}, false, 1, 0.0f, true, &rng);
  CompareOnce(gpu(), {0, 0, 0, 0}, true, 1, 1.0f, true, &rng);
  // Only the last group has rows: one GEMM and one bias kernel per pass.
  CompareOnce(gpu(), {0, 0, 0, 11}, false, 1, 1.0f, true, &rng);
}

MOEREC_GPU_KERNEL_TEST_SUITE(GroupedLinearGpuTest);

}  // namespace
}  // namespace moerec::testing
