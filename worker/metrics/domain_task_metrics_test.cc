#include "worker/metrics/domain_task_metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "worker/metrics/auc.h"

namespace moerec {
namespace {

// A random batch of `b` samples over `domains` x `tasks`, about 80% of labels observed.
struct RandomBatch {
  Batch batch;
  std::vector<float> predictions;  // (B, T)
};

RandomBatch MakeRandomBatch(int64_t b, int domains, int tasks, bool truth, std::mt19937* rng) {
  RandomBatch out;
  Batch& batch = out.batch;
  batch.Reset(tasks, 0, 0);
  batch.size = b;
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  for (int64_t i = 0; i < b; ++i) {
    batch.domain.push_back(static_cast<int32_t>((*rng)() % domains));
    batch.user.push_back((*rng)() % 200);
    for (int t = 0; t < tasks; ++t) {
      const float p = uniform(*rng);
      const float label = uniform(*rng) < p ? 1.0f : 0.0f;
      batch.labels.push_back(label);
      batch.label_mask.push_back(uniform(*rng) < 0.8f ? 1 : 0);
      if (truth) batch.truth.push_back(p);
      // Predictions: the truth plus noise, quantised so ties happen.
      out.predictions.push_back(
          std::round(std::clamp(p + 0.3f * (uniform(*rng) - 0.5f), 0.0f, 1.0f) * 50) / 50);
    }
  }
  return out;
}

void ExpectSameReport(const Report& a, const Report& b) {
  ASSERT_EQ(a.cells.size(), b.cells.size());
  for (size_t k = 0; k < a.cells.size(); ++k) {
    EXPECT_EQ(a.cells[k].count, b.cells[k].count) << k;
    EXPECT_EQ(a.cells[k].positives, b.cells[k].positives) << k;
    EXPECT_DOUBLE_EQ(a.cells[k].auc, b.cells[k].auc) << k;
    EXPECT_DOUBLE_EQ(a.cells[k].gauc, b.cells[k].gauc) << k;
    EXPECT_NEAR(a.cells[k].logloss, b.cells[k].logloss, 1e-12) << k;
    EXPECT_EQ(a.cells[k].has_truth, b.cells[k].has_truth) << k;
    if (a.cells[k].has_truth) {
      EXPECT_DOUBLE_EQ(a.cells[k].oracle_auc, b.cells[k].oracle_auc) << k;
    }
  }
  EXPECT_DOUBLE_EQ(a.mean_auc, b.mean_auc);
  EXPECT_DOUBLE_EQ(a.weighted_auc, b.weighted_auc);
}

TEST(DomainTaskMetricsTest, SmallBatchByHand) {
  DomainTaskMetrics metrics(2, 2, {"home", "feed"}, {"click", "like"});
  Batch batch;
  batch.Reset(2, 0, 0);
  batch.size = 4;
  batch.domain = {0, 0, 0, 1};
  batch.user = {7, 7, 8, 9};
  // Task click observed everywhere; task like observed only on samples 0 and 3.
  batch.labels = {1, 1, /**/ 0, 0, /**/ 1, 0, /**/ 0, 1};
  batch.label_mask = {1, 1, /**/ 1, 0, /**/ 1, 0, /**/ 1, 1};
  const std::vector<float> predictions = {0.8f,      0.6f, /**/ 0.4f, 0.9f, /**/ 0.2f, 0.5f,
                                          /**/ 0.3f, 0.7f};
  ASSERT_TRUE(metrics.Add(batch, predictions.data()).ok());
  EXPECT_EQ(metrics.num_kept(), 6);

  const Report report = metrics.Compute();
  EXPECT_EQ(report.domain_names[1], "feed");
  const CellMetrics& home_click = report.cell(0, 0);
  EXPECT_EQ(home_click.count, 3);
  EXPECT_EQ(home_click.positives, 2);
  // Positives 0.8, 0.2 against negative 0.4: one win of two.
  EXPECT_DOUBLE_EQ(home_click.auc, 0.5);
  // User 7 has (0.8 pos, 0.4 neg): AUC 1, n = 2; user 8 has one class.
  EXPECT_DOUBLE_EQ(home_click.gauc, 1.0);
  EXPECT_NEAR(home_click.logloss, -(std::log(0.8) + std::log(0.6) + std::log(0.2)) / 3, 1e-6);
  EXPECT_NEAR(home_click.calibration, (0.8 + 0.4 + 0.2) / 3 / (2.0 / 3), 1e-6);
  EXPECT_FALSE(home_click.has_truth);
  EXPECT_TRUE(std::isnan(home_click.oracle_auc));

  // Masked labels are not kept: home/like holds only sample 0 (one class).
  EXPECT_EQ(report.cell(0, 1).count, 1);
  EXPECT_TRUE(std::isnan(report.cell(0, 1).auc));
  EXPECT_EQ(report.cell(1, 0).count, 1);
  EXPECT_EQ(report.cell(1, 1).count, 1);
  // Only home/click has a defined AUC.
  EXPECT_DOUBLE_EQ(report.task_weighted_auc[0], 0.5);
  EXPECT_TRUE(std::isnan(report.task_weighted_auc[1]));
  EXPECT_DOUBLE_EQ(report.mean_auc, 0.5);
  EXPECT_DOUBLE_EQ(report.weighted_auc, 0.5);
  EXPECT_TRUE(std::isnan(report.oracle_mean_auc));
}

TEST(DomainTaskMetricsTest, MatchesAucPerCellAndWeightsByCount) {
  std::mt19937 rng(1);
  const RandomBatch rb = MakeRandomBatch(3000, 3, 2, /*truth=*/true, &rng);
  DomainTaskMetrics metrics(3, 2);
  ASSERT_TRUE(metrics.Add(rb.batch, rb.predictions.data()).ok());
  const Report report = metrics.Compute();
  EXPECT_EQ(report.task_names[1], "t1");

  double weighted = 0, mean = 0;
  int64_t total = 0;
  for (int d = 0; d < 3; ++d) {
    for (int t = 0; t < 2; ++t) {
      std::vector<float> scores, labels, truth;
      std::vector<uint64_t> users;
      for (int64_t i = 0; i < rb.batch.size; ++i) {
        const size_t at = i * 2 + t;
        if (rb.batch.domain[i] != d || !rb.batch.label_mask[at]) continue;
        scores.push_back(rb.predictions[at]);
        labels.push_back(rb.batch.labels[at]);
        truth.push_back(rb.batch.truth[at]);
        users.push_back(rb.batch.user[i]);
      }
      const CellMetrics& m = report.cell(d, t);
      const int64_t n = scores.size();
      ASSERT_EQ(m.count, n);
      EXPECT_DOUBLE_EQ(m.auc, Auc(scores.data(), labels.data(), n));
      EXPECT_DOUBLE_EQ(m.gauc, Gauc(scores.data(), labels.data(), users.data(), n));
      EXPECT_TRUE(m.has_truth);
      EXPECT_DOUBLE_EQ(m.oracle_auc, Auc(truth.data(), labels.data(), n));
      EXPECT_GT(m.oracle_auc, m.auc);  // predictions are the truth plus noise
      EXPECT_GT(m.oracle_logloss, 0.0);
      weighted += n * m.auc;
      mean += m.auc / 6;
      total += n;
    }
  }
  EXPECT_NEAR(report.weighted_auc, weighted / total, 1e-12);
  EXPECT_NEAR(report.mean_auc, mean, 1e-12);
  EXPECT_FALSE(std::isnan(report.oracle_mean_auc));
}

TEST(DomainTaskMetricsTest, LogLossClipsPredictions) {
  DomainTaskMetrics metrics(1, 1);
  Batch batch;
  batch.Reset(1, 0, 0);
  batch.size = 2;
  batch.domain = {0, 0};
  batch.user = {0, 0};
  batch.labels = {1, 0};
  batch.label_mask = {1, 1};
  const std::vector<float> predictions = {0.0f, 1.0f};  // confidently wrong
  ASSERT_TRUE(metrics.Add(batch, predictions.data()).ok());
  EXPECT_NEAR(metrics.Compute().cell(0, 0).logloss, -std::log(1e-7), 1e-6);
}

TEST(DomainTaskMetricsTest, RejectsBadBatches) {
  DomainTaskMetrics metrics(2, 1);
  Batch batch;
  batch.Reset(1, 0, 0);
  batch.size = 2;
  batch.domain = {0, 2};
  batch.user = {0, 0};
  batch.labels = {1, 0};
  batch.label_mask = {1, 1};
  const std::vector<float> predictions = {0.5f, 0.5f};
  EXPECT_EQ(metrics.Add(batch, predictions.data()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(metrics.num_kept(), 0);  // nothing kept from a rejected batch
  batch.domain = {0, 1};
  batch.labels.pop_back();
  EXPECT_EQ(metrics.Add(batch, predictions.data()).code(), StatusCode::kInvalidArgument);
  batch.labels.push_back(0);
  batch.num_tasks = 2;
  EXPECT_EQ(metrics.Add(batch, predictions.data()).code(), StatusCode::kInvalidArgument);
  batch.num_tasks = 1;
  EXPECT_TRUE(metrics.Add(batch, predictions.data()).ok());
  EXPECT_EQ(metrics.num_kept(), 2);
}

TEST(DomainTaskMetricsTest, MergeEqualsOneShotAndClearEmpties) {
  std::mt19937 rng(2);
  DomainTaskMetrics one_shot(3, 2), left(3, 2), right(3, 2);
  for (int i = 0; i < 6; ++i) {
    const RandomBatch rb = MakeRandomBatch(500, 3, 2, /*truth=*/i % 2 == 0, &rng);
    ASSERT_TRUE(one_shot.Add(rb.batch, rb.predictions.data()).ok());
    ASSERT_TRUE((i < 2 ? left : right).Add(rb.batch, rb.predictions.data()).ok());
  }
  left.Merge(right);
  const Report merged = left.Compute();
  ExpectSameReport(merged, one_shot.Compute());
  // Half the batches had no truth: no cell is fully known.
  EXPECT_FALSE(merged.any_truth());

  left.Clear();
  EXPECT_EQ(left.num_kept(), 0);
  const Report empty = left.Compute();
  EXPECT_EQ(empty.cell(0, 0).count, 0);
  EXPECT_TRUE(std::isnan(empty.cell(0, 0).auc));
  EXPECT_TRUE(std::isnan(empty.cell(0, 0).logloss));
  EXPECT_TRUE(std::isnan(empty.mean_auc));
}

TEST(DomainTaskMetricsTest, SerializeRoundTripsAndMerges) {
  std::mt19937 rng(3);
  DomainTaskMetrics all(3, 2), worker0(3, 2), worker1(3, 2);
  for (int i = 0; i < 4; ++i) {
    const RandomBatch rb = MakeRandomBatch(400, 3, 2, /*truth=*/true, &rng);
    ASSERT_TRUE(all.Add(rb.batch, rb.predictions.data()).ok());
    ASSERT_TRUE((i % 2 ? worker1 : worker0).Add(rb.batch, rb.predictions.data()).ok());
  }
  DomainTaskMetrics gathered(3, 2);
  ASSERT_TRUE(gathered.MergeSerialized(worker0.Serialize()).ok());
  ASSERT_TRUE(gathered.MergeSerialized(worker1.Serialize()).ok());
  EXPECT_EQ(gathered.num_kept(), all.num_kept());
  ExpectSameReport(gathered.Compute(), all.Compute());
  EXPECT_TRUE(gathered.Compute().any_truth());
  // The buffer carries the values themselves: re-serialising gives the same bytes.
  DomainTaskMetrics copy(3, 2);
  const std::string bytes = worker0.Serialize();
  ASSERT_TRUE(copy.MergeSerialized(bytes).ok());
  EXPECT_EQ(copy.Serialize(), bytes);
}

TEST(DomainTaskMetricsTest, MergeSerializedRejectsBadBuffers) {
  std::mt19937 rng(4);
  DomainTaskMetrics source(2, 1);
  const RandomBatch rb = MakeRandomBatch(50, 2, 1, /*truth=*/false, &rng);
  ASSERT_TRUE(source.Add(rb.batch, rb.predictions.data()).ok());
  const std::string good = source.Serialize();

  DomainTaskMetrics target(2, 1);
  EXPECT_EQ(target.MergeSerialized("").code(), StatusCode::kCorruption);
  EXPECT_EQ(target.MergeSerialized("not a metrics buffer").code(), StatusCode::kCorruption);
  for (size_t cut : {size_t{9}, size_t{20}, good.size() / 2, good.size() - 1}) {
    EXPECT_EQ(target.MergeSerialized(good.substr(0, cut)).code(), StatusCode::kCorruption) << cut;
  }
  EXPECT_EQ(target.MergeSerialized(good + "x").code(), StatusCode::kCorruption);
  DomainTaskMetrics other_shape(1, 2);
  EXPECT_EQ(other_shape.MergeSerialized(good).code(), StatusCode::kInvalidArgument);
  // A huge count must not allocate or read past the end.
  std::string huge = good;
  huge[16] = '\xff';
  huge[23] = '\x7f';
  EXPECT_EQ(target.MergeSerialized(huge).code(), StatusCode::kCorruption);
  EXPECT_EQ(target.num_kept(), 0);
  EXPECT_TRUE(target.MergeSerialized(good).ok());
  EXPECT_EQ(target.num_kept(), source.num_kept());
}

TEST(DomainTaskMetricsTest, ComputesOneMillionSamplesQuickly) {
  std::mt19937 rng(5);
  DomainTaskMetrics metrics(3, 2);
  for (int i = 0; i < 20; ++i) {
    const RandomBatch rb = MakeRandomBatch(50000, 3, 2, /*truth=*/true, &rng);
    ASSERT_TRUE(metrics.Add(rb.batch, rb.predictions.data()).ok());
  }
  ASSERT_GT(metrics.num_kept(), 700000);
  const auto start = std::chrono::steady_clock::now();
  const Report report = metrics.Compute();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RecordProperty("compute_seconds", std::to_string(seconds));
  std::printf("Compute on %lld kept values: %.3f s\n", static_cast<long long>(metrics.num_kept()),
              seconds);
  EXPECT_GT(report.mean_auc, 0.6);
  EXPECT_GT(report.oracle_mean_auc, report.mean_auc);
}

}  // namespace
}  // namespace moerec
