#include "core/tensor.h"

#include <gtest/gtest.h>

#include <utility>

namespace moerec {
namespace {

TEST(TensorTest, DefaultIsEmptyWithoutShape) {
  Tensor t;
  EXPECT_EQ(t.ndim(), 0);
  EXPECT_EQ(t.size(), 0);
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.ShapeString(), "()");
}

TEST(TensorTest, ShapeRowsColsAndViews) {
  Tensor t({3, 4, 5});
  EXPECT_EQ(t.ndim(), 3);
  EXPECT_EQ(t.size(), 60);
  EXPECT_EQ(t.rows(), 3);
  EXPECT_EQ(t.cols(), 20);
  EXPECT_EQ(t.ShapeString(), "(3, 4, 5)");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u);
  Tensor v{7};
  EXPECT_EQ(v.rows(), 1);
  EXPECT_EQ(v.cols(), 7);
  Tensor m({2, 3});
  for (int i = 0; i < 6; ++i) m[i] = static_cast<float>(i);
  EXPECT_EQ(m.at(1, 2), 5.0f);
  MatView view = m.view();
  EXPECT_EQ(view.rows, 2);
  EXPECT_EQ(view.ld, 3);
  EXPECT_EQ(view.Cols(1, 2).row(1)[0], 4.0f);
  const Tensor& cm = m;
  EXPECT_EQ(cm.view().row(1)[2], 5.0f);
}

TEST(TensorTest, ResizeKeepsTheAllocationWhileItFits) {
  Tensor t({100, 10});
  const float* data = t.data();
  t.Resize({10, 10});
  EXPECT_EQ(t.data(), data);
  EXPECT_EQ(t.size(), 100);
  t.Resize({1000});
  EXPECT_EQ(t.data(), data);
  EXPECT_EQ(t.capacity(), 1000);
  t.Resize({2, 2, 2, 2});
  EXPECT_EQ(t.ndim(), 4);
  EXPECT_EQ(t.data(), data);
  t.Resize({1001});
  EXPECT_EQ(t.size(), 1001);
  EXPECT_GE(t.capacity(), 1001);
  // Zero-size shapes are fine.
  t.Resize({0, 5});
  EXPECT_EQ(t.size(), 0);
  EXPECT_TRUE(t.empty());
  // A batch of no rows keeps its width (an empty batch flows through the kernels).
  EXPECT_EQ(t.rows(), 0);
  EXPECT_EQ(t.cols(), 5);
  EXPECT_EQ(t.view().rows, 0);
  EXPECT_EQ(t.view().cols, 5);
  t.Resize({0, 3, 4});
  EXPECT_EQ(t.cols(), 12);
}

TEST(TensorTest, ResizeLikeAndFillZero) {
  Tensor a({4, 6}), b;
  b.ResizeLike(a);
  EXPECT_EQ(b.shape(), a.shape());
  b.Fill(2.5f);
  for (int64_t i = 0; i < b.size(); ++i) ASSERT_EQ(b[i], 2.5f);
  b.Zero();
  for (int64_t i = 0; i < b.size(); ++i) ASSERT_EQ(b[i], 0.0f);
  b.ResizeLike(b);  // self is harmless
  EXPECT_EQ(b.shape(), a.shape());
}

TEST(TensorTest, CopyCopiesDataAndReusesTheDestination) {
  Tensor a({3, 3});
  for (int i = 0; i < 9; ++i) a[i] = static_cast<float>(i);
  Tensor b(a);
  EXPECT_NE(b.data(), a.data());
  EXPECT_EQ(b.shape(), a.shape());
  for (int i = 0; i < 9; ++i) EXPECT_EQ(b[i], a[i]);
  b[0] = 42.0f;
  EXPECT_EQ(a[0], 0.0f);

  Tensor big({100});
  const float* big_data = big.data();
  big = a;
  EXPECT_EQ(big.data(), big_data);  // fits: no reallocation
  EXPECT_EQ(big.shape(), a.shape());
  EXPECT_EQ(big[8], 8.0f);
  big.CopyFrom(b);
  EXPECT_EQ(big[0], 42.0f);

  const Tensor empty;
  Tensor c(empty);  // NOLINT(performance-unnecessary-copy-initialization): the copy is tested
  EXPECT_EQ(c.ndim(), 0);
  big = empty;
  EXPECT_EQ(big.size(), 0);
  EXPECT_EQ(big.ndim(), 0);
  Tensor& same = a;
  a = same;  // self-assignment keeps the data
  EXPECT_EQ(a[4], 4.0f);
}

TEST(TensorTest, MoveStealsTheBuffer) {
  Tensor a({5});
  a.Fill(1.0f);
  const float* data = a.data();
  Tensor b(std::move(a));
  EXPECT_EQ(b.data(), data);
  EXPECT_EQ(b.size(), 5);
  EXPECT_EQ(a.size(), 0);  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  EXPECT_EQ(a.data(), nullptr);
  Tensor c({2});
  c = std::move(b);
  EXPECT_EQ(c.data(), data);
  EXPECT_EQ(c.shape(), std::vector<int64_t>{5});
  EXPECT_EQ(b.data(), nullptr);  // NOLINT(bugprone-use-after-move)
  a = c;                         // a moved-from tensor is usable
  EXPECT_EQ(a[4], 1.0f);
}

TEST(TensorDeathTest, BadShapesAreInvariantViolations) {
  Tensor t;
  EXPECT_DEATH(t.Resize({1, 2, 3, 4, 5}), "rank");
  EXPECT_DEATH(t.Resize({-1}), "negative");
}

}  // namespace
}  // namespace moerec
