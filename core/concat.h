// Column concatenation and its mirror image, split.
// Dimension legend: B rows; part k is (B, C_k); the whole is (B, sum_k C_k).
// Forward copies the parts into consecutive column blocks of `out`; backward (split) copies
// the column blocks of `dout` into the parts' gradients (written, not accumulated).
#ifndef MOEREC_CORE_CONCAT_H_
#define MOEREC_CORE_CONCAT_H_

#include <vector>

#include "core/tensor.h"

namespace moerec {

void ConcatColumnsForward(const std::vector<ConstMatView>& parts, MatView out);
void ConcatColumnsBackward(ConstMatView dout, const std::vector<MatView>& dparts);

}  // namespace moerec

#endif  // MOEREC_CORE_CONCAT_H_
