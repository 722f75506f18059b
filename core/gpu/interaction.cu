// CUDA twins of core/interaction.h. The bi-interaction and inner products are one body per
// output element (or per (sample, column) for the bi-interaction backward, which shares the
// field sum over its S outputs), summing over fields and pairs in the CPU kernel's order. The
// kernel products batch their per-pair GEMMs by first field: the pairs (i, j), j > i, are
// consecutive (p0 = p(i, i+1) on), their v_j column blocks k floats apart and their kernels
// k*k floats apart, so one strided batched GEMM serves all S-1-i of them.
//
// Dimension legend: B rows, S fields, k width per field, P pairs; m = S-1-i pairs of field i.
//   v, dv: (B, S*k)  out, dout: (B, P)  kernel, dkernel: (P, k, k)
//   scratch t, e: (B, (S-1)*k), pair j's block at columns (j-i-1)*k
#include "core/gpu/internal/blas.h"
#include "core/gpu/kernels.h"
#include "core/gpu/launch.cuh"

namespace moerec {
namespace gpu {
namespace {

int64_t FieldWidth(ConstMatView v, int num_fields) {
  CHECK_GE(num_fields, 1);
  CHECK_EQ(v.cols % num_fields, 0) << "width " << v.cols << " is not " << num_fields << " fields";
  return v.cols / num_fields;
}

void CheckSameShape(ConstMatView a, ConstMatView b) {
  CHECK_EQ(a.rows, b.rows);
  CHECK_EQ(a.cols, b.cols);
}

// The pair (i, j) of index p (FieldPairIndex's inverse), walking the rows of the pair triangle.
__host__ __device__ inline void PairOf(int64_t p, int64_t s, int64_t* i, int64_t* j) {
  int64_t first = 0;
  while (p >= s - 1 - first) {
    p -= s - 1 - first;
    ++first;
  }
  *i = first;
  *j = first + 1 + p;
}

// c_jj = v_j K_p^T for the pairs p0 + jj, jj < m, of field i: t[b, jj*k + a] = (K_p v_j)[a].
void PairProjections(GpuResources* gpu, ConstMatView v, int64_t i, int64_t k, const float* kernel,
                     int64_t p0, int64_t m, MatView t) {
  BlasGemmStridedBatched(gpu, false, true, 1.0f, v.Cols((i + 1) * k, k), k,
                         ConstMatView(kernel + p0 * k * k, k, k, k, gpu), k * k, 0.0f, t.Cols(0, k),
                         k, m);
}

}  // namespace

void BiInteractionForward(ConstMatView v, int num_fields, MatView out) {
  GpuResources* gpu = CommonDevice(v, out);
  const int64_t k = FieldWidth(v, num_fields), s = num_fields;
  CHECK_EQ(out.rows, v.rows);
  CHECK_EQ(out.cols, k);
  ForEach(gpu, v.rows * k, [=] __host__ __device__(int64_t i) {
    const int64_t b = i / k, c = i % k;
    const float* x = v.data + b * v.ld + c;
    float sum = x[0], sq = x[0] * x[0];
    for (int64_t f = 1; f < s; ++f) {
      const float xf = x[f * k];
      sum += xf;
      sq += xf * xf;
    }
    out.data[b * out.ld + c] = 0.5f * (sum * sum - sq);
  });
}

void BiInteractionBackward(ConstMatView v, int num_fields, ConstMatView dout, MatView dv,
                           float dv_beta) {
  GpuResources* gpu = CommonDevice(v, dout, dv);
  const int64_t k = FieldWidth(v, num_fields), s = num_fields;
  CHECK_EQ(dout.rows, v.rows);
  CHECK_EQ(dout.cols, k);
  CheckSameShape(v, dv);
  ForEach(gpu, v.rows * k, [=] __host__ __device__(int64_t i) {
    const int64_t b = i / k, c = i % k;
    const float* x = v.data + b * v.ld + c;
    float sum = x[0];
    for (int64_t f = 1; f < s; ++f) sum += x[f * k];
    const float g = dout.data[b * dout.ld + c];
    float* d = dv.data + b * dv.ld + c;
    for (int64_t f = 0; f < s; ++f) {
      const float grad = g * (sum - x[f * k]);
      d[f * k] = dv_beta == 0.0f ? grad : grad + dv_beta * d[f * k];
    }
  });
}

void InnerProductForward(ConstMatView v, int num_fields, MatView out) {
  GpuResources* gpu = CommonDevice(v, out);
  const int64_t k = FieldWidth(v, num_fields), s = num_fields, pairs = s * (s - 1) / 2;
  CHECK_EQ(out.rows, v.rows);
  CHECK_EQ(out.cols, pairs);
  ForEach(gpu, v.rows * pairs, [=] __host__ __device__(int64_t n) {
    const int64_t b = n / pairs, p = n % pairs;
    int64_t i, j;
    PairOf(p, s, &i, &j);
    const float* xi = v.data + b * v.ld + i * k;
    const float* xj = v.data + b * v.ld + j * k;
    float acc = 0.0f;
    for (int64_t c = 0; c < k; ++c) acc += xi[c] * xj[c];
    out.data[b * out.ld + p] = acc;
  });
}

void InnerProductBackward(ConstMatView v, int num_fields, ConstMatView dout, MatView dv,
                          float dv_beta) {
  GpuResources* gpu = CommonDevice(v, dout, dv);
  const int64_t k = FieldWidth(v, num_fields), s = num_fields;
  CHECK_EQ(dout.rows, v.rows);
  CHECK_EQ(dout.cols, s * (s - 1) / 2);
  CheckSameShape(v, dv);
  // dv_i = sum over j != i of dout[p(min, max)] v_j, j ascending: the CPU kernel's pair order.
  ForEach(gpu, v.rows * s * k, [=] __host__ __device__(int64_t n) {
    const int64_t b = n / (s * k), i = (n / k) % s, c = n % k;
    const float* x = v.data + b * v.ld + c;
    const float* g = dout.data + b * dout.ld;
    float* d = dv.data + b * dv.ld + i * k + c;
    float acc = dv_beta == 0.0f ? 0.0f : dv_beta * *d;
    for (int64_t j = 0; j < s; ++j) {
      if (j == i) continue;
      const int64_t lo = j < i ? j : i, hi = j < i ? i : j;
      const int64_t p = lo * (2 * s - lo - 1) / 2 + (hi - lo - 1);
      acc += g[p] * x[j * k];
    }
    *d = acc;
  });
}

void OuterProductForward(ConstMatView v, int num_fields, const float* kernel, MatView out) {
  GpuResources* gpu = CommonDevice(v, out);
  const int64_t k = FieldWidth(v, num_fields), s = num_fields;
  CHECK_EQ(out.rows, v.rows);
  CHECK_EQ(out.cols, NumFieldPairs(s));
  if (s < 2) return;
  Tensor scratch({v.rows, (s - 1) * k}, gpu);
  const MatView t = scratch.view();
  for (int64_t i = 0; i + 1 < s; ++i) {
    const int64_t m = s - 1 - i, p0 = FieldPairIndex(i, i + 1, s);
    PairProjections(gpu, v, i, k, kernel, p0, m, t);
    // out[b, p0 + jj] = <v_i, t_jj>.
    ForEach(gpu, v.rows * m, [=] __host__ __device__(int64_t n) {
      const int64_t b = n / m, jj = n % m;
      const float* xi = v.data + b * v.ld + i * k;
      const float* tr = t.data + b * t.ld + jj * k;
      float acc = 0.0f;
      for (int64_t c = 0; c < k; ++c) acc += xi[c] * tr[c];
      out.data[b * out.ld + p0 + jj] = acc;
    });
  }
}

void OuterProductBackward(ConstMatView v, int num_fields, const float* kernel, ConstMatView dout,
                          MatView dv, float* dkernel, float dv_beta) {
  GpuResources* gpu = CommonDevice(v, dout, dv);
  const int64_t k = FieldWidth(v, num_fields), s = num_fields;
  CHECK_EQ(dout.rows, v.rows);
  CHECK_EQ(dout.cols, NumFieldPairs(s));
  CheckSameShape(v, dv);
  gpu::ScaleMat(dv_beta, dv);
  if (s < 2) return;
  Tensor e_scratch({v.rows, (s - 1) * k}, gpu), t_scratch({v.rows, (s - 1) * k}, gpu);
  const MatView e = e_scratch.view(), t = t_scratch.view();
  for (int64_t i = 0; i + 1 < s; ++i) {
    const int64_t m = s - 1 - i, p0 = FieldPairIndex(i, i + 1, s);
    const ConstMatView vj = v.Cols((i + 1) * k, k);
    const ConstMatView kp(kernel + p0 * k * k, k, k, k, gpu);
    // e_jj = dout[:, p0 + jj] * v_i.
    ForEach(gpu, v.rows * m * k, [=] __host__ __device__(int64_t n) {
      const int64_t b = n / (m * k), jj = (n / k) % m, a = n % k;
      e.data[b * e.ld + jj * k + a] =
          dout.data[b * dout.ld + p0 + jj] * v.data[b * v.ld + i * k + a];
    });
    // dK_p += e_jj^T v_j; dv_j += e_jj K_p (distinct j: the batch's outputs do not overlap).
    BlasGemmStridedBatched(gpu, true, false, 1.0f, e.Cols(0, k), k, vj, k, 1.0f,
                           MatView{dkernel + p0 * k * k, k, k, k, gpu}, k * k, m);
    BlasGemmStridedBatched(gpu, false, false, 1.0f, e.Cols(0, k), k, kp, k * k, 1.0f,
                           dv.Cols((i + 1) * k, k), k, m);
    // dv_i += sum_jj dout[:, p0 + jj] * (v_j K_p^T): every pair of i writes dv_i, so the sum
    // over jj is one body per element rather than a batch of GEMMs into one output.
    PairProjections(gpu, v, i, k, kernel, p0, m, t);
    ForEach(gpu, v.rows * k, [=] __host__ __device__(int64_t n) {
      const int64_t b = n / k, a = n % k;
      const float* g = dout.data + b * dout.ld + p0;
      const float* tr = t.data + b * t.ld + a;
      float acc = 0.0f;
      for (int64_t jj = 0; jj < m; ++jj) acc += g[jj] * tr[jj * k];
      dv.data[b * dv.ld + i * k + a] += acc;
    });
  }
}

}  // namespace gpu
}  // namespace moerec
