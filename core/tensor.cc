#include "core/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "core/gpu/resources.h"

namespace moerec {
namespace {

thread_local GpuResources* current_device = nullptr;

constexpr size_t kAlignment = 64;

float* AllocateFloats(int64_t n) {
  size_t bytes =
      (static_cast<size_t>(n) * sizeof(float) + kAlignment - 1) / kAlignment * kAlignment;
  void* p = std::aligned_alloc(kAlignment, bytes == 0 ? kAlignment : bytes);
  CHECK(p != nullptr) << "out of memory allocating " << bytes << " bytes";
  return static_cast<float*>(p);
}

}  // namespace

DeviceScope::DeviceScope(GpuResources* gpu) : previous_(current_device) { current_device = gpu; }
DeviceScope::~DeviceScope() { current_device = previous_; }
GpuResources* DeviceScope::Current() { return current_device; }

Tensor::~Tensor() { Release(); }

void Tensor::Release() {
  if (data_ == nullptr) return;
  if (gpu_ != nullptr) {
    gpu_->Free(data_);
  } else {
    std::free(data_);
  }
  data_ = nullptr;
}

// A copy keeps the source's device (the copy of a device tensor is a device tensor).
Tensor::Tensor(const Tensor& other) : gpu_(other.gpu_) { *this = other; }

Tensor& Tensor::operator=(const Tensor& other) {
  if (this == &other) return *this;
  if (other.shape_.empty()) {
    shape_.clear();
    size_ = 0;
    return *this;
  }
  Resize(other.shape_);
  if (size_ == 0) return *this;
  const size_t bytes = size_ * sizeof(float);
  if (gpu_ == nullptr && other.gpu_ == nullptr) {
    std::memcpy(data_, other.data_, bytes);
  } else if (gpu_ != nullptr) {
    gpu_->CopySync(data_, other.data_, bytes,
                   other.gpu_ == nullptr ? GpuResources::kHostToDevice : GpuResources::kOnDevice);
  } else {
    other.gpu_->CopySync(data_, other.data_, bytes, GpuResources::kDeviceToHost);
  }
  return *this;
}

Tensor Tensor::To(GpuResources* gpu) const {
  Tensor copy;
  copy.gpu_ = gpu;
  copy = *this;
  return copy;
}

Tensor Tensor::FromView(ConstMatView v, GpuResources* gpu) {
  Tensor t({v.rows, v.cols}, gpu);
  if (t.empty()) return t;
  const int64_t row_bytes = v.cols * sizeof(float);
  if (v.gpu == nullptr && gpu == nullptr) {
    for (int64_t r = 0; r < v.rows; ++r) std::memcpy(t.data_ + r * v.cols, v.row(r), row_bytes);
    return t;
  }
  GpuResources* by = gpu != nullptr ? gpu : v.gpu;
  const GpuResources::CopyKind kind = v.gpu == nullptr ? GpuResources::kHostToDevice
                                      : gpu == nullptr ? GpuResources::kDeviceToHost
                                                       : GpuResources::kOnDevice;
  by->Copy2D(t.data_, row_bytes, v.data, v.ld * sizeof(float), row_bytes, v.rows, kind);
  by->Synchronize();
  return t;
}

Tensor::Tensor(Tensor&& other) noexcept
    : gpu_(other.gpu_),
      shape_(std::move(other.shape_)),
      size_(other.size_),
      capacity_(other.capacity_),
      data_(other.data_) {
  other.data_ = nullptr;
  other.size_ = other.capacity_ = 0;
  other.shape_.clear();
}

Tensor& Tensor::operator=(Tensor&& other) noexcept {
  if (this == &other) return *this;
  Release();
  gpu_ = other.gpu_;
  shape_ = std::move(other.shape_);
  size_ = other.size_;
  capacity_ = other.capacity_;
  data_ = other.data_;
  other.data_ = nullptr;
  other.size_ = other.capacity_ = 0;
  other.shape_.clear();
  return *this;
}

void Tensor::SetShape(const int64_t* dims, size_t ndim) {
  CHECK(ndim >= 1 && ndim <= 4) << "tensor rank must be 1..4, got " << ndim;
  int64_t n = 1;
  for (size_t i = 0; i < ndim; ++i) {
    CHECK_GE(dims[i], 0) << "negative tensor dimension";
    n *= dims[i];
  }
  if (n > capacity_) {
    Release();
    data_ = gpu_ != nullptr ? static_cast<float*>(gpu_->Allocate(n * sizeof(float)))
                            : AllocateFloats(n);
    capacity_ = n;
  }
  // assign() reuses the vector's storage, so resizing in a step does not allocate.
  if (dims != shape_.data()) shape_.assign(dims, dims + ndim);
  size_ = n;
}

void Tensor::Zero() {
  if (size_ == 0) return;
  if (gpu_ != nullptr) {
    gpu_->Fill(data_, size_, 0.0f);
  } else {
    std::memset(data_, 0, size_ * sizeof(float));
  }
}

void Tensor::Fill(float value) {
  if (gpu_ != nullptr) {
    gpu_->Fill(data_, size_, value);
  } else {
    std::fill(data_, data_ + size_, value);
  }
}

std::string Tensor::ShapeString() const {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < shape_.size(); ++i) os << (i ? ", " : "") << shape_[i];
  os << ")";
  return os.str();
}

}  // namespace moerec
