#include "core/concat.h"

#include <cstring>

#include "core/internal/gpu_dispatch.h"
#include "core/internal/kernel_util.h"

namespace moerec {

void ConcatColumnsForward(const std::vector<ConstMatView>& parts, MatView out) {
  MOEREC_GPU_DISPATCH(out, gpu::ConcatColumnsForward(parts, out));
  int64_t total = 0;
  for (const ConstMatView& p : parts) {
    CHECK_EQ(p.rows, out.rows) << "concat part has a different row count";
    total += p.cols;
  }
  CHECK_EQ(total, out.cols) << "concat parts do not cover the output";
  // One pass over the rows, all parts per row: one parallel region however many parts.
  internal::ForEachRow(out.rows, out.cols, [&](int64_t r) {
    float* o = out.row(r);
    for (const ConstMatView& p : parts) {
      if (p.cols > 0) std::memcpy(o, p.row(r), p.cols * sizeof(float));
      o += p.cols;
    }
  });
}

void ConcatColumnsBackward(ConstMatView dout, const std::vector<MatView>& dparts) {
  MOEREC_GPU_DISPATCH(dout, gpu::ConcatColumnsBackward(dout, dparts));
  int64_t total = 0;
  for (const MatView& p : dparts) {
    CHECK_EQ(p.rows, dout.rows) << "split part has a different row count";
    total += p.cols;
  }
  CHECK_EQ(total, dout.cols) << "split parts do not cover the input";
  internal::ForEachRow(dout.rows, dout.cols, [&](int64_t r) {
    const float* g = dout.row(r);
    for (const MatView& p : dparts) {
      if (p.cols > 0) std::memcpy(p.row(r), g, p.cols * sizeof(float));
      g += p.cols;
    }
  });
}

}  // namespace moerec
