#include "worker/metrics/event_file.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "core/crc32c.h"
#include "core/temp_dir.h"
#include "worker/metrics/tensorboard_log.h"

namespace moerec {
namespace {

uint32_t Fixed32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The events of a file, checking each record's framing (the C++ side of the check; the
// independent reader is tests/tensorboard_reader.py).
std::vector<TbEvent> ReadEvents(const std::string& path) {
  const std::string bytes = ReadFile(path);
  std::vector<TbEvent> events;
  size_t at = 0;
  while (at < bytes.size()) {
    EXPECT_LE(at + 12, bytes.size());
    uint64_t length = 0;
    for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<unsigned char>(bytes[at + i]);
    EXPECT_EQ(Fixed32(bytes, at + 8), MaskCrc32c(Crc32c(bytes.data() + at, 8)));
    const std::string data = bytes.substr(at + 12, length);
    EXPECT_EQ(Fixed32(bytes, at + 12 + length), MaskedCrc32c(data));
    events.emplace_back();
    EXPECT_TRUE(events.back().ParseFromString(data));
    at += 12 + length + 4;
  }
  return events;
}

TEST(EventFileTest, NamedFramedAndVersioned) {
  testing::TempDir dir;
  auto writer = EventFileWriter::Open(dir / "tb", {.flush_secs = 100});
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  const std::string name = std::filesystem::path((*writer)->path()).filename();
  EXPECT_EQ(name.rfind("events.out.tfevents.", 0), 0u) << name;
  TbSummary summary;
  auto* v = summary.add_value();
  v->set_tag("train/loss");
  v->set_simple_value(0.5f);
  ASSERT_TRUE((*writer)->WriteSummary(7, summary).ok());
  // Not yet written out: the flush period is long.
  EXPECT_EQ(ReadEvents((*writer)->path()).size(), 1u);
  ASSERT_TRUE((*writer)->Flush().ok());
  const std::vector<TbEvent> events = ReadEvents((*writer)->path());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].file_version(), "brain.Event:2");
  EXPECT_GT(events[0].wall_time(), 1.6e9);
  EXPECT_EQ(events[1].step(), 7);
  ASSERT_EQ(events[1].summary().value_size(), 1);
  EXPECT_EQ(events[1].summary().value(0).tag(), "train/loss");
  EXPECT_EQ(events[1].summary().value(0).simple_value(), 0.5f);
}

TEST(EventFileTest, BackgroundFlushWithinThePeriod) {
  testing::TempDir dir;
  auto writer = EventFileWriter::Open(dir.path(), {.flush_secs = 0.05});
  ASSERT_TRUE(writer.ok());
  TbSummary summary;
  summary.add_value()->set_tag("x");
  ASSERT_TRUE((*writer)->WriteSummary(1, summary).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(ReadEvents((*writer)->path()).size(), 2u);
}

TEST(EventFileTest, SecondWriterInTheSameSecondGetsItsOwnFile) {
  testing::TempDir dir;
  auto a = EventFileWriter::Open(dir.path(), {});
  auto b = EventFileWriter::Open(dir.path(), {});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE((*a)->path(), (*b)->path());
  EXPECT_FALSE(EventFileWriter::Open(dir.path(), {.flush_secs = 0}).ok());
}

TEST(EventFileTest, HistogramCountsEveryValue) {
  const TbHistogram h = MakeHistogram({0.0, 0.25, 0.25, 1.0}, 4);
  EXPECT_EQ(h.num(), 4);
  EXPECT_DOUBLE_EQ(h.sum(), 1.5);
  EXPECT_DOUBLE_EQ(h.sum_squares(), 1.125);
  EXPECT_DOUBLE_EQ(h.min(), 0.0);
  EXPECT_DOUBLE_EQ(h.max(), 1.0);
  ASSERT_EQ(h.bucket_size(), 4);
  // Buckets [0, .25), [.25, .5), [.5, .75), [.75, 1]: right edges .25, .5, .75, 1.
  EXPECT_EQ(h.bucket(0), 1);
  EXPECT_EQ(h.bucket(1), 2);
  EXPECT_EQ(h.bucket(2), 0);
  EXPECT_EQ(h.bucket(3), 1);
  EXPECT_DOUBLE_EQ(h.bucket_limit(3), 1.0);
  for (int i = 1; i < h.bucket_limit_size(); ++i)
    EXPECT_GT(h.bucket_limit(i), h.bucket_limit(i - 1));
  const TbHistogram same = MakeHistogram({0.25, 0.25}, 10);
  ASSERT_EQ(same.bucket_size(), 1);
  EXPECT_EQ(same.bucket(0), 2);
}

TEST(TensorBoardLogTest, MetricsLinesBecomeTaggedSeries) {
  testing::TempDir dir;
  auto tb = TensorBoardLog::Open(dir.path(), {});
  ASSERT_TRUE(tb.ok());
  ASSERT_TRUE((*tb)->Add(R"({"event":"start","job":"x"})").ok());
  ASSERT_TRUE((*tb)
                  ->Add(R"({"event":"train","step":50,"epoch":0,"loss":0.9,"ms_pull":1.5,)"
                        R"("ps_bytes_per_step":100.0,"expert_load.0":0.75,"expert_load.1":0.25,)"
                        R"("expert_load_cv":0.5,"active_experts_mean":3.0,"expert_load/1/0.0":0.5,)"
                        R"("expert_load/1/0.1":0.5})")
                  .ok());
  ASSERT_TRUE((*tb)
                  ->Add(R"({"event":"eval","step":100,"val_auc/home/click":0.8,)"
                        R"("val_count/home/click":10,"val_mean_auc":0.8,"expert_load.0":0.1})")
                  .ok());
  EXPECT_FALSE((*tb)->Add("[1]").ok());
  EXPECT_FALSE((*tb)->Add("{oops").ok());
  ASSERT_TRUE((*tb)->Flush().ok());
  const std::vector<TbEvent> events = ReadEvents((*tb)->path());
  ASSERT_EQ(events.size(), 3u);  // version, train, eval
  std::map<std::string, float> train;
  std::map<std::string, double> histograms;  // tag -> values counted
  for (const auto& v : events[1].summary().value()) {
    if (v.has_histo()) {
      histograms[v.tag()] = v.histo().num();
    } else {
      train[v.tag()] = v.simple_value();
    }
  }
  EXPECT_EQ(histograms.size(), 2u);
  EXPECT_EQ(histograms["experts/load"], 2);
  EXPECT_EQ(histograms["experts/load/1/0"], 2);  // per (domain, task), no scalars
  EXPECT_EQ(train.count("model/expert_load/1/0.0"), 0u);
  EXPECT_EQ(events[1].step(), 50);
  EXPECT_FLOAT_EQ(train["train/loss"], 0.9f);
  EXPECT_FLOAT_EQ(train["time/ms_pull"], 1.5f);
  EXPECT_FLOAT_EQ(train["wire/ps_bytes_per_step"], 100.0f);
  EXPECT_FLOAT_EQ(train["experts/load/0"], 0.75f);
  EXPECT_FLOAT_EQ(train["experts/load_cv"], 0.5f);
  EXPECT_FLOAT_EQ(train["experts/active_experts_mean"], 3.0f);
  EXPECT_EQ(train.count("train/step"), 0u);
  std::map<std::string, float> eval;
  for (const auto& v : events[2].summary().value()) eval[v.tag()] = v.simple_value();
  EXPECT_EQ(eval.size(), 2u);  // counts and the model's scalars are left out
  EXPECT_FLOAT_EQ(eval["val/auc/home/click"], 0.8f);
  EXPECT_FLOAT_EQ(eval["val/mean_auc"], 0.8f);
}

}  // namespace
}  // namespace moerec
