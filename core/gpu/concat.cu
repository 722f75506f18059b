// CUDA twins of core/concat.h. Dimension legend: B rows; part k is (B, C_k); the whole is
// (B, sum_k C_k). The parts' views live in a host std::vector, which a kernel body cannot read,
// so each part is one launch copying its column block (all on the compute stream, in order; no
// host synchronisation, nothing uploaded).
#include "core/gpu/kernels.h"
#include "core/gpu/launch.cuh"

namespace moerec {
namespace gpu {
namespace {

void CopyBlock(GpuResources* gpu, ConstMatView src, MatView dst) {
  ForEach(gpu, src.rows * src.cols, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / src.cols, j = i % src.cols;
    dst.data[r * dst.ld + j] = src.data[r * src.ld + j];
  });
}

}  // namespace

void ConcatColumnsForward(const std::vector<ConstMatView>& parts, MatView out) {
  int64_t total = 0;
  for (const ConstMatView& p : parts) {
    CHECK_EQ(p.rows, out.rows) << "concat part has a different row count";
    total += p.cols;
  }
  CHECK_EQ(total, out.cols) << "concat parts do not cover the output";
  int64_t begin = 0;
  for (const ConstMatView& p : parts) {
    if (p.cols > 0) CopyBlock(CommonDevice(out, p), p, out.Cols(begin, p.cols));
    begin += p.cols;
  }
}

void ConcatColumnsBackward(ConstMatView dout, const std::vector<MatView>& dparts) {
  int64_t total = 0;
  for (const MatView& p : dparts) {
    CHECK_EQ(p.rows, dout.rows) << "split part has a different row count";
    total += p.cols;
  }
  CHECK_EQ(total, dout.cols) << "split parts do not cover the input";
  int64_t begin = 0;
  for (const MatView& p : dparts) {
    if (p.cols > 0) CopyBlock(CommonDevice(dout, p), dout.Cols(begin, p.cols), p);
    begin += p.cols;
  }
}

}  // namespace gpu
}  // namespace moerec
