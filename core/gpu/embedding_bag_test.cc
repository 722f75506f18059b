// core/gpu/embedding_bag.cu against core/embedding_bag.cc, through the CPU names (the
// dispatch) and on device views, with offsets and index on the device.
#include "core/embedding_bag.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/gpu/internal/test_util.h"

namespace moerec::testing {
namespace {

using EmbeddingBagGpuTest = GpuKernelTest;

// Both passes make the CPU kernel's additions in its order (the backward's CSR keeps the
// (bag, position) order per row); 1e-6 leaves room for multiply-adds the device contracts.
constexpr double kTol = 1e-6;

struct Bags {
  std::vector<uint32_t> offsets;
  std::vector<int32_t> index;
};

// `bags` bags of 0 to max_len entries over `rows` rows (repeats within and across bags).
Bags RandomBags(int64_t bags, int64_t rows, int max_len, Rng* rng) {
  Bags b;
  b.offsets.push_back(0);
  for (int64_t i = 0; i < bags; ++i) {
    const int64_t len = static_cast<int64_t>(rng->Below(max_len + 1));
    for (int64_t k = 0; k < len; ++k) b.index.push_back(static_cast<int32_t>(rng->Below(rows)));
    b.offsets.push_back(static_cast<uint32_t>(b.index.size()));
  }
  return b;
}

void Compare(GpuResources* gpu, int64_t bags, int64_t rows, int64_t d, int max_len, Rng* rng) {
  for (PoolingMode mode : {PoolingMode::kSum, PoolingMode::kMean}) {
    const std::string what = std::string(mode == PoolingMode::kSum ? "sum" : "mean") + " bags " +
                             std::to_string(bags) + " rows " + std::to_string(rows);
    const Bags b = RandomBags(bags, rows, max_len, rng);
    DeviceArray<uint32_t> d_offsets(b.offsets, gpu);
    DeviceArray<int32_t> d_index(b.index, gpu);
    TestMat table = RandomMat(rows, d, 2, rng);
    TestMat out = RandomMat(bags, d, 3, rng);  // written, so random first
    DeviceMat d_table(table, gpu), d_out(out, gpu);
    EmbeddingBagForward(table.cview(), b.offsets.data(), b.index.data(), mode, out.view());
    EmbeddingBagForward(d_table.cview(), d_offsets.data(), d_index.data(), mode, d_out.view());
    const TestMat got_out = d_out.ToHost();
    ExpectClose(what + " out", got_out, out, kTol);
    EXPECT_TRUE(got_out.PaddingIntact()) << what;

    TestMat dout = RandomMat(bags, d, 1, rng);
    TestMat drows = RandomMat(rows, d, 2, rng);  // accumulated into; untouched rows stay
    DeviceMat d_dout(dout, gpu), d_drows(drows, gpu);
    EmbeddingBagBackward(dout.cview(), b.offsets.data(), b.index.data(), mode, drows.view());
    EmbeddingBagBackward(d_dout.cview(), d_offsets.data(), d_index.data(), mode, d_drows.view());
    const TestMat got_drows = d_drows.ToHost();
    ExpectClose(what + " drows", got_drows, drows, kTol);
    EXPECT_TRUE(got_drows.PaddingIntact()) << what;
  }
}

TEST_P(EmbeddingBagGpuTest, SumAndMeanMatchTheCpuKernel) {
  Rng rng(41);
  Compare(gpu(), 23, 31, 7, 5, &rng);   // empty bags, shared rows
  Compare(gpu(), 50, 4, 9, 12, &rng);   // many entries per row
  Compare(gpu(), 17, 200, 3, 2, &rng);  // most rows untouched
}

TEST_P(EmbeddingBagGpuTest, EmptyBatchAndEmptyBagsWriteZerosAndAddNothing) {
  Rng rng(42);
  Compare(gpu(), 0, 5, 4, 3, &rng);
  Compare(gpu(), 6, 5, 4, 0, &rng);  // every bag empty: out is zeros
}

MOEREC_GPU_KERNEL_TEST_SUITE(EmbeddingBagGpuTest);

}  // namespace
}  // namespace moerec::testing
