// Conversions of the raw Ali-CCP layout written by the test: the common-features join, the
// scenario domains, the predefined train/test halves, and broken rows of either file.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "data/convert/convert.h"
#include "data/convert/internal/aliccp_fixture.h"
#include "data/convert/internal/aliccp_layout.h"
#include "data/convert/internal/text.h"
#include "data/test_util.h"

namespace moerec {
namespace {

namespace fs = std::filesystem;
using convert::testing::AliCcpClick;
using convert::testing::AliCcpCommonIndex;
using convert::testing::AliCcpConversion;
using convert::testing::AliCcpItemId;
using convert::testing::AliCcpScenario;
using convert::testing::AliCcpSlotIds;
using convert::testing::AliCcpUserId;
using convert::testing::AliCcpUserOf;
using convert::testing::kAliCcpSamples;
using convert::testing::kAliCcpUsers;
using convert::testing::ReadSplit;
using convert::testing::SlotIds;
using convert::testing::WriteAliCcp;
using convert::testing::WriteText;

class AliCcpTest : public ::testing::Test {
 protected:
  void SetUp() override { WriteAliCcp(dir_.file("aliccp")); }
  StatusOr<ConvertSummary> Run(const std::string& body) {
    auto config = ParseConvertConfig(body + "\noutput_dir: \"out\"\n", "t", dir_.path());
    if (!config.ok()) return config.status();
    return RunConvert(*config);
  }
  Batch Read(const std::string& split) { return ReadSplit(dir_.file("out/" + split)); }
  std::string Path(const std::string& file) { return dir_.file("aliccp/" + file); }
  // Replaces the first `from` in aliccp/<file> by `to`.
  void Edit(const std::string& file, const std::string& from, const std::string& to) {
    std::ifstream in(Path(file), std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << convert::Quote(from);
    WriteText(Path(file), text.replace(at, from.size(), to));
  }

  moerec::testing::TempDir dir_;
};

// Slots over the fields of both files; a slot may gather several fields.
constexpr char kConfig[] = R"(
aliccp {
  dir: "aliccp"
  tasks { name: "click" column: "click" }
  tasks { name: "purchase" column: "conversion" }
  slots { name: "user" fields: "101" }
  slots { name: "item" fields: "205" side: SIDE_ITEM }
  slots { name: "brand" fields: "216" side: SIDE_ITEM }
  slots { name: "behaviour" fields: ["109_14", "150_14"] pooling: POOLING_MEAN }
  slots { name: "intent" fields: "210" side: SIDE_ITEM pooling: POOLING_MEAN }
  slots { name: "gender" fields: "124" }
}
split { method: BY_FILE validation: 0 })";
const std::vector<std::vector<std::string>> kSlotFields = {
    {"101"}, {"205"}, {"216"}, {"109_14", "150_14"}, {"210"}, {"124"}};

// (part, sample) from the item id.
std::pair<int, int> SampleOf(uint64_t item) {
  const int g = static_cast<int>(item - 50000);
  return {g / 1000, g % 1000};
}

TEST_F(AliCcpTest, JoinsCommonFeaturesAndKeepsTheTrainAndTestHalves) {
  auto summary = Run(kConfig);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  // No domain_groups: the scenario ids found in the skeletons, ascending.
  EXPECT_EQ(summary->domain_names,
            (std::vector<std::string>{"301_9351665", "301_9351666", "301_9351670"}));
  EXPECT_EQ(summary->task_names, (std::vector<std::string>{"click", "purchase"}));
  EXPECT_EQ(summary->rows_read, kAliCcpSamples[0] + kAliCcpSamples[1]);
  EXPECT_EQ(summary->bad_rows, 0);
  EXPECT_EQ(summary->rows_dropped, 0);
  EXPECT_FALSE(fs::exists(dir_.file("out/validation"))) << "validation: 0 takes none";
  const std::vector<uint64_t> sorted = {9351665, 9351666, 9351670};
  int positives = 0;
  for (const auto& [split, part] : {std::pair{"train", 0}, std::pair{"test", 1}}) {
    const Batch b = Read(split);
    ASSERT_EQ(b.size, kAliCcpSamples[part]) << split;
    ASSERT_EQ(b.num_slots, 6);
    for (int64_t k = 0; k < b.size; ++k) {
      ASSERT_EQ(SlotIds(b, 1, k).size(), 1u);
      const auto [p, i] = SampleOf(SlotIds(b, 1, k)[0]);
      ASSERT_EQ(p, part) << "a " << split << " sample from the other half";
      EXPECT_EQ(i, k) << "BY_FILE keeps the file order";
      const int d = static_cast<int>(std::find(sorted.begin(), sorted.end(), AliCcpScenario(i)) -
                                     sorted.begin());
      EXPECT_EQ(b.domain[k], d);
      EXPECT_EQ(b.labels[2 * k], AliCcpClick(i));
      EXPECT_EQ(b.labels[2 * k + 1], AliCcpConversion(i));
      positives += AliCcpConversion(i);
      EXPECT_EQ(b.label_mask[2 * k], 1);
      // The user comes from field 101 of the joined common row.
      EXPECT_EQ(b.user[k], AliCcpUserId(part, AliCcpUserOf(i)));
      for (int s = 0; s < 6; ++s) {
        EXPECT_EQ(SlotIds(b, s, k), AliCcpSlotIds(part, i, kSlotFields[s]))
            << split << " sample " << i << " slot " << s;
      }
    }
  }
  EXPECT_GT(positives, 0);
  // The edge cases the fixture holds: a missing field (no 216), a common row without 109_14, a
  // multi-valued field.
  EXPECT_TRUE(AliCcpSlotIds(0, 1, {"216"}).empty());
  EXPECT_TRUE(AliCcpSlotIds(0, 0, {"109_14"}).empty());
  EXPECT_EQ(AliCcpSlotIds(0, 3, {"109_14"}).size(), 3u);
  EXPECT_EQ(summary->data_config.slots(1).side(), SIDE_ITEM);
  EXPECT_EQ(summary->data_config.slots(3).pooling(), POOLING_MEAN);
}

TEST_F(AliCcpTest, DefaultSlotsAreTheFieldsAndGroupsNameTheDomains) {
  auto summary = Run(R"(
aliccp {
  dir: "aliccp"
  parts: TRAIN
  tasks { name: "ctr" column: "click" }
  domain_groups { name: "s1" values: "9351665" }
  domain_groups { name: "s23" values: ["9351666", "9351670"] }
}
split { train: 1 validation: 0 test: 0 })");
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->domain_names, (std::vector<std::string>{"s1", "s23"}));
  const std::vector<convert::AliCcpField>& fields = convert::AliCcpFields();
  ASSERT_EQ(summary->data_config.slots_size(), static_cast<int>(fields.size()));
  const Batch b = Read("train");
  ASSERT_EQ(b.size, kAliCcpSamples[0]);
  for (size_t s = 0; s < fields.size(); ++s) {
    const SlotSpec& slot = summary->data_config.slots(static_cast<int>(s));
    EXPECT_EQ(slot.name(), fields[s].id);
    EXPECT_EQ(slot.side(), fields[s].side);
    EXPECT_EQ(slot.pooling(), fields[s].multi ? POOLING_MEAN : POOLING_SUM) << slot.name();
    for (int64_t i = 0; i < b.size; ++i) {
      EXPECT_EQ(SlotIds(b, static_cast<int>(s), i), AliCcpSlotIds(0, i, {fields[s].id}))
          << "field " << fields[s].id << " sample " << i;
    }
  }
  for (int64_t i = 0; i < b.size; ++i) EXPECT_EQ(b.domain[i], AliCcpScenario(i) == 9351665 ? 0 : 1);
}

TEST_F(AliCcpTest, DropUnmatchedKeepsOnlyTheGroupedScenarios) {
  auto summary = Run(R"(
aliccp {
  dir: "aliccp" parts: [TEST, TRAIN]
  tasks { name: "ctr" column: "click" }
  domain_groups { name: "s2" values: "9351666" }
  drop_unmatched: true
  slots { name: "item" fields: "205" }
}
split { train: 1 validation: 0 test: 0 })");
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  const int64_t total = kAliCcpSamples[0] + kAliCcpSamples[1];
  int64_t kept = 0;
  for (int part : {1, 0}) {
    for (int i = 0; i < kAliCcpSamples[part]; ++i) kept += AliCcpScenario(i) == 9351666;
  }
  EXPECT_EQ(summary->total_samples(), kept);
  EXPECT_EQ(summary->rows_dropped, total - kept);
  const Batch b = Read("train");
  ASSERT_EQ(b.size, kept);
  EXPECT_EQ(SampleOf(SlotIds(b, 0, 0)[0]).first, 1) << "parts are read in the order listed";
}

TEST_F(AliCcpTest, BadSkeletonRowsNameFileLineAndField) {
  const std::string idx0 = AliCcpCommonIndex(0, 0);
  struct Case {
    std::string from, to, message;
  } cases[] = {
      {"\n3,0,0,", "\n3,x,0,", "sample_skeleton_train.csv:3: click: 'x' is not 0 or 1"},
      {"1,0,0," + idx0 + ",4,", "1,0,0," + idx0 + ",5,",
       "sample_skeleton_train.csv:1: num_features: '5' but feature_list has 4 entries"},
      {"\x01"
       "206\x02"
       "60000",
       "\x01"
       "999\x02"
       "60000",
       "sample_skeleton_train.csv:1: feature_list: entry 2: field '999' is not an Ali-CCP field "
       "(101, 109_14, 110_14, 127_14, 150_14, 121,"},
      {"\x02"
       "60000\x03"
       "1.0",
       "\x02"
       "600001.0",
       "sample_skeleton_train.csv:1: feature_list: entry 2 '206\\x02600001.0': no value "
       "separator '\\x03'"},
      {"\x01"
       "301\x02"
       "9351670",
       "\x01"
       "206\x02"
       "9351670",
       "sample_skeleton_train.csv:1: 301: missing from feature_list (the domain field)"},
      {"1,0,0," + idx0, "1,0,0,feedbeef",
       "sample_skeleton_train.csv:1: common_feature_index: 'feedbeef' is not in "
       "common_features_train.csv"},
      {"1,0,0," + idx0 + ",", "1,0,0" + idx0 + ",",
       "sample_skeleton_train.csv:1: fields: expected 6 fields (sample_id, click, conversion, "
       "common_feature_index, num_features, feature_list) separated by ',', found 5"},
  };
  for (const Case& c : cases) {
    WriteAliCcp(dir_.file("aliccp"));
    Edit("sample_skeleton_train.csv", c.from, c.to);
    auto r = Run(kConfig);
    ASSERT_FALSE(r.ok()) << c.message;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(r.status().message().starts_with(Path(c.message))) << r.status().message();
    EXPECT_FALSE(fs::exists(dir_.file("out"))) << "a failed conversion leaves no output";
  }
}

TEST_F(AliCcpTest, ABadCommonRowDropsItsSamplesWithinTheBudget) {
  // Common row of user 1 (line 2) claims one entry more than it has.
  const std::string idx1 = AliCcpCommonIndex(0, 1);
  Edit("common_features_train.csv", idx1 + ",4,", idx1 + ",5,");
  auto stop = Run(kConfig);
  ASSERT_FALSE(stop.ok());
  EXPECT_EQ(stop.status().message(), Path("common_features_train.csv") +
                                         ":2: num_features: '5' but feature_list has 4 " +
                                         "entries");

  auto skip = Run(std::string(kConfig) + "\nbad_row_budget: 1");
  ASSERT_TRUE(skip.ok()) << skip.status().ToString();
  EXPECT_EQ(skip->bad_rows, 1);
  EXPECT_EQ(skip->rows_dropped, kAliCcpSamples[0] / kAliCcpUsers) << "user 1's samples";
  const Batch b = Read("train");
  EXPECT_EQ(b.size, kAliCcpSamples[0] - kAliCcpSamples[0] / kAliCcpUsers);
  for (int64_t k = 0; k < b.size; ++k) EXPECT_NE(b.user[k], AliCcpUserId(0, 1));
}

TEST_F(AliCcpTest, UnclickedConversionsAreDroppedUnlessAskedToKeep) {
  const std::string line = "999,0,1," + AliCcpCommonIndex(1, 2) +
                           ",2,205\x02"
                           "1\x03"
                           "1.0\x01" +
                           "301\x02"
                           "9351665\x03"
                           "1.0\n";
  std::ifstream in(Path("sample_skeleton_test.csv"), std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  WriteText(Path("sample_skeleton_test.csv"), text + line);
  auto dropped = Run(kConfig);
  ASSERT_TRUE(dropped.ok()) << dropped.status().ToString();
  EXPECT_EQ(dropped->rows_dropped, 1);
  EXPECT_EQ(Read("test").size, kAliCcpSamples[1]);

  fs::remove_all(dir_.file("out"));
  std::string keep = kConfig;
  keep.replace(keep.find("dir: \"aliccp\""), 13,
               "dir: \"aliccp\" drop_unclicked_conversions: false");
  auto kept = Run(keep);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  const Batch b = Read("test");
  ASSERT_EQ(b.size, kAliCcpSamples[1] + 1);
  EXPECT_EQ(b.labels[2 * kAliCcpSamples[1]], 0.0f);
  EXPECT_EQ(b.labels[2 * kAliCcpSamples[1] + 1], 1.0f);
  EXPECT_EQ(b.user[kAliCcpSamples[1]], AliCcpUserId(1, 2));
}

TEST_F(AliCcpTest, MissingFilesAreNotFound) {
  fs::remove(Path("common_features_test.csv"));
  auto r = Run(kConfig);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(),
            Path("common_features_test.csv") + ": no such file (aliccp.parts has TEST)");
  // Reading the train half alone does not need it.
  std::string train = kConfig;
  train.replace(train.find("dir: \"aliccp\""), 13, "dir: \"aliccp\" parts: TRAIN");
  auto ok = Run(train);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_FALSE(fs::exists(dir_.file("out/test"))) << "no test files, no test split";
}

}  // namespace
}  // namespace moerec
