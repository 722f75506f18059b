// Tensor: the one float32 tensor type of moerec. It owns a 64-byte aligned buffer and a
// row-major shape of 1 to 4 dimensions (a default-constructed Tensor has no shape and no
// data). Resize() keeps the allocation when it is large enough, so layers that hold their
// activations as Tensor members allocate only while the batch size grows. Copying a Tensor
// copies its data (reusing the destination's allocation when large enough); moving steals it.
//
// MatView / ConstMatView are non-owning 2-D windows (rows x cols, leading dimension ld) onto a
// Tensor or onto a column block of one; kernels take views so that, for example, expert k's
// slice of a fused (B, E*H) activation is used in place.
//
// Devices: a Tensor and its views carry the device that holds their floats: `gpu` null is host
// memory, else device memory of that GpuResources' GPU (core/gpu/resources.h). A Tensor's device
// is fixed when it is constructed: the one passed, else the calling thread's DeviceScope (GPU
// workers build and run their models inside one), else the host. Kernels of the kernel layer run
// where their views live (core/internal/gpu_dispatch.h); every view of one call is on one device,
// and raw pointers passed beside views (biases, scales) are on that device too. Element access
// (operator[], at()) is host-only; To() and CopyFrom() move data between devices.
// Thread-safety: none; a Tensor belongs to one thread at a time.
#ifndef MOEREC_CORE_TENSOR_H_
#define MOEREC_CORE_TENSOR_H_

#include <glog/logging.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace moerec {

class GpuResources;  // core/gpu/resources.h

// The device of the Tensors this thread constructs while the scope is alive (innermost wins;
// null = host). Scopes nest and are per thread.
class DeviceScope {
 public:
  explicit DeviceScope(GpuResources* gpu);
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;
  static GpuResources* Current();

 private:
  GpuResources* previous_;
};

struct MatView {
  float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t ld = 0;               // floats between the starts of consecutive rows; >= cols
  GpuResources* gpu = nullptr;  // the device holding data; null = host
  float* row(int64_t r) const { return data + r * ld; }
  // Columns [begin, begin + n).
  MatView Cols(int64_t begin, int64_t n) const {
    DCHECK_LE(begin + n, cols);
    return MatView{data + begin, rows, n, ld, gpu};
  }
  // Rows [begin, begin + n).
  MatView Rows(int64_t begin, int64_t n) const {
    DCHECK_LE(begin + n, rows);
    return MatView{data + begin * ld, n, cols, ld, gpu};
  }
};

struct ConstMatView {
  const float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t ld = 0;
  GpuResources* gpu = nullptr;  // the device holding data; null = host
  ConstMatView() = default;
  ConstMatView(const float* d, int64_t r, int64_t c, int64_t l, GpuResources* g = nullptr)
      : data(d), rows(r), cols(c), ld(l), gpu(g) {}
  ConstMatView(const MatView& v)  // NOLINT
      : data(v.data), rows(v.rows), cols(v.cols), ld(v.ld), gpu(v.gpu) {}
  const float* row(int64_t r) const { return data + r * ld; }
  ConstMatView Cols(int64_t begin, int64_t n) const {
    DCHECK_LE(begin + n, cols);
    return ConstMatView{data + begin, rows, n, ld, gpu};
  }
  ConstMatView Rows(int64_t begin, int64_t n) const {
    DCHECK_LE(begin + n, rows);
    return ConstMatView{data + begin * ld, n, cols, ld, gpu};
  }
};

class Tensor {
 public:
  Tensor() : gpu_(DeviceScope::Current()) {}
  explicit Tensor(const std::vector<int64_t>& shape) : Tensor() { Resize(shape); }
  Tensor(std::initializer_list<int64_t> shape) : Tensor() { Resize(std::vector<int64_t>(shape)); }
  // On a given device (null = host), whatever the thread's DeviceScope.
  Tensor(const std::vector<int64_t>& shape, GpuResources* gpu) : gpu_(gpu) { Resize(shape); }
  ~Tensor();
  Tensor(const Tensor& other);
  Tensor& operator=(const Tensor& other);
  Tensor(Tensor&& other) noexcept;
  Tensor& operator=(Tensor&& other) noexcept;

  // Sets the shape. Contents are unspecified afterwards unless the size did not change.
  void Resize(const std::vector<int64_t>& shape) { SetShape(shape.data(), shape.size()); }
  void Resize(std::initializer_list<int64_t> shape) { SetShape(shape.begin(), shape.size()); }
  // Resize to `other`'s shape.
  void ResizeLike(const Tensor& other) { Resize(other.shape_); }
  // Floats the current allocation holds (>= size()).
  int64_t capacity() const { return capacity_; }

  void Zero();
  void Fill(float value);
  // Copy assignment keeps this tensor's device: the shape and data of `other`, wherever it
  // lives, land on this tensor's device (a synchronous copy when the devices differ).
  void CopyFrom(const Tensor& other) { *this = other; }
  // A copy of this tensor on `gpu` (null = the host).
  Tensor To(GpuResources* gpu) const;
  // A (v.rows, v.cols) tensor on `gpu` (null = the host) holding the elements of the view v,
  // wherever v lives: how a strided device view reaches the host (synchronous).
  static Tensor FromView(ConstMatView v, GpuResources* gpu);

  GpuResources* gpu() const { return gpu_; }
  bool on_gpu() const { return gpu_ != nullptr; }

  int ndim() const { return static_cast<int>(shape_.size()); }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_[i]; }
  int64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // First dimension, and the product of the others (a 1-D tensor is one row).
  int64_t rows() const { return shape_.size() <= 1 ? 1 : shape_[0]; }
  int64_t cols() const {
    if (shape_.size() <= 1) return size_;
    int64_t c = 1;  // a product, not size_ / rows(): rows() may be 0
    for (size_t i = 1; i < shape_.size(); ++i) c *= shape_[i];
    return c;
  }

  float* data() { return data_; }
  const float* data() const { return data_; }
  float& operator[](int64_t i) {
    DCHECK(gpu_ == nullptr) << "host access to a device tensor";
    return data_[i];
  }
  float operator[](int64_t i) const {
    DCHECK(gpu_ == nullptr) << "host access to a device tensor";
    return data_[i];
  }
  float& at(int64_t r, int64_t c) { return (*this)[r * cols() + c]; }
  float at(int64_t r, int64_t c) const { return (*this)[r * cols() + c]; }

  MatView view() { return MatView{data_, rows(), cols(), cols(), gpu_}; }
  ConstMatView view() const { return ConstMatView{data_, rows(), cols(), cols(), gpu_}; }

  std::string ShapeString() const;

 private:
  void SetShape(const int64_t* dims, size_t n);

  void Release();

  GpuResources* gpu_ = nullptr;  // fixed at construction (moves carry it along)
  std::vector<int64_t> shape_;
  int64_t size_ = 0;
  int64_t capacity_ = 0;
  float* data_ = nullptr;
};

}  // namespace moerec

#endif  // MOEREC_CORE_TENSOR_H_
