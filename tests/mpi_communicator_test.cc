// MpiCommunicator over real MPI ranks (mpirun -np 3): every collective against the values
// each rank can work out alone, on the world and on a split communicator.
#include "comm/mpi_communicator.h"

#include <gtest/gtest.h>
#include <mpi.h>

#include <string>
#include <vector>

#include "tests/mpi_test_main.h"

namespace moerec {
namespace {

class MpiCommunicatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto comm = MpiCommunicator::Create(MPI_COMM_WORLD, /*owned=*/false);
    ASSERT_TRUE(comm.ok()) << comm.status();
    comm_ = std::move(*comm);
    ASSERT_GE(comm_->size(), 2) << "run under mpirun with at least 2 ranks";
  }
  std::unique_ptr<MpiCommunicator> comm_;
};

TEST_F(MpiCommunicatorTest, RankAndSizeMatchMpi) {
  int rank = -1, size = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  EXPECT_EQ(comm_->rank(), rank);
  EXPECT_EQ(comm_->size(), size);
}

TEST_F(MpiCommunicatorTest, AllReduceSumAndMaxAreTheSameOnEveryRank) {
  const int r = comm_->rank(), n = comm_->size();
  std::vector<float> f = {1.0f, static_cast<float>(r), 0.5f * r};
  ASSERT_TRUE(comm_->AllReduceSum(f.data(), static_cast<int64_t>(f.size())).ok());
  const float ranks = n * (n - 1) / 2.0f;
  EXPECT_EQ(f, (std::vector<float>{static_cast<float>(n), ranks, 0.5f * ranks}));
  std::vector<double> d = {1e-3 * r, -1.0 * r};
  ASSERT_TRUE(comm_->AllReduceSum(d.data(), 2).ok());
  EXPECT_DOUBLE_EQ(d[1], -static_cast<double>(ranks));
  std::vector<double> m = {static_cast<double>(r), -static_cast<double>(r)};
  ASSERT_TRUE(comm_->AllReduceMax(m.data(), 2).ok());
  EXPECT_EQ(m, (std::vector<double>{static_cast<double>(n - 1), 0.0}));
  // Zero elements is a no-op, not an error.
  ASSERT_TRUE(comm_->AllReduceSum(f.data(), 0).ok());
}

TEST_F(MpiCommunicatorTest, AllGatherKeepsRankOrderAndUnevenSizes) {
  const int r = comm_->rank();
  const std::string mine(static_cast<size_t>(r) * 3, static_cast<char>('a' + r));
  std::vector<std::string> all;
  ASSERT_TRUE(comm_->AllGather(mine, &all).ok());
  ASSERT_EQ(static_cast<int>(all.size()), comm_->size());
  for (int k = 0; k < comm_->size(); ++k) {
    EXPECT_EQ(all[k], std::string(static_cast<size_t>(k) * 3, static_cast<char>('a' + k)));
  }
}

TEST_F(MpiCommunicatorTest, BroadcastFromAnyRoot) {
  for (int root = 0; root < comm_->size(); ++root) {
    std::vector<int> v(5, comm_->rank() == root ? root + 10 : -1);
    ASSERT_TRUE(
        comm_->Broadcast(v.data(), static_cast<int64_t>(v.size() * sizeof(int)), root).ok());
    EXPECT_EQ(v, std::vector<int>(5, root + 10));
  }
  ASSERT_TRUE(comm_->Barrier().ok());
}

TEST_F(MpiCommunicatorTest, ErrorsComeBackAsStatusNamingTheCall) {
  float x = 1.0f;
  const Status s = comm_->Broadcast(&x, sizeof(x), comm_->size() + 5);  // no such root
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("MPI_Bcast"), std::string::npos) << s;
  ASSERT_TRUE(comm_->Barrier().ok()) << "the communicator still works after an error";
}

TEST_F(MpiCommunicatorTest, OwnsASplitCommunicator) {
  MPI_Comm half = MPI_COMM_NULL;
  ASSERT_EQ(MPI_Comm_split(MPI_COMM_WORLD, comm_->rank() % 2, comm_->rank(), &half), MPI_SUCCESS);
  auto sub = MpiCommunicator::Create(half, /*owned=*/true);
  ASSERT_TRUE(sub.ok()) << sub.status();
  const int expected_size = (comm_->size() + (comm_->rank() % 2 == 0 ? 1 : 0)) / 2;
  EXPECT_EQ((*sub)->size(), expected_size);
  EXPECT_EQ((*sub)->rank(), comm_->rank() / 2);
  double one = 1.0;
  ASSERT_TRUE((*sub)->AllReduceSum(&one, 1).ok());
  EXPECT_DOUBLE_EQ(one, expected_size);
  EXPECT_FALSE(MpiCommunicator::Create(MPI_COMM_NULL, false).ok());
}

}  // namespace
}  // namespace moerec

MOEREC_MPI_TEST_MAIN()
