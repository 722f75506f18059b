#include "core/concat.h"

#include "core/linear.h"

namespace moerec {

void ConcatColumnsForward(const std::vector<ConstMatView>& parts, MatView out) {
  int64_t col = 0;
  for (const ConstMatView& p : parts) {
    CHECK_EQ(p.rows, out.rows);
    CopyMat(p, out.Cols(col, p.cols));
    col += p.cols;
  }
  CHECK_EQ(col, out.cols) << "concat parts do not cover the output";
}

void ConcatColumnsBackward(ConstMatView dout, const std::vector<MatView>& dparts) {
  int64_t col = 0;
  for (const MatView& p : dparts) {
    CopyMat(dout.Cols(col, p.cols), p);
    col += p.cols;
  }
  CHECK_EQ(col, dout.cols) << "split parts do not cover the input";
}

}  // namespace moerec
