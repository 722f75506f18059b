// CUDA twin of core/grouped_linear.h (its dimension legend and gradient rule hold here): the
// variable-row grouped GEMM of expert execution on cuBLAS. begin, w, b, dw and db are host
// vectors of device views / pointers; each non-empty group is one GEMM on the compute stream
// (bias rows are broadcast into y first and the GEMM accumulates onto them, as LinearForward
// does), and each group's bias gradient one column-sum kernel. When every group has the same
// number of rows and the per-group matrices are evenly strided in memory (one (G, I, O) weight
// tensor), the G GEMMs are one strided-batched cuBLAS call instead. Empty groups launch nothing.
// Each output element is one GEMM entry or one fixed-order column sum, so results do not
// depend on the launch shape.
#include "core/gpu/internal/blas.h"
#include "core/gpu/kernels.h"
#include "core/gpu/launch.cuh"

namespace moerec {
namespace gpu {
namespace {

void CheckGroups(GpuResources* gpu, ConstMatView x, const std::vector<int64_t>& begin,
                 const std::vector<ConstMatView>& w, int64_t out_rows, int64_t out_cols) {
  CHECK_GE(begin.size(), 1u);
  CHECK_EQ(begin.size(), w.size() + 1);
  CHECK_EQ(begin.front(), 0);
  CHECK_EQ(begin.back(), x.rows);
  CHECK_EQ(out_rows, x.rows);
  for (size_t g = 0; g < w.size(); ++g) {
    CHECK_LE(begin[g], begin[g + 1]) << "group " << g;
    CHECK_EQ(w[g].rows, x.cols) << "group " << g;
    CHECK_EQ(w[g].cols, out_cols) << "group " << g;
    CHECK(w[g].gpu == gpu) << "group " << g << "'s weights are not on the input's device";
  }
}

// The number of rows every group has, or -1 when they differ (or some group is empty).
int64_t EqualGroupRows(const std::vector<int64_t>& begin) {
  const int64_t n = begin[1] - begin[0];
  if (n == 0) return -1;
  for (size_t g = 1; g + 1 < begin.size(); ++g) {
    if (begin[g + 1] - begin[g] != n) return -1;
  }
  return n;
}

// The distance in floats between consecutive groups' matrices when it is one constant (and
// they share a leading dimension), else -1. One group counts as strided (stride 0).
template <class View>
int64_t EvenStride(const std::vector<View>& v) {
  if (v.size() == 1) return 0;
  const int64_t stride = v[1].data - v[0].data;
  if (stride <= 0) return -1;
  for (size_t g = 1; g < v.size(); ++g) {
    if (v[g].data - v[g - 1].data != stride || v[g].ld != v[0].ld) return -1;
  }
  return stride;
}

}  // namespace

void GroupedLinearForward(ConstMatView x, const std::vector<int64_t>& begin,
                          const std::vector<ConstMatView>& w, const std::vector<const float*>& b,
                          MatView y) {
  GpuResources* gpu = CommonDevice(x, y);
  CheckGroups(gpu, x, begin, w, y.rows, y.cols);
  CHECK(b.empty() || b.size() == w.size());
  const int64_t groups = static_cast<int64_t>(w.size());
  // Bias rows first, so that the GEMMs accumulate onto them (beta = 1 where there is a bias).
  bool any_bias = false;
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t n = begin[g + 1] - begin[g];
    if (n == 0 || b.empty() || b[g] == nullptr) continue;
    gpu::BroadcastRows(b[g], y.Rows(begin[g], n));
    any_bias = true;
  }
  bool all_bias = !b.empty();
  for (int64_t g = 0; g < groups && all_bias; ++g) all_bias = b[g] != nullptr;
  const int64_t n = EqualGroupRows(begin);
  const int64_t w_stride = EvenStride(w);
  if (n > 0 && w_stride >= 0 && (all_bias || !any_bias)) {
    BlasGemmStridedBatched(gpu, false, false, 1.0f, x.Rows(0, n), n * x.ld, w[0], w_stride,
                           all_bias ? 1.0f : 0.0f, y.Rows(0, n), n * y.ld, groups);
    return;
  }
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t rows = begin[g + 1] - begin[g];
    if (rows == 0) continue;
    const bool bias = !b.empty() && b[g] != nullptr;
    BlasGemm(gpu, false, false, 1.0f, x.Rows(begin[g], rows), w[g], bias ? 1.0f : 0.0f,
             y.Rows(begin[g], rows));
  }
}

void GroupedLinearBackward(ConstMatView x, const std::vector<int64_t>& begin,
                           const std::vector<ConstMatView>& w, ConstMatView dy,
                           const std::vector<MatView>& dw, const std::vector<float*>& db,
                           MatView dx, float dx_beta) {
  GpuResources* gpu = CommonDevice(x, dy, dx);
  CheckGroups(gpu, x, begin, w, dy.rows, dy.cols);
  CHECK_EQ(dw.size(), w.size());
  CHECK(db.empty() || db.size() == w.size());
  const int64_t groups = static_cast<int64_t>(w.size());
  for (int64_t g = 0; g < groups; ++g) {
    CHECK(dw[g].gpu == gpu) << "group " << g << "'s weight gradient is not on the device";
  }
  const int64_t n = EqualGroupRows(begin);
  // dw[g] += x_g^T dy_g: the group's rows are the inner dimension.
  const int64_t dw_stride = EvenStride(dw);
  if (n > 0 && dw_stride >= 0) {
    BlasGemmStridedBatched(gpu, true, false, 1.0f, x.Rows(0, n), n * x.ld, dy.Rows(0, n), n * dy.ld,
                           1.0f, dw[0], dw_stride, groups);
  } else {
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t rows = begin[g + 1] - begin[g];
      if (rows == 0) continue;
      BlasGemm(gpu, true, false, 1.0f, x.Rows(begin[g], rows), dy.Rows(begin[g], rows), 1.0f,
               dw[g]);
    }
  }
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t rows = begin[g + 1] - begin[g];
    if (rows == 0 || db.empty() || db[g] == nullptr) continue;
    gpu::BiasBackward(dy.Rows(begin[g], rows), db[g]);
  }
  if (dx.data == nullptr) return;
  CHECK_EQ(dx.rows, x.rows);
  CHECK_EQ(dx.cols, x.cols);
  // dx_g = dy_g w[g]^T + dx_beta dx_g.
  const int64_t w_stride = EvenStride(w);
  if (n > 0 && w_stride >= 0) {
    BlasGemmStridedBatched(gpu, false, true, 1.0f, dy.Rows(0, n), n * dy.ld, w[0], w_stride,
                           dx_beta, dx.Rows(0, n), n * dx.ld, groups);
    return;
  }
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t rows = begin[g + 1] - begin[g];
    if (rows == 0) continue;
    BlasGemm(gpu, false, true, 1.0f, dy.Rows(begin[g], rows), w[g], dx_beta,
             dx.Rows(begin[g], rows));
  }
}

}  // namespace gpu
}  // namespace moerec
