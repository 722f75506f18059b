// Conversions of the KuaiRand layout written by the test: the interaction logs with the user and
// video feature files joined on, through the CSV input's joins; the tab as the domain.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "data/convert/convert.h"
#include "data/convert/internal/kuairand_fixture.h"
#include "data/convert/internal/text.h"
#include "data/test_util.h"

namespace moerec {
namespace {

namespace fs = std::filesystem;
using convert::HashString;
using convert::testing::kKuaiRandLogRows;
using convert::testing::KuaiRandActiveDegree;
using convert::testing::KuaiRandAuthor;
using convert::testing::KuaiRandFans;
using convert::testing::KuaiRandFansRange;
using convert::testing::KuaiRandIsClick;
using convert::testing::KuaiRandIsLike;
using convert::testing::KuaiRandLongView;
using convert::testing::KuaiRandMusic;
using convert::testing::KuaiRandOnehot;
using convert::testing::KuaiRandTab;
using convert::testing::KuaiRandTags;
using convert::testing::KuaiRandUser;
using convert::testing::KuaiRandVideo;
using convert::testing::ReadSplit;
using convert::testing::SlotIds;
using convert::testing::WriteKuaiRand;
using convert::testing::WriteText;

// As configs/kuairand_1k.convert.pbtxt, with fewer feature columns.
constexpr char kConfig[] = R"(
csv {
  files: "kr/log_standard_4_08_to_4_21_1k.csv"
  files: "kr/log_standard_4_22_to_5_08_1k.csv"
  joins { file: "kr/user_features_1k.csv" key: "user_id" }
  joins { file: "kr/video_features_basic_1k.csv" key: "video_id" }
  domain_column: "tab"
  domain_groups { name: "tab_0" values: "0" }
  domain_groups { name: "tab_1" values: "1" }
  domain_groups { name: "tab_2" values: "2" }
  domain_groups { name: "tab_4" values: "4" }
  domain_groups { name: "tab_6" values: "6" }
  drop_unmatched: true
  user_column: "user_id"
  time_column: "time_ms"
  tasks { name: "click" column: "is_click" }
  tasks { name: "long_view" column: "long_view" }
  tasks { name: "like" column: "is_like" }
  slots { name: "hourmin" column: "hourmin" side: SIDE_CONTEXT }
  slots { name: "video_id" column: "video_id" side: SIDE_ITEM }
  slots { name: "user_active_degree" column: "user_active_degree" }
  slots { name: "fans_user_num_range" column: "fans_user_num_range" }
  slots { name: "onehot_feat3" column: "onehot_feat3" }
  slots { name: "author_id" column: "author_id" side: SIDE_ITEM }
  slots { name: "music_id" column: "music_id" side: SIDE_ITEM }
  slots { name: "tag" column: "tag" separator: "," side: SIDE_ITEM pooling: POOLING_MEAN }
  dense { column: "fans_user_num" log1p: true missing_value: 0 }
  dense { column: "video_duration" log1p: true missing_value: 0 }
}
split { train: 1 validation: 0 test: 0 })";
enum Slot { kHourmin, kVideo, kDegree, kFansRange, kOnehot3, kAuthor, kMusic, kTag };

int DomainOf(int tab) {
  switch (tab) {
    case 0:
    case 1:
    case 2:
      return tab;
    case 4:
      return 3;
    case 6:
      return 4;
  }
  return -1;
}

class KuaiRandTest : public ::testing::Test {
 protected:
  void SetUp() override { WriteKuaiRand(dir_.file("kr"), "1k"); }
  StatusOr<ConvertSummary> Run(const std::string& body, const std::string& extra = "") {
    auto config = ParseConvertConfig(body + "\noutput_dir: \"out\"\n" + extra, "t", dir_.path());
    if (!config.ok()) return config.status();
    return RunConvert(*config);
  }
  Batch Read() { return ReadSplit(dir_.file("out/train")); }
  std::string Path(const std::string& file) { return dir_.file("kr/" + file); }
  void Edit(const std::string& file, const std::string& from, const std::string& to) {
    std::ifstream in(Path(file), std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    WriteText(Path(file), text.replace(at, from.size(), to));
  }
  // Checks sample i of b against log row r (from its hourmin) and returns r.
  int Check(const Batch& b, int64_t i) {
    const int r = static_cast<int>(SlotIds(b, kHourmin, i).at(0)) - 1000;
    const int u = KuaiRandUser(r);
    const int v = KuaiRandVideo(r);
    EXPECT_EQ(b.domain[i], DomainOf(KuaiRandTab(r))) << "row " << r;
    EXPECT_EQ(b.user[i], uint64_t(u));
    EXPECT_EQ(b.labels[3 * i], KuaiRandIsClick(r));
    EXPECT_EQ(b.labels[3 * i + 1], KuaiRandLongView(r));
    EXPECT_EQ(b.labels[3 * i + 2], KuaiRandIsLike(r));
    EXPECT_EQ(SlotIds(b, kVideo, i), (std::vector<uint64_t>{uint64_t(v)}));
    // User columns from user_features (words and ranges hashed, digits their own id).
    EXPECT_EQ(SlotIds(b, kDegree, i), (std::vector<uint64_t>{HashString(KuaiRandActiveDegree(u))}));
    EXPECT_EQ(SlotIds(b, kFansRange, i), (std::vector<uint64_t>{HashString(KuaiRandFansRange(u))}));
    EXPECT_EQ(SlotIds(b, kOnehot3, i), (std::vector<uint64_t>{uint64_t(KuaiRandOnehot(u, 3))}));
    EXPECT_FLOAT_EQ(b.dense[2 * i], std::log1p(float(KuaiRandFans(u))));
    // Video columns from video_features_basic: a missing music id is an empty slot, the quoted
    // "12,65" two tags.
    EXPECT_EQ(SlotIds(b, kAuthor, i), (std::vector<uint64_t>{uint64_t(KuaiRandAuthor(v))}));
    const std::string music = KuaiRandMusic(v);
    EXPECT_EQ(SlotIds(b, kMusic, i),
              music.empty() ? std::vector<uint64_t>{} : std::vector<uint64_t>{std::stoull(music)});
    EXPECT_EQ(SlotIds(b, kTag, i), KuaiRandTags(v)) << "video " << v;
    EXPECT_FLOAT_EQ(b.dense[2 * i + 1], v == 107 ? 0.0f : std::log1p(float(v * 100)));
    return r;
  }

  moerec::testing::TempDir dir_;
};

constexpr int kRows = kKuaiRandLogRows[0] + kKuaiRandLogRows[1];

TEST_F(KuaiRandTest, JoinsUserAndVideoFeaturesOntoTheLogs) {
  auto summary = Run(kConfig);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->domain_names,
            (std::vector<std::string>{"tab_0", "tab_1", "tab_2", "tab_4", "tab_6"}));
  EXPECT_EQ(summary->rows_read, kRows);
  int kept = 0;
  for (int r = 0; r < kRows; ++r) kept += DomainOf(KuaiRandTab(r)) >= 0;
  EXPECT_EQ(summary->rows_dropped, kRows - kept) << "tabs 3 and 5 are in no group";
  EXPECT_EQ(summary->bad_rows, 0);
  const Batch b = Read();
  ASSERT_EQ(b.size, kept);
  int last = -1;
  bool saw_two_tags = false, saw_no_music = false;
  for (int64_t i = 0; i < b.size; ++i) {
    const int r = Check(b, i);
    EXPECT_GT(r, last) << "both logs, in order";
    last = r;
    saw_two_tags |= KuaiRandTags(KuaiRandVideo(r)).size() == 2;
    saw_no_music |= KuaiRandMusic(KuaiRandVideo(r)).empty();
  }
  EXPECT_TRUE(saw_two_tags && saw_no_music);
  EXPECT_EQ(summary->data_config.slots(kTag).pooling(), POOLING_MEAN);
}

TEST_F(KuaiRandTest, AJoinKeyMissingFromItsTableIsABadRowUnlessTheJoinSaysOtherwise) {
  // Row 3 of the second log (file line 4) names video 999.
  const std::string row = convert::testing::KuaiRandLogRow(kKuaiRandLogRows[0] + 2);
  Edit("log_standard_4_22_to_5_08_1k.csv", row,
       row.substr(0, row.find(',')) + ",999" + row.substr(row.find(',', row.find(',') + 1)));
  auto stop = Run(kConfig);
  ASSERT_FALSE(stop.ok());
  EXPECT_EQ(stop.status().message(),
            Path("log_standard_4_22_to_5_08_1k.csv") +
                ":4: key of csv.joins[1] (column 'video_id'): '999' is not in " +
                Path("video_features_basic_1k.csv") +
                " (csv.joins[1]; on_missing: EMPTY or DROP keeps or drops such rows)");
  EXPECT_FALSE(fs::exists(dir_.file("out")));

  std::string empty = kConfig;
  empty.replace(empty.find("key: \"video_id\""), 15, "key: \"video_id\" on_missing: EMPTY");
  auto kept = Run(empty);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(kept->bad_rows, 0);
  const Batch b = Read();
  bool found = false;
  for (int64_t i = 0; i < b.size; ++i) {
    if (SlotIds(b, kVideo, i)[0] != 999) continue;
    found = true;
    EXPECT_TRUE(SlotIds(b, kAuthor, i).empty()) << "the video's columns are empty";
    EXPECT_TRUE(SlotIds(b, kTag, i).empty());
    EXPECT_EQ(b.dense[2 * i + 1], 0.0f) << "missing_value";
    EXPECT_EQ(SlotIds(b, kDegree, i).size(), 1u) << "the user's join still applies";
  }
  EXPECT_TRUE(found);

  fs::remove_all(dir_.file("out"));
  std::string drop = kConfig;
  drop.replace(drop.find("key: \"video_id\""), 15, "key: \"video_id\" on_missing: DROP");
  auto dropped = Run(drop);
  ASSERT_TRUE(dropped.ok()) << dropped.status().ToString();
  EXPECT_EQ(dropped->rows_dropped, kept->rows_dropped + 1);
}

TEST_F(KuaiRandTest, BadRowsOfAJoinedFileAreCountedAndTheirKeysDropped) {
  // User 3's row loses its last field; video 105 appears twice (the first row counts).
  Edit("user_features_1k.csv", "\n3,", "\n3,x,");
  std::ifstream in(Path("video_features_basic_1k.csv"), std::ios::binary);
  const std::string videos((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  WriteText(Path("video_features_basic_1k.csv"), videos + "105,1,AD,2022-01-01,Web,1,5,1,1,1,1,\n");
  auto stop = Run(kConfig);
  ASSERT_FALSE(stop.ok());
  EXPECT_EQ(stop.status().message(),
            Path("user_features_1k.csv") +
                ":5: columns: expected 31 fields separated by ',' as in the header, found 32");

  auto skip = Run(kConfig, "bad_row_budget: 2");
  ASSERT_TRUE(skip.ok()) << skip.status().ToString();
  EXPECT_EQ(skip->bad_rows, 2);
  ASSERT_EQ(skip->bad_row_examples.size(), 2u);
  EXPECT_EQ(skip->bad_row_examples[1],
            Path("video_features_basic_1k.csv") +
                ":14: video_id: key '105' appears twice; the first row counts");
  int user3 = 0, tab_dropped = 0;
  for (int r = 0; r < kRows; ++r) {
    if (DomainOf(KuaiRandTab(r)) < 0) {
      ++tab_dropped;
    } else if (KuaiRandUser(r) == 3) {
      ++user3;
    }
  }
  EXPECT_EQ(skip->rows_dropped, tab_dropped + user3) << "user 3's rows go with its bad row";
  const Batch b = Read();
  for (int64_t i = 0; i < b.size; ++i) {
    EXPECT_NE(b.user[i], 3u);
    Check(b, i);  // video 105 keeps its first row
  }
}

TEST_F(KuaiRandTest, ColumnsAreFoundInTheMainFilesOrInExactlyOneJoin) {
  std::string unknown = kConfig;
  unknown.replace(unknown.find("column: \"author_id\""), 19, "column: \"autor_id\"");
  auto r = Run(unknown);
  ASSERT_FALSE(r.ok());
  const std::string message = r.status().message();
  EXPECT_TRUE(
      message.starts_with("csv.slots[5].column: column 'autor_id' is not in the header of " +
                          Path("log_standard_4_08_to_4_21_1k.csv")))
      << message;
  EXPECT_TRUE(message.ends_with("; nor in the header of " + Path("user_features_1k.csv") +
                                " (csv.joins[0]), " + Path("video_features_basic_1k.csv") +
                                " (csv.joins[1])"))
      << message;

  WriteText(Path("tags.csv"), "video_id,tag\n100,1\n");
  auto ambiguous =
      Run(std::string(kConfig).replace(std::string(kConfig).find("  domain_column"), 0,
                                       "  joins { file: \"kr/tags.csv\" key: \"video_id\" }\n"));
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_EQ(ambiguous.status().message(),
            "csv.slots[7].column: column 'tag' is in the headers of csv.joins[1] and "
            "csv.joins[2]; a column taken from a join must be in one of them");

  std::string file_key = kConfig;
  file_key.replace(file_key.find("key: \"user_id\""), 14, "key: \"user_id\" file_key: \"uid\"");
  auto missing_key = Run(file_key);
  ASSERT_FALSE(missing_key.ok());
  EXPECT_TRUE(missing_key.status().message().starts_with(
      "csv.joins[0].file_key: column 'uid' is not in the header of " +
      Path("user_features_1k.csv") + " (columns: 'user_id', 'user_active_degree',"))
      << missing_key.status().message();

  fs::remove(Path("user_features_1k.csv"));
  auto gone = Run(kConfig);
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(gone.status().message(), Path("user_features_1k.csv") + ": no such file");
}

}  // namespace
}  // namespace moerec
