// CUDA twins of core/embedding_bag.h (its dimension legend and gradient rule hold here).
// offsets and index are device arrays on a device call.
//
// Forward: one body per element of out, adding its bag's rows in index order.
// Backward: deterministic without atomics. Several (bag, position) entries may feed one row of
// drows, so the entries are regrouped by row: offsets and index are copied to the host (the
// call waits for the compute stream), a counting sort builds a CSR of the entries feeding each
// row in (bag, position) order, and the CSR goes back to the device; then one body per
// (row, column) adds its entries in that order, which is the CPU kernel's order, so each
// element sees the same additions as on the CPU. Cost per call: two device-to-host copies of
// B + 1 + nnz integers and one host-to-device copy of U + 1 + nnz, O(B + nnz + U) host work,
// one stream synchronisation, and U * D bodies doing nnz * D additions in all.
// The host pass also CHECKs every index against U (the CPU kernel only DCHECKs).
#include <vector>

#include "core/gpu/kernels.h"
#include "core/gpu/launch.cuh"

namespace moerec {
namespace gpu {

void EmbeddingBagForward(ConstMatView rows, const uint32_t* offsets, const int32_t* index,
                         PoolingMode mode, MatView out) {
  const int64_t d = rows.cols;
  CHECK_EQ(out.cols, d);
  GpuResources* gpu = CommonDevice(rows, out);
  const bool mean = mode == PoolingMode::kMean;
  ForEach(gpu, out.rows * d, [=] __host__ __device__(int64_t i) {
    const int64_t b = i / d, j = i % d;
    const uint32_t begin = offsets[b], end = offsets[b + 1];
    float acc = 0.0f;
    for (uint32_t k = begin; k < end; ++k) acc += rows.data[index[k] * rows.ld + j];
    if (mean && end - begin > 1) acc *= 1.0f / static_cast<float>(end - begin);
    out.data[b * out.ld + j] = acc;
  });
}

void EmbeddingBagBackward(ConstMatView dout, const uint32_t* offsets, const int32_t* index,
                          PoolingMode mode, MatView drows) {
  CHECK_EQ(dout.cols, drows.cols);
  GpuResources* gpu = CommonDevice(dout, drows);
  const int64_t bags = dout.rows, num_rows = drows.rows, d = drows.cols;
  std::vector<uint32_t> off(bags + 1);
  gpu->CopySync(off.data(), offsets, off.size() * sizeof(uint32_t), GpuResources::kDeviceToHost);
  const int64_t nnz = off[bags];
  if (nnz == 0 || d == 0) return;
  std::vector<int32_t> idx(nnz);
  gpu->CopySync(idx.data(), index, nnz * sizeof(int32_t), GpuResources::kDeviceToHost);

  // csr[0, U] = the first entry of each row; csr[U + 1 + e] = the bag of entry e, entries of a
  // row in (bag, position) order (a stable counting sort over the entries in that order).
  std::vector<uint32_t> csr(num_rows + 1 + nnz, 0);
  uint32_t* row_begin = csr.data();
  uint32_t* entry_bag = csr.data() + num_rows + 1;
  for (int64_t e = 0; e < nnz; ++e) {
    CHECK(idx[e] >= 0 && idx[e] < num_rows)
        << "index " << e << " = " << idx[e] << " of " << num_rows << " rows";
    ++row_begin[idx[e] + 1];
  }
  for (int64_t u = 0; u < num_rows; ++u) row_begin[u + 1] += row_begin[u];
  std::vector<uint32_t> fill(row_begin, row_begin + num_rows);
  for (int64_t b = 0; b < bags; ++b) {
    CHECK_LE(off[b], off[b + 1]) << "offsets decrease at bag " << b;
    for (uint32_t e = off[b]; e < off[b + 1]; ++e) entry_bag[fill[idx[e]]++] = b;
  }
  uint32_t* device_csr = static_cast<uint32_t*>(gpu->Allocate(csr.size() * sizeof(uint32_t)));
  gpu->CopySync(device_csr, csr.data(), csr.size() * sizeof(uint32_t), GpuResources::kHostToDevice);
  const uint32_t* rb = device_csr;
  const uint32_t* eb = device_csr + num_rows + 1;
  const bool mean = mode == PoolingMode::kMean;
  ForEach(gpu, num_rows * d, [=] __host__ __device__(int64_t i) {
    const int64_t u = i / d, j = i % d;
    if (rb[u] == rb[u + 1]) return;
    float* r = drows.data + u * drows.ld + j;
    float acc = *r;
    for (uint32_t e = rb[u]; e < rb[u + 1]; ++e) {
      const uint32_t b = eb[e];
      const uint32_t n = offsets[b + 1] - offsets[b];
      const float scale = mean && n > 1 ? 1.0f / static_cast<float>(n) : 1.0f;
      acc += scale * dout.data[b * dout.ld + j];
    }
    *r = acc;
  });
  // The compute stream orders any later reuse of the block after the kernel.
  gpu->Free(device_csr);
}

}  // namespace gpu
}  // namespace moerec
