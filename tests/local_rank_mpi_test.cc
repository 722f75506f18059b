// LocalRank and SelectWorkerDevice over real MPI ranks (mpirun -np 2 and -np 3, all on this
// node): local ranks follow the communicator's ranks, on the world and on a split communicator,
// and the device choice is the local rank mod the visible GPUs, or Unavailable without GPUs.
#include <gtest/gtest.h>
#include <mpi.h>

#include <string>

#include "comm/local_rank.h"
#include "core/gpu.h"
#include "tests/mpi_test_main.h"

namespace moerec {
namespace {

int WorldRank() {
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

TEST(LocalRankTest, EveryRankOfOneNodeIsItsOwnLocalRank) {
  auto local = LocalRank(MPI_COMM_WORLD);
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(*local, WorldRank());
}

TEST(LocalRankTest, FollowsASplitCommunicatorsRanks) {
  // Odd and even world ranks: local ranks count within each half, in world order.
  MPI_Comm half = MPI_COMM_NULL;
  ASSERT_EQ(MPI_Comm_split(MPI_COMM_WORLD, WorldRank() % 2, WorldRank(), &half), MPI_SUCCESS);
  auto local = LocalRank(half);
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(*local, WorldRank() / 2);
  MPI_Comm_free(&half);
  EXPECT_EQ(LocalRank(MPI_COMM_NULL).status().code(), StatusCode::kInvalidArgument);
}

TEST(LocalRankTest, SelectWorkerDeviceSharesTheVisibleGpus) {
  const GpuInventory inventory = ListGpus();
  auto device = SelectWorkerDevice(MPI_COMM_WORLD);
  if (inventory.gpus.empty()) {
    EXPECT_EQ(device.status().code(), StatusCode::kUnavailable) << device.status();
    EXPECT_NE(device.status().message().find("no GPU visible"), std::string::npos)
        << device.status();
  } else {
    ASSERT_TRUE(device.ok()) << device.status();
    EXPECT_EQ(*device, WorldRank() % static_cast<int>(inventory.gpus.size()));
  }
}

}  // namespace
}  // namespace moerec

MOEREC_MPI_TEST_MAIN()
