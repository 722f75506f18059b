// Conversions of the AliExpress layout written by the test: CSV files whose folder names the
// domain (the country), with their own train and test files, through the generic CSV input.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "data/convert/convert.h"
#include "data/convert/internal/aliexpress_fixture.h"
#include "data/test_util.h"

namespace moerec {
namespace {

namespace fs = std::filesystem;
using convert::testing::AliExpressCategorical;
using convert::testing::AliExpressClick;
using convert::testing::AliExpressConversion;
using convert::testing::AliExpressNumerical;
using convert::testing::AliExpressRows;
using convert::testing::AliExpressSearchId;
using convert::testing::kAliExpressCategorical;
using convert::testing::kAliExpressCountries;
using convert::testing::kAliExpressNumerical;
using convert::testing::ReadSplit;
using convert::testing::SlotIds;
using convert::testing::WriteAliExpress;
using convert::testing::WriteText;

// The mapping of configs/aliexpress.convert.pbtxt, over the test's folder.
std::string Config(const std::string& split) {
  std::string c = "csv {\n";
  for (const char* cc : kAliExpressCountries) {
    c += "  files: \"ae/AliExpress_" + std::string(cc) + "/train.csv\"\n";
  }
  for (const char* cc : kAliExpressCountries) {
    c += "  test_files: \"ae/AliExpress_" + std::string(cc) + "/test.csv\"\n";
  }
  c += "  domain_from_folder: true\n";
  for (const char* cc : kAliExpressCountries) {
    c +=
        "  domain_groups { name: \"" + std::string(cc) + "\" values: \"AliExpress_" + cc + "\" }\n";
  }
  c += "  user_column: \"search_id\"\n"
       "  tasks { name: \"click\" column: \"click\" }\n"
       "  tasks { name: \"conversion\" column: \"conversion\" }\n";
  for (int k = 1; k <= kAliExpressCategorical; ++k) {
    c += "  slots { name: \"categorical_" + std::to_string(k) + "\" column: \"categorical_" +
         std::to_string(k) + "\" }\n";
  }
  for (int k = 1; k <= kAliExpressNumerical; ++k) {
    c += "  dense { column: \"numerical_" + std::to_string(k) + "\" }\n";
  }
  return c + "}\n" + split + "\noutput_dir: \"out\"\n";
}

// (country, test file, row) of a search id.
struct Origin {
  int country;
  bool test;
  int row;
};
Origin OriginOf(uint64_t search_id) {
  const int n = static_cast<int>(search_id - 700000);
  return {n / 1000, n % 1000 >= 500, n % 500};
}

class AliExpressTest : public ::testing::Test {
 protected:
  void SetUp() override { WriteAliExpress(dir_.file("ae")); }
  StatusOr<ConvertSummary> Run(const std::string& text) {
    auto config = ParseConvertConfig(text, "t", dir_.path());
    if (!config.ok()) return config.status();
    return RunConvert(*config);
  }
  Batch Read(const std::string& split) { return ReadSplit(dir_.file("out/" + split)); }
  // Every sample matches the files' row it came from; returns the origins seen.
  std::vector<Origin> Check(const Batch& b) {
    std::vector<Origin> seen;
    for (int64_t i = 0; i < b.size; ++i) {
      const Origin o = OriginOf(b.user[i]);
      EXPECT_EQ(b.domain[i], o.country) << "the folder names the country";
      EXPECT_EQ(b.labels[2 * i], AliExpressClick(o.country, o.row));
      EXPECT_EQ(b.labels[2 * i + 1], AliExpressConversion(o.country, o.row));
      for (int k = 0; k < kAliExpressCategorical; ++k) {
        EXPECT_EQ(SlotIds(b, k, i),
                  (std::vector<uint64_t>{AliExpressCategorical(o.country, o.row, k)}));
      }
      for (int k = 0; k < kAliExpressNumerical; ++k) {
        EXPECT_EQ(b.dense[i * kAliExpressNumerical + k], AliExpressNumerical(o.row, k));
      }
      seen.push_back(o);
    }
    return seen;
  }

  moerec::testing::TempDir dir_;
};

int TrainRows() {
  int n = 0;
  for (int c = 0; c < 5; ++c) n += AliExpressRows(c, false);
  return n;
}

TEST_F(AliExpressTest, CountriesAreDomainsAndTheFilesKeepTheirSplit) {
  auto summary = Run(Config("split { method: BY_FILE validation: 0 }"));
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->domain_names, (std::vector<std::string>{"NL", "ES", "FR", "US", "RU"}));
  EXPECT_EQ(summary->rows_read, TrainRows() + 15);
  EXPECT_FALSE(fs::exists(dir_.file("out/validation")));
  const Batch train = Read("train");
  ASSERT_EQ(train.size, TrainRows());
  ASSERT_EQ(train.num_slots, kAliExpressCategorical);
  ASSERT_EQ(train.num_dense, kAliExpressNumerical);
  const std::vector<Origin> seen = Check(train);
  // In file order: NL's rows first, then ES ..., each file's rows in order.
  int k = 0;
  for (int c = 0; c < 5; ++c) {
    for (int r = 0; r < AliExpressRows(c, false); ++r, ++k) {
      EXPECT_EQ(train.user[k], AliExpressSearchId(c, false, r));
    }
  }
  const Batch test = Read("test");
  ASSERT_EQ(test.size, 15);
  for (const Origin& o : Check(test)) EXPECT_TRUE(o.test);
  for (const Origin& o : seen) EXPECT_FALSE(o.test);
  for (int c = 0; c < 5; ++c) EXPECT_EQ(summary->samples[2][c], 3);
}

TEST_F(AliExpressTest, ValidationTakesAShareOfTheTrainFilesOnly) {
  auto summary = Run(Config("split { method: BY_FILE validation: 0.5 seed: 3 }"));
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  std::set<uint64_t> ids;
  for (const char* split : {"train", "validation"}) {
    const Batch b = Read(split);
    EXPECT_GT(b.size, 0) << split;
    for (const Origin& o : Check(b)) EXPECT_FALSE(o.test) << split;
    ids.insert(b.user.begin(), b.user.end());
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(TrainRows())) << "each train row once";
  EXPECT_EQ(Read("test").size, 15);
}

TEST_F(AliExpressTest, OtherSplitMethodsPoolEveryFile) {
  auto summary = Run(Config("split { method: EXACT_RANDOM train: 0.8 validation: 0.1 test: 0.1 }"));
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  const int64_t n = TrainRows() + 15;
  EXPECT_EQ(summary->total_samples(), n);
  EXPECT_EQ(summary->split_samples(0), std::llround(0.8 * n));
}

TEST_F(AliExpressTest, FilesMustFitTheConfig) {
  // A folder in no group.
  fs::rename(dir_.file("ae/AliExpress_RU"), dir_.file("ae/AliExpress_XX"));
  std::string text = Config("split { method: BY_FILE }");
  for (size_t at; (at = text.find("AliExpress_RU/")) != std::string::npos;) {
    text.replace(at, 14, "AliExpress_XX/");
  }
  auto r = Run(text);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "csv.files[4]: " + dir_.file("ae/AliExpress_XX/train.csv") +
                ": its folder 'AliExpress_XX' is in no domain group (groups: NL, ES, FR, US, RU; "
                "csv.domain_from_folder is set)");
  fs::rename(dir_.file("ae/AliExpress_XX"), dir_.file("ae/AliExpress_RU"));

  // A test file with another header.
  const std::string es_test = dir_.file("ae/AliExpress_ES/test.csv");
  WriteText(es_test, "search_id,click\n1,0\n");
  r = Run(Config("split { method: BY_FILE }"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), es_test + ":1: header differs from the header of " +
                                      dir_.file("ae/AliExpress_NL/train.csv"));
  WriteAliExpress(dir_.file("ae"));

  // An empty numerical cell: a bad row (the config sets no missing_value).
  const std::string fr = dir_.file("ae/AliExpress_FR/train.csv");
  std::ifstream in(fr, std::ios::binary);
  std::string rows((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t line4 = rows.find('\n', rows.find('\n', rows.find('\n') + 1) + 1) + 1;
  size_t cell = line4;
  for (int k = 0; k < 1 + kAliExpressCategorical + 4; ++k) cell = rows.find(',', cell) + 1;
  rows.erase(cell, rows.find(',', cell) - cell);  // numerical_5 of the third data row
  WriteText(fr, rows);
  r = Run(Config("split { method: BY_FILE }"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            fr + ":4: dense 4 (column 'numerical_5'): empty, and no missing_value is set");
  auto skipped = Run(Config("split { method: BY_FILE }\nbad_row_budget: 1"));
  ASSERT_TRUE(skipped.ok()) << skipped.status().ToString();
  EXPECT_EQ(skipped->bad_rows, 1);
  EXPECT_EQ(skipped->total_samples(), TrainRows() + 15 - 1);
}

}  // namespace
}  // namespace moerec
