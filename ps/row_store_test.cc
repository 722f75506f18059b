#include "ps/row_store.h"

#include <gtest/gtest.h>

#include "ps/local_store.h"

namespace moerec {
namespace {

std::vector<TableSpec> Specs() {
  std::vector<TableSpec> specs(2);
  specs[0].name = "user";
  specs[0].dim = 4;
  specs[0].optimizer.set_type(RowOptimizerConfig::ADAGRAD);
  specs[0].optimizer.set_learning_rate(0.1f);
  specs[1].name = "item";
  specs[1].dim = 3;
  specs[1].optimizer.set_type(RowOptimizerConfig::SGD);
  specs[1].optimizer.set_learning_rate(0.5f);
  for (auto& s : specs) {
    s.seed = 11;
    s.name_hash = StableHash(s.name);
  }
  return specs;
}

TEST(RowStoreTest, NewRowsAreTheirDeterministicInitialValue) {
  auto store = RowStore::Open(Specs()).value();
  const uint64_t keys[] = {5, 1ull << 60, 0};
  std::vector<float> out(3 * 4);
  ASSERT_TRUE(store->Pull(0, keys, 3, 1, true, out.data()).ok());
  std::vector<float> expect(4);
  for (int i = 0; i < 3; ++i) {
    InitRow(store->spec(0), keys[i], expect.data());
    for (int j = 0; j < 4; ++j) EXPECT_EQ(out[i * 4 + j], expect[j]);
  }
  // Different keys and tables give different rows; the same key is stable.
  EXPECT_NE(out[0], out[4]);
  std::vector<float> again(4);
  ASSERT_TRUE(store->Pull(0, keys, 1, 2, true, again.data()).ok());
  EXPECT_EQ(again[0], out[0]);
  EXPECT_EQ(store->stats(0).rows, 3);
  EXPECT_EQ(store->stats(1).rows, 0);
}

TEST(RowStoreTest, PushAppliesTheTableOptimizer) {
  auto store = RowStore::Open(Specs()).value();
  const uint64_t key = 42;
  std::vector<float> before(3), after(3);
  ASSERT_TRUE(store->Pull(1, &key, 1, 0, true, before.data()).ok());
  const float grad[] = {1.0f, -2.0f, 0.5f};
  ASSERT_TRUE(store->Push(1, &key, 1, 1, grad).ok());
  ASSERT_TRUE(store->Pull(1, &key, 1, 2, true, after.data()).ok());
  for (int j = 0; j < 3; ++j) EXPECT_FLOAT_EQ(after[j], before[j] - 0.5f * grad[j]);
  EXPECT_EQ(store->stats(1).pushed_keys, 1);
}

TEST(RowStoreTest, EvaluationPullsCreateNothing) {
  auto store = RowStore::Open(Specs()).value();
  const uint64_t key = 9;
  std::vector<float> out(4), expect(4);
  ASSERT_TRUE(store->Pull(0, &key, 1, 0, false, out.data()).ok());
  InitRow(store->spec(0), key, expect.data());
  EXPECT_EQ(out, expect);
  EXPECT_EQ(store->stats(0).rows, 0);
}

TEST(RowStoreTest, BadTableIsRefused) {
  auto store = RowStore::Open(Specs()).value();
  const uint64_t key = 1;
  float out[4];
  Status s = store->Pull(7, &key, 1, 0, true, out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("table 7"), std::string::npos);
  EXPECT_FALSE(store->Push(-1, &key, 1, 0, out).ok());
}

TEST(LocalStoreTest, SnapshotRestoresEveryRow) {
  auto store = LocalStore::Open(Specs()).value();
  std::vector<TableRequest> req(1);
  req[0].table = 0;
  req[0].keys = {1, 2};
  req[0].values.resize(8);
  ASSERT_TRUE(store->Wait(store->Pull(&req, 0, true)).ok());
  const std::vector<float> original = req[0].values;
  ASSERT_TRUE(store->SaveSnapshot().ok());
  for (float& v : req[0].values) v = 1.0f;  // a gradient
  ASSERT_TRUE(store->Wait(store->Push(&req, 1)).ok());
  req[0].keys.push_back(3);  // a row created after the snapshot disappears again
  req[0].values.resize(12);
  ASSERT_TRUE(store->Wait(store->Pull(&req, 2, true)).ok());
  EXPECT_NE(req[0].values[0], original[0]);
  ASSERT_TRUE(store->RestoreSnapshot().ok());
  EXPECT_EQ(store->rows()->stats(0).rows, 2);
  ASSERT_TRUE(store->Wait(store->Pull(&req, 3, true)).ok());
  for (int i = 0; i < 8; ++i) EXPECT_EQ(req[0].values[i], original[i]);
}

TEST(LocalStoreTest, ErrorsComeBackThroughWait) {
  auto store = LocalStore::Open(Specs()).value();
  std::vector<TableRequest> req(1);
  req[0].table = 5;
  Status s = store->Wait(store->Pull(&req, 0, true));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace moerec
