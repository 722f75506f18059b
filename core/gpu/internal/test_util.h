// Test helpers for the CUDA kernels (tests only). Every kernel test runs twice: under host
// execution (always; core/gpu/resources.h) and on GPU 0 (skipped, with the reason, when the
// machine has none), and compares the CUDA kernel with the CPU kernel on fresh random inputs
// (core/internal/test_util.h's padded matrices, so ld > cols is exercised and writes past cols
// are caught).
//
//   using ReluGpuTest = GpuKernelTest;
//   TEST_P(ReluGpuTest, MatchesTheCpuKernel) { ... gpu() ... }
//   MOEREC_GPU_KERNEL_TEST_SUITE(ReluGpuTest);
#ifndef MOEREC_CORE_GPU_INTERNAL_TEST_UTIL_H_
#define MOEREC_CORE_GPU_INTERNAL_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/gpu/resources.h"
#include "core/internal/test_util.h"
#include "core/tensor.h"

namespace moerec::testing {

class GpuKernelTest : public ::testing::TestWithParam<bool> {
 protected:
  // GetParam(): true = the GPU, false = host execution.
  void SetUp() override {
    GpuResourcesOptions options;
    options.host_execution = !GetParam();
    auto made = GpuResources::Create(options);
    if (!made.ok()) GTEST_SKIP() << "no GPU to run on: " << made.status().ToString();
    gpu_ = std::move(made.value());
  }
  // Every test must have run CUDA kernels: under host execution a CPU kernel would compute the
  // same numbers on the same memory, so this is what shows the dispatch went to the device side.
  void TearDown() override {
    if (gpu_ != nullptr && !HasFatalFailure()) {
      EXPECT_GT(gpu_->launches(), 0) << "no CUDA kernel ran: the call stayed on the CPU kernel";
    }
  }
  GpuResources* gpu() { return gpu_.get(); }

  std::unique_ptr<GpuResources> gpu_;
};

inline std::string GpuBackendName(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "Device" : "HostExecution";
}

#define MOEREC_GPU_KERNEL_TEST_SUITE(suite)                                 \
  INSTANTIATE_TEST_SUITE_P(Backends, suite, ::testing::Values(false, true), \
                           ::moerec::testing::GpuBackendName)

// A TestMat's storage, padding included, on a device.
class DeviceMat {
 public:
  DeviceMat(const TestMat& host, GpuResources* gpu)
      : rows_(host.rows()), cols_(host.cols()), ld_(host.ld()) {
    const int64_t n = std::max<int64_t>(rows_ * ld_, 1);
    storage_ = Tensor({n}, gpu);
    gpu->CopySync(storage_.data(), const_cast<TestMat&>(host).data(), n * sizeof(float),
                  GpuResources::kHostToDevice);
  }
  MatView view() { return MatView{storage_.data(), rows_, cols_, ld_, storage_.gpu()}; }
  ConstMatView cview() const {
    return ConstMatView{storage_.data(), rows_, cols_, ld_, storage_.gpu()};
  }
  float* data() { return storage_.data(); }
  TestMat ToHost() const {
    TestMat host(rows_, cols_, ld_ - cols_);
    const int64_t n = std::max<int64_t>(rows_ * ld_, 1);
    storage_.gpu()->CopySync(host.data(), storage_.data(), n * sizeof(float),
                             GpuResources::kDeviceToHost);
    return host;
  }

 private:
  int64_t rows_, cols_, ld_;
  Tensor storage_;
};

// A host array copied to a device (biases, scales, index arrays), kept alive by the object.
template <class T>
class DeviceArray {
 public:
  DeviceArray(const std::vector<T>& host, GpuResources* gpu) : gpu_(gpu), n_(host.size()) {
    bytes_ = std::max<int64_t>(n_ * sizeof(T), 1);
    data_ = static_cast<T*>(gpu->Allocate(bytes_));
    if (n_ > 0) gpu->CopySync(data_, host.data(), n_ * sizeof(T), GpuResources::kHostToDevice);
  }
  ~DeviceArray() { gpu_->Free(data_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  T* data() { return data_; }
  std::vector<T> ToHost() const {
    std::vector<T> host(n_);
    if (n_ > 0) gpu_->CopySync(host.data(), data_, n_ * sizeof(T), GpuResources::kDeviceToHost);
    return host;
  }

 private:
  GpuResources* gpu_;
  int64_t n_;
  int64_t bytes_;
  T* data_;
};

}  // namespace moerec::testing

#endif  // MOEREC_CORE_GPU_INTERNAL_TEST_UTIL_H_
