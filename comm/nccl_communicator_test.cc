// NcclCommunicator on one rank (SelfCommunicator as the host, so no MPI is needed): every
// collective on device buffers against the expected values, the argument checks and their
// messages (MpiCommunicator's), and Create's refusals. The device tests skip, with the reason
// GpuResources::Create gives, on a machine without a GPU; Create's refusals run everywhere.
// tests/nccl_communicator_mpi_test.cc compares the backend with MPI over two ranks.
#include "comm/nccl_communicator.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "comm/communicator.h"
#include "core/gpu/resources.h"

namespace moerec {
namespace {

bool Mentions(const Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}

// A host vector copied to device memory of `gpu`, read back with ToHost (on the copy-out
// stream, so a collective that returned before its result was ready would be seen).
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
    if (n_ > 0) {
      gpu_->Copy(host.data(), data_, n_ * sizeof(T), GpuResources::kDeviceToHost,
                 GpuResources::kCopyOut);
      gpu_->Synchronize(GpuResources::kCopyOut);
    }
    return host;
  }

 private:
  GpuResources* gpu_;
  int64_t n_;
  T* data_;
};

// Element k of block r; int64 values need more than 32 bits.
template <typename T>
T Value(int r, int64_t k) {
  int64_t v = 100 * r + k + 1;
  if constexpr (std::is_same_v<T, int64_t>) v += int64_t{3} << 40;
  return static_cast<T>(v);
}

TEST(NcclCommunicatorCreateTest, RefusesMissingArgumentsAndHostExecution) {
  SelfCommunicator self;
  GpuResourcesOptions options;
  options.host_execution = true;
  auto host_exec = GpuResources::Create(options);
  ASSERT_TRUE(host_exec.ok()) << host_exec.status();
  auto made = NcclCommunicator::Create(&self, host_exec->get());
  EXPECT_EQ(made.status().code(), StatusCode::kFailedPrecondition) << made.status();
  EXPECT_TRUE(Mentions(made.status(), "NCCL cannot run under host execution")) << made.status();
  made = NcclCommunicator::Create(&self, nullptr);
  EXPECT_EQ(made.status().code(), StatusCode::kInvalidArgument) << made.status();
  made = NcclCommunicator::Create(nullptr, host_exec->get());
  EXPECT_EQ(made.status().code(), StatusCode::kInvalidArgument) << made.status();
}

class NcclCommunicatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto gpu = GpuResources::Create(GpuResourcesOptions{});
    if (!gpu.ok()) GTEST_SKIP() << "no GPU to run NCCL on: " << gpu.status().ToString();
    gpu_ = std::move(*gpu);
    auto comm = NcclCommunicator::Create(&self_, gpu_.get());
    ASSERT_TRUE(comm.ok()) << comm.status();
    comm_ = std::move(*comm);
  }

  template <typename T>
  void ExpectAllToAllCopiesEveryBlock() {
    constexpr int64_t kCount = 1000;
    std::vector<T> send(kCount);
    for (int64_t k = 0; k < kCount; ++k) send[k] = Value<T>(0, k);
    DeviceVector<T> d_send(send, gpu_.get()), d_recv(std::vector<T>(kCount, T{-1}), gpu_.get());
    const Status s = comm_->AllToAll(d_send.data(), d_recv.data(), kCount);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(d_recv.ToHost(), send);
    // Zero elements moves nothing and is not an error, null buffers included.
    ASSERT_TRUE(comm_->AllToAll(static_cast<const T*>(nullptr), nullptr, 0).ok());
  }

  template <typename T>
  void ExpectAllToAllVHonoursDisplacements() {
    // Elements 1..3 of send land at 2..4 of recv; the rest of recv is untouched.
    const std::vector<T> send = {T{-7}, Value<T>(0, 0), Value<T>(0, 1), Value<T>(0, 2), T{-7}};
    DeviceVector<T> d_send(send, gpu_.get()), d_recv(std::vector<T>(6, T{-9}), gpu_.get());
    Status s = comm_->AllToAllV(d_send.data(), {3}, {1}, d_recv.data(), {3}, {2});
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(d_recv.ToHost(), (std::vector<T>{T{-9}, T{-9}, Value<T>(0, 0), Value<T>(0, 1),
                                               Value<T>(0, 2), T{-9}}));
    // An empty exchange leaves recv as it is.
    s = comm_->AllToAllV(d_send.data(), {0}, {0}, d_recv.data(), {0}, {0});
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(d_recv.ToHost()[2], Value<T>(0, 0));
  }

  SelfCommunicator self_;
  std::unique_ptr<GpuResources> gpu_;
  std::unique_ptr<NcclCommunicator> comm_;
};

TEST_F(NcclCommunicatorTest, RankAndSizeAreTheHosts) {
  EXPECT_EQ(comm_->rank(), 0);
  EXPECT_EQ(comm_->size(), 1);
  EXPECT_EQ(comm_->host(), &self_);
  EXPECT_EQ(comm_->gpu(), gpu_.get());
}

TEST_F(NcclCommunicatorTest, AllReducesFollowTheComputeStreamAndAreReadyOnReturn) {
  // The fill is queued on the compute stream, not waited for: the all-reduce must run after it,
  // and its result must be complete when it returns (it is read on another stream).
  constexpr int64_t kN = 1 << 20;
  DeviceVector<float> f(std::vector<float>(kN, 0.0f), gpu_.get());
  gpu_->Fill(f.data(), kN, 2.5f);
  Status s = comm_->AllReduceSum(f.data(), kN);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(f.ToHost(), std::vector<float>(kN, 2.5f));

  const std::vector<double> values = {1.0, -2.5, 1e300, -0.0, 3.25};
  DeviceVector<double> sum(values, gpu_.get()), max(values, gpu_.get());
  s = comm_->AllReduceSum(sum.data(), static_cast<int64_t>(values.size()));
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(sum.ToHost(), values);
  s = comm_->AllReduceMax(max.data(), static_cast<int64_t>(values.size()));
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(max.ToHost(), values);
  ASSERT_TRUE(comm_->AllReduceSum(f.data(), 0).ok()) << "zero elements is a no-op";
  s = comm_->AllReduceMax(max.data(), -1);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
}

TEST_F(NcclCommunicatorTest, AllToAllCopiesEveryElementType) {
  ExpectAllToAllCopiesEveryBlock<float>();
  ExpectAllToAllCopiesEveryBlock<int32_t>();
  ExpectAllToAllCopiesEveryBlock<int64_t>();
}

TEST_F(NcclCommunicatorTest, AllToAllVHonoursDisplacementsForEveryElementType) {
  ExpectAllToAllVHonoursDisplacements<float>();
  ExpectAllToAllVHonoursDisplacements<int32_t>();
  ExpectAllToAllVHonoursDisplacements<int64_t>();
}

TEST_F(NcclCommunicatorTest, ControlCollectivesTakeHostMemory) {
  std::vector<std::string> all;
  ASSERT_TRUE(comm_->AllGather("abc", &all).ok());
  EXPECT_EQ(all, std::vector<std::string>{"abc"});
  int v = 42;
  ASSERT_TRUE(comm_->Broadcast(&v, sizeof(v), 0).ok());
  EXPECT_EQ(v, 42);
  ASSERT_TRUE(comm_->Barrier().ok());
  std::vector<int64_t> recv_counts;
  ASSERT_TRUE(comm_->ExchangeCounts({int64_t{1} << 35}, &recv_counts).ok());
  EXPECT_EQ(recv_counts, std::vector<int64_t>{int64_t{1} << 35});
  const Status s = comm_->ExchangeCounts({1, 2}, &recv_counts);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Mentions(s, "ExchangeCounts: send_counts has 2 entries, not 1")) << s;
}

TEST_F(NcclCommunicatorTest, BadArgumentsAreInvalidArgumentWithMpisMessages) {
  DeviceVector<float> send(std::vector<float>(8, 1.0f), gpu_.get());
  DeviceVector<float> recv(std::vector<float>(8, -9.0f), gpu_.get());
  Status s = comm_->AllToAll(send.data(), recv.data(), -1);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Mentions(s, "AllToAll: count -1 is not in [0, ")) << s;
  s = comm_->AllToAll(send.data(), send.data(), 4);
  EXPECT_TRUE(Mentions(s, "AllToAll: send and recv are the same buffer")) << s;

  s = comm_->AllToAllV(send.data(), {2, 1}, {0}, recv.data(), {2}, {0});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Mentions(s, "AllToAllV: send_counts has 2 entries, not 1 (one per rank)")) << s;
  s = comm_->AllToAllV(send.data(), {2}, {0}, recv.data(), {2}, {-3});
  EXPECT_TRUE(Mentions(s, "AllToAllV: recv_displs[0] = -3 is negative")) << s;
  s = comm_->AllToAllV(send.data(), {2}, {0}, recv.data(), {-1}, {0});
  EXPECT_TRUE(Mentions(s, "AllToAllV: recv_counts[0] = -1 is negative")) << s;
  // The count cross-check: recv_counts must be what the peer (here: this rank) sends.
  s = comm_->AllToAllV(send.data(), {2}, {0}, recv.data(), {3}, {0});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Mentions(s, "AllToAllV: rank 0 expects 3 elements from rank 0, which sends 2")) << s;
  EXPECT_EQ(recv.ToHost(), std::vector<float>(8, -9.0f)) << "nothing was received";

  // The communicator still works after refused calls.
  s = comm_->AllToAllV(send.data(), {2}, {0}, recv.data(), {2}, {5});
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(recv.ToHost(), (std::vector<float>{-9, -9, -9, -9, -9, 1, 1, -9}));
}

TEST_F(NcclCommunicatorTest, HostBuffersStopTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::vector<float> host(4, 1.0f);
  EXPECT_DEATH(comm_->AllReduceSum(host.data(), 4).IgnoreError(), "data is host memory");
}

}  // namespace
}  // namespace moerec
