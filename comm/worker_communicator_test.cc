// MakeWorkerCommunicator's choice (MPI for CPU workers and host execution, NCCL for a device)
// and the device of a local rank. The NCCL case needs a GPU and skips, with the reason,
// without one; the rest runs everywhere.
#include "comm/worker_communicator.h"

#include <gtest/gtest.h>

#include <memory>

#include "comm/local_rank.h"
#ifdef MOEREC_HAVE_NCCL
#include "comm/nccl_communicator.h"
#endif

namespace moerec {
namespace {

TEST(WorkerCommunicatorTest, CpuWorkersAndHostExecutionKeepMpi) {
  SelfCommunicator mpi;
  auto none = MakeWorkerCommunicator(&mpi, nullptr);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, nullptr);
  EXPECT_FALSE(UsesNccl(nullptr));

  GpuResourcesOptions options;
  options.host_execution = true;
  auto host_exec = GpuResources::Create(options);
  ASSERT_TRUE(host_exec.ok()) << host_exec.status();
  EXPECT_FALSE(UsesNccl(host_exec->get()));
  auto chosen = MakeWorkerCommunicator(&mpi, host_exec->get());
  ASSERT_TRUE(chosen.ok()) << chosen.status();
  EXPECT_EQ(*chosen, nullptr);

  EXPECT_EQ(MakeWorkerCommunicator(nullptr, nullptr).status().code(), StatusCode::kInvalidArgument);
}

TEST(WorkerCommunicatorTest, AGpuWorkerGetsNccl) {
  auto gpu = GpuResources::Create(GpuResourcesOptions{});
  if (!gpu.ok()) GTEST_SKIP() << "no GPU: " << gpu.status().ToString();
  SelfCommunicator mpi;
  EXPECT_TRUE(UsesNccl(gpu->get()));
  auto chosen = MakeWorkerCommunicator(&mpi, gpu->get());
#ifdef MOEREC_HAVE_NCCL
  ASSERT_TRUE(chosen.ok()) << chosen.status();
  ASSERT_NE(*chosen, nullptr);
  EXPECT_NE(dynamic_cast<NcclCommunicator*>(chosen->get()), nullptr);
  EXPECT_EQ((*chosen)->size(), 1);
#else
  EXPECT_EQ(chosen.status().code(), StatusCode::kFailedPrecondition) << chosen.status();
#endif
}

TEST(LocalRankTest, LocalRanksShareTheVisibleGpusRoundRobin) {
  EXPECT_EQ(DeviceForLocalRank(0, 4), 0);
  EXPECT_EQ(DeviceForLocalRank(3, 4), 3);
  EXPECT_EQ(DeviceForLocalRank(5, 4), 1);
  EXPECT_EQ(DeviceForLocalRank(2, 1), 0);
  EXPECT_DEATH(DeviceForLocalRank(0, 0), "visible_gpus > 0");
}

}  // namespace
}  // namespace moerec
