// CUDA twins of core/gated_mix.h. Dimension legend: B rows, E experts, H expert output width,
// S streams; f, df: (B, E*H); g, dg: (B, S*E); z, dz: (B, S*H).
// Row i of each is a small row-major matrix: f_i (E, H), g_i (S, E), z_i (S, H), so the mix is
// B independent GEMMs, one strided-batched cuBLAS call per product:
//   forward   z_i  = g_i f_i
//   backward  df_i = g_i^T dz_i,   dg_i = dz_i f_i^T
// (batch stride = the view's leading dimension; every matrix of one row is contiguous).
#include "core/gpu/internal/blas.h"
#include "core/gpu/kernels.h"
#include "core/gpu/launch.cuh"

namespace moerec {
namespace gpu {
namespace {

struct Dims {
  int64_t e, h, s;
};

Dims CheckDims(ConstMatView f, ConstMatView g, int num_experts, int64_t z_rows, int64_t z_cols) {
  CHECK_GE(num_experts, 1);
  CHECK_EQ(f.cols % num_experts, 0);
  CHECK_EQ(g.cols % num_experts, 0);
  const Dims d{num_experts, f.cols / num_experts, g.cols / num_experts};
  CHECK_EQ(f.rows, g.rows);
  CHECK_EQ(z_rows, f.rows);
  CHECK_EQ(z_cols, d.s * d.h);
  return d;
}

// Row i of v as a (rows, cols) row-major matrix (the batch stride is v.ld).
ConstMatView RowMatrix(ConstMatView v, int64_t rows, int64_t cols) {
  return ConstMatView(v.data, rows, cols, cols, v.gpu);
}
MatView RowMatrix(MatView v, int64_t rows, int64_t cols) {
  return MatView{v.data, rows, cols, cols, v.gpu};
}

}  // namespace

void GatedMixForward(ConstMatView f, ConstMatView g, int num_experts, MatView z) {
  const Dims d = CheckDims(f, g, num_experts, z.rows, z.cols);
  BlasGemmStridedBatched(CommonDevice(f, g, z), false, false, 1.0f, RowMatrix(g, d.s, d.e), g.ld,
                         RowMatrix(f, d.e, d.h), f.ld, 0.0f, RowMatrix(z, d.s, d.h), z.ld, f.rows);
}

void GatedMixBackward(ConstMatView f, ConstMatView g, ConstMatView dz, int num_experts, MatView df,
                      MatView dg) {
  const Dims d = CheckDims(f, g, num_experts, dz.rows, dz.cols);
  CHECK_EQ(df.rows, f.rows);
  CHECK_EQ(df.cols, f.cols);
  CHECK_EQ(dg.rows, g.rows);
  CHECK_EQ(dg.cols, g.cols);
  GpuResources* gpu = CommonDevice(f, g, dz, df, dg);
  BlasGemmStridedBatched(gpu, true, false, 1.0f, RowMatrix(g, d.s, d.e), g.ld,
                         RowMatrix(dz, d.s, d.h), dz.ld, 0.0f, RowMatrix(df, d.e, d.h), df.ld,
                         f.rows);
  BlasGemmStridedBatched(gpu, false, true, 1.0f, RowMatrix(dz, d.s, d.h), dz.ld,
                         RowMatrix(f, d.e, d.h), f.ld, 0.0f, RowMatrix(dg, d.s, d.e), dg.ld,
                         f.rows);
}

}  // namespace gpu
}  // namespace moerec
