#include "core/interaction.h"

#include <cstring>

#include "core/internal/gpu_dispatch.h"
#include "core/internal/kernel_util.h"
#include "core/linear.h"

namespace moerec {

using internal::ForEachRow;
using internal::LaneSum;

namespace {

// The embedding width k of a (B, S*k) field view.
int64_t FieldWidth(ConstMatView v, int num_fields) {
  CHECK_GE(num_fields, 1);
  CHECK_EQ(v.cols % num_fields, 0) << "width " << v.cols << " is not " << num_fields << " fields";
  return v.cols / num_fields;
}

void CheckSameShape(ConstMatView a, ConstMatView b) {
  CHECK_EQ(a.rows, b.rows);
  CHECK_EQ(a.cols, b.cols);
}

// y += a * x.
void Axpy(int64_t n, float a, const float* __restrict x, float* __restrict y) {
  for (int64_t j = 0; j < n; ++j) y[j] += a * x[j];
}

// One row of BiInteractionForward.
void BiInteractionRow(int64_t s, int64_t k, const float* __restrict x, float* __restrict sum,
                      float* __restrict out) {
  std::memcpy(sum, x, k * sizeof(float));
  for (int64_t c = 0; c < k; ++c) out[c] = x[c] * x[c];
  for (int64_t f = 1; f < s; ++f) {
    const float* __restrict xf = x + f * k;
    for (int64_t c = 0; c < k; ++c) {
      sum[c] += xf[c];
      out[c] += xf[c] * xf[c];
    }
  }
  for (int64_t c = 0; c < k; ++c) out[c] = 0.5f * (sum[c] * sum[c] - out[c]);
}

// One row of BiInteractionBackward: dv_f = g * (sum - v_f) + beta * dv_f.
void BiInteractionBackwardRow(int64_t s, int64_t k, const float* __restrict x,
                              const float* __restrict g, float beta, float* __restrict sum,
                              float* __restrict d) {
  std::memcpy(sum, x, k * sizeof(float));
  for (int64_t f = 1; f < s; ++f) Axpy(k, 1.0f, x + f * k, sum);
  for (int64_t f = 0; f < s; ++f) {
    const float* __restrict xf = x + f * k;
    float* __restrict df = d + f * k;
    if (beta == 0.0f) {
      for (int64_t c = 0; c < k; ++c) df[c] = g[c] * (sum[c] - xf[c]);
    } else {
      for (int64_t c = 0; c < k; ++c) df[c] = g[c] * (sum[c] - xf[c]) + beta * df[c];
    }
  }
}

// d[b, :] = v[b, :] * scale[b * scale_ld] for every row: a (B, k) block scaled row by row.
void ScaleRowsBy(ConstMatView v, const float* scale, int64_t scale_ld, MatView d) {
  ForEachRow(v.rows, v.cols, [&](int64_t r) {
    const float a = scale[r * scale_ld];
    const float* __restrict x = v.row(r);
    float* __restrict y = d.row(r);
    for (int64_t c = 0; c < v.cols; ++c) y[c] = a * x[c];
  });
}

}  // namespace

void BiInteractionForward(ConstMatView v, int num_fields, MatView out) {
  MOEREC_GPU_DISPATCH(v, gpu::BiInteractionForward(v, num_fields, out));
  const int64_t k = FieldWidth(v, num_fields);
  CHECK_EQ(out.rows, v.rows);
  CHECK_EQ(out.cols, k);
  ForEachRow(v.rows, v.cols, [&](int64_t r) {
    BiInteractionRow(num_fields, k, v.row(r), internal::Scratch<float>(k), out.row(r));
  });
}

void BiInteractionBackward(ConstMatView v, int num_fields, ConstMatView dout, MatView dv,
                           float dv_beta) {
  MOEREC_GPU_DISPATCH(v, gpu::BiInteractionBackward(v, num_fields, dout, dv, dv_beta));
  const int64_t k = FieldWidth(v, num_fields);
  CHECK_EQ(dout.rows, v.rows);
  CHECK_EQ(dout.cols, k);
  CheckSameShape(v, dv);
  ForEachRow(v.rows, v.cols, [&](int64_t r) {
    BiInteractionBackwardRow(num_fields, k, v.row(r), dout.row(r), dv_beta,
                             internal::Scratch<float>(k), dv.row(r));
  });
}

void InnerProductForward(ConstMatView v, int num_fields, MatView out) {
  MOEREC_GPU_DISPATCH(v, gpu::InnerProductForward(v, num_fields, out));
  const int64_t k = FieldWidth(v, num_fields);
  const int64_t s = num_fields;
  CHECK_EQ(out.rows, v.rows);
  CHECK_EQ(out.cols, NumFieldPairs(s));
  ForEachRow(v.rows, v.cols * s, [&](int64_t r) {
    const float* x = v.row(r);
    float* o = out.row(r);
    int64_t p = 0;
    for (int64_t i = 0; i < s; ++i) {
      const float* xi = x + i * k;
      for (int64_t j = i + 1; j < s; ++j, ++p) {
        const float* xj = x + j * k;
        o[p] = LaneSum(k, [&](int64_t c) { return xi[c] * xj[c]; });
      }
    }
  });
}

void InnerProductBackward(ConstMatView v, int num_fields, ConstMatView dout, MatView dv,
                          float dv_beta) {
  MOEREC_GPU_DISPATCH(v, gpu::InnerProductBackward(v, num_fields, dout, dv, dv_beta));
  const int64_t k = FieldWidth(v, num_fields);
  const int64_t s = num_fields;
  CHECK_EQ(dout.rows, v.rows);
  CHECK_EQ(dout.cols, NumFieldPairs(s));
  CheckSameShape(v, dv);
  ScaleMat(dv_beta, dv);
  ForEachRow(v.rows, v.cols * s, [&](int64_t r) {
    const float* x = v.row(r);
    const float* g = dout.row(r);
    float* d = dv.row(r);
    int64_t p = 0;
    for (int64_t i = 0; i < s; ++i) {
      for (int64_t j = i + 1; j < s; ++j, ++p) {
        Axpy(k, g[p], x + j * k, d + i * k);
        Axpy(k, g[p], x + i * k, d + j * k);
      }
    }
  });
}

void OuterProductForward(ConstMatView v, int num_fields, const float* kernel, MatView out) {
  MOEREC_GPU_DISPATCH(v, gpu::OuterProductForward(v, num_fields, kernel, out));
  const int64_t k = FieldWidth(v, num_fields);
  const int64_t s = num_fields;
  CHECK_EQ(out.rows, v.rows);
  CHECK_EQ(out.cols, NumFieldPairs(s));
  // t = v_j K_p^T, so t[b, a] = (K_p v_j)[a]; then out[b, p] = <v_i, t[b, :]>.
  MatView t{internal::Scratch<float>(v.rows * k), v.rows, k, k};
  int64_t p = 0;
  for (int64_t i = 0; i < s; ++i) {
    for (int64_t j = i + 1; j < s; ++j, ++p) {
      const ConstMatView kp(kernel + p * k * k, k, k, k);
      Gemm(false, true, 1.0f, v.Cols(j * k, k), kp, 0.0f, t);
      ForEachRow(v.rows, k, [&](int64_t r) {
        const float* xi = v.row(r) + i * k;
        const float* tr = t.row(r);
        out.row(r)[p] = LaneSum(k, [&](int64_t c) { return xi[c] * tr[c]; });
      });
    }
  }
}

void OuterProductBackward(ConstMatView v, int num_fields, const float* kernel, ConstMatView dout,
                          MatView dv, float* dkernel, float dv_beta) {
  MOEREC_GPU_DISPATCH(v,
                      gpu::OuterProductBackward(v, num_fields, kernel, dout, dv, dkernel, dv_beta));
  const int64_t k = FieldWidth(v, num_fields);
  const int64_t s = num_fields;
  CHECK_EQ(dout.rows, v.rows);
  CHECK_EQ(dout.cols, NumFieldPairs(s));
  CheckSameShape(v, dv);
  ScaleMat(dv_beta, dv);
  float* scratch = internal::Scratch<float>(2 * v.rows * k);
  MatView e{scratch, v.rows, k, k};               // dout[:, p] * v_i
  MatView f{scratch + v.rows * k, v.rows, k, k};  // dout[:, p] * v_j
  int64_t p = 0;
  for (int64_t i = 0; i < s; ++i) {
    for (int64_t j = i + 1; j < s; ++j, ++p) {
      const ConstMatView kp(kernel + p * k * k, k, k, k);
      const ConstMatView vi = v.Cols(i * k, k), vj = v.Cols(j * k, k);
      ScaleRowsBy(vi, dout.data + p, dout.ld, e);
      ScaleRowsBy(vj, dout.data + p, dout.ld, f);
      Gemm(true, false, 1.0f, e, vj, 1.0f, MatView{dkernel + p * k * k, k, k, k});
      Gemm(false, false, 1.0f, e, kp, 1.0f, dv.Cols(j * k, k));
      Gemm(false, true, 1.0f, f, kp, 1.0f, dv.Cols(i * k, k));
    }
  }
}

}  // namespace moerec
