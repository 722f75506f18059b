#include "core/gpu.h"

#include <gtest/gtest.h>

namespace moerec {
namespace {

TEST(GpuTest, DescribesAnInventory) {
  GpuInventory none;
  none.why_none = "no CUDA-capable device is detected";
  EXPECT_EQ(DescribeGpus(none), "no GPU: no CUDA-capable device is detected");

  GpuInventory two;
  two.gpus.push_back({0, "NVIDIA H100", int64_t{80} << 30, 9, 0, 132});
  two.gpus.push_back({1, "NVIDIA A100", int64_t{40} << 30, 8, 0, 108});
  EXPECT_EQ(DescribeGpus(two),
            "2 GPUs: 0 NVIDIA H100 (80.0 GiB, sm_90, 132 SMs); 1 NVIDIA A100 (40.0 GiB, sm_80, "
            "108 SMs)");
}

TEST(GpuTest, ListsDevicesOrSaysWhyThereAreNone) {
  const GpuInventory inventory = ListGpus();
#ifdef MOEREC_HAVE_CUDA
  EXPECT_GT(inventory.runtime_version, 0) << "the CUDA build links a runtime";
#else
  EXPECT_EQ(inventory.why_none, "built without CUDA (MOEREC_CUDA=OFF)");
#endif
  if (inventory.gpus.empty()) {
    EXPECT_FALSE(inventory.why_none.empty());
    GTEST_SKIP() << DescribeGpus(inventory);
  }
  for (size_t i = 0; i < inventory.gpus.size(); ++i) {
    const GpuInfo& g = inventory.gpus[i];
    EXPECT_EQ(g.index, static_cast<int>(i));
    EXPECT_FALSE(g.name.empty());
    EXPECT_GT(g.memory_bytes, int64_t{1} << 30);
    EXPECT_GE(g.compute_major, 5);
    EXPECT_GT(g.multiprocessors, 0);
  }
  EXPECT_GT(inventory.driver_version, 0);
}

}  // namespace
}  // namespace moerec
