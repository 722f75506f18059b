#include "worker/metrics/metrics_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace moerec {
namespace {

class MetricsLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    path_ = std::string(tmp ? tmp : "/tmp") + "/metrics_log_test_" + std::to_string(::getpid()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".jsonl";
    std::remove(path_.c_str());
  }
  void TearDown() override { std::remove(path_.c_str()); }

  std::vector<std::string> ReadLines() const {
    std::ifstream in(path_);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
  std::string ReadAll() const {
    std::ifstream in(path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::string path_;
};

TEST_F(MetricsLogTest, AppendsOneLinePerObject) {
  {
    auto log = MetricsLog::Open(path_);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    JsonObject first;
    first.Add("step", 1).Add("auc", 0.5);
    ASSERT_TRUE((*log)->Write(first).ok());
    // Visible before the log is closed: each line reaches the file at once.
    EXPECT_EQ(ReadAll(), "{\"step\":1,\"auc\":0.5}\n");
    JsonObject second;
    second.Add("note", "two\nlines");
    ASSERT_TRUE((*log)->Write(second).ok());
  }
  // Reopening appends.
  auto log = MetricsLog::Open(path_);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Write(JsonObject().Add("step", 3)).ok());
  EXPECT_EQ(ReadLines(), (std::vector<std::string>{R"({"step":1,"auc":0.5})",
                                                   R"({"note":"two\nlines"})", R"({"step":3})"}));
}

TEST_F(MetricsLogTest, StartsANewLineAfterAPartialOne) {
  {
    std::ofstream out(path_);
    out << "{\"step\":1}\n{\"step\":2,\"au";  // a writer killed mid-line
  }
  auto log = MetricsLog::Open(path_);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Write(JsonObject().Add("step", 3)).ok());
  const std::vector<std::string> lines = ReadLines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2], R"({"step":3})");
}

TEST_F(MetricsLogTest, ConcurrentWritesDoNotInterleave) {
  auto log = MetricsLog::Open(path_);
  ASSERT_TRUE(log.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        JsonObject object;
        object.Add("thread", t).Add("i", i).Add("pad", std::string(100, 'x'));
        ASSERT_TRUE((*log)->Write(object).ok());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::vector<std::string> lines = ReadLines();
  ASSERT_EQ(lines.size(), 800u);
  for (const std::string& line : lines) {
    EXPECT_EQ(line.front(), '{');
    EXPECT_EQ(line.back(), '}');
  }
}

TEST_F(MetricsLogTest, OpenFailsInAMissingFolder) {
  auto log = MetricsLog::Open("/nonexistent-moerec-folder/metrics.jsonl");
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kIoError);
  EXPECT_NE(log.status().message().find("/nonexistent-moerec-folder"), std::string::npos);
}

}  // namespace
}  // namespace moerec
