// MpiCommunicator over real MPI ranks (mpirun -np 3 and -np 4): every collective against the
// values each rank can work out alone, on the world and on a split communicator; the
// all-to-alls' bad arguments fail on every rank alike.
#include "comm/mpi_communicator.h"

#include <gtest/gtest.h>
#include <mpi.h>

#include <climits>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "tests/mpi_test_main.h"

namespace moerec {
namespace {

// What rank `from` sends to rank `to` as its element k.
template <typename T>
T Value(int from, int to, int64_t k) {
  int64_t v = 1000 * from + 10 * to + k;
  if constexpr (std::is_same_v<T, int64_t>) v += int64_t{from + 1} << 40;  // needs 64 bits
  return static_cast<T>(v);
}

// How many elements rank `from` sends to rank `to` in the uneven exchange: zero for some
// pairs, and the last rank receives nothing at all.
int64_t UnevenCount(int from, int to, int n) { return to == n - 1 ? 0 : (from + to) % 3; }

// Displacements with `gap` unused elements before every block; returns the buffer size.
int64_t GappedDisplacements(const std::vector<int64_t>& counts, int64_t gap,
                            std::vector<int64_t>* displs) {
  displs->resize(counts.size());
  int64_t end = 0;
  for (size_t r = 0; r < counts.size(); ++r) {
    (*displs)[r] = end + gap;
    end += gap + counts[r];
  }
  return end;
}

constexpr int kSendGapValue = -7;  // what the unused elements of a buffer hold
constexpr int kRecvGapValue = -9;

// One rank's arguments of the uneven AllToAllV, and what it should receive.
template <typename T>
struct UnevenExchange {
  UnevenExchange(int rank, int n, int64_t send_gap, int64_t recv_gap)
      : send_counts(n), recv_counts(n) {
    for (int p = 0; p < n; ++p) {
      send_counts[p] = UnevenCount(rank, p, n);
      recv_counts[p] = UnevenCount(p, rank, n);
    }
    send.assign(GappedDisplacements(send_counts, send_gap, &send_displs), T(kSendGapValue));
    recv.assign(GappedDisplacements(recv_counts, recv_gap, &recv_displs), T(kRecvGapValue));
    expected = recv;
    for (int p = 0; p < n; ++p) {
      for (int64_t k = 0; k < send_counts[p]; ++k) send[send_displs[p] + k] = Value<T>(rank, p, k);
      for (int64_t k = 0; k < recv_counts[p]; ++k) {
        expected[recv_displs[p] + k] = Value<T>(p, rank, k);
      }
    }
  }
  Status Run(Communicator* comm) {
    return comm->AllToAllV(send.data(), send_counts, send_displs, recv.data(), recv_counts,
                           recv_displs);
  }

  std::vector<int64_t> send_counts, send_displs, recv_counts, recv_displs;
  std::vector<T> send, recv, expected;
};

template <typename T>
void ExpectAllToAll(Communicator* comm) {
  const int r = comm->rank(), n = comm->size();
  constexpr int64_t kCount = 3;
  std::vector<T> send(n * kCount), recv(n * kCount, T(kRecvGapValue)), expected(n * kCount);
  for (int p = 0; p < n; ++p) {
    for (int64_t k = 0; k < kCount; ++k) {
      send[p * kCount + k] = Value<T>(r, p, k);
      expected[p * kCount + k] = Value<T>(p, r, k);
    }
  }
  ASSERT_TRUE(comm->AllToAll(send.data(), recv.data(), kCount).ok());
  EXPECT_EQ(recv, expected);
}

template <typename T>
void ExpectUnevenAllToAllV(Communicator* comm, int64_t send_gap, int64_t recv_gap) {
  UnevenExchange<T> x(comm->rank(), comm->size(), send_gap, recv_gap);
  const Status s = x.Run(comm);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(x.recv, x.expected) << "gaps " << send_gap << ", " << recv_gap;
}

bool Mentions(const Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}

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

TEST_F(MpiCommunicatorTest, AllToAllMovesBlockPToRankP) {
  ExpectAllToAll<float>(comm_.get());
  ExpectAllToAll<int32_t>(comm_.get());
  ExpectAllToAll<int64_t>(comm_.get());
  ASSERT_TRUE(comm_->AllToAll(static_cast<const float*>(nullptr), nullptr, 0).ok());
}

TEST_F(MpiCommunicatorTest, AllToAllVUnevenCountsPackedAndWithGaps) {
  for (const auto& [send_gap, recv_gap] : {std::pair<int64_t, int64_t>{0, 0}, {1, 2}, {3, 0}}) {
    ExpectUnevenAllToAllV<float>(comm_.get(), send_gap, recv_gap);
    ExpectUnevenAllToAllV<int32_t>(comm_.get(), send_gap, recv_gap);
    ExpectUnevenAllToAllV<int64_t>(comm_.get(), send_gap, recv_gap);
  }
}

TEST_F(MpiCommunicatorTest, ExchangeCountsTransposesTheCounts) {
  const int r = comm_->rank(), n = comm_->size();
  UnevenExchange<float> x(r, n, 0, 0);
  std::vector<int64_t> recv_counts;
  ASSERT_TRUE(comm_->ExchangeCounts(x.send_counts, &recv_counts).ok());
  EXPECT_EQ(recv_counts, x.recv_counts);
  // Counts are int64 here, whatever the AllToAllV limit.
  const int64_t big = int64_t{1} << 35;
  std::vector<int64_t> send_counts(n), expected(n);
  for (int p = 0; p < n; ++p) {
    send_counts[p] = big + 10 * r + p;
    expected[p] = big + 10 * p + r;
  }
  ASSERT_TRUE(comm_->ExchangeCounts(send_counts, &recv_counts).ok());
  EXPECT_EQ(recv_counts, expected);
}

TEST_F(MpiCommunicatorTest, ExchangeCountsWithABadVectorFailsOnEveryRank) {
  const int r = comm_->rank(), n = comm_->size();
  std::vector<int64_t> send_counts(r == 1 ? n + 1 : n, 2), recv_counts;
  const Status s = comm_->ExchangeCounts(send_counts, &recv_counts);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Mentions(s, r == 1 ? "send_counts has " + std::to_string(n + 1) + " entries"
                                 : "rank 1 passed bad send_counts"))
      << s;
  send_counts.resize(n);
  ASSERT_TRUE(comm_->ExchangeCounts(send_counts, &recv_counts).ok());
  EXPECT_EQ(recv_counts, std::vector<int64_t>(n, 2));
}

TEST_F(MpiCommunicatorTest, AllToAllVCountMismatchFailsOnEveryRank) {
  const int r = comm_->rank(), n = comm_->size();
  UnevenExchange<int32_t> x(r, n, 1, 1);
  if (r == 1) x.recv_counts[0] += 1;  // rank 0 sends rank 1 UnevenCount(0, 1) = 1 element
  const Status s = x.Run(comm_.get());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Mentions(
      s, r == 1 ? "rank 1 expects 2 elements from rank 0, which sends 1" : "rank 1 reported"))
      << s;
  EXPECT_EQ(x.recv, std::vector<int32_t>(x.recv.size(), kRecvGapValue)) << "nothing received";
  // The communicator still works.
  ExpectUnevenAllToAllV<int32_t>(comm_.get(), 1, 1);
}

TEST_F(MpiCommunicatorTest, AllToAllVBadVectorsFailOnEveryRank) {
  const int r = comm_->rank(), n = comm_->size();
  // Rank 0: one send count too many. Peers get no count from it and report no mismatch.
  UnevenExchange<float> x(r, n, 0, 0);
  if (r == 0) x.send_counts.push_back(1);
  Status s = x.Run(comm_.get());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Mentions(
      s, r == 0 ? "send_counts has " + std::to_string(n + 1) + " entries, not " + std::to_string(n)
                : "rank 0 reported"))
      << s;
  // The last rank: a receive block past what MPI's int displacements reach.
  UnevenExchange<int64_t> y(r, n, 0, 0);
  if (r == n - 1) y.recv_displs[0] = int64_t{INT_MAX} + 1;
  s = y.Run(comm_.get());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Mentions(
      s, r == n - 1 ? "AllToAllV: recv_displs[0] + recv_counts[0] = 2147483648 + 0 elements "
                      "is past the limit of 2147483647"
                    : "rank " + std::to_string(n - 1) + " reported"))
      << s;
  // A negative count on every rank; AllToAll's count past INT_MAX (the same on every rank).
  UnevenExchange<float> z(r, n, 0, 0);
  z.recv_counts[0] = -1;
  s = z.Run(comm_.get());
  EXPECT_TRUE(Mentions(s, "recv_counts[0] = -1 is negative")) << s;
  float one = 1.0f, other = 0.0f;
  s = comm_->AllToAll(&one, &other, int64_t{INT_MAX} + 1);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  // The communicator still works.
  ExpectUnevenAllToAllV<float>(comm_.get(), 0, 0);
  ASSERT_TRUE(comm_->Barrier().ok());
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
