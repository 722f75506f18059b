// The shape checks of the field-wise kernels (core/bilinear.h, core/cin.h, core/senet.h), shared
// by each CPU kernel and its CUDA twin (core/gpu/): a CPU function hands a device call to its
// twin before its own checks run, so both check through these.
#ifndef MOEREC_CORE_INTERNAL_FIELD_SHAPES_H_
#define MOEREC_CORE_INTERNAL_FIELD_SHAPES_H_

#include <glog/logging.h>

#include <cstdint>

#include "core/bilinear.h"
#include "core/interaction.h"
#include "core/tensor.h"

namespace moerec::internal {

struct BilinearDims {
  int64_t s, k, p;
  int64_t blocks;  // (k)-wide column blocks of the cache: S - 1 first fields, or P pairs
};

inline BilinearDims CheckBilinearDims(BilinearType type, ConstMatView v, int num_fields,
                                      int64_t out_rows, int64_t out_cols) {
  CHECK(type == BilinearType::kFieldAll || type == BilinearType::kFieldEach ||
        type == BilinearType::kFieldInteraction);
  CHECK_GE(num_fields, 1);
  CHECK_EQ(v.cols % num_fields, 0) << "width " << v.cols << " is not " << num_fields << " fields";
  BilinearDims d;
  d.s = num_fields;
  d.k = v.cols / num_fields;
  d.p = NumFieldPairs(d.s);
  d.blocks = type == BilinearType::kFieldInteraction ? d.p : d.s - 1;
  CHECK_EQ(out_rows, v.rows);
  CHECK_EQ(out_cols, d.p * d.k);
  return d;
}

struct CinDims {
  int64_t s;   // fields of X0
  int64_t k;   // embedding width
  int64_t hp;  // feature maps of Xprev
  int64_t h;   // feature maps of Xnext
  int64_t m;   // hp * s: products per row
};

inline CinDims CheckCinDims(ConstMatView x0, ConstMatView xprev, int num_fields, ConstMatView w,
                            int64_t out_rows, int64_t out_cols) {
  CHECK_GE(num_fields, 1);
  CHECK_EQ(x0.cols % num_fields, 0)
      << "x0 width " << x0.cols << " is not " << num_fields << " fields";
  CinDims d;
  d.s = num_fields;
  d.k = x0.cols / num_fields;
  CHECK_GE(d.k, 1);
  CHECK_EQ(xprev.rows, x0.rows);
  CHECK_EQ(xprev.cols % d.k, 0) << "xprev width " << xprev.cols << " is not maps of " << d.k;
  d.hp = xprev.cols / d.k;
  d.h = w.rows;
  d.m = d.hp * d.s;
  CHECK_EQ(w.cols, d.m) << "CIN weight is (H, H_prev * S)";
  CHECK_EQ(out_rows, x0.rows);
  CHECK_EQ(out_cols, d.h * d.k);
  return d;
}

// k for v (B, S*k) with the weights' S and S_r checked (SENET).
inline int64_t CheckSenetShapes(ConstMatView v, int64_t num_fields, ConstMatView w1,
                                ConstMatView w2) {
  CHECK_GE(num_fields, 1);
  CHECK_GT(v.cols, 0) << "fields of no width";
  CHECK_EQ(v.cols % num_fields, 0) << "width " << v.cols << " is not " << num_fields << " fields";
  CHECK_EQ(w1.rows, num_fields) << "w1 is (S, S_r)";
  CHECK_GE(w1.cols, 1) << "w1 is (S, S_r)";
  CHECK_EQ(w2.rows, w1.cols) << "w2 is (S_r, S)";
  CHECK_EQ(w2.cols, num_fields) << "w2 is (S_r, S)";
  return v.cols / num_fields;
}

}  // namespace moerec::internal

#endif  // MOEREC_CORE_INTERNAL_FIELD_SHAPES_H_
