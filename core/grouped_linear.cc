#include "core/grouped_linear.h"

#include <algorithm>

#include "core/internal/gpu_dispatch.h"
#include "core/internal/kernel_util.h"
#include "core/linear.h"
#include "core/parallel.h"

namespace moerec {
namespace {

struct Tile {
  int64_t group;
  int64_t begin;  // stacked rows [begin, end)
  int64_t end;
};

// Row tiles of about equal work: groups are cut into tiles of at most `rows_per_tile` rows, so
// one large group spreads over the threads and many small groups share them.
std::vector<Tile> RowTiles(const std::vector<int64_t>& begin, int64_t cols) {
  const int64_t groups = static_cast<int64_t>(begin.size()) - 1;
  const int64_t total = begin.back();
  const int64_t threads = std::max(1, ComputeThreads());
  const int64_t rows_per_tile = std::max<int64_t>(
      {internal::RowGrain(cols) / 4, 16, (total + 4 * threads - 1) / (4 * threads)});
  std::vector<Tile> tiles;
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t r = begin[g]; r < begin[g + 1]; r += rows_per_tile) {
      tiles.push_back({g, r, std::min(begin[g + 1], r + rows_per_tile)});
    }
  }
  return tiles;
}

void CheckGroups(ConstMatView x, const std::vector<int64_t>& begin,
                 const std::vector<ConstMatView>& w, int64_t out_rows, int64_t out_cols) {
  CHECK_GE(begin.size(), 1u);
  CHECK_EQ(begin.size(), w.size() + 1);
  CHECK_EQ(begin.front(), 0);
  CHECK_EQ(begin.back(), x.rows);
  CHECK_EQ(out_rows, x.rows);
  for (size_t g = 0; g < w.size(); ++g) {
    CHECK_LE(begin[g], begin[g + 1]) << "group " << g;
    CHECK_EQ(w[g].rows, x.cols) << "group " << g;
    CHECK_EQ(w[g].cols, out_cols) << "group " << g;
  }
}

}  // namespace

void GroupedLinearForward(ConstMatView x, const std::vector<int64_t>& begin,
                          const std::vector<ConstMatView>& w, const std::vector<const float*>& b,
                          MatView y) {
  MOEREC_GPU_DISPATCH(x, gpu::GroupedLinearForward(x, begin, w, b, y));
  CheckGroups(x, begin, w, y.rows, y.cols);
  CHECK(b.empty() || b.size() == w.size());
  const std::vector<Tile> tiles = RowTiles(begin, std::max(x.cols, y.cols));
  ParallelFor(static_cast<int64_t>(tiles.size()), 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const Tile& tile = tiles[t];
      const int64_t n = tile.end - tile.begin;
      LinearForward(x.Rows(tile.begin, n), w[tile.group], b.empty() ? nullptr : b[tile.group],
                    y.Rows(tile.begin, n));
    }
  });
}

void GroupedLinearBackward(ConstMatView x, const std::vector<int64_t>& begin,
                           const std::vector<ConstMatView>& w, ConstMatView dy,
                           const std::vector<MatView>& dw, const std::vector<float*>& db,
                           MatView dx, float dx_beta) {
  MOEREC_GPU_DISPATCH(x, gpu::GroupedLinearBackward(x, begin, w, dy, dw, db, dx, dx_beta));
  CheckGroups(x, begin, w, dy.rows, dy.cols);
  CHECK_EQ(dw.size(), w.size());
  CHECK(db.empty() || db.size() == w.size());
  const int64_t groups = static_cast<int64_t>(w.size());
  // Parameter gradients: one sgemm per group (the rows are its inner dimension).
  ParallelFor(groups, 1, [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t n = begin[g + 1] - begin[g];
      if (n == 0) continue;
      Gemm(true, false, 1.0f, x.Rows(begin[g], n), dy.Rows(begin[g], n), 1.0f, dw[g]);
      if (!db.empty() && db[g] != nullptr) BiasBackward(dy.Rows(begin[g], n), db[g]);
    }
  });
  if (dx.data == nullptr) return;
  CHECK_EQ(dx.rows, x.rows);
  CHECK_EQ(dx.cols, x.cols);
  const std::vector<Tile> tiles = RowTiles(begin, std::max(x.cols, dy.cols));
  ParallelFor(static_cast<int64_t>(tiles.size()), 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const Tile& tile = tiles[t];
      const int64_t n = tile.end - tile.begin;
      Gemm(false, true, 1.0f, dy.Rows(tile.begin, n), w[tile.group], dx_beta,
           dx.Rows(tile.begin, n));
    }
  });
}

}  // namespace moerec
