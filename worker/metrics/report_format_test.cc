#include "worker/metrics/report_format.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace moerec {
namespace {

// Two domains, one task. home/click has AUC 0.5 (and truth); feed/click has one class.
Report MakeReport(bool with_truth) {
  DomainTaskMetrics metrics(2, 1, {"home", "feed"}, {"click"});
  Batch batch;
  batch.Reset(1, 0, 0);
  batch.size = 4;
  batch.domain = {0, 0, 0, 1};
  batch.user = {1, 1, 2, 3};
  batch.labels = {1, 0, 1, 1};
  batch.label_mask = {1, 1, 1, 1};
  if (with_truth) batch.truth = {0.9f, 0.1f, 0.3f, 0.6f};
  const std::vector<float> predictions = {0.8f, 0.4f, 0.2f, 0.7f};
  EXPECT_TRUE(metrics.Add(batch, predictions.data()).ok());
  return metrics.Compute();
}

TEST(ReportFormatTest, JsonFieldsUseNamesAndPrefix) {
  JsonObject object;
  AddReportFields(MakeReport(/*with_truth=*/false), "test_", &object);
  const std::string text = object.ToString();
  EXPECT_NE(text.find(R"("test_auc/home/click":0.5,)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("test_gauc/home/click":1.0,)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("test_count/home/click":3,)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("test_positives/home/click":2,)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("test_logloss/home/click":)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("test_calibration/home/click":)"), std::string::npos) << text;
  // Undefined AUC is null, never 0.5.
  EXPECT_NE(text.find(R"("test_auc/feed/click":null,)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("test_weighted_auc/click":0.5,)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("test_mean_auc/click":0.5,)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("test_mean_auc":0.5,"test_weighted_auc":0.5})"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("oracle"), std::string::npos) << text;
}

TEST(ReportFormatTest, JsonFieldsIncludeOracleWithTruth) {
  JsonObject object;
  AddReportFields(MakeReport(/*with_truth=*/true), "val_", &object);
  const std::string text = object.ToString();
  EXPECT_NE(text.find(R"("val_oracle_auc/home/click":1.0,)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("val_oracle_auc/feed/click":null,)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("val_oracle_logloss/home/click":)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("val_oracle_mean_auc":1.0})"), std::string::npos) << text;
}

TEST(ReportFormatTest, DefaultNames) {
  DomainTaskMetrics metrics(1, 2);
  JsonObject object;
  AddReportFields(metrics.Compute(), "", &object);
  EXPECT_NE(object.ToString().find(R"("auc/d0/t1":null)"), std::string::npos);
}

TEST(ReportFormatTest, TableHasAlignedRows) {
  const std::string table = FormatReportTable(MakeReport(/*with_truth=*/true));
  EXPECT_NE(table.find("oracle_auc"), std::string::npos) << table;
  EXPECT_NE(table.find("home"), std::string::npos) << table;
  EXPECT_NE(table.find("0.5000"), std::string::npos) << table;
  EXPECT_NE(table.find("1.0000"), std::string::npos) << table;
  // Every row of cells ends at the same column (numbers are right-aligned).
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t end; (end = table.find('\n', start)) != std::string::npos; start = end + 1) {
    lines.push_back(table.substr(start, end - start));
  }
  ASSERT_GE(lines.size(), 5u);
  EXPECT_EQ(lines[0].size(), lines[2].size()) << table;
  EXPECT_EQ(lines[2].size(), lines[3].size()) << table;
  // The undefined AUC of feed/click prints as "-".
  EXPECT_NE(lines[3].find(" - "), std::string::npos) << table;

  const std::string no_truth = FormatReportTable(MakeReport(/*with_truth=*/false));
  EXPECT_EQ(no_truth.find("oracle"), std::string::npos) << no_truth;
}

}  // namespace
}  // namespace moerec
