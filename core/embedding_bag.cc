#include "core/embedding_bag.h"

#include <cstring>

#include "core/parallel.h"

namespace moerec {

void EmbeddingBagForward(ConstMatView rows, const uint32_t* offsets, const int32_t* index,
                         PoolingMode mode, MatView out) {
  const int64_t d = rows.cols;
  CHECK_EQ(out.cols, d);
  ParallelFor(out.rows, 128, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      float* o = out.row(i);
      std::memset(o, 0, d * sizeof(float));
      const uint32_t begin = offsets[i];
      const uint32_t end = offsets[i + 1];
      for (uint32_t k = begin; k < end; ++k) {
        const float* r = rows.row(index[k]);
        for (int64_t j = 0; j < d; ++j) o[j] += r[j];
      }
      if (mode == PoolingMode::kMean && end - begin > 1) {
        const float inv = 1.0f / static_cast<float>(end - begin);
        for (int64_t j = 0; j < d; ++j) o[j] *= inv;
      }
    }
  });
}

void EmbeddingBagBackward(ConstMatView dout, const uint32_t* offsets, const int32_t* index,
                          PoolingMode mode, MatView drows) {
  const int64_t d = drows.cols;
  // Serial: different samples scatter into the same rows; the order is fixed, so results are
  // bit-identical for any thread count.
  for (int64_t i = 0; i < dout.rows; ++i) {
    const float* g = dout.row(i);
    const uint32_t begin = offsets[i];
    const uint32_t end = offsets[i + 1];
    const float scale =
        (mode == PoolingMode::kMean && end - begin > 1) ? 1.0f / static_cast<float>(end - begin) : 1.0f;
    for (uint32_t k = begin; k < end; ++k) {
      float* r = drows.row(index[k]);
      for (int64_t j = 0; j < d; ++j) r[j] += scale * g[j];
    }
  }
}

}  // namespace moerec
