// HealthMonitor over real MPI ranks (mpirun -np 3): the heartbeat thread runs beside the main
// thread's own MPI traffic, survives ranks that are slow to stop, and Stop() returns on every
// rank after every rank said goodbye; started and stopped again several times in one process
// (the thread-safety of Start/Stop is what the TSan build of tests/ci_extra.sh checks here).
// A rank that goes silent is tests/fault_tolerance_test.py's hung_rank.
#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "scheduler/health.h"
#include "tests/mpi_test_main.h"

namespace moerec {
namespace {

using Clock = std::chrono::steady_clock;

HealthMonitor::Options FastOptions() {
  HealthMonitor::Options options;
  options.interval_s = 0.02;
  options.timeout_s = 20;
  options.describe = [](int r) { return "rank " + std::to_string(r); };
  return options;
}

TEST(HealthMonitorTest, RunsBesideTheRanksOwnTrafficAndStopsEverywhere) {
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  for (int round = 0; round < 3; ++round) {
    auto monitor = HealthMonitor::Start(MPI_COMM_WORLD, FastOptions());
    ASSERT_TRUE(monitor.ok()) << monitor.status().ToString();
    // The main thread's collectives go on while heartbeats fly on the monitor's communicator
    // (a fixed count: every rank must call the same collectives).
    for (int i = 0; i < 60; ++i) {
      int mine = rank + round, sum = 0;
      ASSERT_EQ(MPI_Allreduce(&mine, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD), MPI_SUCCESS);
      EXPECT_EQ(sum, size * (size - 1) / 2 + size * round);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    // Ranks reach Stop at different times; the last one comes well after several intervals.
    std::this_thread::sleep_for(std::chrono::milliseconds(40 * rank));
    const Clock::time_point stopping = Clock::now();
    (*monitor)->Stop();
    EXPECT_LT(std::chrono::duration<double>(Clock::now() - stopping).count(), 10.0);
    monitor->reset();
  }
}

TEST(HealthMonitorTest, DestroyedWithoutStopEndsItsThreadAtOnce) {
  // Every rank leaves "on an error" at the same moment: nobody waits for goodbyes, and the
  // silence that follows ends no job (the monitors are gone).
  auto monitor = HealthMonitor::Start(MPI_COMM_WORLD, FastOptions());
  ASSERT_TRUE(monitor.ok()) << monitor.status().ToString();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  MPI_Barrier(MPI_COMM_WORLD);
  const Clock::time_point start = Clock::now();
  monitor->reset();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 2.0);
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace
}  // namespace moerec

MOEREC_MPI_TEST_MAIN()
