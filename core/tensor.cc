#include "core/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace moerec {
namespace {

constexpr size_t kAlignment = 64;

float* AllocateFloats(int64_t n) {
  size_t bytes =
      (static_cast<size_t>(n) * sizeof(float) + kAlignment - 1) / kAlignment * kAlignment;
  void* p = std::aligned_alloc(kAlignment, bytes == 0 ? kAlignment : bytes);
  CHECK(p != nullptr) << "out of memory allocating " << bytes << " bytes";
  return static_cast<float*>(p);
}

}  // namespace

Tensor::~Tensor() { std::free(data_); }

Tensor::Tensor(const Tensor& other) { *this = other; }

Tensor& Tensor::operator=(const Tensor& other) {
  if (this == &other) return *this;
  if (other.shape_.empty()) {
    shape_.clear();
    size_ = 0;
    return *this;
  }
  Resize(other.shape_);
  if (size_ > 0) std::memcpy(data_, other.data_, size_ * sizeof(float));
  return *this;
}

Tensor::Tensor(Tensor&& other) noexcept
    : shape_(std::move(other.shape_)),
      size_(other.size_),
      capacity_(other.capacity_),
      data_(other.data_) {
  other.data_ = nullptr;
  other.size_ = other.capacity_ = 0;
  other.shape_.clear();
}

Tensor& Tensor::operator=(Tensor&& other) noexcept {
  if (this == &other) return *this;
  std::free(data_);
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
    std::free(data_);
    data_ = AllocateFloats(n);
    capacity_ = n;
  }
  // assign() reuses the vector's storage, so resizing in a step does not allocate.
  if (dims != shape_.data()) shape_.assign(dims, dims + ndim);
  size_ = n;
}

void Tensor::Zero() {
  if (size_ > 0) std::memset(data_, 0, size_ * sizeof(float));
}

void Tensor::Fill(float value) { std::fill(data_, data_ + size_, value); }

std::string Tensor::ShapeString() const {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < shape_.size(); ++i) os << (i ? ", " : "") << shape_[i];
  os << ")";
  return os.str();
}

}  // namespace moerec
