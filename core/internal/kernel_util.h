// Helpers shared by the CPU kernels of core/ (not a public API): how finely to split work
// over the compute threads, deterministic parallel reductions over rows (ReduceRows) and over
// column ranges, fixed-order sums along a row (LaneSum), and a vectorisable exp.
//
// Determinism: every reduction here sums in an order fixed by the data's shape alone, never
// by the thread count, so kernels built on them give bit-identical results for any number of
// compute threads.
//
// Vectorisation note for kernel authors: GCC keeps a loop scalar when a value it reads may be
// changed by the loop's stores (a variable captured by reference in a lambda, a pointer it
// cannot prove distinct) or when a load happens only under a condition. Copy captured values
// into locals, load unconditionally, and put hot loops with several outputs in a function
// with __restrict parameters (see norm.cc).
#ifndef MOEREC_CORE_INTERNAL_KERNEL_UTIL_H_
#define MOEREC_CORE_INTERNAL_KERNEL_UTIL_H_

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/parallel.h"

namespace moerec::internal {

// Below about this many elements a parallel region costs more than it saves (measured on
// 2 cores: an elementwise op on 64K floats gains nothing from a second thread).
constexpr int64_t kMinParallelElements = 65536;

// Rows per ParallelFor chunk for a kernel touching `cols` elements per row.
inline int64_t RowGrain(int64_t cols) {
  return std::max<int64_t>(1, kMinParallelElements / std::max<int64_t>(cols, 1));
}

// Calls fn(r) for every row in [0, rows), in parallel over row chunks.
template <typename Fn>
void ForEachRow(int64_t rows, int64_t cols, const Fn& fn) {
  ParallelFor(rows, RowGrain(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) fn(r);
  });
}

// Columns per block for column-parallel kernels: one 64-byte line of floats, so threads never
// write the same cache line of a per-column accumulator.
constexpr int64_t kColumnBlock = 16;

// Calls fn(c0, c1) on disjoint column ranges covering [0, cols), in parallel when the matrix
// is large enough. A kernel that reduces over rows inside fn(c0, c1), in row order, gets the
// same per-column sums for any split, hence for any thread count. (Each thread then reads a
// strided part of every row, which streams worse than whole rows: prefer ReduceRows.)
template <typename Fn>
void ForColumnRanges(int64_t rows, int64_t cols, const Fn& fn) {
  const int64_t blocks = (cols + kColumnBlock - 1) / kColumnBlock;
  const int64_t elements_per_block = std::max<int64_t>(rows, 1) * kColumnBlock;
  const int64_t grain = std::max<int64_t>(1, kMinParallelElements / elements_per_block);
  ParallelFor(blocks, grain, [&](int64_t b0, int64_t b1) {
    fn(b0 * kColumnBlock, std::min(cols, b1 * kColumnBlock));
  });
}

// Per-thread working memory that only grows: n values, contents unspecified. Valid until the
// next call on the same thread.
template <typename T>
T* Scratch(int64_t n) {
  thread_local std::vector<T> buffer;
  if (static_cast<int64_t>(buffer.size()) < n) buffer.resize(n);
  return buffer.data();
}

// Upper bound on the row blocks of ReduceRows (so on its useful parallelism).
constexpr int64_t kMaxReduceBlocks = 16;

// Deterministic parallel reduction over rows into K outputs of `width` values:
//   out[k][i] += sum over rows r of the terms that accumulate(r, acc) adds to acc[k][i].
// accumulate(r, acc) is called exactly once per row (it may also write row r of other
// outputs, e.g. an activation gradient). Rows are cut into blocks fixed by (rows, cols) alone
// (`cols` = work per row); each block sums its rows in order into its own zeroed partial, and
// the partials are added in block order. So threads stream whole rows, and the result is the
// same for any thread count.
// `min_chunk_elements` (elements of input per thread at least) lets a cheap reduction, such
// as a plain column sum, stay on one thread for sizes where a second one does not pay.
template <typename T, int K, typename Accumulate>
void ReduceRows(int64_t rows, int64_t cols, int64_t width, T* const (&out)[K],
                const Accumulate& accumulate, int64_t min_chunk_elements = kMinParallelElements) {
  if (rows <= 0 || width <= 0) return;
  const int64_t block_rows =
      std::max(RowGrain(cols), (rows + kMaxReduceBlocks - 1) / kMaxReduceBlocks);
  const int64_t blocks = (rows + block_rows - 1) / block_rows;
  const int64_t stride = K * width;
  T* partial = Scratch<T>(blocks * stride);
  const int64_t block_elements = block_rows * std::max<int64_t>(cols, 1);
  const int64_t grain = (min_chunk_elements + block_elements - 1) / block_elements;
  ParallelFor(blocks, grain, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      T* p = partial + b * stride;
      std::fill_n(p, stride, T(0));
      T* acc[K];
      for (int k = 0; k < K; ++k) acc[k] = p + k * width;
      const int64_t end = std::min(rows, (b + 1) * block_rows);
      for (int64_t r = b * block_rows; r < end; ++r) accumulate(r, static_cast<T* const*>(acc));
    }
  });
  ParallelFor(stride, std::max<int64_t>(1, kMinParallelElements / blocks),
              [&](int64_t i0, int64_t i1) {
                T* __restrict total = partial;
                for (int64_t b = 1; b < blocks; ++b) {
                  const T* __restrict p = partial + b * stride;
                  for (int64_t i = i0; i < i1; ++i) total[i] += p[i];
                }
                for (int k = 0; k < K; ++k) {
                  const int64_t lo = std::max(i0, k * width), hi = std::min(i1, (k + 1) * width);
                  T* __restrict o = out[k] - k * width;
                  for (int64_t i = lo; i < hi; ++i) o[i] += total[i];
                }
              });
}

// Fixed-order reductions over a row: kLanes independent partial sums (which the compiler
// keeps in one vector register), then the lanes added in index order.
constexpr int kLanes = 16;

template <typename Term>
inline float LaneSum(int64_t n, const Term& term) {
  float acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int l = 0; l < kLanes; ++l) acc[l] += term(j + l);
  }
  for (int l = 0; j < n; ++j, ++l) acc[l] += term(j);
  float total = 0.0f;
  for (int l = 0; l < kLanes; ++l) total += acc[l];
  return total;
}

// exp(x) in float without calls or branches, so loops over it vectorise (std::exp does not).
// Cody-Waite reduction x = k ln2 + r, |r| <= ln2 / 2, Cephes' expf polynomial for exp(r), and
// 2^k applied as two normal factors. Relative error about 1e-7 where exp(x) is a normal
// float; 0 below -87.33654 (subnormal results are flushed), +inf above 88.72284; NaN -> NaN.
inline float Exp(float x) {
  constexpr float kLo = -87.33654f, kHi = 88.72284f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float xc = std::min(std::max(x, kLo), kHi);
  const float t = xc * 1.44269504088896341f + kRound;
  const float kf = t - kRound;
  // k from t's mantissa bits, which avoids a float-to-int conversion (UB for NaN).
  const int32_t k = std::bit_cast<int32_t>(t) - std::bit_cast<int32_t>(kRound);
  const float r = (xc - kf * 0.693359375f) - kf * -2.12194440e-4f;
  const float z = r * r;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * z + r + 1.0f;
  // k in [-126, 128]: split so that both factors are normal floats.
  const int32_t k1 = k >> 1, k2 = k - k1;
  const float result =
      y * std::bit_cast<float>((k1 + 127) << 23) * std::bit_cast<float>((k2 + 127) << 23);
  return x < kLo ? 0.0f : (x > kHi ? std::numeric_limits<float>::infinity() : result);
}

}  // namespace moerec::internal

#endif  // MOEREC_CORE_INTERNAL_KERNEL_UTIL_H_
