// Helpers for GoogleTest binaries that run as every rank of an mpirun world: MPI is
// initialised once around RUN_ALL_TESTS, each rank prints only its failures, and the exit
// status is non-zero when any rank failed. MOEREC_MPI_TEST_MAIN_SKIPPABLE() also exits with
// kMpiTestSkipped (77, CTest's SKIP_RETURN_CODE of these tests) when no rank failed and every
// test of every rank was skipped (GPU tests on a machine without the GPUs they need), so CTest
// reports the test as skipped instead of passed.
#ifndef MOEREC_TESTS_MPI_TEST_MAIN_H_
#define MOEREC_TESTS_MPI_TEST_MAIN_H_

#include <gtest/gtest.h>
#include <mpi.h>

inline constexpr int kMpiTestSkipped = 77;

#define MOEREC_MPI_TEST_MAIN_WITH(skippable)                                                      \
  int main(int argc, char** argv) {                                                               \
    int provided = 0;                                                                             \
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);                                \
    ::testing::InitGoogleTest(&argc, argv);                                                       \
    int rank = 0;                                                                                 \
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);                                                         \
    if (rank != 0) {                                                                              \
      auto& listeners = ::testing::UnitTest::GetInstance()->listeners();                          \
      delete listeners.Release(listeners.default_result_printer());                               \
    }                                                                                             \
    int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;                                                    \
    int any = 0;                                                                                  \
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);                            \
    const auto* unit = ::testing::UnitTest::GetInstance();                                        \
    int all_skipped =                                                                             \
        unit->test_to_run_count() > 0 && unit->skipped_test_count() == unit->test_to_run_count(); \
    int every = 0;                                                                                \
    MPI_Allreduce(&all_skipped, &every, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);                     \
    if (failed) fprintf(stderr, "rank %d: tests failed\n", rank);                                 \
    MPI_Finalize();                                                                               \
    if (any == 0 && every == 1 && (skippable)) return kMpiTestSkipped;                            \
    return any;                                                                                   \
  }

#define MOEREC_MPI_TEST_MAIN() MOEREC_MPI_TEST_MAIN_WITH(false)
#define MOEREC_MPI_TEST_MAIN_SKIPPABLE() MOEREC_MPI_TEST_MAIN_WITH(true)

#endif  // MOEREC_TESTS_MPI_TEST_MAIN_H_
