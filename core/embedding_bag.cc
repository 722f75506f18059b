#include "core/embedding_bag.h"

#include <cstring>

#include "core/internal/gpu_dispatch.h"
#include "core/internal/kernel_util.h"

namespace moerec {

void EmbeddingBagForward(ConstMatView rows, const uint32_t* offsets, const int32_t* index,
                         PoolingMode mode, MatView out) {
  MOEREC_GPU_DISPATCH(out, gpu::EmbeddingBagForward(rows, offsets, index, mode, out));
  const int64_t d = rows.cols;
  CHECK_EQ(out.cols, d);
  internal::ForEachRow(out.rows, d, [&](int64_t i) {
    float* o = out.row(i);
    std::memset(o, 0, d * sizeof(float));
    const uint32_t begin = offsets[i];
    const uint32_t end = offsets[i + 1];
    DCHECK_LE(begin, end);
    for (uint32_t k = begin; k < end; ++k) {
      DCHECK(index[k] >= 0 && index[k] < rows.rows);
      const float* r = rows.row(index[k]);
      for (int64_t j = 0; j < d; ++j) o[j] += r[j];
    }
    if (mode == PoolingMode::kMean && end - begin > 1) {
      const float inv = 1.0f / static_cast<float>(end - begin);
      for (int64_t j = 0; j < d; ++j) o[j] *= inv;
    }
  });
}

void EmbeddingBagBackward(ConstMatView dout, const uint32_t* offsets, const int32_t* index,
                          PoolingMode mode, MatView drows) {
  MOEREC_GPU_DISPATCH(drows, gpu::EmbeddingBagBackward(dout, offsets, index, mode, drows));
  CHECK_EQ(dout.cols, drows.cols);
  // Samples scatter into shared rows, so samples are visited in order; the parallel split is
  // over columns, which keeps every row's sum order and the result for any thread count.
  internal::ForColumnRanges(dout.rows, drows.cols, [&](int64_t c0, int64_t c1) {
    for (int64_t i = 0; i < dout.rows; ++i) {
      const float* g = dout.row(i);
      const uint32_t begin = offsets[i];
      const uint32_t end = offsets[i + 1];
      const float scale = (mode == PoolingMode::kMean && end - begin > 1)
                              ? 1.0f / static_cast<float>(end - begin)
                              : 1.0f;
      for (uint32_t k = begin; k < end; ++k) {
        DCHECK(index[k] >= 0 && index[k] < drows.rows);
        float* r = drows.row(index[k]);
        for (int64_t j = c0; j < c1; ++j) r[j] += scale * g[j];
      }
    }
  });
}

}  // namespace moerec
