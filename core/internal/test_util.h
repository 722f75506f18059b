// Test helpers for core kernels (tests only): padded random matrices, so that every kernel is
// exercised on non-contiguous views (ld > cols), and a central-difference gradient check.
//
// Gradient checks use the scalar loss L = sum(dy * y) accumulated in double, with a fixed
// random dy, so dL/dx is what a backward pass given dy must produce.
#ifndef MOEREC_CORE_INTERNAL_TEST_UTIL_H_
#define MOEREC_CORE_INTERNAL_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "core/random.h"
#include "core/tensor.h"

namespace moerec::testing {

// Written into the padding columns; a kernel that writes past `cols` changes it.
constexpr float kSentinel = -12345.0f;

// A (rows, cols) matrix stored with leading dimension cols + pad.
class TestMat {
 public:
  TestMat() = default;
  TestMat(int64_t rows, int64_t cols, int64_t pad) : rows_(rows), cols_(cols), ld_(cols + pad) {
    storage_.Resize({std::max<int64_t>(rows * ld_, 1)});
    storage_.Fill(kSentinel);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) at(r, c) = 0.0f;
    }
  }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t ld() const { return ld_; }
  float* data() { return storage_.data(); }
  float& at(int64_t r, int64_t c) { return storage_[r * ld_ + c]; }
  const float& at(int64_t r, int64_t c) const { return storage_.data()[r * ld_ + c]; }
  MatView view() { return MatView{storage_.data(), rows_, cols_, ld_}; }
  ConstMatView cview() const { return ConstMatView{storage_.data(), rows_, cols_, ld_}; }

  void FillUniform(Rng* rng, float lo, float hi) {
    for (int64_t r = 0; r < rows_; ++r) {
      for (int64_t c = 0; c < cols_; ++c) {
        at(r, c) = lo + (hi - lo) * rng->UniformFloat();
      }
    }
  }
  void Fill(float v) {
    for (int64_t r = 0; r < rows_; ++r) {
      for (int64_t c = 0; c < cols_; ++c) at(r, c) = v;
    }
  }
  bool PaddingIntact() const {
    for (int64_t r = 0; r < rows_; ++r) {
      for (int64_t c = cols_; c < ld_; ++c) {
        if (at(r, c) != kSentinel) return false;
      }
    }
    return true;
  }
  // Bitwise equality of the visible elements.
  bool SameBits(const TestMat& o) const {
    if (rows_ != o.rows_ || cols_ != o.cols_) return false;
    for (int64_t r = 0; r < rows_; ++r) {
      if (cols_ > 0 && std::memcmp(&at(r, 0), &o.at(r, 0), cols_ * sizeof(float)) != 0) {
        return false;
      }
    }
    return true;
  }

 private:
  int64_t rows_ = 0, cols_ = 0, ld_ = 0;
  Tensor storage_;
};

inline TestMat RandomMat(int64_t rows, int64_t cols, int64_t pad, Rng* rng, float lo = -1.0f,
                         float hi = 1.0f) {
  TestMat m(rows, cols, pad);
  m.FillUniform(rng, lo, hi);
  return m;
}

// sum over elements of a * b, in double.
inline double Dot(const TestMat& a, const TestMat& b) {
  double s = 0.0;
  for (int64_t r = 0; r < a.rows(); ++r) {
    for (int64_t c = 0; c < a.cols(); ++c) s += static_cast<double>(a.at(r, c)) * b.at(r, c);
  }
  return s;
}

// Compares analytic[r * analytic_ld + c] with the central difference of loss() with respect
// to x[r * ld + c], for every element of the (rows, cols) block. loss() must read x afresh.
// An element passes when |fd - analytic| <= tol * max(1, |fd|).
inline void ExpectGradient(const std::string& what, float* x, int64_t rows, int64_t cols,
                           int64_t ld, const float* analytic, int64_t analytic_ld,
                           const std::function<double()>& loss, double h = 1e-3,
                           double tol = 1e-2) {
  int failures = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      float& v = x[r * ld + c];
      const float saved = v;
      v = saved + static_cast<float>(h);
      const double up = loss();
      v = saved - static_cast<float>(h);
      const double down = loss();
      v = saved;
      // The step actually taken in float.
      const double step = static_cast<double>(saved + static_cast<float>(h)) -
                          static_cast<double>(saved - static_cast<float>(h));
      const double fd = (up - down) / step;
      const double got = analytic[r * analytic_ld + c];
      if (std::fabs(fd - got) > tol * std::max(1.0, std::fabs(fd)) && failures++ < 5) {
        ADD_FAILURE() << what << " gradient at (" << r << ", " << c << "): analytic " << got
                      << ", finite difference " << fd;
      }
    }
  }
  EXPECT_EQ(failures, 0) << what << ": " << failures << " gradient mismatches";
}

inline void ExpectGradient(const std::string& what, TestMat* x, const TestMat& analytic,
                           const std::function<double()>& loss, double h = 1e-3,
                           double tol = 1e-2) {
  ExpectGradient(what, x->data(), x->rows(), x->cols(), x->ld(), &analytic.at(0, 0), analytic.ld(),
                 loss, h, tol);
}

// Elementwise |a - b| <= tol * max(1, |b|) over the visible elements (same shapes).
inline void ExpectClose(const std::string& what, const TestMat& a, const TestMat& b,
                        double tol = 1e-5) {
  ASSERT_EQ(a.rows(), b.rows()) << what;
  ASSERT_EQ(a.cols(), b.cols()) << what;
  int failures = 0;
  for (int64_t r = 0; r < a.rows(); ++r) {
    for (int64_t c = 0; c < a.cols(); ++c) {
      const double x = a.at(r, c), y = b.at(r, c);
      if (std::fabs(x - y) > tol * std::max(1.0, std::fabs(y)) && failures++ < 5) {
        ADD_FAILURE() << what << " at (" << r << ", " << c << "): " << x << " vs " << y;
      }
    }
  }
  EXPECT_EQ(failures, 0) << what << ": " << failures << " elements differ";
}

// Checks the accumulate option of a backward pass: run(dx, beta) must write its gradient into
// dx for beta 0 and add it to what dx holds for beta 1. `written` is the gradient run wrote with
// beta 0; run is called once more on a random dx with beta 1.
inline void ExpectAddsWithBetaOne(const std::string& what, const TestMat& written,
                                  const std::function<void(MatView dx, float beta)>& run,
                                  Rng* rng) {
  TestMat dx(written.rows(), written.cols(), 1);
  dx.FillUniform(rng, -1.0f, 1.0f);
  const TestMat before = dx;
  run(dx.view(), 1.0f);
  int failures = 0;
  for (int64_t r = 0; r < dx.rows(); ++r) {
    for (int64_t c = 0; c < dx.cols(); ++c) {
      const double want = static_cast<double>(before.at(r, c)) + written.at(r, c);
      if (std::fabs(dx.at(r, c) - want) > 1e-5 * std::max(1.0, std::fabs(want)) && failures++ < 5) {
        ADD_FAILURE() << what << " with beta 1 at (" << r << ", " << c << "): " << dx.at(r, c)
                      << ", want " << want;
      }
    }
  }
  EXPECT_EQ(failures, 0) << what << ": " << failures << " elements not accumulated";
  EXPECT_TRUE(dx.PaddingIntact()) << what;
}

// For kernels whose GEMMs may round differently with the thread count: run() (which
// returns its outputs) at 1, 2 and again 2 compute threads; the two 2-thread runs must agree
// bit for bit (same bits run to run), the 1-thread run within `tolerance` (ExpectClose).
inline void ExpectStableAcrossThreadCounts(const std::string& what,
                                           const std::function<std::vector<TestMat>()>& run,
                                           double tolerance = 1e-4) {
  std::vector<TestMat> results[3];
  const int saved = ComputeThreads();
  for (int t = 0; t < 3; ++t) {
    SetComputeThreads(t == 0 ? 1 : 2);
    results[t] = run();
  }
  SetComputeThreads(saved);
  for (size_t i = 0; i < results[0].size(); ++i) {
    EXPECT_TRUE(results[1][i].SameBits(results[2][i])) << what << " result " << i;
    ExpectClose(what + " result " + std::to_string(i), results[0][i], results[1][i], tolerance);
  }
}

}  // namespace moerec::testing

#endif  // MOEREC_CORE_INTERNAL_TEST_UTIL_H_
