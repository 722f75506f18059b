// End-to-end conversions of CSV/TSV files: the column mapping, bad rows and the output.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include "core/random.h"
#include "data/convert/convert.h"
#include "data/convert/internal/test_util.h"
#include "data/convert/internal/text.h"
#include "data/test_util.h"
#include "proto/text_config.h"

namespace moerec {
namespace {

namespace fs = std::filesystem;
using convert::HashString;
using convert::testing::ReadSplit;
using convert::testing::ShardFiles;
using convert::testing::SlotIds;
using convert::testing::WriteText;

class CsvConvertTest : public ::testing::Test {
 protected:
  // A config over `files` (relative to the temp dir) with everything to train, in input order.
  ConvertConfig Parse(const std::string& text) {
    auto config = ParseConvertConfig(text, "test.pbtxt", dir_.path());
    EXPECT_TRUE(config.ok()) << config.status().ToString();
    return config.ok() ? *config : ConvertConfig();
  }
  std::string out() const { return dir_.file("out"); }
  // Nothing named like the output or its staging directories is left beside it.
  bool NoOutputLeft() const {
    for (const auto& e : fs::directory_iterator(dir_.path())) {
      if (e.path().filename().string().starts_with("out")) return false;
    }
    return true;
  }

  moerec::testing::TempDir dir_;
};

constexpr char kCsv[] =
    "tab,uid,item,tags,price,clicked,rating\n"
    "home,7,apple,\"a|b\",3.5,1,4\n"
    "feed,8,\"pear, green\",,0,0,5\n"
    "home,x9,123,c||a,,1,\n";

constexpr char kCsvConfig[] = R"(
csv {
  files: "in.csv"
  domain_column: "tab"
  domain_groups { name: "home_tab" values: "home" }
  domain_groups { name: "feed_tab" values: "feed" values: "feed2" }
  user_column: "uid"
  tasks { name: "click" column: "clicked" }
  tasks { name: "like" column: "rating" op: GE threshold: 5 }
  slots { name: "item" column: "item" side: SIDE_ITEM }
  slots { name: "tags" column: "tags" separator: "|" id_type: STRING pooling: POOLING_MEAN }
  dense { column: "price" missing_value: -1 log1p: true }
}
split { train: 1 validation: 0 test: 0 }
output_dir: "out"
)";

// Without a counting pass the total is unknown: progress reports the share of the input's bytes
// read, which for rows of one length follows the rows written, in two files as in one.
TEST_F(CsvConvertTest, ProgressReportsTheShareOfTheInputRead) {
  std::string a = "tab,uid,item,tags,price,clicked,rating\n", b = a;
  for (int i = 0; i < 30000; ++i) {
    (i < 10000 ? a : b) += "home," + std::to_string(100000 + i) + ",apple,x,1.5,1,4\n";
  }
  WriteText(dir_.file("a.csv"), a);
  WriteText(dir_.file("b.csv"), b);
  std::string config = kCsvConfig;
  config.replace(config.find("files: \"in.csv\""), 15, "files: \"a.csv\" files: \"b.csv\"");
  std::vector<std::tuple<int64_t, int64_t, double>> calls;
  auto summary = RunConvert(Parse(config), "", [&](int64_t done, int64_t total, double share) {
    calls.emplace_back(done, total, share);
  });
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  ASSERT_GT(calls.size(), 5u);
  for (size_t k = 0; k + 1 < calls.size(); ++k) {
    const auto [done, total, share] = calls[k];
    EXPECT_EQ(total, 0);
    EXPECT_NEAR(share, done / 30000.0, 0.01) << done;
  }
  EXPECT_EQ(calls.back(), std::make_tuple(int64_t{30000}, int64_t{30000}, 1.0));
}

TEST_F(CsvConvertTest, MapsColumnsToSamples) {
  WriteText(dir_.file("in.csv"), kCsv);
  auto summary = RunConvert(Parse(kCsvConfig));
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->rows_read, 3);
  EXPECT_EQ(summary->bad_rows, 0);
  EXPECT_EQ(summary->samples[0], (std::vector<int64_t>{2, 1}));
  EXPECT_FALSE(fs::exists(out() + "/validation"));

  ShardHeader header;
  const Batch b = ReadSplit(out() + "/train", &header);
  ASSERT_EQ(b.size, 3);
  EXPECT_EQ(header.num_domains(), 2);
  EXPECT_EQ(header.num_tasks(), 2);
  EXPECT_EQ(std::vector<std::string>(header.slot_names().begin(), header.slot_names().end()),
            (std::vector<std::string>{"item", "tags"}));
  EXPECT_EQ(b.domain, (std::vector<int32_t>{0, 1, 0}));
  EXPECT_EQ(b.user, (std::vector<uint64_t>{7, 8, HashString("x9")}));
  // click is 0/1 as written; like = rating >= 5; an empty cell is an unobserved label.
  EXPECT_EQ(b.labels, (std::vector<float>{1, 0, 0, 1, 1, 0}));
  EXPECT_EQ(b.label_mask, (std::vector<uint8_t>{1, 1, 1, 1, 1, 0}));
  // AUTO ids: digits are the id, anything else (a quoted field with a comma too) is hashed.
  EXPECT_EQ(SlotIds(b, 0, 0), (std::vector<uint64_t>{HashString("apple")}));
  EXPECT_EQ(SlotIds(b, 0, 1), (std::vector<uint64_t>{HashString("pear, green")}));
  EXPECT_EQ(SlotIds(b, 0, 2), (std::vector<uint64_t>{123}));
  // STRING multi-valued: one id per piece, empty pieces and empty cells give none.
  EXPECT_EQ(SlotIds(b, 1, 0), (std::vector<uint64_t>{HashString("a"), HashString("b")}));
  EXPECT_TRUE(SlotIds(b, 1, 1).empty());
  EXPECT_EQ(SlotIds(b, 1, 2), (std::vector<uint64_t>{HashString("c"), HashString("a")}));
  ASSERT_EQ(b.dense.size(), 3u);
  EXPECT_FLOAT_EQ(b.dense[0], std::log1p(3.5f));
  EXPECT_FLOAT_EQ(b.dense[1], 0.0f);
  EXPECT_FLOAT_EQ(b.dense[2], -1.0f);  // missing_value is not transformed

  // data.pbtxt is a DataConfig naming what was written, and a job config can include it.
  DataConfig data;
  ASSERT_TRUE(ParseTextProtoFile(out() + "/data.pbtxt", &data).ok());
  EXPECT_EQ(data.num_domains(), 2);
  EXPECT_EQ(data.domain_names(1), "feed_tab");
  EXPECT_EQ(data.task_names(1), "like");
  EXPECT_EQ(data.slots(0).side(), SIDE_ITEM);
  EXPECT_EQ(data.slots(1).pooling(), POOLING_MEAN);
  EXPECT_EQ(data.num_dense(), 1);
  ASSERT_EQ(data.train_size(), 1);
  EXPECT_EQ(data.train(0), fs::absolute(out() + "/train").string());
  EXPECT_EQ(data.test_size(), 0);
  std::ifstream in(out() + "/data.pbtxt");
  const std::string snippet((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  WriteText(dir_.file("job.pbtxt"), "data {\n" + snippet +
                                        "}\nmodel { shared_bottom { bottom { dims: 8 } tower { "
                                        "dims: 4 } } }\n");
  auto job = LoadJobConfig(dir_.file("job.pbtxt"));
  EXPECT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_TRUE(fs::exists(out() + "/summary.txt"));
}

TEST_F(CsvConvertTest, TsvWithoutHeaderByIndex) {
  WriteText(dir_.file("in.tsv"), "2\t5\t100|7\t0.5\r\n0\t6\t8\t1\r\n\n1\t7\t\t2\n");
  auto summary = RunConvert(Parse(R"(
csv {
  files: "in.tsv" delimiter: "\t" header: false quote: ""
  domain_column: "0" num_domains: 3 domain_names: ["a", "b", "c"]
  tasks { name: "t" column: "3" op: GT threshold: 0.7 }
  slots { name: "multi" column: "2" separator: "|" id_type: INTEGER }
  dense { column: "1" }
}
split { train: 1 validation: 0 test: 0 }
output_dir: "out"
)"));
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  const Batch b = ReadSplit(out() + "/train");
  ASSERT_EQ(b.size, 3);  // the empty line is not a row
  EXPECT_EQ(b.domain, (std::vector<int32_t>{2, 0, 1}));
  EXPECT_EQ(b.user, (std::vector<uint64_t>{0, 0, 0}));
  EXPECT_EQ(b.labels, (std::vector<float>{0, 1, 1}));
  EXPECT_EQ(b.dense, (std::vector<float>{5, 6, 7}));
  EXPECT_EQ(SlotIds(b, 0, 0), (std::vector<uint64_t>{100, 7}));
  EXPECT_EQ(SlotIds(b, 0, 1), (std::vector<uint64_t>{8}));
  EXPECT_TRUE(SlotIds(b, 0, 2).empty());
  EXPECT_EQ(summary->domain_names, (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(CsvConvertTest, IntegerIdsAreUnsigned64Bit) {
  constexpr char kConfig[] = R"(
csv {
  files: "ids.csv"
  domain_column: "d" num_domains: 1
  tasks { name: "t" column: "t" }
  slots { name: "item" column: "item" id_type: INTEGER }
}
split { train: 1 validation: 0 test: 0 }
output_dir: "out"
overwrite: true
)";
  WriteText(dir_.file("ids.csv"), "d,t,item\n0,1,18446744073709551615\n0,0,0\n");
  auto summary = RunConvert(Parse(kConfig));
  ASSERT_TRUE(summary.ok()) << summary.status();
  const Batch b = ReadSplit(out() + "/train");
  EXPECT_EQ(SlotIds(b, 0, 0), (std::vector<uint64_t>{~uint64_t{0}}));
  EXPECT_EQ(SlotIds(b, 0, 1), (std::vector<uint64_t>{0}));
  for (const std::string bad : {"-1", "18446744073709551616", "1e3", "+5"}) {
    WriteText(dir_.file("ids.csv"), "d,t,item\n0,1," + bad + "\n");
    auto refused = RunConvert(Parse(kConfig));
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_NE(
        refused.status().message().find("slot 'item' (column 'item'): '" + bad + "' is not an id"),
        std::string::npos)
        << refused.status();
  }
}

constexpr char kBadConfig[] = R"(
csv {
  files: "bad.csv"
  domain_column: "d" num_domains: 2
  tasks { name: "click" column: "clk" }
  slots { name: "item" column: "item" }
}
split { train: 1 validation: 0 test: 0 }
output_dir: "out"
)";

TEST_F(CsvConvertTest, BadRowWithZeroBudgetStopsNamingFileLineAndField) {
  const std::string path = dir_.file("bad.csv");
  struct Case {
    std::string row;
    std::string field;
  } cases[] = {{"1,0", "columns: expected 3 fields"},
               {"1,yes,4", "task 'click' (column 'clk'): 'yes' is not a number"},
               {"1,2,4", "task 'click' (column 'clk'): '2' is not 0 or 1"},
               {"5,1,4", "domain (column 'd'): '5' is not a domain id in [0, 2)"},
               {"\"1,1,4", "columns: field 1: unterminated quote"}};
  for (const Case& c : cases) {
    WriteText(path, "d,clk,item\n0,1,3\n" + c.row + "\n1,0,4\n");
    auto summary = RunConvert(Parse(kBadConfig));
    ASSERT_FALSE(summary.ok()) << c.row;
    EXPECT_EQ(summary.status().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(summary.status().message().starts_with(path + ":3: " + c.field))
        << summary.status().message();
    EXPECT_TRUE(NoOutputLeft()) << "an error must leave no output";
  }
}

TEST_F(CsvConvertTest, BadRowsWithinTheBudgetAreSkippedAndCounted) {
  WriteText(dir_.file("bad.csv"), "d,clk,item\n0,1,3\n1,0\n7,1,3\n1,0,4\n0,x,5\n1,1,6\n");
  ConvertConfig config = Parse(kBadConfig);
  config.set_bad_row_budget(3);
  auto summary = RunConvert(config);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->rows_read, 6);
  EXPECT_EQ(summary->bad_rows, 3);
  ASSERT_EQ(summary->bad_row_examples.size(), 3u);
  EXPECT_TRUE(summary->bad_row_examples[1].starts_with(dir_.file("bad.csv") + ":4: domain"));
  const Batch b = ReadSplit(out() + "/train");
  ASSERT_EQ(b.size, 3);
  EXPECT_EQ(SlotIds(b, 0, 2), (std::vector<uint64_t>{6}));
  EXPECT_NE(FormatConvertSummary(*summary).find("3 bad rows skipped"), std::string::npos);

  config.set_bad_row_budget(2);
  config.set_overwrite(true);
  auto over = RunConvert(config);
  ASSERT_FALSE(over.ok());
  EXPECT_TRUE(over.status().message().starts_with("bad_row_budget of 2 bad rows exceeded at " +
                                                  dir_.file("bad.csv") + ":6: task 'click'"))
      << over.status().message();
  // The failed run left the previous output as it was.
  EXPECT_EQ(ReadSplit(out() + "/train").size, 3);
}

TEST_F(CsvConvertTest, FilesAndDirectoriesShareOneHeaderAndShardsRotate) {
  for (int f = 0; f < 3; ++f) {
    std::string text = "id,clk\n";
    for (int i = 0; i < 4; ++i)
      text += std::to_string(f * 4 + i) + "," + std::to_string(i % 2) + "\n";
    WriteText(dir_.file(f == 0 ? "one.csv" : "parts/p" + std::to_string(f) + ".csv"), text);
  }
  WriteText(dir_.file("parts/.hidden"), "ignored");
  const std::string config_text = R"(
csv { files: "one.csv" files: "parts" tasks { name: "c" column: "clk" } slots { name: "id" column: "id" } }
split { train: 1 validation: 0 test: 0 }
samples_per_shard: 5
block_samples: 2
output_dir: "out"
)";
  auto summary = RunConvert(Parse(config_text));
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(ShardFiles(out() + "/train").size(), 3u);
  EXPECT_EQ(summary->shards, 3);
  const Batch b = ReadSplit(out() + "/train");
  ASSERT_EQ(b.size, 12);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(SlotIds(b, 0, i), (std::vector<uint64_t>{uint64_t(i)}));

  WriteText(dir_.file("parts/p3.csv"), "id,click\n1,1\n");
  auto mismatch = RunConvert(Parse(config_text));
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.status().code(), StatusCode::kFailedPrecondition)
      << mismatch.status().ToString();  // the output exists and overwrite is off
  ConvertConfig config = Parse(config_text);
  config.set_overwrite(true);
  mismatch = RunConvert(config);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(
      mismatch.status().message(),
      dir_.file("parts/p3.csv") + ":1: header differs from the header of " + dir_.file("one.csv"));
}

TEST_F(CsvConvertTest, UnknownColumnIsAConfigError) {
  WriteText(dir_.file("in.csv"), kCsv);
  auto summary = RunConvert(Parse(R"(
csv { files: "in.csv" tasks { name: "c" column: "clicked" } slots { name: "s" column: "nope" } }
output_dir: "out"
)"));
  ASSERT_FALSE(summary.ok());
  EXPECT_TRUE(summary.status().message().starts_with(
      "csv.slots[0].column: column 'nope' is not in the header"))
      << summary.status().message();
}

TEST_F(CsvConvertTest, OverwriteReplacesOnlyAPreviousOutput) {
  WriteText(dir_.file("in.csv"), kCsv);
  ConvertConfig config = Parse(kCsvConfig);
  ASSERT_TRUE(RunConvert(config).ok());
  auto again = RunConvert(config);
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  config.set_overwrite(true);
  config.mutable_split()->set_train(0.5);
  config.mutable_split()->set_test(0.5);
  auto replaced = RunConvert(config);
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  EXPECT_TRUE(fs::exists(out() + "/test"));
  for (const auto& e : fs::directory_iterator(dir_.path())) {
    EXPECT_FALSE(e.path().filename().string().starts_with("out.")) << e.path();
  }

  WriteText(dir_.file("precious/notes.txt"), "keep me");
  config.set_output_dir(dir_.file("precious"));
  auto refused = RunConvert(config);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(fs::exists(dir_.file("precious/notes.txt")));
}

TEST_F(CsvConvertTest, ByTimeSplitSendsTheNewestRowsToTest) {
  std::string text = "ts,clk,id\n";
  for (int i = 0; i < 50; ++i)
    text += std::to_string((i * 37) % 50) + ",1," + std::to_string(i) + "\n";
  WriteText(dir_.file("in.csv"), text);
  auto summary = RunConvert(Parse(R"(
csv { files: "in.csv" time_column: "ts" tasks { name: "c" column: "clk" } slots { name: "id" column: "id" } }
split { method: BY_TIME train: 0.8 validation: 0.1 test: 0.1 }
output_dir: "out"
)"));
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  const Batch test = ReadSplit(out() + "/test");
  ASSERT_EQ(test.size, 5);
  for (int i = 0; i < 5; ++i) {
    const uint64_t row = SlotIds(test, 0, i)[0];
    EXPECT_GE((row * 37) % 50, 45u) << "row " << row;
  }
  EXPECT_EQ(ReadSplit(out() + "/validation").size, 5);
}

}  // namespace
}  // namespace moerec
