#include "worker/metrics/run_report.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "core/temp_dir.h"

namespace moerec {
namespace {

void WriteLines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path);
  for (const std::string& l : lines) out << l << "\n";
}

// The number of marks (series paths, bars, cells) inside the plot `id`, or -1 when the page
// has no such plot.
int Marks(const std::string& html, const std::string& id) {
  const size_t at = html.find("data-plot=\"" + id + "\"");
  if (at == std::string::npos) return -1;
  const size_t end = html.find("</svg>", at);
  const std::string plot = html.substr(at, end - at);
  int n = 0;
  for (const char* mark : {"class=\"series\"", "class=\"bar\"", "class=\"cell\""}) {
    for (size_t p = plot.find(mark); p != std::string::npos; p = plot.find(mark, p + 1)) ++n;
  }
  return n;
}

TEST(RunReportTest, EveryPlotDrawnFromTheMetricsLines) {
  testing::TempDir dir;
  WriteLines(dir / "metrics.jsonl",
             {R"({"event":"start","job":"qs","model":"mmoe","workers":2})",
              R"({"event":"train","step":50,"loss":0.9,"samples_per_sec":1000.0,"ms_step":10.0,)"
              R"("ms_data":1.0,"ms_pull":2.0,"ms_compute":3.0,"ms_push":1.0,"ms_dense":2.0,)"
              R"("ps_bytes_per_step":100.0,"allreduce_bytes_per_step":50.0,)"
              R"("expert_load.0":0.7,"expert_load.1":0.3,"expert_load_cv":0.4})",
              R"({"event":"train","step":100,"loss":0.6,"samples_per_sec":1200.0,"ms_step":9.0,)"
              R"("expert_load.0":0.6,"expert_load.1":0.4,"expert_load_cv":0.2})",
              R"({"event":"eval","step":100,"val_mean_auc":0.8})",
              R"({"event":"train","step":1)",  // a killed writer's partial line
              R"({"event":"final","step":100,"mean_test_auc":0.81,"test_auc/home/click":0.82,)"
              R"("test_oracle_auc/home/click":0.9,"test_auc/tail/like":0.7})"});
  StatusOr<RunRecord> run = ReadRun(dir.path());
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->job, "qs");
  EXPECT_EQ(run->train.size(), 2u);
  EXPECT_EQ(run->unreadable_lines, 1);
  const std::string html = RenderRunReport({*run, *run});
  EXPECT_EQ(Marks(html, "loss"), 2);  // one line per run
  EXPECT_EQ(Marks(html, "val_auc"), 2);
  EXPECT_EQ(Marks(html, "test_auc"), 5);       // 2 cells x 2 runs + 1 oracle bar
  EXPECT_EQ(Marks(html, "expert_load_0"), 4);  // 2 steps x 2 experts
  EXPECT_EQ(Marks(html, "throughput"), 2);
  EXPECT_EQ(Marks(html, "time_split"), 12);  // 6 parts x 2 runs
  EXPECT_EQ(Marks(html, "wire"), 4);
  EXPECT_EQ(Marks(html, "ps_hit_rate"), -1);  // not logged: not drawn, said so
  EXPECT_NE(html.find("no server cache statistics"), std::string::npos);
  // Self-contained: nothing is fetched from anywhere.
  EXPECT_FALSE(std::regex_search(html, std::regex("(src|href)\\s*=|https?:|<script|@import")));
}

TEST(RunReportTest, ServerHitRateAndTableRowsWhenLogged) {
  testing::TempDir dir;
  WriteLines(dir / "metrics.jsonl",
             {R"({"event":"train","step":10,"ps_rows":100.0,"ps_hit_rate":0.5})",
              R"({"event":"train","step":20,"ps_rows":150.0,"ps_hit_rate":0.75})",
              R"({"event":"train","step":30,"ps_rows":160.0})"});
  StatusOr<RunRecord> run = ReadRun(dir.path());
  ASSERT_TRUE(run.ok());
  const std::string html = RenderRunReport({*run});
  EXPECT_EQ(Marks(html, "ps_hit_rate"), 1);
  EXPECT_EQ(Marks(html, "ps_rows"), 1);
  EXPECT_EQ(html.find("no server cache statistics"), std::string::npos);
}

TEST(RunReportTest, RefusesAFolderWithoutMetrics) {
  testing::TempDir dir;
  StatusOr<RunRecord> missing = ReadRun(dir.path());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("metrics.jsonl"), std::string::npos);
  WriteLines(dir / "metrics.jsonl", {"not json", "[1,2]"});
  StatusOr<RunRecord> garbage = ReadRun(dir.path());
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.status().message().find("no metrics line"), std::string::npos);
}

TEST(RunReportTest, HeatmapRowsPerDomainTaskWhenLogged) {
  testing::TempDir dir;
  WriteLines(dir / "metrics.jsonl",
             {R"({"event":"train","step":10,"expert_load/home/click.0":0.5,)"
              R"("expert_load/home/click.1":0.5,"expert_load/tail/like.0":1.0,)"
              R"("expert_load/tail/like.1":0.0})"});
  StatusOr<RunRecord> run = ReadRun(dir.path());
  ASSERT_TRUE(run.ok());
  const std::string html = RenderRunReport({*run});
  EXPECT_EQ(Marks(html, "expert_load_0"), 4);
  EXPECT_NE(html.find(">home/click<"), std::string::npos);
  EXPECT_NE(html.find("(domain, task)"), std::string::npos);
}

TEST(RunReportTest, HeatmapNamesTheIndicesOfTheModelsLoads) {
  testing::TempDir dir;
  WriteLines(dir / "metrics.jsonl",
             {R"({"event":"train","step":10,"expert_load/0/1.0":0.5,"expert_load/0/1.1":0.5,)"
              R"("expert_load/1/0.0":0.9,"expert_load/1/0.1":0.1})",
              R"({"event":"final","step":10,"test_auc/home/click":0.8,"test_auc/home/like":0.7,)"
              R"("test_auc/tail/click":0.6,"test_auc/tail/like":0.5})"});
  StatusOr<RunRecord> run = ReadRun(dir.path());
  ASSERT_TRUE(run.ok());
  const std::string html = RenderRunReport({*run});
  EXPECT_EQ(Marks(html, "expert_load_0"), 4);
  EXPECT_NE(html.find(">home/like<"), std::string::npos);
  EXPECT_NE(html.find(">tail/click<"), std::string::npos);
  EXPECT_EQ(html.find(">0/1<"), std::string::npos);
}

}  // namespace
}  // namespace moerec
