// Helpers for GoogleTest binaries that run as every rank of an mpirun world: MPI is
// initialised once around RUN_ALL_TESTS, each rank prints only its failures, and the exit
// status is non-zero when any rank failed.
#ifndef MOEREC_TESTS_MPI_TEST_MAIN_H_
#define MOEREC_TESTS_MPI_TEST_MAIN_H_

#include <gtest/gtest.h>
#include <mpi.h>

#define MOEREC_MPI_TEST_MAIN()                                           \
  int main(int argc, char** argv) {                                      \
    int provided = 0;                                                    \
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);       \
    ::testing::InitGoogleTest(&argc, argv);                              \
    int rank = 0;                                                        \
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);                                \
    if (rank != 0) {                                                     \
      auto& listeners = ::testing::UnitTest::GetInstance()->listeners(); \
      delete listeners.Release(listeners.default_result_printer());      \
    }                                                                    \
    int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;                           \
    int any = 0;                                                         \
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);   \
    if (failed) fprintf(stderr, "rank %d: tests failed\n", rank);        \
    MPI_Finalize();                                                      \
    return any;                                                          \
  }

#endif  // MOEREC_TESTS_MPI_TEST_MAIN_H_
