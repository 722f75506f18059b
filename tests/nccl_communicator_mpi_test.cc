// NcclCommunicator over real ranks (mpirun -np 2, one GPU per rank, chosen by
// SelectWorkerDevice): every collective against MpiCommunicator's result on the same inputs,
// and the all-to-alls' bad arguments fail on every rank with the statuses MPI gives. Needs as
// many GPUs as ranks on the node; otherwise every test skips, with the reason, and the binary
// exits 77 so that CTest reports it skipped.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "comm/local_rank.h"
#include "comm/mpi_communicator.h"
#include "comm/nccl_communicator.h"
#include "core/gpu.h"
#include "core/gpu/resources.h"
#include "tests/mpi_test_main.h"

namespace moerec {
namespace {

// A host vector copied to device memory of `gpu`.
template <typename T>
class DeviceVector {
 public:
  DeviceVector(const std::vector<T>& host, GpuResources* gpu) : gpu_(gpu), n_(host.size()) {
    data_ = static_cast<T*>(gpu->Allocate(std::max<int64_t>(n_, 1) * sizeof(T)));
    if (n_ > 0) gpu->CopySync(data_, host.data(), n_ * sizeof(T), GpuResources::kHostToDevice);
  }
  ~DeviceVector() { gpu_->Free(data_); }
  DeviceVector(const DeviceVector&) = delete;
  DeviceVector& operator=(const DeviceVector&) = delete;
  T* data() { return data_; }
  std::vector<T> ToHost() const {
    std::vector<T> host(n_);
    if (n_ > 0) gpu_->CopySync(host.data(), data_, n_ * sizeof(T), GpuResources::kDeviceToHost);
    return host;
  }

 private:
  GpuResources* gpu_;
  int64_t n_;
  T* data_;
};

// What rank `from` sends to rank `to` as its element k.
template <typename T>
T Value(int from, int to, int64_t k) {
  int64_t v = 1000 * from + 10 * to + k;
  if constexpr (std::is_same_v<T, int64_t>) v += int64_t{from + 1} << 40;  // needs 64 bits
  return static_cast<T>(v);
}

// The uneven exchange of tests/mpi_communicator_test.cc: some pairs send nothing, the last
// rank receives nothing; `gap` unused elements (value -7 / -9) before every block.
template <typename T>
struct UnevenExchange {
  UnevenExchange(int rank, int n, int64_t gap) : send_counts(n), recv_counts(n) {
    auto count = [n](int from, int to) -> int64_t {
      return to == n - 1 ? 0 : 100 * ((from + to) % 3);
    };
    for (int p = 0; p < n; ++p) {
      send_counts[p] = count(rank, p);
      recv_counts[p] = count(p, rank);
    }
    send.assign(Gapped(send_counts, gap, &send_displs), T(-7));
    recv.assign(Gapped(recv_counts, gap, &recv_displs), T(-9));
    for (int p = 0; p < n; ++p) {
      for (int64_t k = 0; k < send_counts[p]; ++k) send[send_displs[p] + k] = Value<T>(rank, p, k);
    }
  }
  static int64_t Gapped(const std::vector<int64_t>& counts, int64_t gap,
                        std::vector<int64_t>* displs) {
    displs->resize(counts.size());
    int64_t end = 0;
    for (size_t r = 0; r < counts.size(); ++r) {
      (*displs)[r] = end + gap;
      end += gap + counts[r];
    }
    return end;
  }

  std::vector<int64_t> send_counts, send_displs, recv_counts, recv_displs;
  std::vector<T> send, recv;
};

class NcclCommunicatorMpiTest : public ::testing::Test {
 protected:
  // One NCCL communicator for the whole suite: its bootstrap is the slow part.
  static void SetUpTestSuite() {
    auto mpi = MpiCommunicator::Create(MPI_COMM_WORLD, /*owned=*/false);
    CHECK(mpi.ok()) << mpi.status();
    mpi_ = mpi->release();
    const GpuInventory inventory = ListGpus();
    if (static_cast<int>(inventory.gpus.size()) < mpi_->size()) {
      skip_ = "needs one GPU per rank: " + std::to_string(mpi_->size()) + " ranks, " +
              DescribeGpus(inventory);
      return;
    }
    auto device = SelectWorkerDevice(MPI_COMM_WORLD);
    CHECK(device.ok()) << device.status();
    GpuResourcesOptions options;
    options.device = *device;
    auto gpu = GpuResources::Create(options);
    CHECK(gpu.ok()) << gpu.status();
    gpu_ = gpu->release();
    auto nccl = NcclCommunicator::Create(mpi_, gpu_);
    CHECK(nccl.ok()) << nccl.status();
    nccl_ = nccl->release();
  }
  static void TearDownTestSuite() {
    delete nccl_;
    delete gpu_;
    delete mpi_;
    nccl_ = nullptr;
    gpu_ = nullptr;
    mpi_ = nullptr;
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
  }

  template <typename T>
  void ExpectAllToAllMatchesMpi() {
    const int r = mpi_->rank(), n = mpi_->size();
    constexpr int64_t kCount = 257;
    std::vector<T> send(n * kCount), expected(n * kCount, T(-9));
    for (int p = 0; p < n; ++p) {
      for (int64_t k = 0; k < kCount; ++k) send[p * kCount + k] = Value<T>(r, p, k);
    }
    ASSERT_TRUE(mpi_->AllToAll(send.data(), expected.data(), kCount).ok());
    DeviceVector<T> d_send(send, gpu_), d_recv(std::vector<T>(n * kCount, T(-9)), gpu_);
    const Status s = nccl_->AllToAll(d_send.data(), d_recv.data(), kCount);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(d_recv.ToHost(), expected);
  }

  template <typename T>
  void ExpectAllToAllVMatchesMpi(int64_t gap) {
    UnevenExchange<T> x(mpi_->rank(), mpi_->size(), gap);
    std::vector<T> expected = x.recv;
    ASSERT_TRUE(mpi_->AllToAllV(x.send.data(), x.send_counts, x.send_displs, expected.data(),
                                x.recv_counts, x.recv_displs)
                    .ok());
    DeviceVector<T> d_send(x.send, gpu_), d_recv(x.recv, gpu_);
    const Status s = nccl_->AllToAllV(d_send.data(), x.send_counts, x.send_displs, d_recv.data(),
                                      x.recv_counts, x.recv_displs);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(d_recv.ToHost(), expected) << "gap " << gap;
  }

  static inline MpiCommunicator* mpi_ = nullptr;
  static inline GpuResources* gpu_ = nullptr;
  static inline NcclCommunicator* nccl_ = nullptr;
  static inline std::string skip_;
};

TEST_F(NcclCommunicatorMpiTest, RankAndSizeAreMpis) {
  EXPECT_EQ(nccl_->rank(), mpi_->rank());
  EXPECT_EQ(nccl_->size(), mpi_->size());
}

TEST_F(NcclCommunicatorMpiTest, AllReducesMatchMpi) {
  std::mt19937_64 rng(17 + mpi_->rank());
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  constexpr int64_t kN = (1 << 20) + 3;
  std::vector<float> f(kN);
  std::vector<double> d(kN);
  for (int64_t i = 0; i < kN; ++i) {
    f[i] = static_cast<float>(u(rng));
    d[i] = u(rng);
  }
  DeviceVector<float> d_f(f, gpu_);
  DeviceVector<double> d_sum(d, gpu_), d_max(d, gpu_);
  std::vector<double> max = d;
  ASSERT_TRUE(mpi_->AllReduceSum(f.data(), kN).ok());
  ASSERT_TRUE(mpi_->AllReduceSum(d.data(), kN).ok());
  ASSERT_TRUE(mpi_->AllReduceMax(max.data(), kN).ok());
  Status s = nccl_->AllReduceSum(d_f.data(), kN);
  ASSERT_TRUE(s.ok()) << s;
  s = nccl_->AllReduceSum(d_sum.data(), kN);
  ASSERT_TRUE(s.ok()) << s;
  s = nccl_->AllReduceMax(d_max.data(), kN);
  ASSERT_TRUE(s.ok()) << s;
  // Two addends sum alike in any order; more ranks may add in another order than MPI.
  const std::vector<float> got_f = d_f.ToHost();
  const std::vector<double> got_d = d_sum.ToHost();
  const double tol = mpi_->size() <= 2 ? 0.0 : 1e-6 * mpi_->size();
  for (int64_t i = 0; i < kN; ++i) {
    ASSERT_NEAR(got_f[i], f[i], tol) << i;
    ASSERT_NEAR(got_d[i], d[i], tol * 1e-9) << i;
  }
  EXPECT_EQ(d_max.ToHost(), max);
}

TEST_F(NcclCommunicatorMpiTest, AllToAllsMatchMpi) {
  ExpectAllToAllMatchesMpi<float>();
  ExpectAllToAllMatchesMpi<int32_t>();
  ExpectAllToAllMatchesMpi<int64_t>();
  for (int64_t gap : {0, 3}) {
    ExpectAllToAllVMatchesMpi<float>(gap);
    ExpectAllToAllVMatchesMpi<int32_t>(gap);
    ExpectAllToAllVMatchesMpi<int64_t>(gap);
  }
}

TEST_F(NcclCommunicatorMpiTest, ControlCollectivesMatchMpi) {
  const int r = mpi_->rank();
  const std::string mine(static_cast<size_t>(r) * 3 + 1, static_cast<char>('a' + r));
  std::vector<std::string> from_mpi, from_nccl;
  ASSERT_TRUE(mpi_->AllGather(mine, &from_mpi).ok());
  ASSERT_TRUE(nccl_->AllGather(mine, &from_nccl).ok());
  EXPECT_EQ(from_nccl, from_mpi);
  for (int root = 0; root < mpi_->size(); ++root) {
    std::vector<int> a(5, r == root ? root + 10 : -1), b = a;
    ASSERT_TRUE(mpi_->Broadcast(a.data(), 5 * sizeof(int), root).ok());
    ASSERT_TRUE(nccl_->Broadcast(b.data(), 5 * sizeof(int), root).ok());
    EXPECT_EQ(b, a);
  }
  ASSERT_TRUE(nccl_->Barrier().ok());
  UnevenExchange<float> x(r, mpi_->size(), 0);
  std::vector<int64_t> counts_mpi, counts_nccl;
  ASSERT_TRUE(mpi_->ExchangeCounts(x.send_counts, &counts_mpi).ok());
  ASSERT_TRUE(nccl_->ExchangeCounts(x.send_counts, &counts_nccl).ok());
  EXPECT_EQ(counts_nccl, counts_mpi);
  EXPECT_EQ(counts_nccl, x.recv_counts);
}

TEST_F(NcclCommunicatorMpiTest, BadAllToAllVFailsOnEveryRankAsMpiDoes) {
  const int r = mpi_->rank(), n = mpi_->size();
  // Rank 1 expects one element more from rank 0 than rank 0 sends.
  UnevenExchange<int32_t> x(r, n, 1);
  if (r == 1) x.recv_counts[0] += 1;
  std::vector<int32_t> host_recv = x.recv;
  const Status from_mpi = mpi_->AllToAllV(x.send.data(), x.send_counts, x.send_displs,
                                          host_recv.data(), x.recv_counts, x.recv_displs);
  DeviceVector<int32_t> d_send(x.send, gpu_), d_recv(x.recv, gpu_);
  Status from_nccl = nccl_->AllToAllV(d_send.data(), x.send_counts, x.send_displs, d_recv.data(),
                                      x.recv_counts, x.recv_displs);
  EXPECT_EQ(from_nccl.code(), StatusCode::kInvalidArgument) << from_nccl;
  EXPECT_EQ(from_nccl.ToString(), from_mpi.ToString());
  EXPECT_EQ(d_recv.ToHost(), x.recv) << "nothing received";

  // Rank 0: one send count too many; peers learn of it through the count exchange.
  UnevenExchange<float> y(r, n, 0);
  if (r == 0) y.send_counts.push_back(1);
  std::vector<float> y_recv = y.recv;
  const Status y_mpi = mpi_->AllToAllV(y.send.data(), y.send_counts, y.send_displs, y_recv.data(),
                                       y.recv_counts, y.recv_displs);
  DeviceVector<float> y_send(y.send, gpu_), y_drecv(y.recv, gpu_);
  from_nccl = nccl_->AllToAllV(y_send.data(), y.send_counts, y.send_displs, y_drecv.data(),
                               y.recv_counts, y.recv_displs);
  EXPECT_EQ(from_nccl.code(), StatusCode::kInvalidArgument) << from_nccl;
  EXPECT_EQ(from_nccl.ToString(), y_mpi.ToString());

  // The communicator still works.
  ExpectAllToAllVMatchesMpi<float>(2);
  ASSERT_TRUE(nccl_->Barrier().ok());
}

}  // namespace
}  // namespace moerec

MOEREC_MPI_TEST_MAIN_SKIPPABLE()
