// Tensor: the one float32 tensor type of moerec. It owns a 64-byte aligned buffer and a
// row-major shape of 1 to 4 dimensions (a default-constructed Tensor has no shape and no
// data). Resize() keeps the allocation when it is large enough, so layers that hold their
// activations as Tensor members allocate only while the batch size grows. Copying a Tensor
// copies its data (reusing the destination's allocation when large enough); moving steals it.
//
// MatView / ConstMatView are non-owning 2-D windows (rows x cols, leading dimension ld) onto a
// Tensor or onto a column block of one; kernels take views so that, for example, expert k's
// slice of a fused (B, E*H) activation is used in place.
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

struct MatView {
  float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t ld = 0;  // floats between the starts of consecutive rows; >= cols
  float* row(int64_t r) const { return data + r * ld; }
  // Columns [begin, begin + n).
  MatView Cols(int64_t begin, int64_t n) const {
    DCHECK_LE(begin + n, cols);
    return MatView{data + begin, rows, n, ld};
  }
  // Rows [begin, begin + n).
  MatView Rows(int64_t begin, int64_t n) const {
    DCHECK_LE(begin + n, rows);
    return MatView{data + begin * ld, n, cols, ld};
  }
};

struct ConstMatView {
  const float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t ld = 0;
  ConstMatView() = default;
  ConstMatView(const float* d, int64_t r, int64_t c, int64_t l)
      : data(d), rows(r), cols(c), ld(l) {}
  ConstMatView(const MatView& v) : data(v.data), rows(v.rows), cols(v.cols), ld(v.ld) {}  // NOLINT
  const float* row(int64_t r) const { return data + r * ld; }
  ConstMatView Cols(int64_t begin, int64_t n) const {
    DCHECK_LE(begin + n, cols);
    return ConstMatView{data + begin, rows, n, ld};
  }
  ConstMatView Rows(int64_t begin, int64_t n) const {
    DCHECK_LE(begin + n, rows);
    return ConstMatView{data + begin * ld, n, cols, ld};
  }
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(const std::vector<int64_t>& shape) { Resize(shape); }
  Tensor(std::initializer_list<int64_t> shape) { Resize(std::vector<int64_t>(shape)); }
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
  void CopyFrom(const Tensor& other) { *this = other; }

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
  float& operator[](int64_t i) { return data_[i]; }
  float operator[](int64_t i) const { return data_[i]; }
  float& at(int64_t r, int64_t c) { return data_[r * cols() + c]; }
  float at(int64_t r, int64_t c) const { return data_[r * cols() + c]; }

  MatView view() { return MatView{data_, rows(), cols(), cols()}; }
  ConstMatView view() const { return ConstMatView{data_, rows(), cols(), cols()}; }

  std::string ShapeString() const;

 private:
  void SetShape(const int64_t* dims, size_t n);

  std::vector<int64_t> shape_;
  int64_t size_ = 0;
  int64_t capacity_ = 0;
  float* data_ = nullptr;
};

}  // namespace moerec

#endif  // MOEREC_CORE_TENSOR_H_
